"""The timed cases of the training sweep: (torch module, inputs, op row) of one training item
(a single conv, linear layer or elementwise op), the op row built with the same ``core.ops``
constructors the designs use, so a training op and a design op of one geometry are one row.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


def conv_row(g: dict[str, Any]) -> dict[str, Any]:
    """The op row of one training conv (or transposed conv) geometry, without building it."""
    from ..core import ops

    if g["transpose"]:
        op = ops.conv_transpose("train", g["cin"], g["cout"], g["k"], g["h"], g["h"], g["stride"], g["groups"])
    else:
        same = (g["pad"], g["pad_w"]) == (g["k"] // 2, g["kw"] // 2)  # "same" padding per side
        op = ops.conv("train", g["cin"], g["cout"], g["k"], g["h"], g["h"], g["stride"], g["groups"],
                      padding=None if same else g["pad"], kernel_w=g["kw"])
    return op_row(op, g["batch"])


def conv_case(g: dict[str, Any]):
    """(module, input, op row) of one training conv (or transposed conv)."""
    import torch

    if g["transpose"]:
        module = torch.nn.ConvTranspose2d(g["cin"], g["cout"], g["k"], g["stride"], groups=g["groups"],
                                          bias=False)
    else:
        module = torch.nn.Conv2d(g["cin"], g["cout"], (g["k"], g["kw"]), g["stride"],
                                 (g["pad"], g["pad_w"]), groups=g["groups"], bias=False)
    return module, torch.randn(g["batch"], g["cin"], g["h"], g["h"]), conv_row(g)



def op_row(op, batch: int = 1) -> dict[str, Any]:
    """A numeric op-table row from an Op built on integers."""
    row = {"op": op.name, "kind": op.kind, "kernel": op.kernel}
    for f in ("macs", "elem", "reads", "writes"):
        row[f] = batch * int(getattr(op, f))
    row["params"] = int(op.params)
    for g in ("c_in", "c_out", "k", "k_w", "groups", "stride", "h_out", "w_out"):
        row[g] = int(op.geometry.get(g, 0))
    row["mem_bytes"] = 4 * (row["reads"] + row["writes"] + row["params"])
    return row


def linear_case(rng: random.Random, batch: int = 1, fin: int | None = None, fout: int | None = None):
    """A linear layer (random sizes unless ``fin`` and ``fout`` are given), its input and op row."""
    import torch

    from ..core import ops

    # up to a VGG classifier's 4096 x 4096 (64 MiB of weights: streamed from memory at batch 1)
    fin = fin or rng.choice((16, 64, 128, 256, 512, 960, 1024, 1280, 2048, 4096))
    fout = fout or rng.choice((4, 16, 64, 256, 1000, 1280, 4096))
    return torch.nn.Linear(fin, fout), torch.randn(batch, fin), op_row(ops.linear("train", fin, fout), batch)


DEFAULT_POOLS = {"max_pool2d": (3, 1, 1), "avg_pool2d": (2, 2, 0)}
"""(kernel, stride, padding) of a pool item saved without its window (profiles from before pool
windows): the windows those items were timed with."""


FILTER_GATHER_HEADS = 4
"""Heads of the training filter gather (``filter_gather_case``), DGC's default."""


COLD_BYTES = 64 << 20
"""Bytes of weight banks a cold filter gather turns through at least (``cold_bytes``: twice the
last-level cache where that is larger), so each call finds its bank evicted by the ones before
it, as a layer's bank is inside a network."""


def cold_bytes() -> int:
    """max(COLD_BYTES, twice this CPU's largest cache as sysfs reports it)."""
    from .features import largest_cache_bytes

    return max(COLD_BYTES, 2 * largest_cache_bytes())


