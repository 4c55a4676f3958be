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

import contextlib
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

_CHUNK = 1 << 13  # candidates per gather: (pieces x chunk) rows and the sums stay in cache
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
    _plan: GatherPlan | None = None

    @property
    def plan(self) -> GatherPlan:
        """The gather layout (built on first use)."""
        if self._plan is None:
            self._plan = GatherPlan.of(self)
        return self._plan

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """(pieces, n) rows of ``plan.ints`` for each candidate's blocks and head (see GatherPlan)."""
        return self.plan.rows(idx)

    def gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, len(METRICS)) exact sums and (n,) latency sums of candidates ``idx``."""
        return self.plan.gather(idx)


@dataclass
class GatherPlan:
    """The table re-laid for the gather + sum: one piece per block slot, plus the head.

    * The stem is constant, so it is added into every head row (one piece fewer).
    * Slot 0 of a stage keeps the table's own rows: (choice o, previous width a, width b).
    * Slot j >= 1 gets rows per (o, depth code, b), the zero row where depth <= j: so an absent
      slot costs nothing without a mask, and every row index is a multiply + two adds of the
      candidate's columns: ``base + o * K + (depth * widths + b)``, K = depths x widths.

    Gathering whole rows (all metrics at once, ``np.take(axis=0)``) and summing them in int64
    chunks is the fast path; past the int64 guard ``ints`` is an object array of Python ints
    (the same code, slower, still exact).
    """

    space: NetworkSpace
    ints: np.ndarray  # (rows, len(METRICS)), int64 or object
    latency: np.ndarray | None
    steps: list[tuple]  # per piece: (kind, column positions, multipliers, base)

    @classmethod
    def of(cls, t: Tables) -> GatherPlan:
        space = t.space
        source: list[np.ndarray] = [np.arange(len(t.ints))]  # the table's own rows first
        n_rows = len(t.ints)
        steps: list[tuple] = []
        pos, prev_n = 0, 1
        for i, s in enumerate(space.stages):
            nb, nd = len(s.widths), len(s.depths)
            o_col = [pos + 2] * len(s.slots) if s.tied else [pos + 2 + j for j in range(len(s.slots))]
            steps.append(("slot0", (o_col[0], pos), (prev_n * nb, nb), t.slot_base[i][0]))
            present = np.array([[d > j for d in s.depths] for j in range(len(s.slots))])
            for j in range(1, len(s.slots)):
                o, d, b = np.meshgrid(np.arange(len(s.slots[j])), np.arange(nd), np.arange(nb), indexing="ij")
                rows = (t.slot_base[i][j] + o * nb + b) * present[j][d]  # row 0: zeros
                source.append(rows.ravel())
                steps.append(("slot", (o_col[j], pos + 1, pos), (nd * nb, nb), n_rows))
                n_rows += rows.size
            prev_n = nb
            pos += len(s.columns)
        heads = np.arange(len(space.stages[-1].widths))
        steps.append(("head", (pos - len(space.stages[-1].columns),), (1,), n_rows))
        order = np.concatenate(source)
        ints = np.concatenate([t.ints[order], t.ints[t.head_base + heads] + t.ints[1]])
        lat = None
        if t.latency is not None:
            lat = np.concatenate([t.latency[order], t.latency[t.head_base + heads] + t.latency[1]])
        return cls(space, ints, lat, steps)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """(pieces, n) int32 row of each piece of each candidate ``idx`` (n, columns)."""
        return self.rows_of_columns(np.ascontiguousarray(idx.T, dtype=np.int32))

    def rows_of_columns(self, idx_t: np.ndarray) -> np.ndarray:
        """``rows`` from the (columns, n) int32 layout (each piece's rows one contiguous array:
        the fast layout for numpy)."""
        out = np.empty((len(self.steps), idx_t.shape[1]), np.int32)
        prev_w = None
        for p, (kind, cols, mult, base) in enumerate(self.steps):
            r = out[p]
            if kind == "head":  # base + last width
                np.add(idx_t[cols[0]], base, out=r)
                continue
            np.multiply(idx_t[cols[0]], mult[0], out=r)
            if kind == "slot0":  # base + (o * prev widths + a) * widths + b
                if prev_w is not None:
                    r += prev_w * mult[1]
                r += idx_t[cols[1]]
                prev_w = idx_t[cols[1]]
            else:  # base + o * K + depth * widths + b
                r += idx_t[cols[1]] * mult[1]
                r += idx_t[cols[2]]
            r += base
        return out

    def gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, len(METRICS)) exact sums and (n,) latency sums of checked, canonical candidates
        ``idx`` (n, columns)."""
        block, lat = self.gather_block(np.ascontiguousarray(idx.T))
        out = np.empty((len(idx), len(METRICS)), dtype=block.dtype)
        for m, name in enumerate(METRICS):
            out[:, m] = block[BLOCK_ROWS.index(name)]
        return out, lat

    def gather_block(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(len(BLOCK_ROWS), n) exact sums and (n,) latency sums from the (columns, n) layout.
        Per chunk: the first piece's rows taken, every further piece's rows added (whole rows,
        all metrics at once), then the chunk's sums laid out as the frame's columns."""
        n = cols.shape[1]
        out = np.empty((len(BLOCK_ROWS), n), dtype=self.ints.dtype)
        lat = np.empty(n) if self.latency is not None else None
        acc = np.empty((min(n, _CHUNK), self.ints.shape[1]), dtype=self.ints.dtype)
        tmp = np.empty_like(acc)
        for start in range(0, n, _CHUNK):
            rows = self.rows_of_columns(np.ascontiguousarray(cols[:, start:start + _CHUNK], dtype=np.int32))
            m = rows.shape[1]
            a, t = acc[:m], tmp[:m]
            # mode="clip": the rows are in range by construction (space.check); numpy's default
            # "raise" buffers the output, three times slower
            np.take(self.ints, rows[0], axis=0, out=a, mode="clip")
            for r in rows[1:]:
                np.take(self.ints, r, axis=0, out=t, mode="clip")
                a += t
            _lay_out(a, out[:, start:start + m])
            if lat is not None:
                lat[start:start + m] = np.take(self.latency, rows, mode="clip").sum(axis=0)
        return out, lat


INT_COLUMNS = ("params", "MACs", "FLOPs", "conv MACs", "linear MACs", "elementwise ops", "mem bytes")
"""The exact integer columns of an evaluated frame, per sample (batch 1); FLOPs = 2 x MACs."""
BLOCK_ROWS = INT_COLUMNS + ("invalid",)


def _lay_out(sums: np.ndarray, out: np.ndarray) -> None:
    """(m, len(METRICS)) sums -> (len(BLOCK_ROWS), m): MACs = conv + linear, FLOPs = 2 MACs."""
    for row, name in enumerate(BLOCK_ROWS):
        if name == "MACs":
            np.add(sums[:, 1], sums[:, 2], out=out[row])
        elif name == "FLOPs":
            np.multiply(out[row - 1], 2, out=out[row])
        else:
            out[row] = sums[:, METRICS.index(name)]


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
    from ..latency.network import in_network_seconds, layer_row

    memo: dict[Any, float] = {}

    def layer_seconds(spec: Any) -> float:
        """One layer as predict_latency counts it inside a network (``latency.network``: its
        time alone, or by the profile's fitted network composition). Memoized per spec: blocks
        share most of their layers, and the op rows are the slow part."""
        try:
            return memo[spec]
        except (KeyError, TypeError):
            pass
        seconds = in_network_seconds(layer_row(spec, profile), profile)
        with contextlib.suppress(TypeError):  # an unhashable spec is simply not memoized
            memo[spec] = seconds
        return seconds

    def predict(nodes: list, shape: tuple, key: str) -> float:
        # a candidate's predicted latency = predict_latency(space.build(c)): the sum of its
        # layers, plus the one model call, counted with the stem
        call = profile.peaks.call_overhead_s if key == "stem" else 0.0
        return float(sum(layer_seconds(leaf.spec) for node in nodes for leaf in leaves(node))) + call

    return predict, "predicted latency (s)"


def _auto_profile() -> Any:
    import costmodel

    try:
        return costmodel.load_profile()
    except ValueError:  # ProfileError: no calibration on this machine, so no latency column
        return None


# --- evaluation -----------------------------------------------------------------------------

_TABLES: dict[tuple, Tables] = {}


def clear_tables() -> None:
    """Forget the cached per-block tables (the next query builds them again: a cold start)."""
    _TABLES.clear()


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


def as_indices(space: NetworkSpace, candidates: Any, check: bool = True) -> np.ndarray:
    """An (n, columns) int64 array from an array, a list of rows, or a frame with the columns
    (``check``: ValueError naming a column whose index is out of range)."""
    if hasattr(candidates, "columns") and hasattr(candidates, "loc"):
        missing = [c for c in space.columns if c not in candidates.columns]
        if missing:
            raise ValueError(f"candidates column {missing[0]!r} is missing: allowed columns are {', '.join(space.columns)}")
        idx = candidates[space.columns].to_numpy(dtype=np.int64)
    else:
        idx = np.asarray(candidates, dtype=np.int64)
        if idx.ndim == 1:
            idx = idx[None, :]
    if check:
        space.check(idx)
    return idx


def evaluate(space: NetworkSpace, candidates: Any, profile: Any = "auto", lut: Any = None,
             tables: Tables | None = None):
    """DataFrame: the choice columns, exact params / MACs / FLOPs / bytes / elementwise ops per
    sample, ``valid``, and the latency column when a profile or LUT is given."""
    cols = space.canonical_columns(as_indices(space, candidates, check=False))  # (columns, n)
    return evaluate_columns(space, cols, tables if tables is not None else tables_for(space, profile, lut))


def evaluate_columns(space: NetworkSpace, cols: np.ndarray, t: Tables):
    """``evaluate`` of checked, canonical candidates in the (columns, n) layout."""
    import pandas as pd

    block, lat = t.plan.gather_block(cols)
    # each part is one 2-D block handed to pandas without a copy (its (columns, n) layout is
    # pandas' own): large frames are bound by memory traffic, not arithmetic
    parts = [pd.DataFrame(cols.T, columns=space.columns, copy=False),
             pd.DataFrame(block[:-1].T, columns=INT_COLUMNS, copy=False)]
    extra = {"valid": block[-1] == 0}
    if lat is not None:
        extra[t.latency_column] = lat
    parts.append(pd.DataFrame(extra))
    return pd.concat(parts, axis=1)  # no copy: pandas >= 3 is copy-on-write
