"""costmodel: exact analytic costs (params, MACs, elementwise ops, memory traffic) of efficient
CNN convolution designs, each checked against a real torch module.

Convention: 1 MAC = one multiply-accumulate; FLOPs = 2 x MACs; params = sum(p.numel()).
Heavy dependencies (torch, fvcore, plotly) load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"; resolved on first access (PEP 562) to keep import fast.
_EXPORTS: dict[str, str] = {
    "Spec": "costmodel.core.spec:Spec",
    "Formulas": "costmodel.core.spec:Formulas",
    "Costs": "costmodel.core.spec:Costs",
    "register_design": "costmodel.core.registry:register_design",
    # the registry as a dict (not "designs": that name is the costmodel.designs subpackage)
    "list_designs": "costmodel.core.registry:designs",
    "get_design": "costmodel.core.registry:get_design",
    "validate": "costmodel.validation:validate",
    "compare": "costmodel.validation:compare",
    "formula": "costmodel.validation:formula",
    "ratio": "costmodel.validation:ratio",
    "trace": "costmodel.peers.trace:trace",
    "network": "costmodel.networks:network",
    "network_names": "costmodel.networks:network_names",
    "swap": "costmodel.networks:swap",
    "published_table": "costmodel.networks:published_table",
    "Network": "costmodel.networks:Network",
    "analyze": "costmodel.analysis:analyze",
    "reconcile": "costmodel.analysis:reconcile",
    "sweep": "costmodel.explore:sweep",
    "pareto_front": "costmodel.explore:pareto_front",
    "report": "costmodel.htmlreport:report",
    "measure": "costmodel.latency.measure:measure",
    "measure_spec": "costmodel.latency.measure:measure_spec",
    "calibrate": "costmodel.latency.calibrate:calibrate",
    "load_profile": "costmodel.latency.profile:load_profile",
    "predict_spec": "costmodel.latency.predict:predict_spec",
    "traffic": "costmodel.latency.memory:traffic",
    "traffic_table": "costmodel.latency.memory:traffic_table",
    "latency_eval": "costmodel.latency.evaluate:latency_eval",
    "explained_gaps": "costmodel.latency.evaluate:explained_gaps",
    # designs
    "Conv": "costmodel.designs.conv:Conv",
    "Pointwise": "costmodel.designs.conv:Pointwise",
    "GroupConv": "costmodel.designs.conv:GroupConv",
    "Depthwise": "costmodel.designs.conv:Depthwise",
    "Separable": "costmodel.designs.separable:Separable",
    "XceptionBlock": "costmodel.designs.separable:XceptionBlock",
    "Reduce": "costmodel.designs.inception:Reduce",
    "Bottleneck": "costmodel.designs.inception:Bottleneck",
    "Factorized": "costmodel.designs.inception:Factorized",
    "Asymmetric": "costmodel.designs.inception:Asymmetric",
    "Inception": "costmodel.designs.inception:Inception",
    "Ghost": "costmodel.designs.ghost:Ghost",
    "GhostBottleneck": "costmodel.designs.ghost:GhostBottleneck",
    "ghost_vgg16_cifar": "costmodel.designs.ghost:ghost_vgg16_cifar",
    "SPConv": "costmodel.designs.spconv:SPConv",
    "TiedBlockConv": "costmodel.designs.tied:TiedBlockConv",
    "TiedGroupConv": "costmodel.designs.tied:TiedGroupConv",
    "DGC": "costmodel.designs.dgc:DGC",
    "SIC": "costmodel.designs.sic:SIC",
    "Subdivision": "costmodel.designs.sic:Subdivision",
    "SICSubdivided": "costmodel.designs.sic:SICSubdivided",
    "SpatialBottleneck": "costmodel.designs.sic:SpatialBottleneck",
    "sic_paper_table": "costmodel.papers:paper_table",
}


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'costmodel' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
