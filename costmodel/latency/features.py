"""Features of one op row for the latency curves: conv geometry in doublings, the CPU kernel it
dispatches to (``conv_backend``), the curve it belongs to (``curve_key``) and the cache size.

Everything here is a pure function of an op-table row (``Spec.op_table()`` columns, batch folded
into MACs and activations) and a few machine numbers (L2 size); nothing is measured or fitted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .memory import CONV_CLASSES, conv_row_class

L2_BYTES_DEFAULT = 2 << 20
"""Per-core L2 size used when the OS does not tell (bytes)."""


def cache_sizes() -> dict[str, str]:
    """cpu0's caches from sysfs: "L1d", "L1i", "L2", "L3" -> size text (e.g. "512K"), in sysfs
    index order; {} where the OS does not tell."""
    import glob
    from pathlib import Path

    out = {}
    for path in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/")):
        try:
            level = Path(path, "level").read_text().strip()
            kind = Path(path, "type").read_text().strip()
            size = Path(path, "size").read_text().strip()
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        out[f"L{level}{suffix}"] = size
    return out


def cache_size_bytes(text: str) -> int | None:
    """Bytes of a sysfs cache size text ("512K", "32M", "1G", "4096"); None where it is not one."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    return int(number) * unit if number.isdigit() else None


def l2_bytes() -> int:
    """This CPU's per-core L2 cache (from sysfs), the working-set size beyond which bandwidth drops."""
    sizes = [cache_size_bytes(text) for key, text in cache_sizes().items() if key.startswith("L2")]
    return next((b for b in sizes if b), L2_BYTES_DEFAULT)


def largest_cache_bytes() -> int:
    """This CPU's largest cache (from sysfs; the last level), 0 where the OS does not tell."""
    return max((cache_size_bytes(text) or 0 for text in cache_sizes().values()), default=0)


LANE_BITS = (("avx512f", 512), ("avx2", 256), ("avx", 256), ("sse2", 128), ("asimd", 128), ("neon", 128))
"""CPU flag (``/proc/cpuinfo``) -> the widest fp32 vector register it gives (bits), widest first."""


