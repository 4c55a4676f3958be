"""Findings: the page's first panel, a few facts generated from what the other sections computed
(``ctx.shared``), each with a link to the section that shows it. Nothing here is hard-coded:
a fact whose data is missing says what to run instead."""

from __future__ import annotations

import re
from typing import Any

from .context import Context
from .page import Section, esc, prose

BUDGET_SHARE = 2
"""The "fixed budget" of the cheapest-design fact: at most 1/BUDGET_SHARE of the params of the
standard conv of the same shape."""


def build(ctx: Context) -> Section:
    sec = Section("findings", "Findings")
    facts = [f for f in (fact(ctx) for fact in FACTS) if f]
    ctx.shared["findings"] = facts
    items = "".join(f'<li>{prose(text)} <a href="#{esc(anchor)}">{esc(label)} →</a></li>'
                    for text, anchor, label in facts)
    sec.add(f'<ul class="findings">{items}</ul>')
    return sec


NOISY = 0.10
"""The time-vs-MACs fact warns when two independent estimates of some design's measured latency
ratio differ by more than this (10%): that ratio's side of 1 may be noise."""

Fact = tuple[str, str, str]  # (text, anchor id, link label)


def _x(value: float) -> str:
    return f"{value:.2g}×"


def time_vs_macs(ctx: Context) -> Fact | None:
    """Which designs save time and which only save MACs (measured when present)."""
    rows = [r for r in ctx.shared.get("gap_rows", []) if isinstance(r.get("MACs ratio"), float)]
    if not rows:
        return None
    cheaper = [r for r in rows if r["MACs ratio"] < 1]
    measured = [r for r in cheaper if isinstance(r.get("measured latency ratio"), float)]
    if not measured:
        return (f"{len(cheaper)} of {len(rows)} designs need fewer MACs than the standard conv of the same shape; "
                "whether they also save time is measured with `costmodel report --latency`.",
                "gaps", "FLOPs are not latency")
    faster = [r["design"] for r in measured if r["measured latency ratio"] < 1]
    slower = sorted((r for r in measured if r["measured latency ratio"] >= 1),
                    key=lambda r: -r["measured latency ratio"] / r["MACs ratio"])
    text = (f"Measured on this machine: {len(faster)} of {len(measured)} designs that need fewer MACs than the "
            f"same-shape conv also run faster ({', '.join(faster) or 'none'})")
    if slower:
        worst = slower[0]
        text += (f"; {len(slower)} only save MACs ({', '.join(r['design'] for r in slower)}): {worst['design']} needs "
                 f"{_x(worst['MACs ratio'])} the conv's MACs but takes {_x(worst['measured latency ratio'])} its time")
    spread = ctx.shared.get("gap_noise")
    if spread and spread["worst"] > NOISY:
        text += (f" (a noisy run: two estimates of {spread['design']}'s ratio differ by "
                 f"{100 * spread['worst']:.0f}%; rerun on an idle machine)")
    return text + ".", "gaps", "FLOPs are not latency"


def family_conv(c: int) -> Any:
    """The standard conv of shape family ``c`` (grids.FAMILY_SHAPE: c -> c, k x k, stride, h x w)."""
    from ..designs.conv import Conv
    from .grids import FAMILY_SHAPE

    side = FAMILY_SHAPE["spatial"]
    return Conv(c_in=c, c_out=c, k=FAMILY_SHAPE["kernel"], stride=FAMILY_SHAPE["stride"], h=side, w=side)


