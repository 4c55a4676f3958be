"""Analytic per-layer costs of ANY ``nn.Module``, from shapes and formulas (not from a tracer).

  recording  forward hooks + a TorchFunctionMode: what ran, where, with which shapes
  rules      the op -> cost tables (module classes and tensor functions), the design hints
  table      the Analysis result: rows, totals, unknowns, the optional fvcore column
  run        analyze(): one recorded forward pass, costed
  reconcile  reconcile(): ours vs fvcore / FlopCounterMode / ptflops / thop, gap by gap
"""

from __future__ import annotations

from .reconcile import PeerResult, Reconciliation, reconcile
from .recording import Record, SpecCall
from .run import ForwardFailed, FvcoreGapWarning, IncompleteAnalysis, analyze, check_shape
from .table import Analysis

__all__ = ["Analysis", "ForwardFailed", "FvcoreGapWarning", "IncompleteAnalysis", "PeerResult", "Record", "Reconciliation", "SpecCall", "analyze", "check_shape",
           "reconcile"]