def vector_lanes(flags: list[str] | None = None) -> int:
    """fp32 lanes of this CPU's widest vector register, from its flags (``/proc/cpuinfo``): 16
    with AVX-512, 8 with AVX2, 4 with SSE2/NEON; 8 when the OS does not tell. (oneDNN picks its
    ISA, and its channel blocking, from the same flags; torch's
    ``torch.backends.cpu.get_cpu_capability()`` agrees but costs a torch import.)"""
    have = set(cpu_flags() if flags is None else flags)
    return next((bits // 32 for flag, bits in LANE_BITS if flag in have), 8)


def cpu_flags() -> list[str]:
    """This CPU's feature flags (sorted; ``/proc/cpuinfo`` "flags" or "Features"), [] if unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return sorted(line.split(":", 1)[1].split())
    except OSError:
        pass
    return []


VECTOR_LANES = vector_lanes()
"""fp32 lanes of one vector register on this CPU (16 with AVX-512, 8 with AVX2): channel counts
are padded to a multiple of this. Recorded in the profile's fingerprint (``vector_lanes``)."""

CONV_FEATURES = ("log_cin_g", "log_cout_g", "log_groups", "log_mult", "log_hw", "log_kk", "log_stride",
                 "waste_out", "waste_c", "small_in", "small_out", "aligned_in", "aligned_out",
                 "few_pixels", "few_cin", "few_cout", "log_spill")
"""Features of a conv efficiency curve (see ``conv_features``); a feature constant within a
curve's training set (e.g. log_kk for pointwise) gets a zero coefficient. Saturation is modelled
by hinges (``few_*``), not squares: a fitted square turned efficiency down beyond the training
sizes and put 112 x 112-pixel convs 50-100% too slow (profiles written with squares still load)."""

SQUARE_FEATURES = ("log_cin_g", "log_cout_g", "log_groups", "log_mult", "log_hw", "log_kk", "log_stride",
                   "waste_out", "waste_c", "small_in", "small_out", "aligned_in", "aligned_out",
                   "sq_hw", "sq_cin_g", "sq_cout_g", "log_spill")
"""The conv features before the hinges: the regressors of older profiles were trained on them."""

_NO_MULT = tuple(f for f in CONV_FEATURES if f != "log_mult")
FEATURES: dict[str, tuple[str, ...]] = {
    "dense": _NO_MULT + ("log_rep", "block_out"), "pointwise": _NO_MULT,
    "group": _NO_MULT + ("log_block", "log_rep", "block_out"),
    "transpose": _NO_MULT,
    "depthwise": CONV_FEATURES + ("blocked_c",), "linear": ("log_cin_g", "log_cout_g"),
}
"""The features of each MAC class's efficiency curve (all log2, see ``conv_features``).

Why "log_rep" (log2 of the batch, or of Tied Block Conv's N*B) for the dense and grouped classes:
log_hw counts the output pixels of the whole batch, and a batch of B small images need not run
like one image of B times the pixels. Measured (AMD EPYC VM, 2026-12-06, a profile without it):
3x3 convs of 64-256 channels at batch 2-4 on 2 x 2 to 8 x 8 pixels were predicted 5-105% slow
(+26-40% on 4 x 4 for 128-256 channels). Its own effect is small: refitted from two
calibrations' sweeps with and without it, held-out layers 83% and 82% against 83% and 80%
within ±10%, networks unchanged (most of the TBC fix is the weight-bound corner's batched
points, ``sampler.WEIGHT_BOUND_BATCHED``). Pointwise convs at a batch under 16 run on the GEMM
one image at a time (``conv_backend``), so their curve does not get it.

Why "blocked_c" (1 when a depthwise conv's channels are a multiple of VECTOR_LANES) for the
depthwise class: oneDNN's depthwise kernel runs about twice the MACs per second on whole vector
blocks of channels. Measured (AMD EPYC VM with AVX-512, 2026-12-07, 3x3, 56 x 56, 1 thread):
16, 32, 48, 64, 128 channels 80, 106, 133, 160, 261 us; 8, 24, 40, 72, 120 channels 95, 156,
217, 333, 504 us (72 channels 2.1x the time of 64). Per-group channels are 1 in a depthwise
conv, so aligned_in/out cannot see it, and lane_waste (log2 of 80 / 72 = 0.15) is far too small.
Refitted from run Q5's saved sweep, the depthwise/oneDNN curve took a coefficient of 0.8 (2.3x)
and its cross-validated median error fell from 17% to 14%; over six runs' sweeps (Q1-Q5, P22)
held-out layers within ±10% moved by +1 to +3 points in five and -7 in one (Q1, whose
composition fit jumped to another solution: ``fit.fit_composition``)."""

STREAM_KINDS = ("batch_norm", "relu", "hardsigmoid", "sigmoid", "add", "mul", "concat",
                "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "softmax", "gather", "gather_elements",
                "gather_elements_cold",
                "shuffle", "pad", "topk")
"""Elementwise kinds timed in the training sweep; others use the pooled "elementwise" line."""

POOL_KINDS = ("max_pool2d", "avg_pool2d")
"""Windowed pools: each window (kernel, stride) runs its own loop (``pool_window_key``)."""


def pool_window_key(row: dict[str, Any]) -> str | None:
    """"max_pool2d/k2s2"-style key of a windowed pool's op row, None for any other row: the
    row's own kernel and stride (op-table columns k and stride), else read back from its counts
    (elem / writes = kernel^2 comparisons or adds per output, reads / writes ~ stride^2 inputs
    per output: ambiguous on maps of a few pixels, e.g. a 3x3 stride-1 unpadded pool on 5 x 5).

    Why a line per window: CPU max pooling costs per OUTPUT a rate of its own window, not a
    function of bytes or comparisons: 21 ns (2x2, stride 2), 23.6 ns (3x3, stride 1) and 30 ns
    (3x3, stride 2) per output on 25k-800k outputs (AMD EPYC VM, 2026-12-06, 1 thread, rates
    within 3% across three calibrations). One max-pool line over the three windows (17% median
    error on its own training ops) predicted VGG-16's 2x2 pools at 112 px 97% high and at 28 px
    51% low."""
    if row.get("kind") not in POOL_KINDS or not row.get("writes"):
        return None
    if row.get("k") and row.get("stride"):  # the op's own window (core.ops pools, analyze() records)
        return f"{row['kind']}/k{int(row['k'])}s{int(row['stride'])}"
    kernel = round(math.sqrt(row["elem"] / row["writes"]))
    stride = max(1, round(math.sqrt(row["reads"] / row["writes"])))
    return f"{row['kind']}/k{kernel}s{stride}"


def stream_key(row: dict[str, Any]) -> str:
    """The curve key of an op without MACs: its pool window key, else its class."""
    return pool_window_key(row) or latency_class(row)


POOLED = ("relu", "hardsigmoid", "sigmoid", "add", "mul", "concat")
"""Kinds pooled into the fallback "elementwise" line."""


def aligned(channels: float) -> bool:
    """A multiple of VECTOR_LANES, or a power of two below it (1, 2, 4, 8)."""
    c = int(round(channels))
    return c % VECTOR_LANES == 0 or (c < VECTOR_LANES and c & (c - 1) == 0)


def lane_waste(channels: float) -> float:
    """log2 of padded / real channels when padded to VECTOR_LANES (0 when a multiple)."""
    c = max(1.0, channels)
    return math.log2(math.ceil(c / VECTOR_LANES) * VECTOR_LANES / c)


def conv_features(row: dict[str, Any], l2: int = L2_BYTES_DEFAULT) -> dict[str, float]:
    """log2 features of one conv/linear op row (op-table columns, batch already folded in macs).

    The repeat count ``rep`` = MACs / (one sample's conv MACs) catches convs run on a reshaped
    batch (Tied Block Conv runs its shared conv on N*B samples) and batch > 1.
    """
    dims = conv_dims(row)
    groups, cin_g, cout_g, kk, pixels = dims
    rep = conv_rep(row, dims)
    return {"log_cin_g": math.log2(cin_g), "log_cout_g": math.log2(cout_g),
            "log_groups": math.log2(groups), "log_mult": math.log2(max(1.0, row["c_out"] / max(1, row["c_in"]))),
            "log_hw": math.log2(pixels * rep), "log_kk": math.log2(kk),
            "log_stride": math.log2(max(1, int(row.get("stride") or 1))),
            "waste_out": lane_waste(cout_g), "waste_c": lane_waste(row["c_in"]),
            # doublings short of a full vector of channels per group (0 from VECTOR_LANES up)
            "small_in": max(0.0, math.log2(VECTOR_LANES / cin_g)),
            "small_out": max(0.0, math.log2(VECTOR_LANES / cout_g)),
            # 1 when the channels per group fill whole vector blocks (a multiple of the lanes, or a
            # power of two below it); which oneDNN kernel runs is the curve key's business
            # (onednn_group_block), this only shapes efficiency within a key
            "aligned_in": float(aligned(cin_g)), "aligned_out": float(aligned(cout_g)),
            # squares (scaled by 1/10) let efficiency rise and then saturate with size
            "sq_hw": math.log2(pixels * rep) ** 2 / 10, "sq_cin_g": math.log2(cin_g) ** 2 / 10,
            "sq_cout_g": math.log2(cout_g) ** 2 / 10, "rep": rep,
            # hinges: doublings short of a size above which efficiency no longer grows with it
            # (saturation without a quadratic's turn downwards at sizes beyond the training ops)
            "few_pixels": max(0.0, PIXEL_KNEE - math.log2(pixels * rep)),
            "few_cin": max(0.0, CHANNEL_KNEE - math.log2(cin_g)),
            "few_cout": max(0.0, CHANNEL_KNEE - math.log2(cout_g)),
            # working set beyond the L2 cache: 0 while it fits, +1 per doubling past it
            "log_spill": math.log2(max(1.0, row["mem_bytes"] / l2)),
            "log_block": log_group_block(groups, cin_g, cout_g),
            "log_rep": math.log2(rep),
            # output channels per group oneDNN's direct kernel pays for beyond whole vectors
            "block_out": oc_blocking_waste(cout_g) if runs_direct_onednn(row, rep, dims) else 0.0,
            # 1 when all the input channels fill whole vector blocks (a depthwise conv's kernel)
            "blocked_c": float(int(round(row["c_in"])) % VECTOR_LANES == 0)}


def conv_dims(row: dict[str, Any]) -> tuple[int, float, float, int, int]:
    """(groups, channels in per group, channels out per group, kernel taps, output pixels) of a
    conv or linear op row (each at least 1)."""
    groups = max(1, int(row.get("groups") or 1))
    pixels = max(1, int(row.get("h_out") or 1)) * max(1, int(row.get("w_out") or 1))
    return (groups, max(1.0, row["c_in"] / groups), max(1.0, row["c_out"] / groups), kernel_taps(row), pixels)


def conv_rep(row: dict[str, Any], dims: tuple[int, float, float, int, int] | None = None) -> float:
    """MACs / (one sample's conv MACs): the batch, or Tied Block Conv's N*B reshaped samples (1
    for a linear layer); ``dims``: the row's ``conv_dims`` where the caller has them."""
    if row["kind"] == "linear":
        return 1.0
    groups, cin_g, cout_g, kk, pixels = conv_dims(row) if dims is None else dims
    return max(1.0, row["macs"] / (cin_g * cout_g * groups * kk * pixels))


ONEDNN_OC_BLOCKING_BY_LANES: dict[int, int] = {8: 4}
"""fp32 vector lanes -> vector blocks of output channels oneDNN's direct fp32 conv kernel
computes in one step (its ``nb_oc_blocking``; the remaining blocks of a group run as one tail
step). AVX2 (8 lanes): 4, the register budget of 15 YMMs at 3 output pixels a step
(``jit_avx2_conv_fwd_kernel_f32``), measured below (``oc_blocking_waste``). Other widths were not
measured: their ``block_out`` is 0."""


def oc_blocking_waste(cout_per_group: float, lanes: int | None = None) -> float:
    """log2 of (output channels per group oneDNN's direct conv pays for) / (the channels padded
    to whole vector blocks of ``lanes``, default VECTOR_LANES; that padding is ``waste_out``'s):
    the blocks run ONEDNN_OC_BLOCKING_BY_LANES[lanes] a step, and a tail step of one block costs
    as much as one of two. With 8 lanes: 0 for 16, 24, 32, 48 or 64 channels per group; 1 for
    1-8 (one block paid as two); log2(48 / 40) = 0.26 for 40; 0 for 12 (16 padded, 16 paid).
    0 on a vector width without a measured step (not in ONEDNN_OC_BLOCKING_BY_LANES).

    Why (AMD EPYC 7xx3 VM, AVX2, 2026-12-07, each conv timed alone, 1 thread, 28 x 28, 3 x 3):
    a dense conv of 32 -> 8 channels took 198 us and 32 -> 16 took 221; 32 -> 40 took 397 and 32
    -> 48 414, 5 x 5 855 and 874 (40 channels are a step of 4 blocks and a tail of 1); grouped
    convs alike (2 groups of 16 -> 8 channels 240 us, 16 -> 16 272; 16 -> 40 472, 16 -> 48 463).
    The curves, without this, put those with 8 or 40 channels per group 15-40% fast: DGC's,
    SPConv's and TGC's grouped convs (8 channels out per group) -19% to -37% each timed alone."""
    lanes = VECTOR_LANES if lanes is None else lanes
    step = ONEDNN_OC_BLOCKING_BY_LANES.get(lanes)
    if step is None:
        return 0.0
    blocks = max(1, math.ceil(cout_per_group / lanes))
    steps, tail = divmod(blocks, step)
    paid = step * steps + (max(tail, 2) if tail else 0)
    return math.log2(paid / blocks)


def runs_on_onednn(row: dict[str, Any], rep: float | None = None) -> bool:
    """Whether PyTorch runs this CPU conv on oneDNN (``conv_backend``'s rule; ``rep``: its
    ``conv_rep``, computed when not given)."""
    batch = round(conv_rep(row) if rep is None else rep)
    k, kw = int(row.get("k") or 1), int(row.get("k_w") or row.get("k") or 1)
    first = int(row.get("stride") or 1) > 1 or batch >= 16 or k != 1 or kw != 1
    return first and (int(row.get("groups") or 1) > 1 or (k > 3 and kw > 3) or batch > 1
                      or row["reads"] > MKLDNN_MIN_NUMEL)


def runs_direct_onednn(row: dict[str, Any], rep: float | None = None,
                       dims: tuple[int, float, float, int, int] | None = None) -> bool:
    """Whether a CPU conv runs on oneDNN's direct kernel (blocked by whole vectors of channels):
    oneDNN (``runs_on_onednn``) and ungrouped, or grouped with a full-vector channel block
    (``onednn_group_block``); not a grouped conv that oneDNN runs as a GEMM per group or with a
    narrower block, nor a transposed conv. ``rep``, ``dims``: the row's ``conv_rep`` and
    ``conv_dims`` where the caller has them."""
    if row["kind"] != "conv" or not runs_on_onednn(row, rep):
        return False
    groups, cin_g, cout_g, _, _ = conv_dims(row) if dims is None else dims
    return groups == 1 or onednn_group_block(int(cin_g), int(cout_g)) == VECTOR_LANES


def log_group_block(groups: int, cin_per_group: float, cout_per_group: float) -> float:
    """log2 of oneDNN's channel block (``onednn_group_block``) of a grouped conv; 0 for an
    ungrouped conv or one with no block (oneDNN runs its groups as small GEMMs).

    Why a feature: "group/onednn_subblock" holds both the 8- and the 4-channel blocks, and the
    8-channel kernel ran about twice the MACs per second (AMD EPYC VM, 2026-12-06: 43-52 against
    20-23 GMAC/s on 5 x 5 convs of 16-128 channels per group). Without it the curve put a TGC
    conv with 32 -> 24 channels per group (block 8) 1.5x high. Refitted from seven calibrations'
    saved sweeps (runs P9 and P11-P16), the held-out layers within ±10% moved by -1 to +7 points
    (+4.3 on average) and the networks by -7 to +4 (0 in four runs)."""
    if groups <= 1:
        return 0.0
    block = onednn_group_block(int(cin_per_group), int(cout_per_group))
    return math.log2(block) if block else 0.0


PIXEL_KNEE = 10.0
"""log2 of the output pixels (1024) from which a conv's efficiency is taken to grow only slowly."""

CHANNEL_KNEE = 6.0
"""log2 of the channels per group (64) from which efficiency is taken to grow only slowly."""


WEIGHT_BYTES = 4
"""Bytes per weight of the fp32 models the curves are fitted and used on."""

WEIGHT_BOUND_MAX_COLUMNS = 16
"""An op is weight-bound when its GEMM has at most this many columns and its weights exceed L2
(one column) or FEW_COLUMN_MIN_WEIGHT_BYTES (2-16 columns) (``weight_bound_regime``; columns:
``gemm_columns``, a conv's output pixels times the batch, a linear layer's rows of input): it
does at most 16 MACs per weight it streams from memory. Measured (2-core Intel Xeon VM,
2026-12-06): 1x1 and 3x3 convs with 4-21 MB of weights ran 76-116 ps per weight byte alike on
2 x 2, 3 x 3 and 4 x 4 pixels (a 2048 -> 2048 1x1 conv: 85 ps/B on 2 x 2, 90 on 4 x 4), although
on 4 x 4 their MACs alone would take half that time at the dense peak: the peak is never
reached on so few columns."""


def gemm_columns(row: dict[str, Any]) -> float:
    """Columns of the GEMM a MAC op runs: a conv's output pixels times its batch (``rep``), a
    linear layer's MACs / (c_in * c_out) (its batch times tokens)."""
    if row["kind"] == "linear":
        return max(1.0, row["macs"] / max(1, int(row.get("c_in") or 1) * int(row.get("c_out") or 1)))
    dims = conv_dims(row)
    return dims[4] * conv_rep(row, dims)


def weight_bound_regime(row: dict[str, Any], l2: int) -> str | None:
    """Where an op sits in the weight-bound corner: "gemv" for one GEMM column (a matrix-vector
    product that reads each weight once without packing it) with weights beyond ``l2``, "gemm"
    for 2-WEIGHT_BOUND_MAX_COLUMNS columns with more than FEW_COLUMN_MIN_WEIGHT_BYTES of weights;
    None outside the corner (no MACs, fewer weights, or more columns)."""
    if not row.get("macs"):
        return None
    columns = gemm_columns(row)
    if columns > WEIGHT_BOUND_MAX_COLUMNS:
        return None
    weights = WEIGHT_BYTES * row["params"]
    if columns <= 1.0:
        return "gemv" if weights > l2 else None
    return "gemm" if weights > FEW_COLUMN_MIN_WEIGHT_BYTES else None


FEW_COLUMN_MIN_WEIGHT_BYTES = 192 << 10
"""Weights from which an op on 2-16 GEMM columns is in the weight-bound corner (its time is a
rate per weight byte), whether or not they fit in L2. Why not from L2 only: the GEMM kernels
run so few columns at a rate per weight byte that does not depend on where the weights live.
Measured (AMD EPYC VM, 1 MiB L2, 2026-12-07, 1x1 convs, 1 thread): on 2 x 2 pixels 309, 293 and
305 ps per weight byte with 0.25, 1 and 8 MiB of weights (256 -> 256, 512 -> 512,
1024 -> 2048); on 3 x 3 409, 395 and 424; on 4 x 4 130, 114 and 114. A 512 -> 512 1x1 conv on
2 x 2 pixels (exactly 1 MiB, so outside the corner that began beyond L2) ran 307 us, and the
pointwise curve said 74 us: VGG-16 (CIFAR) with SPConv or SIC in its 3x3 slots, whose last
stage runs such convs, was predicted 12-19% fast in every run of stop 31. From 192 KiB the
rate is most of the time (a 256 -> 256 1x1 conv on 2 x 2: 81 us, ~5 us of it the call)."""


COLUMN_BUCKETS = (1, 4, 9, 16)
"""Column buckets of the weight-bound corner (``column_bucket``): one column (a matrix-vector
product), 2 x 2, 3 x 3 and 4 x 4 output pixels. Why buckets, not one rate for 2-16 columns:
on an AMD EPYC VM (2026-12-06) the same convs ran 110-200 ps per weight byte on 16 columns,
276-297 on 4 and 365-375 on 9 (the GEMM kernels block the columns unevenly), where the Intel
Xeon VM ran 76-116 on all of them alike."""


def kernel_taps(row: dict[str, Any]) -> int:
    """k * k_w of a conv op row (1 for a linear layer or a row without a kernel)."""
    k = int(row.get("k") or 1)
    return k * int(row.get("k_w") or k)


def column_bucket(columns: float) -> int:
    """The smallest ``COLUMN_BUCKETS`` entry that holds ``columns`` GEMM columns (the largest
    beyond them)."""
    return next((b for b in COLUMN_BUCKETS if columns <= b), COLUMN_BUCKETS[-1])


MKLDNN_MIN_NUMEL = 20480
"""PyTorch CPU conv dispatch: below this input size a small-kernel conv uses im2col + GEMM."""


def conv_backend(row: dict[str, Any], device: str = "cpu") -> str:
    """Which CPU kernel PyTorch (fp32) dispatches a conv to: "onednn" or "gemm" (im2col + GEMM).

    PyTorch's rule (checked with torch.profiler on torch 2.13: ``aten::mkldnn_convolution`` vs
    ``aten::_slow_conv2d_forward``): oneDNN when
      (stride > 1 or batch >= 16 or the kernel is not 1x1 or threads > 1)
      and (groups > 1 or both kernel sides > 3 or batch > 1 or input elements > 20480).
    On CUDA every conv goes to cuDNN.
    """
    if not device.startswith("cpu"):
        return "cudnn"
    return "onednn" if runs_on_onednn(row) else "gemm"


def curve_key(row: dict[str, Any], device: str = "cpu") -> str:
    """The efficiency curve an op uses: class/backend, with depthwise x multiplier apart."""
    cls = latency_class(row)
    if cls in CONV_CLASSES:
        if cls == "depthwise" and row["c_out"] > row["c_in"]:
            cls = "depthwise_mult"  # a channel multiplier > 1 takes a much slower kernel
        backend = conv_backend(row, device)
        if cls == "group" and backend == "onednn":
            groups = max(1, int(row["groups"]))
            backend += group_kernel_suffix(onednn_group_block(row["c_in"] // groups, row["c_out"] // groups))
        return f"{cls}/{backend}"
    return cls


ONEDNN_GROUP_BLOCKS_BY_LANES: dict[int, tuple[int, ...]] = {16: (16, 8, 4), 8: (8,)}
"""fp32 vector lanes -> the channel blocks oneDNN's direct (jit) grouped conv can use on that
ISA, widest first. Read from oneDNN's verbose log (the source layout aBcd16b / 8b / 4b, or the
plain abcd of its "gemm:jit" per-group kernel):
  * AVX-512 (2-core Intel Xeon VM, 2026-12-06): 16, 8 and 4;
  * AVX2 (AMD EPYC 7xx3 VM, 2026-12-07): 8 only. 4 x 3 x 3 grouped convs with 2-32 input and
    1-32 output channels per group took "jit:avx2" (aBcd8b) exactly where 8 divided both counts,
    and "gemm:jit" everywhere else (4 output channels per group included, where the AVX-512
    rule said block 4). That per-group GEMM ran 4.2-4.3 GMAC/s against 19-36 for the jit
    kernel, and a DGC conv with 96 -> 4 channels per group was predicted at a third of its time.
Other vector widths were not read; they keep the AVX-512 list cut at the vector's width."""


def onednn_group_blocks(lanes: int) -> tuple[int, ...]:
    """The channel blocks of ONEDNN_GROUP_BLOCKS_BY_LANES for ``lanes`` fp32 lanes, widest first."""
    return ONEDNN_GROUP_BLOCKS_BY_LANES.get(lanes) or tuple(b for b in ONEDNN_GROUP_BLOCKS_BY_LANES[16] if b <= lanes)


def onednn_group_block(cin_per_group: int, cout_per_group: int, lanes: int | None = None) -> int | None:
    """oneDNN's channel block for a grouped conv: the widest of ``onednn_group_blocks(lanes)``
    (default: this CPU's VECTOR_LANES) that divides both channel counts per group; None where
    none does, and oneDNN runs the group as small GEMMs ("gemm:jit"), a much slower kernel.
    Checked against oneDNN's own log in ``tests/test_latency_kernels.py``; on the 2-core Intel
    Xeon VM (AVX-512) this rule named the kernel and block of 134 of 136 random grouped convs
    with 2-64 input and 1-64 output channels per group (2026-12-06)."""
    for block in onednn_group_blocks(VECTOR_LANES if lanes is None else lanes):
        if cin_per_group % block == 0 and cout_per_group % block == 0:
            return block
    return None


def group_kernel_suffix(block: int | None) -> str:
    """oneDNN group block -> curve-key suffix: a full vector block (VECTOR_LANES) is
    "group/onednn", a narrower block "group/onednn_subblock", no block "group/onednn_gemm"."""
    if block is None:
        return "_gemm"
    return "" if block == VECTOR_LANES else "_subblock"


def latency_class(row: dict[str, Any]) -> str:
    """conv -> its geometry class; conv_transpose -> transpose; linear; else the op's declared
    kernel (``Op.kernel``, e.g. "gather_elements") or its kind."""
    if row["kind"] == "conv":
        return conv_row_class(row)
    if row["kind"] == "conv_transpose":
        return "transpose"
    return str(row.get("kernel") or row["kind"])  # a declared kernel (Op.kernel) names its own curve


TIME_GROUPS = ("mac", "depthwise", "elementwise")
"""Op groups whose time alone changes differently inside a network (``NetworkComposition``):
compute-bound kernels (MAC ops and windowed pools), depthwise convs, memory-bound ops."""

AS_TIMED_KERNELS = {"gather_elements": "gather_elements_cold"}
"""Op kernels that cost inside a network what their COLD training op costs alone (the kernel
named here: the same op with its data evicted before each call, ``cases.filter_gather_case``),
outside every fitted factor (the design's composition and the network's group scales).

Why: DGC's filter gather copies k x k slices of a weight bank that the rest of the network evicts
between calls. Inside VGG-16-CIFAR, VGG-16 and ResNet-50 these gathers ran 5.5-7.4 ns per
element at every bank size (torch profiler, AMD EPYC VM, 2026-12-06); the 512 -> 512 training
op ran 6.0-6.3 ns per element with six banks in turn. With the design factor (1.13), the design
composition's scale (1.08) and the network's elementwise scale (1.15) on top, the gather was
charged 1.4x that, and every DGC network came out 18-30% high (run P6)."""


def runs_as_timed(row: dict[str, Any], curves: dict[str, Any]) -> bool:
    """Whether an op row's kernel is one of ``AS_TIMED_KERNELS`` and ``curves`` has its cold
    kernel's curve (a profile from before the cold op keeps the op inside the fitted factors,
    with which its network composition was fitted)."""
    return AS_TIMED_KERNELS.get(latency_class(row)) in curves


def in_network_row(row: dict[str, Any], curves: dict[str, Any]) -> dict[str, Any]:
    """The op row to predict a layer's op with inside a network: an ``AS_TIMED_KERNELS`` op as
    its cold kernel where ``curves`` has that kernel's curve (profiles from before it: as it is)."""
    return {**row, "kernel": AS_TIMED_KERNELS[latency_class(row)]} if runs_as_timed(row, curves) else row


def pools_compute_bound(curves: dict[str, Any]) -> bool:
    """Whether a profile's network composition takes windowed pools as compute-bound work: those
    with a curve per pool window (``pool_window_key``), fitted since pools moved to that group."""
    return any(key.split("/")[0] in POOL_KINDS and "/" in key for key in curves)


def time_group(row: dict[str, Any], pools_compute: bool = True) -> str:
    """The ``TIME_GROUPS`` entry of an op row: "depthwise" for depthwise convs (any multiplier),
    "mac" for every other op with MACs (convs, linear, matmul, attention) and for windowed pools
    (``POOL_KINDS``, a global pool written as an average pool included), "elementwise" for the
    rest (BN, activations, adds, adaptive pools, gathers: memory-bound work).

    Why windowed pools go with the MAC ops: their time is their loop's, not their bytes', so a
    cold cache barely moves it. Measured (AMD EPYC VM, 2026-12-06, inputs evicted by 64 MB of
    writes before each call): a 2x2 max pool on 64 x 112 x 112 ran 1.02x its hot time, a 3x3
    stride-2 one 1.01x, while a BatchNorm on the same tensor ran 2.4x. ``pools_compute`` False
    (profiles from before, ``pools_compute_bound``): pools are elementwise work."""
    if latency_class(row) == "depthwise":
        return "depthwise"
    return "mac" if row.get("macs") or (pools_compute and row.get("kind") in POOL_KINDS) else "elementwise"


def launches(row: dict[str, Any]) -> int:
    """How many identical kernel launches an op row stands for: the op's declared
    ``Op.launches`` (op-table column ``launches``; 1 where a row has none, e.g. analyze() records)."""
    return max(1, int(row.get("launches") or 1))



NEIGHBOUR_FEATURES = ("log_cin_g", "log_cout_g", "log_groups", "log_mult", "log_hw", "log_kk",
                      "log_stride", "aligned_in", "aligned_out")
"""Where a MAC op sits for the residual correction: log2 sizes (one unit = a doubling)."""


def neighbour_x(row: dict[str, Any], l2: int) -> list[float]:
    """MAC ops: NEIGHBOUR_FEATURES; elementwise ops: log2 of bytes and of elementwise ops."""
    if not row["macs"]:
        return [math.log2(max(1.0, row["mem_bytes"])), math.log2(1.0 + row["elem"])]
    feats = conv_features(row, l2)
    return [feats[f] for f in NEIGHBOUR_FEATURES]


def regressor_x(row: dict[str, Any], l2: int, names: tuple[str, ...] = CONV_FEATURES) -> list[float]:
    """Features of the per-kernel regressors: MAC ops, the ``names`` conv features (by default
    ``CONV_FEATURES``); elementwise ops, log2 of bytes, of elementwise ops and of the working set
    beyond L2."""
    if not row["macs"]:
        return [math.log2(max(1.0, row["mem_bytes"])), math.log2(1.0 + row["elem"]),
                math.log2(max(1.0, row["mem_bytes"] / l2))]
    feats = conv_features(row, l2)
    return [feats[f] for f in names]


def kernel_mean(x_train: np.ndarray, r_train: np.ndarray, x: np.ndarray, tau: float, w0: float,
                 leave_one_out: bool = False) -> np.ndarray:
    """Gaussian-weighted mean of the residuals near each x, shrunk to 0 by the prior weight w0."""
    d2 = ((x[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * tau ** 2))
    if leave_one_out:
        np.fill_diagonal(w, 0.0)
    return (w @ r_train) / (w.sum(1) + w0)