def cheapest_at_shape(ctx: Context) -> Fact | None:
    """The design with the fewest MACs at one shape family under a params budget (a fraction of
    the params of the standard conv of that shape)."""
    families = ctx.shared.get("family_frames") or {}
    if not families:
        return None
    c = sorted(families)[(len(families) - 1) // 2]  # a middle family (c = 64 of 32, 64, 128, 256)
    conv = family_conv(c)
    budget = conv.params() // BUDGET_SHARE
    best = None
    for name, frame in families[c].items():
        ok = frame[frame["params"] <= budget]
        if len(ok):
            row = ok.loc[ok["macs"].idxmin()]
            if best is None or row["macs"] < best[1]["macs"]:
                best = (name, row)
    if best is None:
        return None
    name, row = best
    return (f"At c_in = c_out = {c}, {conv.k}x{conv.k}, stride {conv.stride}, {conv.h}x{conv.w} with at most "
            f"{budget:,} params (1/{BUDGET_SHARE} of the standard conv's {conv.params():,}), the fewest MACs are "
            f"{name}'s: {int(row['macs']):,} ({_x(row['macs'] / conv.macs())} the conv's {conv.macs():,}), with "
            f"{int(row['params']):,} params.", "space", "Design space")


def peers_agree(ctx: Context) -> Fact | None:
    """Whether the analytic counts equal params, fvcore and FlopCounterMode; why peers differ."""
    rows = list(ctx.shared.get("validation_rows", [])) + list(ctx.shared.get("network_validation_rows", []))
    parts = []
    if rows:
        ok = sum(bool(r.get("match")) for r in rows)
        parts.append(f"costmodel's params and MACs equal sum(p.numel()), fvcore and FlopCounterMode exactly on {ok} of "
                     f"{len(rows)} validated configs")
    story = peer_story(ctx.shared.get("reconciliations") or {})
    if story:
        parts.append(story)
    if not parts:
        return None
    anchor = "validation" if rows else "reconciliation"
    return ". ".join(parts) + ".", anchor, "Validation" if rows else "Reconciliation"


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, one: str, many: str) -> str:
    """'1 network pair inverts', '3 network pairs invert'."""
    return f"{n} {one if n == 1 else many}"


FLOPS_PER_MAC = 2
"""A peer whose unit is FLOPs counts 2 per MAC: its gaps are divided by this before they are
compared with ours (so FlopCounterMode's doubling is a unit, not a gap)."""


def _short(convention: str) -> str:
    """A convention's first clause ('fvcore has no handle for relu: skipped ...' -> 'fvcore has
    no handle for relu')."""
    return re.split(r"[:;]", str(convention), maxsplit=1)[0].strip()


