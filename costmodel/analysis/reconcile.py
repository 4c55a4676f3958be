"""Why the peer counters disagree: each one's total beside ours, op kind by op kind, with the
named convention behind every gap, and the gaps adding up exactly to each peer's total.

Ours: conv/linear/matmul MACs plus elementwise ops (``rules``), batch as given.
For every peer we *predict* what it counts for each of our records (a module call or a tensor
function) from its documented / source-read convention (``costmodel.peers``), then run the peer:

  predicted peer total = our total + sum of the explained gaps,   unexplained = actual - predicted.

Peers: fvcore (MACs, jit trace), torch FlopCounterMode (FLOPs = 2 x MACs), ptflops (pytorch
backend, its defaults) and thop (module hooks). ptflops and thop are the optional extra
``costmodel[peers]``; a peer that is not installed is skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..peers import PEERS
from ..peers import ptflops as ptflops_peer
from ..peers.keys import CATEGORIES, category
from .recording import Record, untouched
from .run import analyze
from .table import Analysis


@dataclass
class PeerResult:
    """One peer: its total, our total, the predicted total and per-category gaps with reasons."""

    peer: str
    unit: str
    actual: int | None
    predicted: int
    ours: int
    table: Any  # DataFrame: category, ours, predicted peer, gap, convention, actual (if split)
    skipped: str = ""

    @property
    def unexplained(self) -> int | None:
        return None if self.actual is None else self.actual - self.predicted

    @property
    def explained_gaps(self) -> int:
        return self.predicted - self.ours


@dataclass
class Reconciliation:
    """Our total and every peer's, with the conventions that explain each gap exactly."""

    analysis: Analysis
    ours_total: int
    peers: dict[str, PeerResult] = field(default_factory=dict)

    def summary(self):
        """One row per peer: unit, ours, explained gaps, predicted, actual, unexplained."""
        import pandas as pd

        out = []
        for name, p in self.peers.items():
            out.append({"peer": name, "unit": p.unit, "ours (MACs + elementwise ops)": p.ours,
                        "explained gaps": None if p.skipped else p.explained_gaps,
                        "predicted": None if p.skipped else p.predicted, "peer total": p.actual,
                        "unexplained": p.unexplained, "note": p.skipped or "gaps add up exactly"
                        if p.unexplained == 0 else p.skipped or "UNEXPLAINED GAP"})
        return pd.DataFrame(out)

    def table(self):
        """Every peer's per-category rows in one DataFrame."""
        import pandas as pd

        frames = [p.table.assign(peer=name) for name, p in self.peers.items() if not p.skipped]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def reconcile(model, input_shape, peers: tuple[str, ...] | None = None) -> Reconciliation:
    """Ours vs each peer, per category, with the convention behind every gap (batch as given).

    ptflops always runs one sample, so the input batch must be 1 to compare with it.
    """
    import importlib.util

    import torch

    analysis = analyze(model, input_shape, fvcore=False, collapse_specs=False, watch=ptflops_peer.watch())
    x = torch.randn(analysis.input_shape)
    records = [r for r in analysis.records if r.kind not in ("free", "params")]
    total = sum(r.count for r in records if r.known)
    result = Reconciliation(analysis, total)
    for name in peers or tuple(PEERS):
        if name not in PEERS:
            raise ValueError(f"peer = {name!r} is unknown: allowed is one of {', '.join(PEERS)}")
        unit, rule, runner, package = PEERS[name]
        if importlib.util.find_spec(package) is None:
            result.peers[name] = PeerResult(name, unit, None, 0, total, None,
                                            f"skipped: {package} is not installed (pip install costmodel[peers])")
            continue
        if name == "ptflops" and analysis.input_shape[0] != 1:
            result.peers[name] = PeerResult(name, unit, None, 0, total, None,
                                            "skipped: ptflops runs one sample; reconcile with batch 1")
            continue
        gaps = _gaps(records, rule)
        if name == "ptflops":
            gaps += [(cat, 0, value, why) for cat, value, why in map(ptflops_peer.functional, analysis.watched)]
        with untouched(model):  # thop adds buffers, ptflops attributes; both change modes
            model.eval()
            actual, by_cat = runner(model, x)
        result.peers[name] = _peer_result(name, unit, gaps, actual, by_cat, total)
    return result


def _gaps(records: list[Record], rule) -> list[tuple[str, int, int, str]]:
    """(category, ours, peer predicted, convention) per record; unknown records stay visible."""
    out = []
    for r in records:
        if not r.known:
            out.append((category(r.kind), 0, 0, f"unknown to costmodel: {r.module} at {r.path or '(root)'}"))
            continue
        for cat, value, why in rule(r):
            out.append((cat, r.count, value, why))
    return out


def _peer_result(name: str, unit: str, gaps, actual: int, by_cat: dict[str, int], total: int) -> PeerResult:
    import pandas as pd

    acc_rows: dict[tuple[str, str], list[int]] = {}
    for cat, our, peer, why in gaps:
        key = (cat, why if peer != our or why.startswith("unknown") else "same count")
        acc = acc_rows.setdefault(key, [0, 0])
        acc[0] += our
        acc[1] += peer
    frame = pd.DataFrame([{"category": cat, "ours": v[0], "predicted peer": v[1], "gap": v[1] - v[0],
                           "convention": why} for (cat, why), v in acc_rows.items()])
    frame = frame.sort_values(["category", "convention"], key=lambda s: s.map(_order) if s.name == "category"
                              else s).reset_index(drop=True)
    predicted = int(frame["predicted peer"].sum()) if len(frame) else 0
    if by_cat:
        missing = [c for c, v in by_cat.items() if v and c not in set(frame["category"])]
        if missing:  # the peer counted a kind we predicted nothing for (e.g. inside an unknown op)
            extra = pd.DataFrame([{"category": c, "ours": 0, "predicted peer": 0, "gap": 0,
                                   "convention": "counted by the peer, not predicted (see unknown)"}
                                  for c in missing])
            frame = pd.concat([frame, extra], ignore_index=True)
        per_cat = frame.groupby("category")["predicted peer"].sum().to_dict()
        frame["peer actual (category)"] = frame["category"].map(
            lambda c: by_cat.get(c, 0) if c in per_cat else None)
        frame["category matches"] = frame["category"].map(lambda c: per_cat.get(c, 0) == by_cat.get(c, 0))
    return PeerResult(name, unit, actual, predicted, total, frame)


def _order(cat: str) -> int:
    return CATEGORIES.index(cat) if cat in CATEGORIES else len(CATEGORIES)
