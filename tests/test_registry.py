"""Every registered design, checked exactly against its real module.

Parametrized over the registry: a design added later is tested here with no new test code.
For each design: analytic params == sum(p.numel()), analytic conv and linear MACs == fvcore ==
FlopCounterMode / 2, and each elementwise kind fvcore counts (batch_norm, adaptive_avg_pool2d)
== fvcore, on the reference config, a stride-2/odd-size config, and hypothesis-drawn configs.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from costmodel.core.registry import designs
from costmodel.validation import validate
from strategies import specs

DESIGNS = list(designs())


def assert_exact(row: dict) -> None:
    mismatches = {k: v for k, v in row.items() if k.endswith("_match") and not v}
    detail = {k: v for k, v in row.items() if any(k.startswith(m[:-6]) for m in mismatches)}
    assert row["match"], f"{row['design']} ({row['spec']}): {detail}"


@pytest.mark.parametrize("design", DESIGNS)
def test_reference_config_matches_trace(design):
    assert_exact(validate(designs()[design]()))


@pytest.mark.parametrize("design", DESIGNS)
def test_odd_size_stride2_with_options_matches_trace(design):
    cls = designs()[design]
    fields = cls.field_ranges()
    changes = {name: value for name, value in
               [("h", 15), ("w", 9), ("stride", 2), ("bn", True), ("act", True), ("bias", True),
                ("pad", True)]
               if name in fields}
    try:
        spec = cls().replace(**changes)
    except ValueError as exc:  # a design may forbid one of these (e.g. h divisible by k)
        pytest.skip(f"{design} rejects the odd/stride-2 config: {exc}")
    assert_exact(validate(spec))


@pytest.mark.parametrize("design", DESIGNS)
@given(data=st.data())
def test_random_configs_match_trace(design, data):
    spec = data.draw(specs(design))
    assert_exact(validate(spec))


@pytest.mark.parametrize("design", DESIGNS)
def test_formulas_are_sympy_and_exact_ints(design):
    cls = designs()[design]
    spec = cls()
    f = cls.formulas(spec.structure())
    assert isinstance(f.params, sp.Expr) and isinstance(f.macs_total, sp.Expr)
    c = spec.costs()
    assert all(isinstance(v, int) for v in (c.params, c.macs, c.flops, c.mem_bytes))
    assert c.flops == 2 * c.macs
    # sympy's own substitution of the reference values agrees with the compiled evaluator.
    values = spec.values()
    for expr, number in ((f.macs_total, c.macs), (f.params, c.params), (f.mem_bytes, c.mem_bytes)):
        exact = expr.subs({s: values[str(s)] for s in expr.free_symbols})
        assert exact == number, (design, exact, number)


@pytest.mark.parametrize("design", DESIGNS)
def test_spec_is_frozen_and_fields_documented(design):
    cls = designs()[design]
    spec = cls()
    first = next(iter(cls.field_ranges()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, first, 3)
    assert cls.title and cls.reference and cls.__doc__


@pytest.mark.parametrize("design", DESIGNS)
@given(data=st.data())
def test_out_of_range_values_raise_naming_the_field(design, data):
    cls = designs()[design]
    ranges = {nm: r for nm, r in cls.field_ranges().items() if r.kind in ("int", "real")}
    name = data.draw(st.sampled_from(sorted(ranges)), label="field")
    rng = ranges[name]
    below = st.integers(-1000, int(rng.lo) - 1) if rng.kind == "int" else st.floats(-1e6, rng.lo, exclude_max=not rng.lo_open)
    bad_values = [below]
    if rng.hi is not None and rng.kind == "int":  # above the upper bound (2**31 for sizes)
        bad_values.append(st.integers(int(rng.hi) + 1, 4 * int(rng.hi)))
    elif rng.hi is not None:
        bad_values.append(st.floats(rng.hi, rng.hi + 1e6, exclude_min=not rng.hi_open))
    if rng.kind == "int":
        bad_values.append(st.just(2.5))
    bad = data.draw(st.one_of(*bad_values), label="value")
    with pytest.raises(ValueError) as err:
        cls().replace(**{name: bad})
    message = str(err.value)
    assert f".{name} = " in message and "allowed" in message
