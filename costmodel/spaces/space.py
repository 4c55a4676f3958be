"""NetworkSpace: a backbone skeleton (stem, stages, head) whose blocks carry choice lists.

A candidate is one integer per column (``space.columns``), in this order per stage:

* ``<stage>.width``: index into the stage's output widths (channels of all its blocks),
* ``<stage>.depth``: index into its allowed depths (blocks beyond the depth are absent),
* ``<stage>.<j>``: index into block slot j's choices (or one ``<stage>.block`` for a *tied*
  stage, whose blocks all take the same choice: e.g. "per-stage 3x3 replacement").

Slots beyond a candidate's depth are canonically 0. Resolution is fixed per slot (only a
stage's first block may have a stride), so the interface between stages is the width alone;
that is what makes the exact dynamic-programming front (``front.py``) small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.fields import MAX_SIZE, check_count
from ..networks.graph import Cursor, Network, Node, Seq, conv_out
from .blocks import BLOCKS, HEADS, STEMS, Choice, make_block


MAX_DEPTH = 1024
"""Most block slots a stage may have (a bound, so a space file cannot ask for 10^9 slots)."""


def _sizes(values: Any) -> bool:
    """A non-empty sequence of Python integers in [1, MAX_SIZE] (bools excluded)."""
    return bool(values) and all(type(v) is int and 1 <= v <= MAX_SIZE for v in values)


@dataclass(frozen=True)
class Stage:
    """One stage: output width choices, allowed depths, and a choice list per block slot."""

    name: str
    widths: tuple[int, ...]
    slots: tuple[tuple[Choice, ...], ...]
    depths: tuple[int, ...]
    stride: int = 1
    tied: bool = False

    def __post_init__(self) -> None:
        where = f"stage {self.name!r}"
        if not _sizes(self.widths):
            raise ValueError(f"{where}: widths = {self.widths!r} is invalid: allowed is a non-empty list of integers "
                             f"in [1, {MAX_SIZE:,}]")
        if not _sizes((self.stride,)):
            raise ValueError(f"{where}: stride = {self.stride!r} is invalid: allowed is an integer in [1, {MAX_SIZE:,}]")
        if len(self.slots) > MAX_DEPTH:
            raise ValueError(f"{where}: {len(self.slots):,} block slots are invalid: allowed is at most {MAX_DEPTH}")
        if not self.slots or any(not s for s in self.slots):
            raise ValueError(f"{where}: blocks = {self.slots!r} is invalid: allowed is one non-empty choice list per block")
        if not self.depths or any(not 1 <= d <= len(self.slots) for d in self.depths):
            raise ValueError(f"{where}: depths = {self.depths!r} is invalid: allowed is a non-empty list of "
                             f"integers in [1, {len(self.slots)}] (the number of block slots)")
        if self.tied and any(s != self.slots[0] for s in self.slots):
            raise ValueError(f"{where}: tied = True needs the same choice list in every block slot")
        unknown = {c.design for s in self.slots for c in s} - set(BLOCKS)
        if unknown:
            raise ValueError(f"{where}: design = {sorted(unknown)[0]!r} is unknown: allowed is one of {', '.join(BLOCKS)}")

    @property
    def columns(self) -> list[str]:
        blocks = [f"{self.name}.block"] if self.tied else [f"{self.name}.{j}" for j in range(len(self.slots))]
        return [f"{self.name}.width", f"{self.name}.depth"] + blocks

    def choice_count(self) -> int:
        """Distinct configurations of this stage (width x depth x blocks), as a Python int."""
        if self.tied:
            per_depth = len(self.depths) * len(self.slots[0])
        else:
            per_depth = sum(int(np.prod([len(s) for s in self.slots[:d]], dtype=object)) for d in self.depths)
        return len(self.widths) * per_depth


@dataclass(frozen=True)
class NetworkSpace:
    """stem -> stages -> head, with ``input_shape`` (C, H, W). See the module docstring."""

    name: str
    stages: tuple[Stage, ...]
    input_shape: tuple[int, int, int] = (3, 224, 224)
    stem: tuple[str, tuple[tuple[str, Any], ...]] = ("conv", ())
    head: tuple[str, tuple[tuple[str, Any], ...]] = ("classifier", ())
    title: str = ""
    fixed_points: tuple[tuple[str, tuple[int, ...]], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"space {self.name!r}: stages = [] is invalid: allowed is one or more stages")
        if len(self.input_shape) != 3 or not _sizes(self.input_shape):
            raise ValueError(f"space {self.name!r}: input_shape = {self.input_shape!r} is invalid: allowed is "
                             f"(C, H, W), integers in [1, {MAX_SIZE:,}]")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"space {self.name!r}: stage names {names!r} are invalid: allowed are distinct names")
        if self.stem[0] not in STEMS:
            raise ValueError(f"stem.kind = {self.stem[0]!r} is unknown: allowed is one of {', '.join(STEMS)}")
        if self.head[0] not in HEADS:
            raise ValueError(f"head.kind = {self.head[0]!r} is unknown: allowed is one of {', '.join(HEADS)}")

    # -- the candidate encoding --
    @property
    def columns(self) -> list[str]:
        return [c for s in self.stages for c in s.columns]

    def count(self) -> int:
        """How many candidate networks the space holds (exact Python int)."""
        total = 1
        for s in self.stages:
            total *= s.choice_count()
        return total

    def stem_nodes(self, cur: Cursor) -> list[Node]:
        return STEMS[self.stem[0]](cur, **dict(self.stem[1]))

    def head_nodes(self, cur: Cursor) -> list[Node]:
        return HEADS[self.head[0]](cur, **dict(self.head[1]))

    def stem_shape(self) -> tuple[int, ...]:
        cur = Cursor(*self.input_shape)
        self.stem_nodes(cur)
        return cur.shape

    def resolutions(self) -> list[tuple[int, int]]:
        """(H, W) at the input of each stage (fixed: only a stage's first block has a stride)."""
        _, h, w = self.stem_shape()
        out = []
        for s in self.stages:
            out.append((h, w))
            k = s.slots[0][0].k
            h, w = conv_out(h, k, s.stride), conv_out(w, k, s.stride)
        return out

    def decode(self, candidate: Sequence[int] | Mapping[str, Any]) -> dict[str, Any]:
        """Per stage: width (channels), depth and the block choices actually present."""
        idx = self._row(candidate)
        out: dict[str, Any] = {}
        pos = 0
        for s in self.stages:
            width, depth = s.widths[idx[pos]], s.depths[idx[pos + 1]]
            if s.tied:
                blocks = [s.slots[j][idx[pos + 2]] for j in range(depth)]
            else:
                blocks = [s.slots[j][idx[pos + 2 + j]] for j in range(depth)]
            out[s.name] = {"width": width, "depth": depth, "blocks": blocks}
            pos += len(s.columns)
        return out

    def describe(self, candidate: Sequence[int] | Mapping[str, Any]) -> str:
        """One line per stage: ``s3 (80 ch, 4 blocks): ghost_bottleneck k3 t6 | ...``."""
        parts = []
        for name, d in self.decode(candidate).items():
            blocks = " | ".join(c.label() for c in d["blocks"])
            parts.append(f"{name} ({d['width']} ch, {d['depth']} blocks): {blocks}")
        return "; ".join(parts)

    def _row(self, candidate: Sequence[int] | Mapping[str, Any]) -> list[int]:
        if isinstance(candidate, Mapping) or hasattr(candidate, "index") and hasattr(candidate, "loc"):
            missing = [c for c in self.columns if c not in candidate]
            if missing:
                raise ValueError(f"candidate column {missing[0]!r} is missing: allowed columns are {', '.join(self.columns)}")
            row = [int(candidate[c]) for c in self.columns]
        else:
            row = [int(v) for v in candidate]
        self.check(np.asarray([row]))
        return row

    def check(self, idx: np.ndarray) -> None:
        """ValueError naming the first column whose index is out of range."""
        if idx.ndim != 2 or idx.shape[1] != len(self.columns):
            raise ValueError(f"candidates of shape {idx.shape} are invalid: allowed is (n, {len(self.columns)}) "
                             f"with columns {', '.join(self.columns)}")
        sizes = np.asarray(self.column_sizes())
        if len(idx) == 0 or (idx.min(axis=0) >= 0).all() and (idx.max(axis=0) < sizes).all():
            return  # two reductions, no n x columns temporaries: the fast path
        bad = (idx < 0) | (idx >= sizes)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"{self.columns[col]} = {int(idx[row, col])} is invalid: allowed is an index "
                             f"in [0, {sizes[col] - 1}]")

    def index_dtype(self) -> np.dtype:
        """The smallest signed integer type holding every column's indices."""
        return np.dtype(np.min_scalar_type(-max(self.column_sizes())))

    def column_sizes(self) -> list[int]:
        out = []
        for s in self.stages:
            out += [len(s.widths), len(s.depths)]
            out += [len(s.slots[0])] if s.tied else [len(slot) for slot in s.slots]
        return out

    def encode(self, per_stage: Mapping[str, tuple[int, int, Sequence[Choice]]]) -> tuple[int, ...]:
        """The candidate with, per stage name, (width in channels, depth, its blocks' choices)."""
        out: list[int] = []
        for s in self.stages:
            if s.name not in per_stage:
                raise ValueError(f"stage {s.name!r} is missing: allowed stages are {', '.join(x.name for x in self.stages)}")
            width, depth, blocks = per_stage[s.name]
            out += [_index(s.widths, width, f"{s.name}.width"), _index(s.depths, depth, f"{s.name}.depth")]
            if len(blocks) != depth:
                raise ValueError(f"{s.name}: {len(blocks)} block choices are invalid for depth {depth}: allowed is {depth}")
            codes = [_index(s.slots[j], c, f"{s.name}.{j}") for j, c in enumerate(blocks)]
            if s.tied:
                if len(set(codes)) > 1:
                    raise ValueError(f"{s.name}.block: choices {blocks!r} differ: a tied stage takes one choice")
                out.append(codes[0])
            else:
                out += codes + [0] * (len(s.slots) - depth)
        return tuple(out)

    def point(self, name: str) -> tuple[int, ...]:
        """A named fixed point (e.g. ``"ghostnet_1.0x"``), as a candidate."""
        points = dict(self.fixed_points)
        if name not in points:
            raise ValueError(f"point = {name!r} is unknown: allowed is one of {', '.join(points) or '(none)'}")
        return points[name]

    # -- networks --
    def build(self, candidate: Sequence[int] | Mapping[str, Any]) -> Network:
        """The candidate as a ``Network`` (``.costs()``, ``.module()``)."""
        decoded = self.decode(candidate)
        cur = Cursor(*self.input_shape)
        root = Seq("", list(self.stem_nodes(cur)))
        for s in self.stages:
            d = decoded[s.name]
            seq = Seq(s.name)
            for j, choice in enumerate(d["blocks"]):
                seq.children.append(make_block(cur, f"{s.name}.{j}", d["width"], s.stride if j == 0 else 1, choice))
            root.children.append(seq)
        root.children += self.head_nodes(cur)
        return Network(self.name, root, self.input_shape, self.title or self.name,
                       {"architecture": self.describe(candidate)})

    # -- evaluation (tables.py), fronts (front.py) --
    def tables(self, profile: Any = None, lut: Any = None, progress: Any = None):
        """The per-block cost tables (computed once per space and latency source)."""
        from .tables import cost_tables

        return cost_tables(self, profile, lut, progress)

    def evaluate(self, candidates: Any, profile: Any = "auto", lut: Any = None):
        """Exact costs of each candidate (rows: index vectors or frames with ``columns``)."""
        from .tables import evaluate

        return evaluate(self, candidates, profile=profile, lut=lut)

    def sample(self, n: int, seed: int = 0, profile: Any = "auto", lut: Any = None):
        """``n`` uniformly drawn candidates (per column), evaluated (the rows of ``draw(n, seed)``)."""
        from .stream import draw_columns
        from .tables import evaluate_columns, tables_for

        check_count("n", n, 0)
        return evaluate_columns(self, draw_columns(self, 0, int(n), seed), tables_for(self, profile, lut))

    def draw(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` random candidates (int array, canonical: absent slots are 0)."""
        from .stream import draw_rows  # the one draw: a chunk of it is rows of the whole

        check_count("n", n, 0)
        return draw_rows(self, 0, int(n), seed)

    def canonical(self, idx: np.ndarray) -> np.ndarray:
        """Slots beyond each candidate's depth set to 0 (one network, one encoding)."""
        return np.ascontiguousarray(self.canonical_columns(idx).T, dtype=np.int64)

    def canonical_columns(self, idx: np.ndarray, chunk: int = 1 << 13) -> np.ndarray:
        """``check`` and ``canonical`` of (n, columns) indices, as the transposed (columns, n)
        layout in the smallest integer type that holds every index (int8 for the built-in
        spaces: an eighth of int64's memory traffic). Checked and transposed chunk by chunk,
        so each piece is read once, while it is in cache."""
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.shape[1] != len(self.columns):
            self.check(idx)
        idx = np.asarray(idx, dtype=np.int64)
        sizes = np.asarray(self.column_sizes(), dtype=np.uint64)
        dtype = self.index_dtype()
        cols = np.empty((idx.shape[1], idx.shape[0]), dtype=dtype)
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            if len(part) and (part.view(np.uint64).max(axis=0) >= sizes).any():  # negatives wrap high
                self.check(part)  # raises, naming the column
            cols[:, start:start + chunk] = part.astype(dtype).T  # narrow first: a small transpose
        return self.zero_absent(cols)

    def zero_absent(self, cols: np.ndarray) -> np.ndarray:
        """In place on checked (columns, n) indices: slots beyond each candidate's depth set to 0."""
        pos = 0
        for s in self.stages:
            if not s.tied:
                for j in range(1, len(s.slots)):  # slot j is present iff depth > j
                    present = np.asarray([d > j for d in s.depths], dtype=cols.dtype)
                    cols[pos + 2 + j] *= np.take(present, cols[pos + 1], mode="clip")
            pos += len(s.columns)
        return cols

    def front(self, objectives: Sequence[str] | str = ("macs", "params"), profile: Any = "auto",
              lut: Any = None, progress: Any = None):
        """The exact Pareto front of the whole space (dynamic programming; see ``front.py``)."""
        from .front import pareto_front

        return pareto_front(self, objectives, profile=profile, lut=lut, progress=progress)


def _index(options: Sequence[Any], value: Any, column: str) -> int:
    try:
        return list(options).index(value)
    except ValueError:
        raise ValueError(f"{column} = {value!r} is invalid: allowed is one of {', '.join(map(repr, options))}") from None