def filter_gather_case(c: int, k: int = 3, cold: bool = False):
    """(module, inputs, op row) of DGC's filter gather on a c -> c k x k weight bank: each of
    FILTER_GATHER_HEADS heads keeps c / 2 input channels, in the order ``topk`` returns them (by
    score, so not sorted by channel), and ``torch.gather`` copies their k x k slices of every
    filter of the head: c * c / 2 * k^2 elements moved (read and written). ``cold``: each call
    gathers from the next of as many other banks as fill ``cold_bytes()`` (kernel
    "gather_elements_cold"), never from the one it is handed.

    Why this shape and an unsorted index: DGC's 512 -> 512 3x3 filter gather (1.18 M elements) ran
    6.9 ms with the kept channels in topk's order and 2.0 ms with the same channels sorted (AMD
    EPYC VM, 2026-12-06); a training gather on sorted rows of h x h elements predicted 1.9 ms, and
    the DGC layer came out at half its measured time inside VGG-16.

    Why a cold one: inside a network every call finds the layer's bank evicted. On the AMD EPYC
    VM the hot training op ran 1.8 ns per element on a 0.6 MiB bank and 3.8-6.3 ns on a 9 MiB one
    (two such ops in one calibration: 3.8 and 5.4), the same gathers inside networks 5.5-7.4 ns
    at every size (torch profiler): the hot op's rate moved DGC networks from -25% to +8% between
    calibrations (runs P8, P9)."""
    import torch
    from torch import nn

    from ..core.ops import Op

    g = torch.Generator().manual_seed(c)
    heads, per_head, kept = FILTER_GATHER_HEADS, max(1, c // FILTER_GATHER_HEADS), max(1, c // 2)
    bank = torch.randn(1, heads, per_head, c, k * k)
    order = torch.stack([torch.randperm(c, generator=g)[:kept] for _ in range(heads)])
    index = order[None, :, None, :, None].expand(1, heads, per_head, kept, k * k)
    moved = heads * per_head * kept * k * k
    count = -(-cold_bytes() // (4 * bank.numel())) if cold else 1

    class Gather(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.turn = 0
            # one buffer, so the banks move with the module (``.to(device)``)
            self.register_buffer("banks", torch.randn(count - 1, *bank.shape) if count > 1 else torch.empty(0))

        def forward(self, a, i):
            if len(self.banks):  # cold: the next bank, evicted by the ones since its last turn
                self.turn = (self.turn + 1) % len(self.banks)
                a = self.banks[self.turn]
            return torch.gather(a, 3, i)

    kernel = "gather_elements_cold" if cold else "gather_elements"
    return Gather(), (bank, index), op_row(Op("t", "gather", elem=moved, reads=moved, writes=moved, kernel=kernel))


def stream_case(kind: str, c: int, h: int, pool: tuple[int, int, int] | None = None):
    """(module, inputs, op row) of one elementwise op of ``kind`` on a 1 x c x h x h tensor
    (``pool``: kernel, stride and padding of a max or average pool; None: ``DEFAULT_POOLS``)."""
    if kind in ("gather_elements", "gather_elements_cold"):
        return filter_gather_case(c, cold=kind == "gather_elements_cold")
    pool = tuple(pool) if pool else DEFAULT_POOLS.get(kind, (3, 1, 1))
    import torch
    from torch import nn

    from ..core import ops
    from ..core.ops import Op

    size = c * h * h
    x = torch.randn(1, c, h, h)

    class Fn(nn.Module):
        def __init__(self, fn: Callable):
            super().__init__()
            self.fn = fn

        def forward(self, *xs):
            return self.fn(*xs)

    table = {
        "batch_norm": (nn.BatchNorm2d(c), (x,), ops.batch_norm("t", c, h, h)),
        "relu": (nn.ReLU(inplace=True), (x,), ops.elementwise("t", "relu", size)),
        "hardsigmoid": (nn.Hardsigmoid(), (x,), ops.elementwise("t", "hardsigmoid", size)),
        "sigmoid": (nn.Sigmoid(), (x,), ops.elementwise("t", "sigmoid", size)),
        "add": (Fn(torch.add), (x, x.clone()), ops.elementwise("t", "add", size, inputs=2)),
        "mul": (Fn(torch.mul), (x, x.clone()), ops.elementwise("t", "mul", size, inputs=2)),
        "concat": (Fn(lambda a, b: torch.cat((a, b), 1)), (x, x.clone()), ops.concat("t", 2 * size)),
        "max_pool2d": (nn.MaxPool2d(*pool), (x,), ops.max_pool("t", c, h, h, *pool)),
        "avg_pool2d": (nn.AvgPool2d(*pool), (x,), ops.avg_pool("t", c, h, h, *pool)),
        "adaptive_avg_pool2d": (nn.AdaptiveAvgPool2d(1), (x,), ops.global_avg_pool("t", c, h, h)),
        "softmax": (nn.Softmax(dim=1), (x,), ops.elementwise("t", "softmax", size, ops_per_element=3)),
        # channel gather (index_select), as topological subdivisioning and DGC do
        "gather": (Fn(lambda a, i: torch.index_select(a, 1, i)), (x, torch.arange(2 * c) % c),
                   Op("t", "gather", reads=size, writes=2 * size)),
        "shuffle": (Fn(lambda a: a.view(1, 4, c // 4, h, h).transpose(1, 2).contiguous()), (x,),
                    Op("t", "shuffle", reads=size, writes=size)),
        "pad": (Fn(lambda a: torch.nn.functional.pad(a, (0, 1, 0, 1))), (x,),
                Op("t", "pad", reads=size, writes=c * (h + 1) * (h + 1))),
        "topk": (Fn(lambda a: torch.topk(a.flatten(1), c // 2, dim=1)), (x[:, :, 0, 0],),
                 Op("t", "topk", elem=c, reads=c, writes=2 * (c // 2))),
    }
    module, inputs, op = table[kind]
    return module, inputs, op_row(op)



def training_case(kind: str, spec: dict[str, Any], batch: int = 1):
    """(module, inputs, op row) of one training item, its batch times ``batch`` for a profile of
    that batch (convs and linear layers; an elementwise op's line is in bytes, whatever the batch)."""
    if kind == "conv":
        return conv_case({**spec, "batch": spec["batch"] * batch})
    if kind == "linear":
        return linear_case(random.Random(spec.get("seed", 0)), batch, spec.get("fin"), spec.get("fout"))
    return stream_case(spec["kind"], spec["c"], spec["h"], spec.get("pool"))
