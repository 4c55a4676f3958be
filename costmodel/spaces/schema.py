"""Space files: a small TOML declaration of a NetworkSpace, checked key by key.

    name = "tiny"                     # required
    title = "A tiny space"            # optional
    input = [3, 64, 64]               # (C, H, W); default [3, 224, 224]
    [stem]                            # kind: conv (c_out, k, stride) | resnet (c_out)
    kind = "conv"
    c_out = 16
    [head]                            # kind: ghostnet (c_last, c_head, classes) | classifier (classes)
    kind = "classifier"
    classes = 10
    [[stages]]
    name = "s1"
    width = 24                        # base output channels ...
    width_mults = [0.75, 1.0]         # ... x these, make_divisible(., 4); or widths = [16, 24]
    depths = [1, 2]                   # allowed depths (the stage has max(depths) block slots)
    stride = 2                        # of the stage's first block
    tied = false                      # true: every block of the stage takes the same choice
    kernels = [3, 5]
    expansions = [3, 6]
    [[stages.blocks]]                 # one table per block design; option lists are crossed
    design = "ghost_bottleneck"
    se = [false, true]

Every error is a ValueError naming the file and the key (``stages[0].blocks[1].pw``).
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path
from typing import Any

from ..core.fields import MAX_SIZE
from ..designs.ghost import make_divisible
from .blocks import BLOCK_OPTIONS, BLOCKS, HEAD_OPTIONS, MAX_FACTOR, STEM_OPTIONS, Choice
from .space import MAX_DEPTH, NetworkSpace, Stage

TOP_KEYS = {"name": "a string", "title": "a string", "input": f"a list [C, H, W] of integers in [1, {MAX_SIZE:,}]",
            "stem": "a table", "head": "a table", "stages": "an array of tables [[stages]]"}
STAGE_KEYS = {"name": "a string", "width": f"an integer in [1, {MAX_SIZE:,}]",
              "width_mults": f"a list of numbers in (0, {MAX_FACTOR}]",
              "widths": f"a list of integers in [1, {MAX_SIZE:,}]", "depths": f"a list of integers in [1, {MAX_DEPTH}]",
              "stride": f"an integer in [1, {MAX_SIZE:,}]", "tied": "true or false",
              "kernels": f"a list of odd integers in [1, {MAX_SIZE:,}]",
              "expansions": f"a list of numbers in (0, {MAX_FACTOR}]", "blocks": "an array of tables [[stages.blocks]]"}


def load_space(path: str | Path, check: bool = True) -> NetworkSpace:
    """The space declared in the TOML file ``path`` (``check``: also build its cost tables,
    which finds channels no block choice can take)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"space file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"space file {path}: not TOML ({exc})") from None
    return space_from_dict(data, str(path), check)


def space_from_dict(data: dict[str, Any], source: str = "<space>", check: bool = True) -> NetworkSpace:
    """A NetworkSpace from the parsed TOML; ValueError naming ``source`` and the bad key."""
    def fail(key: str, why: str) -> ValueError:
        return ValueError(f"space file {source}: {key} {why}")

    _known(data, TOP_KEYS, "", fail)
    name = _get(data, "name", str, fail, "")
    shape = tuple(_int_list(data.get("input", [3, 224, 224]), "input", fail))
    if len(shape) != 3:
        raise fail("input", f"= {list(shape)!r} is invalid: allowed is {TOP_KEYS['input']}")
    stem = _piece(data.get("stem", {"kind": "conv"}), "stem", STEM_OPTIONS, fail)
    head = _piece(data.get("head", {"kind": "classifier"}), "head", HEAD_OPTIONS, fail)
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise fail("stages", f"= {stages!r} is invalid: allowed is {TOP_KEYS['stages']}, at least one")
    built = tuple(_stage(s, f"stages[{i}]", fail) for i, s in enumerate(stages))
    try:
        space = NetworkSpace(name, built, shape, stem, head, str(data.get("title", "")))
        if check:
            space.tables(profile=None)
    except ValueError as exc:
        raise ValueError(f"space file {source}: {exc}") from None
    return space


def _known(table: Any, allowed: dict[str, str] | tuple, where: str, fail) -> None:
    if not isinstance(table, dict):
        raise fail(where or "top level", f"= {table!r} is invalid: allowed is a table")
    for key in table:
        if key not in allowed:
            raise fail(f"{where}.{key}" if where else key,
                       f"is not a known key: allowed are {', '.join(allowed)}")


def _get(table: dict, key: str, kind: type, fail, where: str, default: Any = ...) -> Any:
    full = f"{where}.{key}" if where else key
    if key not in table:
        if default is ...:
            raise fail(full, "is missing")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise fail(full, f"= {value!r} is invalid: allowed is {kind.__name__}")
    return value


def _list(value: Any, key: str, fail, kind: tuple, describe: str) -> list:
    if not isinstance(value, list) or not value:
        raise fail(key, f"= {value!r} is invalid: allowed is {describe}, non-empty")
    for v in value:
        if not isinstance(v, kind) or isinstance(v, bool) and bool not in kind:
            raise fail(key, f"= {value!r} is invalid: allowed is {describe}")
    return value


