"""Sweep grids: lazy axes, index sampling, grid-text parsing.

An axis keeps what the user gave (a ``range`` stays a range, a list or an array is used in
place), so a grid over ``range(1, 10**9)`` costs nothing until rows are drawn. Rows are
positions into the axes: a full grid enumerates them in row-major order (first field slowest),
a sample takes the first n rows of a seeded pseudo-random permutation of the grid (``Shuffle``):
distinct points, each uniformly placed, without building the grid or remembering what was drawn.

Every value a row uses goes through its field's own ``Range.normalize`` (the function the
spec constructor calls): numpy scalars become Python numbers, layouts are normalised, and a
rejected value carries the constructor's text. Nothing is re-implemented here.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.spec import Range

TABLE_MAX = 1 << 16
"""Axes up to this length are normalised once per sweep; longer axes normalise only the
positions a chunk uses."""

INT64_MAX = 2**63 - 1


# --- reasons ---------------------------------------------------------------------------------

class Reasons:
    """Reason strings <-> small integer codes (0 = valid); one table per sweep call."""

    def __init__(self) -> None:
        self.texts: list[str] = [""]
        self.codes: dict[str, int] = {"": 0}

    def code(self, text: str) -> int:
        if text not in self.codes:
            self.codes[text] = len(self.texts)
            self.texts.append(text)
        return self.codes[text]


def normalize(rng: Range, value: Any) -> Any:
    """The field's canonical value, exactly as the spec constructor makes it; ValueError with
    the allowed range otherwise."""
    return rng.normalize(value)


# --- one axis --------------------------------------------------------------------------------

def _source(raw: Any, rng: Range) -> Any:
    """What the user gave as an indexable sequence, without copying ranges or arrays."""
    if isinstance(raw, np.ndarray):
        return raw.ravel()
    if isinstance(raw, (range, Chain)):
        return raw
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        return [raw]
    if rng.kind == "choice" and isinstance(raw, tuple) and _is_one_value(rng, raw):
        return [raw]  # a tuple-valued option (a layout), not a list of options
    return raw if isinstance(raw, list) else list(raw)


def _is_one_value(rng: Range, raw: tuple) -> bool:
    """A tuple given to a choice field is one value if the field accepts it as one."""
    try:
        normalize(rng, raw)
    except (ValueError, TypeError):
        return False
    return True


def axis_length(source: Any) -> int:
    """len(), also for ranges longer than sys.maxsize."""
    if isinstance(source, Chain):
        return source.size
    if isinstance(source, range):
        step = source.step
        return max(0, (source.stop - source.start + step - (1 if step > 0 else -1)) // step)
    return len(source)


def _value(source: Any, pos: int) -> Any:
    if isinstance(source, range):
        return source.start + pos * source.step  # also past sys.maxsize
    return source[pos]


@dataclasses.dataclass
class AxisView:
    """One axis at the rows of a chunk: raw value, normalised value, range reason code (0 = the
    value is valid), the numbers formulas see, and which values only the exact path can hold."""

    raw: np.ndarray  # object: what the user gave
    normal: np.ndarray  # object: the constructor's value (raw where invalid)
    reason: np.ndarray  # int32 reason code, 0 = valid
    numeric: np.ndarray  # int64 / float64 (garbage where reason != 0 or exact)
    exact: np.ndarray  # bool: valid but not representable in numeric
    column: np.ndarray  # the frame column (int64 / float64 / bool / object)

    def take(self, idx: np.ndarray) -> "AxisView":
        return AxisView(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))


class Axis:
    """One field's values, lazily: ``view(positions)`` normalises only what a chunk uses."""

    def __init__(self, name: str, rng: Range, raw: Any, reasons: Reasons):
        self.name, self.rng, self.reasons = name, rng, reasons
        self.source = _source(raw, rng)
        self.size = axis_length(self.source)
        if self.size == 0:
            raise ValueError(f"{name} = {raw!r} is invalid: a sweep axis needs at least one value")
        self.options: dict[Any, int] = {}  # structural fields: normalised value -> code
        self._table = self._build(np.arange(self.size)) if self.size <= TABLE_MAX else None

    def value(self, pos: int) -> Any:
        return _value(self.source, int(pos))

    def view(self, idx: np.ndarray) -> AxisView:
        if self._table is not None:
            return self._table.take(idx)
        uniq, inverse = np.unique(idx, return_inverse=True)
        return self._build(uniq).take(inverse.ravel())

    def _build(self, positions: np.ndarray) -> AxisView:
        n = len(positions)
        raw = np.empty(n, dtype=object)
        normal = np.empty(n, dtype=object)
        reason = np.zeros(n, dtype=np.int32)
        for i, pos in enumerate(positions.tolist()):
            value = self.value(pos)
            raw[i] = value
            try:
                normal[i] = normalize(self.rng, value)
            except ValueError as exc:
                normal[i] = value
                reason[i] = self.reasons.code(f"{self.name}: {exc}")
        numeric, exact = self._numbers(normal, reason == 0)
        return AxisView(raw, normal, reason, numeric, exact, self._column(normal, reason == 0, exact))

    def _numbers(self, normal: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """int64 for ints and flags, float64 for reals, a code per option for choices. A valid
        value that int64 / float64 cannot hold exactly is marked for the exact path."""
        n = len(normal)
        exact = np.zeros(n, bool)
        if self.rng.kind == "choice":
            codes = [self.options.setdefault(v, len(self.options)) if o else -1
                     for v, o in zip(normal.tolist(), ok.tolist())]
            return np.array(codes, dtype=np.int64), exact
        is_real = self.rng.kind == "real"
        numeric = np.zeros(n, dtype=float if is_real else np.int64)
        for i, (v, o) in enumerate(zip(normal.tolist(), ok.tolist())):
            if not o:
                continue
            if is_real and type(v) is float:
                numeric[i] = v
            elif not is_real and -INT64_MAX <= int(v) <= INT64_MAX:
                numeric[i] = int(v)
            else:  # a huge int, or an int / Fraction in a real field (exact arithmetic there)
                exact[i] = True
        return numeric, exact

    def _column(self, normal: np.ndarray, ok: np.ndarray, exact: np.ndarray) -> np.ndarray:
        if ok.all() and not exact.any():
            kind = self.rng.kind
            if kind == "flag":
                return normal.astype(bool)
            if kind == "int":
                return normal.astype(np.int64)
            if kind == "real":
                return normal.astype(float)
        return normal

    def structure_value(self, code: int) -> Any:
        """The normalised option a code stands for."""
        for value, c in self.options.items():
            if c == code:
                return value
        raise KeyError(code)


# --- rows ------------------------------------------------------------------------------------

def grid_positions(sizes: list[int], start: int, stop: int) -> list[np.ndarray]:
    """Positions of rows start..stop-1 of the full grid (row-major, the first axis slowest)."""
    return split_rows(np.arange(start, stop, dtype=np.int64), sizes)


def split_rows(rows: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Flat row numbers of the grid -> one position array per axis (row-major, first axis
    slowest): position_i = (row // prod(sizes[i+1:])) % sizes[i]. Rows past int64 come as an
    object array of Python ints; each axis's positions are int64 again where the axis fits."""
    out = []
    stride = math.prod(sizes)
    for s in sizes:
        stride //= s
        pos = (rows // stride) % s if s > 1 else np.zeros(len(rows), np.int64)
        out.append(pos.astype(np.int64) if pos.dtype == object and s <= INT64_MAX else pos)
    return out


class Shuffle:
    """A seeded pseudo-random permutation of ``range(total)``, evaluated pointwise in O(rows)
    memory: the i-th sampled row is ``perm(i)``, so a sample never repeats a point and never
    builds the grid or a set of drawn rows, however large either is.

    perm is a 4-round Feistel network on [0, 2**bits) (bits = the even bit length of total - 1,
    so 2**bits < 4 * total), each round L, R = R, L ^ F(R): a bijection whatever F is, and
    ``cycle walking`` (apply perm again while the value is >= total) restricts it to a bijection
    of [0, total). F is the splitmix64 finaliser of R ^ key (numpy uint64, for totals up to
    2**62), or BLAKE2b of (key, R) on Python ints for larger grids."""

    ROUNDS = 4

    def __init__(self, total: int, seed: int) -> None:
        self.total = total
        bits = max(2, (total - 1).bit_length())
        self.half = (bits + 1) // 2
        self.fast = 2 * self.half <= 62
        rng = np.random.default_rng(seed)
        self.keys = [int(k) for k in rng.integers(0, 2**63, self.ROUNDS, dtype=np.int64)]

    def __call__(self, start: int, stop: int) -> np.ndarray:
        """perm(start), ..., perm(stop - 1): int64 when total fits in 2**62, else Python ints."""
        if self.fast:
            x = np.arange(start, stop, dtype=np.uint64)
            out = self._walk(x, self._numpy_rounds)
            return out.astype(np.int64)
        x = np.array([i for i in range(start, stop)], dtype=object)
        return self._walk(x, self._python_rounds)

    def _walk(self, x: np.ndarray, rounds) -> np.ndarray:
        x = rounds(x)
        out_of_range = np.flatnonzero(x >= self.total)
        while len(out_of_range):  # cycle walking: each cycle returns into [0, total)
            x[out_of_range] = rounds(x[out_of_range])
            out_of_range = out_of_range[x[out_of_range] >= self.total]
        return x

    def _numpy_rounds(self, x: np.ndarray) -> np.ndarray:
        half, mask = np.uint64(self.half), np.uint64((1 << self.half) - 1)
        left, right = x >> half, x & mask
        for key in self.keys:
            left, right = right, left ^ (_splitmix(right ^ np.uint64(key)) & mask)
        return (left << half) | right

    def _python_rounds(self, x: np.ndarray) -> np.ndarray:
        import hashlib

        half, mask = self.half, (1 << self.half) - 1
        size = (half + 7) // 8
        out = np.empty(len(x), dtype=object)
        for i, v in enumerate(x.tolist()):
            left, right = v >> half, v & mask
            for key in self.keys:
                digest = hashlib.blake2b(right.to_bytes(size, "little"), digest_size=min(64, size + 8),
                                         key=key.to_bytes(8, "little")).digest()
                left, right = right, left ^ (int.from_bytes(digest, "little") & mask)
            out[i] = (left << half) | right
        return out


def _splitmix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (uint64, wrapping multiplication): a well-mixed 64-bit hash."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


# --- Range.accepts on arrays -----------------------------------------------------------------

def accepts_array(rng: Range, values: np.ndarray) -> np.ndarray:
    """``Range.accepts`` elementwise on an array: each distinct value is asked once."""
    values = np.asarray(values)
    flat = values.ravel()
    if flat.dtype == object:
        return np.array([rng.accepts(v) for v in flat.tolist()], dtype=bool).reshape(values.shape)
    uniq, inverse = np.unique(flat, return_inverse=True)
    ok = np.array([rng.accepts(v) for v in uniq.tolist()], dtype=bool)
    return ok[inverse.ravel()].reshape(values.shape)


# --- grid text (the command line) ------------------------------------------------------------

def parse_grid(text: str, rng: Range, flag_name: str = "value") -> list:
    """Grid text -> values: ``a:b:step`` (inclusive of b, step 1 if left out), comma lists and
    single values; flags take true/false/1/0/both; choices their option names; a layout field
    takes one layout ``8,8`` / ``8x8``, or several separated by ``;`` (``8x8;4x16``)."""
    if rng.kind == "choice":
        return _parse_choices(text, rng, flag_name)
    parts: list = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise ValueError(f"{flag_name} {text!r} is invalid: empty item in the list")
        parts.append(_parse_token(token, rng, flag_name, text))
    chain = Chain(parts)
    if chain.size <= TABLE_MAX:
        return [v for part in parts for v in part]
    return parts[0] if len(parts) == 1 else chain


class Chain:
    """Several sequences (ranges, lists) read as one, lazily: ``1:10**9,5`` stays small."""

    def __init__(self, parts: list) -> None:
        self.parts = parts
        self.offsets = [0]
        for part in parts:
            self.offsets.append(self.offsets[-1] + axis_length(part))
        self.size = self.offsets[-1]

    def __getitem__(self, pos: int) -> Any:
        i = bisect.bisect_right(self.offsets, pos) - 1
        return _value(self.parts[i], pos - self.offsets[i])

    def __len__(self) -> int:
        return self.size


def _parse_choices(text: str, rng: Range, flag_name: str) -> list:
    """Choice text: each item the option it names (str or repr), else what the field's own
    normalisation makes of it (a layout "8,8"). Items are split on ";" when one is present, on
    "," otherwise unless the whole text is one value (a layout "8,8")."""
    if ";" in text:
        items = text.split(";")
    else:
        whole = _choice_value(text.strip(), rng)
        items = [text] if whole is not _NONE else text.split(",")
    values = []
    for item in (t.strip() for t in items):
        if not item:
            raise ValueError(f"{flag_name} {text!r} is invalid: empty item in the list")
        value = _choice_value(item, rng)
        if value is _NONE:
            raise ValueError(f"{flag_name} {text!r} is invalid: allowed is {rng.describe()}")
        values.append(value)
    return values


_NONE = object()


def _choice_value(token: str, rng: Range) -> Any:
    for option in rng.options:
        if token in (str(option), repr(option)):
            return option
    try:
        return normalize(rng, token)
    except (ValueError, TypeError):
        return _NONE


def _parse_token(token: str, rng: Range, flag_name: str, text: str) -> list:
    if rng.kind == "flag":
        lowered = token.lower()
        table = {"true": [True], "1": [True], "yes": [True], "false": [False], "0": [False],
                 "no": [False], "both": [False, True]}
        if lowered not in table:
            raise ValueError(f"{flag_name} {text!r} is invalid: allowed is true, false or both")
        return table[lowered]
    parse = int if rng.kind == "int" else Fraction
    try:
        if ":" not in token:
            return [parse(token) if rng.kind == "int" else float(parse(token))]
        parts = token.split(":")
        if len(parts) not in (2, 3):
            raise ValueError
        lo, hi = parse(parts[0]), parse(parts[1])
        step = parse(parts[2]) if len(parts) == 3 else 1
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{flag_name} {text!r} is invalid: allowed is a:b:step, a comma list or one "
                         f"{'integer' if rng.kind == 'int' else 'number'}") from None
    if step <= 0 or hi < lo:
        raise ValueError(f"{flag_name} {token!r} is invalid: a:b:step needs a <= b and step > 0")
    if rng.kind == "int":
        return range(lo, hi + 1, step)  # lazy: 1:10**9 costs nothing until rows are drawn
    count = int((hi - lo) // step) + 1
    return [float(lo + i * step) for i in range(count)]
