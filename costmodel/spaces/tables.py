"""Per-block cost tables of a space, and exact evaluation of candidates as gather + sum.

Every distinct block (choice, input shape, output channels, stride) is built and costed ONCE
(the sum of its leaves' exact design formulas). The rows go into one integer table:

    row 0            zeros (an absent block: a slot beyond the candidate's depth)
    row 1            the stem
    head rows        one per width of the last stage
    per stage        slot 0: (choice, previous width, width); slots j >= 1: (choice, width)

A candidate's costs are then the sum of one row per piece (stem, each slot, head): a gather
in numpy int64. The exactness guard: pieces x max |entry| must stay below 2^62, otherwise the
table is kept as Python ints (object arrays: slower, still exact). Latency (predicted from a
profile, or measured in a LUT) is a float column summed the same way. All numbers are per
sample (batch 1); FLOPs = 2 x MACs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..networks.graph import Cursor, Network, Seq, leaves
from .blocks import Choice, make_block

if TYPE_CHECKING:  # the space calls into this module; a runtime import would be a cycle
    from .space import NetworkSpace

METRICS = ("params", "conv MACs", "linear MACs", "elementwise ops", "mem bytes", "invalid")
"""Integer columns of the table, per sample; ``invalid`` counts blocks that cannot be built."""

_CHUNK = 1 << 16  # candidates per gather: keeps the temporaries in cache
_GUARD = 1 << 62


@dataclass
class Tables:
    """The stacked table and where each piece's rows start (see the module docstring)."""

    space: NetworkSpace
    ints: np.ndarray  # (rows, len(METRICS)) int64, or object (Python ints) past the guard
    latency: np.ndarray | None  # (rows,) seconds, or None without a profile / LUT
    latency_column: str | None  # "predicted latency (s)" or "LUT latency (s)"
    keys: list[str]  # a block key per row (what a LUT is keyed by)
    head_base: int
    slot_base: list[list[int]]  # [stage][slot] -> first row
    makers: dict[str, tuple[Callable, tuple[int, ...]]]  # block key -> (maker, input shape)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """(pieces, n) table rows of each candidate's stem, blocks and head (column-major: each
        piece's rows are one contiguous int32 array, the fast layout for numpy)."""
        space = self.space
        idx_t = np.ascontiguousarray(idx.T, dtype=np.int32)
        n = idx_t.shape[1]
        out = np.empty((2 + sum(len(s.slots) for s in space.stages), n), np.int32)
        out[0] = 1  # the stem
        p, pos, prev_w, prev_n = 1, 0, np.zeros(n, np.int32), 1
        for i, s in enumerate(space.stages):
            wi, depth, nb = idx_t[pos], idx_t[pos + 1], len(s.widths)
            for j in range(len(s.slots)):
                o, r = idx_t[pos + 2] if s.tied else idx_t[pos + 2 + j], out[p]
                if j == 0:  # base + (o * prev widths + prev width) * widths + width
                    np.multiply(o, prev_n * nb, out=r)
                    r += prev_w * nb
                else:  # base + o * widths + width, or row 0 when the slot is beyond the depth
                    np.multiply(o, nb, out=r)
                r += wi
                r += self.slot_base[i][j]
                if j > 0:
                    r *= np.asarray([d > j for d in s.depths])[depth]
                p += 1
            prev_w, prev_n = wi, nb
            pos += len(s.columns)
        out[p] = self.head_base + prev_w
        return out

    def gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, len(METRICS)) exact sums and (n,) latency sums of candidates ``idx``."""
        n = idx.shape[0]
        by_metric = np.ascontiguousarray(self.ints.T)
        out = np.empty((len(METRICS), n), dtype=self.ints.dtype)
        lat = np.empty(n) if self.latency is not None else None
        for start in range(0, n, _CHUNK):
            rows = self.rows(idx[start:start + _CHUNK])
            for m in range(len(METRICS)):  # one gather per metric, summed over the pieces
                out[m, start:start + _CHUNK] = np.take(by_metric[m], rows).sum(axis=0)
            if lat is not None:
                lat[start:start + _CHUNK] = np.take(self.latency, rows).sum(axis=0)
        return out.T, lat


def block_key(choice: Choice | str, shape: tuple[int, ...], c_out: int | None, stride: int) -> str:
    """The LUT key of a block: ``<label> | <C>x<H>x<W> -> <c_out> /<stride>``."""
    label = choice.label() if isinstance(choice, Choice) else choice
    return f"{label} | {'x'.join(map(str, shape))} -> {c_out} /{stride}"


def _piece_costs(nodes: list, in_shape: tuple[int, ...]) -> list[int]:
    costs = Network("piece", Seq("", list(nodes)), in_shape).costs()
    return [costs.params, costs.macs_by_key.get("conv", 0), costs.macs_by_key.get("linear", 0),
            sum(costs.elementwise.values()), costs.mem_bytes, 0]


class _Builder:
    """Builds each distinct block once, in row order, with its costs and latency."""

    def __init__(self, latency: Callable[[list, tuple, str], float] | None,
                 progress: Callable[[int], Any] | None) -> None:
        self.ints: list[list[int]] = [[0] * len(METRICS)]
        self.lat: list[float] = [0.0]
        self.keys: list[str] = ["(absent)"]
        self.latency = latency
        self.progress = progress
        self._memo: dict[str, tuple[list[int], float]] = {}
        self.makers: dict[str, tuple[Callable, tuple[int, ...]]] = {}

    def add(self, key: str, make: Callable[[Cursor], list], in_shape: tuple[int, ...],
            expect: tuple[int, ...] | None) -> None:
        if key not in self._memo:
            self._memo[key] = self._cost(key, make, in_shape, expect)
            if self._memo[key][0][-1] == 0:  # buildable: a LUT measures it
                self.makers[key] = (make, in_shape)
        ints, lat = self._memo[key]
        self.ints.append(ints)
        self.lat.append(lat)
        self.keys.append(key)
        if self.progress is not None:
            self.progress(1)

    def _cost(self, key: str, make, in_shape, expect) -> tuple[list[int], float]:
        cur = Cursor(*in_shape)
        try:
            nodes = make(cur)
        except ValueError:  # e.g. TBC's B not dividing the channels: this block cannot exist
            return [0] * (len(METRICS) - 1) + [1], 0.0
        if expect is not None and cur.shape != expect:
            raise ValueError(f"block {key!r} ends at {cur.shape}, not {expect}: its stage's blocks must "
                             f"agree on the output shape (an even kernel or a stride beyond block 0?)")
        lat = self.latency(nodes, in_shape, key) if self.latency is not None else 0.0
        return _piece_costs(nodes, in_shape), lat


def cost_tables(space: NetworkSpace, profile: Any = None, lut: Any = None,
                progress: Callable[[int], Any] | None = None) -> Tables:
    """Every distinct block of ``space`` costed once (and its latency when a source is given)."""
    latency, column = latency_source(profile, lut)
    b = _Builder(latency, progress)
    stem_shape = space.stem_shape()
    b.add("stem", space.stem_nodes, space.input_shape, None)
    res = space.resolutions()
    last = space.stages[-1]
    h_end, w_end = _stage_out(space, len(space.stages) - 1, res)
    head_base = len(b.keys)
    for c in last.widths:
        b.add(block_key("head", (c, h_end, w_end), None, 1), space.head_nodes, (c, h_end, w_end), None)
    slot_base: list[list[int]] = []
    prev_widths = (stem_shape[0],)
    for i, s in enumerate(space.stages):
        h, w = res[i]
        ho, wo = _stage_out(space, i, res)
        bases = []
        for j, slot in enumerate(s.slots):
            bases.append(len(b.keys))
            ins = prev_widths if j == 0 else None
            stride = s.stride if j == 0 else 1
            hw = (h, w) if j == 0 else (ho, wo)
            for choice in slot:
                for c_in in (ins if ins is not None else (None,)):
                    for c_out in s.widths:
                        shape = (c_in if c_in is not None else c_out,) + hw
                        key = block_key(choice, shape, c_out, stride)
                        b.add(key, _maker(f"{s.name}.{j}", c_out, stride, choice), shape, (c_out, ho, wo))
        slot_base.append(bases)
        prev_widths = s.widths
    ints = np.array(b.ints, dtype=object)
    pieces = 2 + sum(len(s.slots) for s in space.stages)
    if pieces * int(np.abs(ints).max()) < _GUARD:  # exactness guard for int64 sums
        ints = ints.astype(np.int64)
    lat = np.array(b.lat, dtype=float) if latency is not None else None
    _check_every_slot_can_be_built(space, ints, slot_base)
    return Tables(space, ints, lat, column, b.keys, head_base, slot_base, b.makers)


def _maker(name: str, c_out: int, stride: int, choice: Choice):
    return lambda cur: [make_block(cur, name, c_out, stride, choice)]


def _stage_out(space: NetworkSpace, i: int, res: list[tuple[int, int]]) -> tuple[int, int]:
    if i + 1 < len(space.stages):
        return res[i + 1]
    from ..networks.graph import conv_out

    s = space.stages[i]
    h, w = res[i]
    k = s.slots[0][0].k
    return conv_out(h, k, s.stride), conv_out(w, k, s.stride)


def _check_every_slot_can_be_built(space: NetworkSpace, ints: np.ndarray, slot_base: list[list[int]]) -> None:
    """Inconsistent channels: a slot none of whose choices can be built at some width."""
    invalid = METRICS.index("invalid")
    for i, s in enumerate(space.stages):
        for j, slot in enumerate(s.slots):
            start = slot_base[i][j]
            stop = slot_base[i][j + 1] if j + 1 < len(s.slots) else (
                slot_base[i + 1][0] if i + 1 < len(space.stages) else len(ints))
            block = ints[start:stop, invalid].reshape(len(slot), -1)
            dead = np.all(block == 1, axis=0)
            if dead.any():
                raise ValueError(f"stage {s.name!r} block {j}: no choice can be built for channels "
                                 f"{_channels(space, i, j, int(np.argmax(dead)))} (inconsistent channels: "
                                 f"e.g. B or groups not dividing them)")


def _channels(space: NetworkSpace, i: int, j: int, flat: int) -> str:
    s = space.stages[i]
    if j > 0:
        return f"{s.widths[flat]} -> {s.widths[flat]}"
    prev = space.stages[i - 1].widths if i > 0 else (space.stem_shape()[0],)
    return f"{prev[flat // len(s.widths)]} -> {s.widths[flat % len(s.widths)]}"


# --- latency sources ------------------------------------------------------------------------

def latency_source(profile: Any, lut: Any) -> tuple[Callable | None, str | None]:
    """(block -> seconds, column name): a LUT first, else a profile (``"auto"``: this machine's
    profile if one exists), else none."""
    if lut is not None:
        from .lut import as_lut

        table = as_lut(lut)
        return (lambda nodes, shape, key: table.seconds(key)), "LUT latency (s)"
    if isinstance(profile, str) and profile == "auto":
        profile = _auto_profile()
    if profile is None:
        return None, None
    import costmodel

    def predict(nodes: list, shape: tuple, key: str) -> float:
        # a block's predicted latency: the sum of its leaf modules' (the residual add included)
        return float(sum(costmodel.predict_spec(leaf.spec, profile) for node in nodes for leaf in leaves(node)))

    return predict, "predicted latency (s)"


def _auto_profile() -> Any:
    import costmodel

    try:
        return costmodel.load_profile()
    except ValueError:  # ProfileError: no calibration on this machine, so no latency column
        return None


# --- evaluation -----------------------------------------------------------------------------

_TABLES: dict[tuple, Tables] = {}


def tables_for(space: NetworkSpace, profile: Any = "auto", lut: Any = None) -> Tables:
    """Tables per (space, latency source), cached when the source has a stable identity
    (none, a profile's JSON, a LUT file path and its modification time)."""
    if isinstance(profile, str) and profile == "auto":
        profile = _auto_profile()
    key = _source_key(profile, lut)
    if key is None:
        return cost_tables(space, profile, lut)
    key = (space,) + key
    if key not in _TABLES:
        _TABLES[key] = cost_tables(space, profile, lut)
    return _TABLES[key]


def _source_key(profile: Any, lut: Any) -> tuple | None:
    if lut is not None:
        from pathlib import Path

        if isinstance(lut, (str, Path)) and Path(lut).is_file():
            return ("lut", str(Path(lut).resolve()), Path(lut).stat().st_mtime_ns)
        return None  # an in-memory LUT may change: no cache
    if profile is None:
        return ("none",)
    to_json = getattr(profile, "to_json", None)
    return ("profile", to_json()) if to_json is not None else None


def as_indices(space: NetworkSpace, candidates: Any) -> np.ndarray:
    """An (n, columns) int64 array from an array, a list of rows, or a frame with the columns."""
    if hasattr(candidates, "columns") and hasattr(candidates, "loc"):
        missing = [c for c in space.columns if c not in candidates.columns]
        if missing:
            raise ValueError(f"candidates column {missing[0]!r} is missing: allowed columns are {', '.join(space.columns)}")
        idx = candidates[space.columns].to_numpy(dtype=np.int64)
    else:
        idx = np.asarray(candidates, dtype=np.int64)
        if idx.ndim == 1:
            idx = idx[None, :]
    space.check(idx)
    return idx


def evaluate(space: NetworkSpace, candidates: Any, profile: Any = "auto", lut: Any = None,
             tables: Tables | None = None):
    """DataFrame: the choice columns, exact params / MACs / FLOPs / bytes / elementwise ops per
    sample, ``valid``, and the latency column when a profile or LUT is given."""
    import pandas as pd

    idx = space.canonical(as_indices(space, candidates))
    t = tables if tables is not None else tables_for(space, profile, lut)
    sums, lat = t.gather(idx)
    frame = pd.DataFrame(idx, columns=space.columns)
    return frame.assign(**_metric_columns(sums, lat, t.latency_column))


def _metric_columns(sums: np.ndarray, lat: np.ndarray | None, lat_column: str | None) -> dict[str, Any]:
    m = {name: sums[:, i] for i, name in enumerate(METRICS)}
    macs = m["conv MACs"] + m["linear MACs"]
    out = {"params": m["params"], "MACs": macs, "FLOPs": 2 * macs, "conv MACs": m["conv MACs"],
           "linear MACs": m["linear MACs"], "elementwise ops": m["elementwise ops"],
           "mem bytes": m["mem bytes"], "valid": m["invalid"] == 0}
    if lat is not None:
        out[lat_column] = lat
    return out