def _int_list(value: Any, key: str, fail, hi: int = MAX_SIZE) -> list[int]:
    out = _list(value, key, fail, (int,), f"a list of integers in [1, {hi:,}]")
    if any(not 1 <= v <= hi for v in out):
        raise fail(key, f"= {value!r} is invalid: allowed is a list of integers in [1, {hi:,}]")
    return out


def _bounded(value: int, key: str, fail, hi: int = MAX_SIZE) -> int:
    """An integer option in [1, hi] (every size has an upper bound, as in a spec)."""
    if not 1 <= value <= hi:
        raise fail(key, f"= {value!r} is invalid: allowed is an integer in [1, {hi:,}]")
    return value


def _factors(value: Any, key: str, fail) -> list[float]:
    """Multipliers (width_mults, expansions): finite numbers in (0, MAX_FACTOR]; TOML has nan and inf."""
    describe = f"a list of numbers in (0, {MAX_FACTOR}]"
    out = _list(value, key, fail, (int, float), describe)
    if any(not 0 < v <= MAX_FACTOR for v in out):  # also false for nan
        raise fail(key, f"= {value!r} is invalid: allowed is {describe}")
    return out


def _piece(table: Any, where: str, options: dict[str, tuple[str, ...]], fail) -> tuple[str, tuple]:
    if not isinstance(table, dict):
        raise fail(where, f"= {table!r} is invalid: allowed is a table")
    kind = table.get("kind")
    if kind not in options:
        raise fail(f"{where}.kind", f"= {kind!r} is invalid: allowed is one of {', '.join(options)}")
    _known(table, ("kind",) + options[kind], where, fail)
    for key in options[kind]:
        if key in table:
            _bounded(_get(table, key, int, fail, where), f"{where}.{key}", fail)
    return kind, tuple((k, v) for k, v in table.items() if k != "kind")


def _stage(table: Any, where: str, fail) -> Stage:
    _known(table, STAGE_KEYS, where, fail)
    name = _get(table, "name", str, fail, where, where.replace("[", "").replace("]", ""))
    widths = _widths(table, where, fail)
    depths = tuple(_int_list(table.get("depths", [1]), f"{where}.depths", fail, MAX_DEPTH))
    stride = _bounded(_get(table, "stride", int, fail, where, 1), f"{where}.stride", fail)
    tied = _get(table, "tied", bool, fail, where, False)
    kernels = _int_list(table.get("kernels", [3]), f"{where}.kernels", fail)
    if any(k % 2 == 0 for k in kernels):
        raise fail(f"{where}.kernels", f"= {kernels!r} is invalid: allowed is a list of odd integers "
                                       f"(an even kernel changes the size)")
    expansions = _factors(table.get("expansions", [1.0]), f"{where}.expansions", fail)
    blocks = table.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise fail(f"{where}.blocks", f"= {blocks!r} is invalid: allowed is {STAGE_KEYS['blocks']}, at least one")
    choices = tuple(c for i, b in enumerate(blocks) for c in _choices(b, f"{where}.blocks[{i}]", kernels,
                                                                      expansions, fail))
    try:
        return Stage(name, widths, (choices,) * max(depths), depths, stride, tied)
    except ValueError as exc:
        raise fail(where, f"is invalid: {exc}") from None


def _widths(table: dict, where: str, fail) -> tuple[int, ...]:
    if "widths" in table:
        if "width" in table or "width_mults" in table:
            raise fail(f"{where}.widths", "is invalid beside width / width_mults: allowed is one of the two forms")
        return tuple(_int_list(table["widths"], f"{where}.widths", fail))
    base = _bounded(_get(table, "width", int, fail, where), f"{where}.width", fail)
    mults = _factors(table.get("width_mults", [1.0]), f"{where}.width_mults", fail)
    widths = tuple(dict.fromkeys(make_divisible(base * m, 4) for m in mults))
    if max(widths) > MAX_SIZE:
        raise fail(f"{where}.width", f"= {base!r} x {mults!r} is invalid: the widths {list(widths)!r} must be "
                                     f"integers in [1, {MAX_SIZE:,}]")
    return widths


def _choices(table: Any, where: str, kernels: list[int], expansions: list[float], fail) -> list[Choice]:
    if not isinstance(table, dict):
        raise fail(where, f"= {table!r} is invalid: allowed is a table")
    design = table.get("design")
    if design not in BLOCKS:
        raise fail(f"{where}.design", f"= {design!r} is invalid: allowed is one of {', '.join(BLOCKS)}")
    allowed = BLOCK_OPTIONS[design]
    _known(table, ("design",) + tuple(allowed), where, fail)
    axes = []
    for key, values in ((k, v) for k, v in table.items() if k != "design"):
        values = values if isinstance(values, list) else [values]
        if not values:
            raise fail(f"{where}.{key}", "= [] is invalid: allowed is a value or a non-empty list")
        bad = [v for v in values if not any(v == a and type(v) is type(a) or
                                            (isinstance(a, float) and isinstance(v, (int, float))
                                             and not isinstance(v, bool) and v == a) for a in allowed[key])]
        if bad:
            raise fail(f"{where}.{key}", f"= {bad[0]!r} is invalid: allowed is one of "
                                         f"{', '.join(map(repr, allowed[key]))}")
        axes.append([(key, v) for v in values])
    return [Choice(design, k, float(t), tuple(opts)) for opts in itertools.product(*axes)
            for k in kernels for t in expansions]
