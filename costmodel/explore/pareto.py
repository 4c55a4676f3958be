"""Pareto fronts: the only Pareto implementation in costmodel.

``pareto_front(frame, objectives)`` picks the rows no other row dominates; ``front_mask(points)``
does the same on an (n, k) array; ``staircase(obj, cand)`` keeps the distinct 2-D front (the
architecture explorer's pruning step). Two objectives: sort + running minimum, O(n log n); three: a
staircase sweep, O(n log n) searches; more: each row against the front so far. Values compare
exactly (big Python ints included), ranks first.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np


def pareto_front(frame, objectives: Sequence[str] | str, maximize: bool | Sequence[bool] | None = None):
    """The rows of ``frame`` that no other row dominates on ``objectives`` (minimized by default).

    A row dominates another if it is no worse on every objective and better on one; rows with
    identical objectives do not dominate each other, so both stay. Invalid rows (``valid`` False)
    and rows with missing objectives are ignored. Two objectives: sort + running minimum,
    O(n log n). Three: sweep on the first objective with a staircase of the other two, O(n log n)
    searches. More: compare each row with the front so far. Values are compared exactly (big
    Python ints included): each column is replaced by its rank first. The front is returned
    sorted by the first objective, with the frame's index.
    """
    import pandas as pd

    objectives = [objectives] if isinstance(objectives, str) else list(objectives)
    if not objectives:
        raise ValueError("objectives = [] is invalid: allowed is one or more column names")
    missing = [o for o in objectives if o not in frame.columns]
    if missing:
        raise ValueError(f"objective {missing[0]!r} is not a column: allowed are {', '.join(map(str, frame.columns))}")
    if maximize is None or isinstance(maximize, bool):
        flip = [bool(maximize)] * len(objectives)
    else:
        flip = [bool(x) for x in maximize]
        if len(flip) != len(objectives):
            raise ValueError(f"maximize = {maximize!r} is invalid: allowed is one bool per objective")
    usable = pd.Series(True, index=frame.index)
    if "valid" in frame.columns:
        usable &= frame["valid"].astype(bool)
    for o in objectives:
        usable &= frame[o].notna()
    sub = frame[usable.to_numpy()]
    ranks = np.stack([_rank(sub[o], f) for o, f in zip(objectives, flip)], axis=1) if len(sub) else \
        np.zeros((0, len(objectives)), np.int64)
    keep = front_mask(ranks)
    front = sub[keep]
    first = ranks[keep, 0]
    return front.iloc[np.argsort(first, kind="stable")]


def staircase(obj: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-dominated, distinct points of an (n, 2) array (both minimized), sorted by the
    first objective, with ``cand`` (rows aligned with ``obj``) kept alongside: the pruning step
    of the architecture explorer's exact front (``spaces.front``), where equal points keep one
    representative (the first in sort order).

    Sorted by (first, second), a point survives iff its second value is strictly below every
    earlier one: earlier points are no worse on the first, so they dominate or equal it.
    """
    if len(obj) == 0:
        return obj, cand
    order = np.lexsort((obj[:, 1], obj[:, 0]))
    second = obj[order, 1]
    best_before = np.minimum.accumulate(second)
    keep = np.ones(len(order), bool)
    keep[1:] = second[1:] < best_before[:-1]
    order = order[keep]
    return obj[order], cand[order]


def _rank(column, maximize: bool) -> np.ndarray:
    """Dense ranks (0 = smallest), exact for object columns of Python ints; negated to maximize."""
    values = column.to_numpy()
    if values.dtype == object:
        uniq = sorted(set(values.tolist()))
        lookup = {v: i for i, v in enumerate(uniq)}
        rank = np.array([lookup[v] for v in values.tolist()], dtype=np.int64)
    else:
        values = np.asarray(values, dtype=float) if values.dtype.kind not in "iub" else values
        rank = np.unique(values, return_inverse=True)[1].ravel().astype(np.int64)
    return -rank if maximize else rank


def front_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array (all objectives minimized)."""
    points = np.asarray(points)
    n, k = points.shape
    if n == 0:
        return np.zeros(0, bool)
    if k == 1:
        return points[:, 0] == points[:, 0].min()
    if k == 2:
        return _front2(points[:, 0], points[:, 1])
    if k == 3:
        return _front3(points)
    return _front_generic(points)


def _front2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sort by (a, b); a row is on the front if it has the least b of its a-group and that b is
    below every b of a strictly smaller a (a running minimum)."""
    order = np.lexsort((b, a))
    a_s, b_s = a[order], b[order]
    n = len(a_s)
    start = np.ones(n, bool)
    start[1:] = a_s[1:] != a_s[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    running = np.minimum.accumulate(b_s)
    prev = np.empty(n, dtype=float)
    has_prev = group_start > 0
    prev[~has_prev] = np.inf
    prev[has_prev] = running[group_start[has_prev] - 1]
    group_min = b_s[group_start]
    on = (b_s == group_min) & (group_min < prev)
    mask = np.zeros(n, bool)
    mask[order] = on
    return mask


def _front3(points: np.ndarray) -> np.ndarray:
    """Process groups of equal first objective in increasing order. A row is dominated by an
    earlier group iff the staircase (the 2-D front of (b, c) over earlier groups) holds a pair
    <= its (b, c); within its group, by the group's own 2-D front."""
    a, b, c = (points[:, i] for i in range(3))
    order = np.lexsort((c, b, a))
    mask = np.zeros(len(a), bool)
    stair_b: list = []  # increasing b
    stair_c: list = []  # strictly decreasing c
    a_s = a[order]
    bounds = np.flatnonzero(np.r_[True, a_s[1:] != a_s[:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows = order[lo:hi]
        inner = _front2(b[rows], c[rows])
        for r, own in zip(rows.tolist(), inner.tolist()):
            if not own:
                continue
            bi, ci = b[r], c[r]
            j = bisect.bisect_right(stair_b, bi) - 1
            mask[r] = not (j >= 0 and stair_c[j] <= ci)
        for r in rows[inner].tolist():
            _stair_insert(stair_b, stair_c, b[r], c[r])
    return mask


def _stair_insert(stair_b: list, stair_c: list, bi, ci) -> None:
    j = bisect.bisect_right(stair_b, bi) - 1
    if j >= 0 and stair_c[j] <= ci:
        return  # weakly dominated: the staircase already covers it
    i = bisect.bisect_left(stair_b, bi)
    end = i
    while end < len(stair_b) and stair_c[end] >= ci:
        end += 1
    stair_b[i:end] = [bi]
    stair_c[i:end] = [ci]


def _front_generic(points: np.ndarray) -> np.ndarray:
    """Lexicographic order puts every dominator first; checking the front so far suffices
    because dominance is transitive."""
    order = np.lexsort(points.T[::-1])
    kept: list[int] = []
    for r in order.tolist():
        p = points[r]
        if kept:
            f = points[kept]
            if np.any(np.all(f <= p, axis=1) & np.any(f < p, axis=1)):
                continue
        kept.append(r)
    mask = np.zeros(len(points), bool)
    mask[kept] = True
    return mask
