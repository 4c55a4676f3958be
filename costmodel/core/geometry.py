"""Integer conv geometry, written once: the output size of a conv or pool, and the kind of
kernel a conv launches (the one conv classifier, used by latency, analysis and the report)."""

from __future__ import annotations


def conv_out_size(size: int, kernel: int, stride: int = 1, padding: int | None = None, dilation: int = 1) -> int:
    """floor((size + 2p - dilation*(kernel-1) - 1) / stride) + 1, "same" padding kernel//2 by
    default (the integer twin of ``core.symbols.out_size``)."""
    pad = kernel // 2 if padding is None else padding
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def classify_conv(c_in: int, c_out: int, groups: int, k: int, k_w: int | None = None) -> str:
    """The kind of kernel a conv launches, from its geometry alone.

    depthwise: groups == c_in and c_out is a multiple of c_in (one filter per input channel, x mult);
    group:     1 < groups, otherwise;
    pointwise: groups == 1 and a 1x1 kernel;
    dense:     groups == 1 and a larger kernel.
    """
    k_w = k if k_w is None else k_w
    if groups > 1:
        return "depthwise" if groups == c_in and c_out % c_in == 0 else "group"
    return "pointwise" if k == 1 and k_w == 1 else "dense"
