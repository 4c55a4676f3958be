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
    "predict_latency": "costmodel.latency.network:predict_latency",
    "measure_latency": "costmodel.latency.network:measure_latency",
    # architecture explorer: network design spaces (cm.space("ghostnet").front(...))
    "NetworkSpace": "costmodel.spaces:NetworkSpace",
    "Stage": "costmodel.spaces:Stage",
    "Choice": "costmodel.spaces:Choice",
    "space": "costmodel.spaces:space",
    "load_space": "costmodel.spaces:load_space",
    "space_from_dict": "costmodel.spaces:space_from_dict",
    "ghostnet_space": "costmodel.spaces:ghostnet_space",
    "resnet50_space": "costmodel.spaces:resnet50_space",
    "measure_lut": "costmodel.spaces.lut:measure_lut",
    "load_lut": "costmodel.spaces.lut:load_lut",
    "sample_to_parquet": "costmodel.spaces.stream:sample_to_parquet",
    # design classes (Conv, Ghost, ...) come from the registry: see __getattr__
    "ghost_vgg16_cifar": "costmodel.designs.ghost:ghost_vgg16_cifar",
    "sic_paper_table": "costmodel.papers:paper_table",
}


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is not None:
        module, attr = target.split(":")
        value = getattr(importlib.import_module(module), attr)
    elif name[:1].isupper() and not name.startswith("__"):  # a design class, by its class name
        from .core.registry import design_class

        value = design_class(name)
        if value is None:
            raise AttributeError(f"module 'costmodel' has no attribute {name!r}")
    else:
        raise AttributeError(f"module 'costmodel' has no attribute {name!r}")
    globals()[name] = value
    return value


def _design_class_names() -> list[str]:
    from .core.registry import designs

    return [cls.__name__ for cls in designs().values()]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_design_class_names()))


__all__ = sorted(_EXPORTS)  # design classes: dir(costmodel), or costmodel.list_designs()
