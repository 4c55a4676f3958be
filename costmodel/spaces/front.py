"""Exact Pareto fronts of a whole space by dynamic programming over its stages.

Both objectives are sums over pieces (stem, blocks, head), so a partial network that is
dominated at an interface stays dominated whatever follows: only the Pareto set of partial
networks per interface (the width of the last stage done) is kept.

    stage set   F[a][b] = front of { block0(a -> b) + blocks 1..d-1 at b : d in depths }
                          (prefix fronts grown one slot at a time, each a Minkowski sum + prune)
    chain       G[b]    = front of U_a G[a] (+) F[a][b]      (G starts as the stem)
    network     front   = front of U_a G[a] (+) head[a]

Each partial carries its candidate as an index vector (a piece fills only its own columns, so
the vectors add), so every front point is a real candidate. Equal points keep one
representative. Measured latency of a fused block is not additive: use sampling for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..explore.pareto import staircase

if TYPE_CHECKING:  # the space calls into this module; a runtime import would be a cycle
    from .space import NetworkSpace
from .tables import METRICS, Tables, evaluate, tables_for

OBJECTIVES = {"macs": "MACs", "params": "params", "bytes": "mem bytes", "elementwise": "elementwise ops",
              "latency": None}
"""objective name -> evaluated column (latency: the latency column of the tables)."""

NON_ADDITIVE = {"measured": "measured latency (s) of a whole network is not additive over its blocks (the "
                            "blocks run fused in one forward, sharing caches and dispatch), so no exact "
                            "front exists"}
"""objectives the DP cannot take, and why: they fall back to sampling (``costmodel explore
SPACE --objectives measured,params`` samples, measures and keeps the sampled front)."""

Partial = tuple[np.ndarray, np.ndarray]  # (n, 2) objective sums, (n, columns) candidate indices


def piece_objectives(t: Tables, objectives: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 2) objective value of every table row, and the rows that can be built."""
    cols = []
    for name in objectives:
        if name == "latency":
            if t.latency is None:
                raise ValueError("objective 'latency' needs a latency profile (run `costmodel calibrate`) or a LUT")
            cols.append(t.latency)
        elif name == "macs":
            cols.append(t.ints[:, 1] + t.ints[:, 2])
        else:
            cols.append(t.ints[:, METRICS.index(OBJECTIVES[name])])
    dtype = float if "latency" in objectives else np.int64
    return np.stack([np.asarray(c, dtype=dtype) for c in cols], axis=1), t.ints[:, METRICS.index("invalid")] == 0


def minkowski(a: Partial, b: Partial) -> Partial:
    """front(a (+) b): every pair summed, then pruned (only the survivors' candidates are built)."""
    if len(a[0]) == 0 or len(b[0]) == 0:
        return a[0][:0], a[1][:0]
    sums = (a[0][:, None, :] + b[0][None, :, :]).reshape(-1, 2)
    flat = np.arange(len(sums))
    obj, flat = staircase(sums, flat)
    i, j = np.divmod(flat, len(b[0]))
    return obj, a[1][i] + b[1][j]


