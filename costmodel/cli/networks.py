"""CLI: ``costmodel network`` (``analyze`` and ``reconcile`` live in ``cli/analyze.py``).

    costmodel network list
    costmodel network published [--trace]
    costmodel network ghostnet --width 1.3 [--trace]
    costmodel network resnet50 --swap3x3 ghost --option s=2 [--swap1x1 ghost]

torch, fvcore and the peers are imported inside the command functions only.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Any

from .common import print_frame


def add_cli(sub) -> None:
    """Register ``network`` on the main parser's subparsers."""
    p = sub.add_parser("network", help="a built-in network's per-layer costs, swaps, or the published table",
                       description="Per-layer exact costs of a built-in network (NAME: list, published, "
                                   "or a network name).")
    p.add_argument("name", help="network name, 'list' or 'published'")
    _network_options(p)
    p.add_argument("--swap3x3", default=None, help="replace the 3x3 convs by this design (ghost, spconv, ...)")
    p.add_argument("--swap1x1", default=None, help="replace the 1x1 convs (ResNet-50) by this design")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a design option of the swap (s=2, alpha=1/4, B=2, b=2, zeta=0.5); repeatable")
    p.add_argument("--trace", action="store_true", help="also trace the module and check the totals")
    p.set_defaults(func=cmd_network)


def _network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=float, default=None, help="width multiplier (ghostnet, mobilenet_v1)")
    p.add_argument("--resolution", type=int, default=None, help="input height = width (default: the network's)")
    p.add_argument("--num-classes", type=int, default=None, help="classifier outputs")


# --- building -----------------------------------------------------------------------------------

def _network_kw(args: argparse.Namespace) -> dict[str, Any]:
    kw = {"width": args.width, "resolution": args.resolution, "num_classes": args.num_classes}
    return {k: v for k, v in kw.items() if v is not None}


def _option_value(text: str) -> Any:
    """An int, else a number written as a decimal or a fraction (1/4), else the text itself (the
    design's range check then names it, as written). A decimal beyond float range (1e400) stays
    text too, instead of an OverflowError here."""
    for parse in (int, lambda t: float(Fraction(t))):
        try:
            return parse(text)
        except (ValueError, ZeroDivisionError):
            continue
        except OverflowError:
            break
    return text


def parse_options(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings -> a dict (ints, fractions like 1/4, or strings)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--option {item!r} is invalid: allowed is KEY=VALUE, e.g. s=2 or alpha=1/4")
        key, value = (part.strip() for part in item.split("=", 1))
        if not key:
            raise ValueError(f"--option {item!r} is invalid: allowed is KEY=VALUE with a KEY, e.g. s=2 or alpha=1/4")
        out[key] = _option_value(value)
    return out


def build_network(args: argparse.Namespace):
    from ..networks import network, swap

    kw = _network_kw(args)
    if getattr(args, "swap3x3", None) or getattr(args, "swap1x1", None):
        if "width" in kw:
            raise ValueError("--width is invalid with a swap: swaps apply to resnet50, vgg16, vgg16_cifar")
        return swap(args.name, conv3x3=args.swap3x3, conv1x1=args.swap1x1, **kw, **parse_options(args.option))
    if getattr(args, "option", None):
        raise ValueError("--option needs --swap3x3 or --swap1x1")
    return network(args.name, **kw)


# --- commands -------------------------------------------------------------------------------------

def cmd_network(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..networks import network_names, published_table

    if args.name == "list":
        from ..networks.swaps import SWAP_TARGETS, swappable

        rows = [{"network": n, "swappable": ", ".join(SWAP_TARGETS.get(n, ())) or "-"} for n in network_names()]
        print_frame(pd.DataFrame(rows), f"Built-in networks (swap designs: {', '.join(swappable())})")
        return 0
    if args.name == "published":
        frame = published_table(trace=args.trace)
        print_frame(frame.drop(columns=["note", "source"]), "Published numbers vs ours (MACs = conv + linear, per image)")
        for i, row in frame.iterrows():
            print(f"[{i}] {row['network']} {row['config']} {row['quantity']}: {row['note']} ({row['source']})")
        return 0
    net = build_network(args)
    costs = net.costs()
    print_frame(costs.table, f"{net.title}: per-layer exact costs (per image, input {net.input_shape})")
    totals = pd.DataFrame([{"quantity": k, "value": v} for k, v in costs.totals().items()])
    print_frame(totals, f"{net.title}: totals")
    if args.trace:
        from ..peers.trace import trace

        counts = trace(net.module(), net.example_input())
        fv = sum(counts.fvcore_macs.values())
        ok = counts.params == costs.params and fv == costs.macs
        print(f"trace: params {counts.params:,} (analytic {costs.params:,}); fvcore conv+linear MACs {fv:,} "
              f"(analytic {costs.macs:,}): {'exact match' if ok else 'MISMATCH'}")
        return 0 if ok else 1
    return 0
