"""Memory traffic and arithmetic intensity, per op and per design (and the conv class of an op).

Convention (conventions.md, "memory access cost" of ShuffleNet V2): every op reads its inputs
once, writes its output once and reads its weights once, at the dtype's width:

    read_bytes   = dtype_bytes * reads          (input activations, all inputs of the op)
    write_bytes  = dtype_bytes * writes         (output activations)
    weight_bytes = dtype_bytes * params         (conv/linear weights, bias, BN affine)
    mem_bytes    = read_bytes + write_bytes + weight_bytes
    intensity    = MACs / mem_bytes             (MACs per byte; 0 for ops without MACs)

A multi-op design (Ghost's concat and slice, SPConv's branches, Inception's concat) pays the
traffic of every intermediate: each op's output is written, then read again by the next op.
The per-op numbers come from ``Spec.op_table()``; this module adds the byte split, the
intensity and the conv class (dense, pointwise, depthwise, group) read from the geometry.
"""

from __future__ import annotations

from ..core.geometry import classify_conv  # noqa: F401  (callers import it from here too)
from typing import Any

import sympy as sp

CONV_CLASSES = ("dense", "pointwise", "depthwise", "group")
"""How a conv op is classified from its geometry (see ``classify_conv``)."""


def conv_row_class(row: dict[str, Any]) -> str:
    """The geometry class (``classify_conv``) of a conv op-table row."""
    return classify_conv(int(row["c_in"]), int(row["c_out"]), int(row["groups"]), int(row["k"]), int(row["k_w"]))


def op_class(row: dict[str, Any]) -> str:
    """The latency class of one op-table row: a conv class for ``conv``, else the op kind."""
    return conv_row_class(row) if row["kind"] == "conv" else str(row["kind"])


def traffic_table(spec):
    """``spec.op_table()`` plus read/write/weight bytes, MACs per byte and the op class.

    Columns added: read_bytes, write_bytes, weight_bytes (mem_bytes is their sum, already in
    the op table), intensity (MACs / mem_bytes), op_class.
    """
    frame = spec.op_table()
    width = spec.dtype_bytes
    frame["read_bytes"] = width * frame["reads"]
    frame["write_bytes"] = width * frame["writes"]
    frame["weight_bytes"] = width * frame["params"]
    frame["intensity"] = (frame["macs"] / frame["mem_bytes"]).where(frame["mem_bytes"] > 0, 0.0)
    frame["op_class"] = [op_class(row) for row in frame.to_dict("records")]
    return frame


def traffic(spec) -> dict[str, Any]:
    """Design totals: MACs, read/write/weight/total bytes and arithmetic intensity (MACs/byte)."""
    frame = traffic_table(spec)
    out: dict[str, Any] = {"macs": int(frame["macs"].sum())}
    for col in ("read_bytes", "write_bytes", "weight_bytes", "mem_bytes"):
        out[col] = int(frame[col].sum())
    out["intensity"] = out["macs"] / out["mem_bytes"] if out["mem_bytes"] else 0.0
    return out


def traffic_formulas(cls, structure: tuple | None = None) -> dict[str, sp.Expr]:
    """Symbolic bytes and intensity of a design: read_bytes, write_bytes, weight_bytes,
    mem_bytes (= the ``Formulas.mem_bytes`` total) and intensity = MACs / mem_bytes."""
    from ..core.symbols import sym

    f = cls.formulas(structure)
    width = sym("dtype_bytes")
    out = {"read_bytes": width * sp.Add(*(op.reads for op in f.ops)),
           "write_bytes": width * sp.Add(*(op.writes for op in f.ops)),
           "weight_bytes": width * sp.Add(*(op.params for op in f.ops))}
    out["mem_bytes"] = f.mem_bytes
    out["intensity"] = f.macs_total / f.mem_bytes
    return out