def union(parts: list[Partial]) -> Partial:
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros((0, 2)), np.zeros((0, 0), np.int32)
    return staircase(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _pieces(obj: np.ndarray, ok: np.ndarray, rows: np.ndarray, column: int, codes: np.ndarray,
            ncols: int) -> Partial:
    """The buildable rows as points, with ``codes`` written into ``column``."""
    keep = ok[rows]
    cand = np.zeros((int(keep.sum()), ncols), np.int32)
    cand[:, column] = codes[keep]
    return staircase(obj[rows[keep]], cand)


def stage_sets(space: NetworkSpace, t: Tables, obj: np.ndarray, ok: np.ndarray, i: int, pos: int,
               n_prev: int) -> dict[tuple[int, int], Partial]:
    """F[a][b]: the front of stage i's configurations from previous width a to width b."""
    s = space.stages[i]
    nb, ncols = len(s.widths), len(space.columns)
    n_choices = len(s.slots[0])
    out: dict[tuple[int, int], Partial] = {}
    for b in range(nb):
        rest = [] if s.tied else [
            _pieces(obj, ok, t.slot_base[i][j] + np.arange(len(s.slots[j])) * nb + b, pos + 2 + j,
                    np.arange(len(s.slots[j])), ncols) for j in range(1, len(s.slots))]
        for a in range(n_prev):
            rows0 = t.slot_base[i][0] + (np.arange(len(s.slots[0])) * n_prev + a) * nb + b
            if s.tied:
                parts = [_tied(t, obj, ok, i, rows0, b, d, pos, ncols, n_choices, s.depths.index(d))
                         for d in s.depths]
            else:
                parts, prefix = [], _pieces(obj, ok, rows0, pos + 2, np.arange(len(s.slots[0])), ncols)
                for d in range(1, max(s.depths) + 1):
                    if d > 1:
                        prefix = minkowski(prefix, rest[d - 2])
                    if d in s.depths:
                        cand = prefix[1].copy()
                        cand[:, pos + 1] = s.depths.index(d)
                        parts.append((prefix[0], cand))
            f_obj, f_cand = union(parts)
            f_cand = f_cand.reshape(-1, ncols).copy()
            f_cand[:, pos] = b
            out[(a, b)] = (f_obj, f_cand)
    return out


def _tied(t: Tables, obj, ok, i: int, rows0: np.ndarray, b: int, d: int, pos: int, ncols: int,
          n_choices: int, depth_code: int) -> Partial:
    """A tied stage at depth d: choice o in every slot, one point per o."""
    nb = len(t.space.stages[i].widths)
    o = np.arange(n_choices)
    rows = [rows0] + [t.slot_base[i][j] + o * nb + b for j in range(1, d)]
    total = sum(obj[r] for r in rows)
    good = np.logical_and.reduce([ok[r] for r in rows])
    cand = np.zeros((int(good.sum()), ncols), np.int32)
    cand[:, pos + 2] = o[good]
    cand[:, pos + 1] = depth_code
    return staircase(total[good], cand)


def front_candidates(space: NetworkSpace, objectives: Sequence[str], t: Tables,
                     progress: Callable[[int], Any] | None = None) -> Partial:
    """The exact front's objective values and candidates (index vectors)."""
    obj, ok = piece_objectives(t, objectives)
    ncols = len(space.columns)
    stem = (obj[1:2], np.zeros((1, ncols), np.int32))
    chain: dict[int, Partial] = {0: stem}
    pos = 0
    for i, s in enumerate(space.stages):
        sets = stage_sets(space, t, obj, ok, i, pos, len(chain))
        chain = {b: union([minkowski(chain[a], sets[(a, b)]) for a in chain]) for b in range(len(s.widths))}
        pos += len(s.columns)
        if progress is not None:
            progress(1)
    head = [minkowski(chain[a], (obj[t.head_base + a][None, :], np.zeros((1, ncols), np.int32)))
            for a in chain if ok[t.head_base + a]]
    obj_front, cand = union(head)
    if len(obj_front) == 0:
        raise ValueError(f"space {space.name!r} has no buildable candidate")
    return obj_front, cand.reshape(-1, ncols)


def pareto_front(space: NetworkSpace, objectives: Sequence[str] | str = ("macs", "params"),
                 profile: Any = "auto", lut: Any = None, progress: Callable[[int], Any] | None = None):
    """The exact Pareto front of ``space`` on two additive objectives (both minimized), as the
    evaluated DataFrame of its candidates (sorted by the first objective) plus ``architecture``."""
    objectives = check_objectives(objectives)
    # latency is predicted only when asked for (an objective, or a profile / LUT given)
    wanted = "latency" in objectives or not (isinstance(profile, str) and profile == "auto")
    t = tables_for(space, profile if wanted else None, lut)
    _, cand = front_candidates(space, objectives, t, progress)
    frame = evaluate(space, cand, tables=t)
    frame["architecture"] = [space.describe(row) for row in cand]
    return frame.reset_index(drop=True)


def check_objectives(objectives: Sequence[str] | str, additive: bool = True) -> list[str]:
    """Two distinct objective names, each an additive objective (``OBJECTIVES``) or, with
    ``additive=False``, at most one non-additive one (``NON_ADDITIVE``: sampled, never a DP
    front); otherwise a ValueError naming the bad objective."""
    names = [o.strip() for o in objectives.split(",")] if isinstance(objectives, str) else list(objectives)
    allowed = [*OBJECTIVES, *NON_ADDITIVE]
    if len(names) != 2 or len(set(names)) != 2 or any(o not in allowed for o in names):
        raise ValueError(f"objectives = {','.join(map(str, names))!r} is invalid: allowed is two distinct of "
                         f"{', '.join(allowed)} (e.g. macs,params or latency,params)")
    bad = [o for o in names if o in NON_ADDITIVE]
    if bad and (additive or len(bad) > 1):
        raise ValueError(f"objective {bad[0]!r} is not additive: {NON_ADDITIVE[bad[0]]}; sample instead "
                         f"(costmodel explore SPACE --objectives {','.join(map(str, names))} --sample N --measure K)")
    return names


def column_of(objective: str, frame) -> str:
    """The evaluated column of an objective name (latency: whichever latency column exists)."""
    if objective in NON_ADDITIVE:
        return "measured latency (s)"
    if objective != "latency":
        return OBJECTIVES[objective]
    cols = [c for c in frame.columns if "latency (s)" in c]
    if not cols:
        raise ValueError("objective 'latency' needs a latency profile (run `costmodel calibrate`) or a LUT")
    return cols[0]


def best_under(space: NetworkSpace, minimize: str, budget: dict[str, float], profile: Any = "auto",
               lut: Any = None):
    """The lowest ``minimize`` with ``{objective: limit}`` (one budget, e.g. params <= 5e6): the
    front on (minimize, budgeted) holds an optimum, so the answer is exact. None if infeasible."""
    if len(budget) != 1:
        raise ValueError(f"budget = {budget!r} is invalid: allowed is one objective=limit (e.g. params=5e6)")
    (key, limit), = budget.items()
    front = pareto_front(space, (minimize, key), profile=profile, lut=lut)
    within = front[front[column_of(key, front)] <= limit]
    if within.empty:
        return None
    return within.sort_values(column_of(minimize, within), kind="stable").iloc[0]