def peer_gaps(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per (network, peer) that ran: its unexplained count, and its gaps in our units
    (MACs + elementwise ops; a FLOPs peer's divided by FLOPS_PER_MAC) grouped by convention."""
    out = []
    for label, result in results.items():
        for peer, res in result.peers.items():
            if res.skipped or res.actual is None:
                continue
            scale = FLOPS_PER_MAC if str(res.unit).startswith("FLOPs") else 1
            by_convention: dict[str, dict[str, Any]] = {}
            frame = res.table
            for row in (frame.to_dict("records") if hasattr(frame, "to_dict") else []):
                gap = (row["ours"] + row["gap"]) / scale - row["ours"]  # the peer's count in our units, minus ours
                if gap:
                    entry = by_convention.setdefault(_short(row["convention"]), {"gap": 0.0, "categories": []})
                    entry["gap"] += gap
                    entry["categories"].append(str(row["category"]).replace("_", " "))
            out.append({"network": label, "peer": peer, "unit": res.unit, "ours": res.ours,
                        "unexplained": res.unexplained, "conventions": by_convention,
                        "size": sum(abs(c["gap"]) for c in by_convention.values())})
    return out


def peer_story(results: dict[str, Any]) -> str:
    """The reconciliation in one sentence: which peers agree with our counts once their
    conventions are applied, on which networks, and the largest gap with its convention."""
    found = peer_gaps(results)
    if not found:
        return ""
    peers = list(dict.fromkeys(g["peer"] for g in found))
    networks = list(dict.fromkeys(g["network"] for g in found))
    wrong = [g for g in found if g["unexplained"]]
    agree = [p for p in peers if not any(g["peer"] == p for g in wrong)]
    text = ""
    if agree:
        text = (f"{_and(agree)} agree{'s' if len(agree) == 1 else ''} with our counts on {_and(networks)} once "
                f"{'its' if len(agree) == 1 else 'their'} conventions are applied (every gap explained)")
    if wrong:
        text += ("; " if text else "") + "; ".join(
            f"{g['peer']} on {g['network']} differs by {g['unexplained']:,} {g['unit']} that no convention explains"
            for g in wrong)
    big = max(found, key=lambda g: g["size"] / g["ours"] if g["ours"] else 0)
    if big["size"]:
        name, conv = max(big["conventions"].items(), key=lambda kv: abs(kv[1]["gap"]))
        what = _and(list(dict.fromkeys(conv["categories"])))
        verb = "leaves out" if conv["gap"] < 0 else "adds"
        mostly = "mostly " if len(big["conventions"]) > 1 else ""
        text += (f"; the largest gap, {big['peer']}'s on {big['network']} ({100 * big['size'] / big['ours']:.1f}% of "
                 f"our count), is {mostly}{what}, which it {verb} ({name})")
    return text


DRIFT_WORTH_NAMING = 0.05
"""How far (5%) the machine's speed since calibration must have moved before the findings name
it beside the latency accuracy: within it, scaling moves few configs across ±10%."""


def latency_accuracy(ctx: Context) -> Fact | None:
    """The held-out latency accuracy of this report's run."""
    summary = ctx.shared.get("latency_summary")
    if not summary or not summary.get("n"):
        return ("Latency accuracy is not measured in this report: `costmodel report --latency` measures held-out "
                "configs on this machine.", "latency", "Latency")
    text = (f"Predicted latency is within ±10% of the measured one for {100 * summary['within_10']:.0f}% of "
            f"{summary['n']} held-out configs (median error {summary['median_abs_pct']:.1f}%; two independent "
            f"measurements differ by a median {summary['spread_pct']:.1f}%)")
    drift = summary.get("drift")
    if "anchored" in summary and isinstance(drift, float) and abs(drift - 1) >= DRIFT_WORTH_NAMING:
        # a shared machine that slowed or sped up since calibration moves every prediction alike
        text += (f"; this machine ran {100 * abs(drift - 1):.0f}% {'slower' if drift > 1 else 'faster'} than at "
                 f"calibration (its anchors re-timed now), and scaled by that the prediction is within ±10% for "
                 f"{100 * summary['anchored']['within_10']:.0f}%")
    return text + ".", "latency", "Latency"


def networks_macs_vs_time(ctx: Context) -> Fact | None:
    """The starkest pair of networks where fewer MACs do not mean less time, at the input size
    and batch of the Latency section's whole-network chart (the ratio holds only there)."""
    rows = ctx.shared.get("network_latency_rows") or []
    if not rows:
        return None
    key = "measured ms" if all("measured ms" in r for r in rows) else "predicted ms"
    kind = key.split()[0]
    res = ctx.shared.get("network_latency_resolution")
    where = f"At {res}x{res} input, batch 1" if res else "At batch 1"
    pairs = [(a, b) for a in rows for b in rows if a["MACs"] < b["MACs"] and a[key] > b[key]]
    if not pairs:
        return (f"{where}, {kind} latency of the {len(rows)} built-in networks follows MACs: fewer MACs, less time.",
                "network-latency", "Whole networks")
    a, b = max(pairs, key=lambda p: (p[1]["MACs"] / p[0]["MACs"]) * (p[0][key] / p[1][key]))
    inverts = plural(len(pairs), "network pair inverts", "network pairs invert")
    return (f"{where}: {a['network']} needs {_x(a['MACs'] / b['MACs'])} the MACs of {b['network']} yet takes "
            f"{_x(a[key] / b[key])} its time ({kind}, {a[key]:.3g} vs {b[key]:.3g} ms per call); "
            f"{inverts} MACs and latency.", "network-latency", "Whole networks")


def explorer_front(ctx: Context) -> Fact | None:
    """How far a built-in network is from its space's exact front."""
    data = ctx.shared.get("explorer") or {}
    for name, space in data.items():
        front, points = space["front"], space["points"]
        if not len(points) or not len(front):
            continue
        net = points.iloc[0]
        better = front[(front["params"] <= net["params"]) & (front["MACs"] < net["MACs"])]
        if len(better):
            best = better.loc[better["MACs"].idxmin()]
            return (f"In the {space['title']} ({space['count']:.3g} candidates), the exact front has a network with "
                    f"{_x(best['MACs'] / net['MACs'])} the MACs of {net['network']} at no more params "
                    f"({int(best['MACs']):,} vs {int(net['MACs']):,} MACs).", "explorer", "Architecture explorer")
        return (f"In the {space['title']}, {net['network']} is on the exact front of {space['count']:.3g} candidates.",
                "explorer", "Architecture explorer")
    return None


FACTS = (time_vs_macs, networks_macs_vs_time, cheapest_at_shape, latency_accuracy, peers_agree, explorer_front)
"""The findings, in page order."""
