"""Data for the report's "Architecture explorer" section: per built-in space, its exact front
and the built-in networks' points on the same axes (the report helper plots them)."""

from __future__ import annotations

from typing import Any

from .builtin import SPACES


def report_data(objectives: tuple[str, str] = ("macs", "params"), profile: Any = None,
                measure: int = 0) -> dict[str, dict[str, Any]]:
    """{space name: {"title", "objectives", "count", "front": DataFrame (one row per front point,
    with ``architecture`` and ``design``: the most frequent block design, for colouring),
    "points": DataFrame of the built-in networks (fixed points), same columns,
    "measured": ``measured_points`` of ``measure`` front points and the built-in networks (None
    when ``measure`` is 0)}}."""
    out = {}
    for name, make in SPACES.items():
        sp = make()
        front = sp.front(objectives, profile=profile if profile is not None else "auto")
        points = sp.evaluate([p for _, p in sp.fixed_points], profile=profile)
        points.insert(0, "network", [n for n, _ in sp.fixed_points])
        points["architecture"] = [sp.describe(p) for _, p in sp.fixed_points]
        front["design"] = [_main_design(sp, row) for _, row in front.iterrows()]
        out[name] = {"title": sp.title, "objectives": objectives, "count": sp.count(),
                     "front": front, "points": points,
                     "measured": measured_points(sp, front, points, measure, profile) if measure else None}
    return out


def spread_picks(n: int, k: int) -> list[int]:
    """Up to ``k`` row indices spread evenly over ``n`` rows (the first and the last included)."""
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(min(k, n))})


def measure_networks(nets: list, profile: Any = None, samples: int | None = None, progress=None) -> list[dict[str, float]]:
    """Each network timed together by the interleaved protocol (``measure_many``: batch 1, 1
    thread, the low percentile ``protocol.QUANTILE`` of ``samples`` passes), with
    ``predict_latency`` beside it where a profile exists (``profile``, else this machine's):
    {measured_s, spread, predicted_s (NaN without a profile)} per network."""
    from ..latency import network as latency_network
    from ..latency.network import measure_many, predict_latency
    from ..latency.protocol import SAMPLES

    if profile is None:  # this machine's profile (predict_latency's own loader), read once for all
        try:
            profile = latency_network.load_profile()
        except ValueError:  # no calibrated profile: measured only
            profile = None
    found = measure_many(nets, samples=samples or SAMPLES, progress=progress)
    nan = float("nan")
    return [{"measured_s": est.seconds, "spread": est.spread,
             "predicted_s": predict_latency(net, profile=profile).seconds if profile is not None else nan}
            for net, est in zip(nets, found)]


def measured_points(sp, front, points, k: int, profile: Any = None, samples: int = 10):
    """Up to ``k`` front points, spread evenly along the front, and the built-in networks, each
    built (``sp.build``) and timed by ``measure_networks``: DataFrame of network, params, MACs,
    measured ms, spread (two independent estimates), predicted ms."""
    import pandas as pd

    ordered = front.sort_values("params").reset_index(drop=True)
    rows = [(f"front point {i + 1} of {len(ordered)}", ordered.iloc[i]) for i in spread_picks(len(ordered), k)]
    rows += [(str(p["network"]), p) for _, p in points.iterrows()]
    timed = measure_networks([sp.build(row) for _, row in rows], profile, samples)
    return pd.DataFrame([{"network": label, "params": int(row["params"]), "MACs": int(row["MACs"]),
                          "measured ms": 1e3 * t["measured_s"], "spread %": 100 * t["spread"],
                          "predicted ms": 1e3 * t["predicted_s"]} for (label, row), t in zip(rows, timed)])


def _main_design(sp, row) -> str:
    """The block design most blocks of a candidate use."""
    designs = [c.design if c.design != "bottleneck" else f"3x3 {c.option('conv3x3', 'conv')}"
               for d in sp.decode(row).values() for c in d["blocks"]]
    return max(set(designs), key=designs.count)
