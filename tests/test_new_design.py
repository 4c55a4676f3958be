"""Adding a design touches one file (issue 13): a throwaway design, defined entirely here, shows
up in list, query, validate, sweep, the report, latency sampling and analyze()'s design hints
with no other edit."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from costmodel.core import Spec, register_design, size
from costmodel.core import ops
from costmodel.core.layer import LayerSpec
from costmodel.core.registry import _DESIGNS

NAME = "toy_pointwise_pair"


def _define() -> type[Spec]:
    @register_design(NAME, "Toy: two 1x1 convs", "defined in tests/test_new_design.py")
    @dataclass(frozen=True, kw_only=True)
    class ToyPointwisePair(LayerSpec):
        """1x1 conv c_in -> c_mid, then 1x1 conv c_mid -> c_out. MACs = (c_in + c_out)*c_mid*h*w."""

        c_in: int = size(8, "input channels", role="channels")
        c_mid: int = size(4, "middle channels", role="channels")
        c_out: int = size(16, "output channels", role="channels")
        foreign_module_names = ("toypair",)  # analyze() labels other people's "ToyPairBlock" with it

        @classmethod
        def ops(cls, p: SimpleNamespace):
            first = ops.conv("first", p.c_in, p.c_mid, 1, p.h, p.w)
            return [first, ops.conv("second", p.c_mid, p.c_out, 1, p.h, p.w)]

        def build(self):
            from torch import nn

            return nn.Sequential(nn.Conv2d(self.c_in, self.c_mid, 1, bias=False),
                                 nn.Conv2d(self.c_mid, self.c_out, 1, bias=False))

    return ToyPointwisePair


@pytest.fixture
def toy():
    cls = _define()
    try:
        yield cls
    finally:
        _DESIGNS.pop(NAME, None)


def test_costs_and_validation(toy):
    spec = toy(h=10, w=10)
    # 8*4*100 + 4*16*100 = 3,200 + 6,400 = 9,600 MACs; params 8*4 + 4*16 = 96
    assert spec.macs() == 9_600 and spec.params() == 96
    import costmodel as cm

    assert cm.get_design(NAME) is toy and cm.ToyPointwisePair is toy
    assert cm.validate(spec)["match"]


def test_cli_list_query_validate(toy, capsys):
    from costmodel.cli import main

    assert main(["list"]) == 0
    assert NAME in capsys.readouterr().out
    assert main(["query", NAME, "--h", "10", "--w", "10"]) == 0
    assert "9,600" in capsys.readouterr().out  # the MACs above
    assert main(["validate", NAME, "--c-mid", "2"]) == 0  # 8*2*3136 + 2*16*3136: traced equal


def test_sweep(toy):
    import costmodel as cm

    frame = cm.sweep(NAME, c_mid=[4, 8], h=[10], w=[10])
    # c_mid 4: 9,600 (above); c_mid 8: (8 + 16)*8*100 = 19,200
    assert frame["macs"].tolist() == [9_600, 19_200] and frame["valid"].all()


def test_cli_sweep(toy, capsys):
    from costmodel.cli import main

    assert main(["sweep", NAME, "--c-mid", "4,8", "--h", "10", "--w", "10"]) == 0
    out = capsys.readouterr().out
    # MACs 9,600 and 19,200 (test_sweep); 38,400 = FLOPs of c_mid 8 (2 x 19,200), only in the second row
    assert "9,600" in out and "38,400" in out


def test_latency_sampling(toy):
    from costmodel.latency.sampler import sample_specs

    drawn = sample_specs(toy, 3, seed=1)
    assert drawn and all(isinstance(s, toy) and s.macs() > 0 for s in drawn)


def test_analyze_design_hint():
    from costmodel.analysis.rules import design_hint

    assert design_hint("ToyPairBlock") is None  # the hint table is built before the design exists
    _define()
    try:
        assert design_hint("ToyPairBlock") == "Toy: two 1x1 convs"  # from foreign_module_names
    finally:
        _DESIGNS.pop(NAME, None)


def test_report(toy):
    from costmodel.htmlreport import build

    built = build([NAME, "conv"], small=True, sections=["designs"])
    assert NAME in built.html and not built.alerts


def test_report_space_and_validation_sections(toy):
    from costmodel.htmlreport import build

    built = build([NAME, "conv"], small=True, sections=["space", "validation"])
    for key in ("space", "validation"):  # its grid by field roles; its traced check
        assert NAME in "".join(map(str, built.section(key).body)), key
    assert not built.alerts  # the toy's validation matches (a mismatch is an alert)


WIDTH = "toy_width"
"""A field name no seed design uses (core/symbols.py does not declare it)."""


@pytest.fixture
def toy_swap():
    """A 1x1 conv c_in -> toy_width (a new field name) that declares itself a network swap."""
    from costmodel.core import symbols

    name = "toy_swap_pointwise"
    assert WIDTH not in symbols.SYMBOLS

    @register_design(name, "Toy: a 1x1 conv to a new-named width, as a swap")
    @dataclass(frozen=True, kw_only=True)
    class ToySwap(LayerSpec):
        """1x1 conv c_in -> toy_width, no BN (a swap keeps the replaced conv's BN + ReLU after it).
        MACs = c_in*toy_width*h*w."""

        c_in: int = size(8, "input channels", role="channels")
        toy_width: int = size(6, "output channels, a name of its own", role="channels")

        @classmethod
        def ops(cls, p: SimpleNamespace):
            return [ops.conv("only", p.c_in, p.toy_width, 1, p.h, p.w)]

        @classmethod
        def swap_for_conv(cls, c_in, c_out, k, stride, h, w, act):
            return None if k != 1 or stride != 1 else [("", cls(c_in=c_in, toy_width=c_out, h=h, w=w))]

        @classmethod
        def swap_options(cls):
            return ()

    try:
        yield ToySwap
    finally:
        _DESIGNS.pop(name, None)
        symbols.SYMBOLS.pop(WIDTH, None)


def test_a_new_field_name_needs_no_symbol_edit(toy_swap):
    """A field name no seed design uses gets its symbol from its declared range."""
    from costmodel.core import symbols

    spec = toy_swap(h=5, w=5)
    assert spec.macs() == 1_200  # 8*6*25
    width = symbols.sym(WIDTH)
    assert width.is_integer and width.is_positive  # size(): an integer >= 1
    assert toy_swap.formulas().macs_total.free_symbols == {symbols.sym("c_in"), width,
                                                            symbols.sym("h"), symbols.sym("w")}


def test_network_swap(toy_swap):
    """A design that declares ``swap_for_conv`` and ``swap_options`` is a network swap, no other edit."""
    from costmodel.networks import network, swap
    from costmodel.networks.swaps import swappable

    assert toy_swap.name in swappable()
    plain, swapped = network("resnet50"), swap("resnet50", conv1x1=toy_swap.name)
    # ResNet-50's stride-1 1x1 convs: 16 bottlenecks x 2 (conv1, conv3) + stage 1's projection = 33
    # (the three stride-2 projections stay plain convs)
    assert sum(isinstance(layer.spec, toy_swap) for layer in swapped.layers) == 33
    # the same 1x1 conv followed by the kept BN: MACs and params equal the plain network's
    assert (swapped.costs().macs, swapped.costs().params) == (plain.costs().macs, plain.costs().params)
