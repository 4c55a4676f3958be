"""``costmodel sic-paper``: the SIC paper's one-layer comparison table and symbolic ratios."""

from __future__ import annotations

from ..designs.sic import ratios, sic_large_n_ratio
from ..papers import paper_table
from .common import positive_int, print_frame


def cmd_sic_paper(args) -> int:
    """Print the paper's one-layer comparison and the symbolic ratios."""

    frame = paper_table(args.n, args.size, trace=args.trace)
    print_frame(frame, f"Wang et al. 2016, one layer n={args.n} at {args.size}x{args.size} "
                       "(per sample; MACs, FLOPs = 2 x MACs, params, bytes)")
    for name, r in ratios().items():
        print(f"{name}: MACs / (n^2 k^2 h w) = {r}")
    print(f"sic for n >> k^2: {sic_large_n_ratio()}")
    return 0 if not args.trace or bool(frame["traced"].all()) else 1


def add_cli(subparsers) -> None:
    """``costmodel sic-paper [--n 256] [--size 56] [--trace]``."""
    p = subparsers.add_parser("sic-paper", help="the SIC paper's one-layer comparison (compare table + ratios)")
    p.add_argument("--n", type=positive_int, default=256, help="channels (default 256)")
    p.add_argument("--size", type=positive_int, default=56, help="h = w (default 56)")
    p.add_argument("--trace", action="store_true", help="also check every row against fvcore/FlopCounterMode")
    p.set_defaults(func=cmd_sic_paper)
