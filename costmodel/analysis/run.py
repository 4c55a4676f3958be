"""``analyze()``: one recorded forward pass of any ``nn.Module``, costed by the rule tables.

The analytic numbers come from shapes and formulas (``rules``), never from a tracer; fvcore's
``by_module()`` is only an optional comparison column.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..peers import fvcore as fvcore_peer
from . import rules
from .recording import Recorder, function_mode, untouched, watch as watch_attributes
from .table import Analysis, assemble, rows


class FvcoreGapWarning(UserWarning):
    """``fvcore=True``: fvcore's conv + linear + matmul MACs differ from what our rules predict it
    counts (the gap no convention explains), or fvcore could not trace the model at all.
    ``strict=True`` raises IncompleteAnalysis instead."""


class ForwardFailed(ValueError):
    """The model's own forward raised on the given input (a wrong rank, channel count or size):
    bad input, so a ValueError naming the input shape; ``__cause__`` is what the forward raised."""


_ANALYSIS_DIR = str(Path(__file__).resolve().parent)


def raised_by_analysis(exc: BaseException) -> bool:
    """Whether ``exc`` came from our own recorder, hooks or rules rather than from the user's
    forward: the innermost frame of this package below analyze() is not the function mode's
    pass-through (``__torch_function__`` calls the user's torch function; an error there is the
    user's, one raised after it, in the rules, is ours)."""
    innermost = None
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # skip analyze() itself
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_ANALYSIS_DIR):
            innermost = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return innermost is not None and innermost != "__torch_function__"


class IncompleteAnalysis(Exception):
    """``strict=True``: some op has no rule, or fvcore's MACs differ in a way no rule explains.

    A failed check, not bad input (so not a ValueError: the CLI exits 1 for it, 2 for bad input).
    ``result`` is the Analysis, complete except for what the one-line message names."""

    def __init__(self, reason: str, result: "Analysis") -> None:
        super().__init__(reason)
        self.result = result


def analyze(model, input_shape, *, fvcore: bool = False, collapse_specs: bool = True,
            dtype=None, inputs=None, watch: list[tuple[Any, str, str]] | None = None,
            strict: bool = False) -> Analysis:
    """Per-layer analytic costs of ``model`` on an input of ``input_shape`` (NCHW, batch included).

    MACs and elementwise ops are for the whole batch; params once. The forward runs in eval mode
    under ``torch.no_grad()`` (BN and dropout counts depend on the mode); every module's training
    flag is restored afterwards, every hook and the function mode removed, nothing is added to the
    model. ``fvcore=True`` adds fvcore's by_module() as a separate column (a jit trace: slower
    than the analysis itself); the analytic numbers never come from it. ``inputs`` (a tensor or
    a tuple of tensors) replaces the random input, e.g. for integer or several inputs; ``watch``
    lists attributes (owner, name, label) whose calls are noted (what ptflops patches, for
    reconcile). ``strict=True`` also runs fvcore and raises IncompleteAnalysis (one line) when an
    op is unknown, or fvcore's conv + linear + matmul MACs differ from what our rules predict fvcore
    counts (the ops it has no handle for, e.g. SDPA or baddbmm, are explained gaps), or fvcore
    cannot trace the model. Without ``strict``, ``fvcore=True`` warns (FvcoreGapWarning, one line)
    on such a gap, so a 10x difference never passes silently, and when fvcore cannot trace the
    model (the analysis is still returned, without the fvcore column).
    """
    import torch

    shape = check_shape(input_shape if inputs is None else tuple(_first(inputs).shape))
    param = next(model.parameters(), None)
    device = param.device if param is not None else "cpu"
    x = inputs if inputs is not None else torch.randn(shape, dtype=dtype or torch.float32, device=device)
    args = x if isinstance(x, tuple) else (x,)
    recorder = Recorder(model, lambda m: rules.module_rule_for(m) is not None, rules.module_record,
                        rules.function_record, rules.design_hint)
    watching = watch_attributes(recorder, watch) if watch else contextlib.nullcontext()
    with untouched(model):  # modes, hooks, attributes and buffers come back as they went in
        model.eval()
        with recorder, torch.no_grad(), watching, function_mode(recorder):
            try:
                model(*args)
            except Exception as exc:
                if raised_by_analysis(exc):  # our hooks or rules failed: a bug of ours, not bad input
                    raise
                reason = " ".join(str(exc).split())[:300]
                raise ForwardFailed(f"input_shape = {shape} is invalid for this model: its forward raised "
                                    f"{type(exc).__name__}: {reason}") from exc
        records = recorder.records + recorder.uncalled_params()
        fv, fv_error = (None, None, None), ""
        if fvcore or strict:  # strict checks our conv + linear + matmul MACs against fvcore's
            try:
                fv = fvcore_peer.by_module(model, args)
            except Exception as exc:  # a model fvcore's jit trace cannot follow: no column, said so
                fv_error = f"fvcore could not trace the model to check it: {type(exc).__name__}: " \
                           f"{' '.join(str(exc).split())[:200]}"
    x = _first(x)
    width = x.element_size()
    table_rows, checked = rows(records, recorder.spec_calls, x.shape[0], width, collapse_specs)
    result = assemble(records, table_rows, checked, shape, width, fv[0], fv[1])
    result.fvcore_by_operator = fv[2]
    result.watched = recorder.watched
    result.totals.update(_param_totals(model))
    result.classes = {path: type(m).__name__ for path, m in model.named_modules()}
    if strict:
        reason = incomplete_reason(result) or fv_error
        if reason:
            raise IncompleteAnalysis(reason, result)
    elif fvcore and (gap := fv_error or fvcore_gap_reason(result)):
        import warnings

        warnings.warn(gap, FvcoreGapWarning, stacklevel=2)
    return result


def _param_totals(model) -> dict[str, Any]:
    """Trainable / non-trainable params (unique) and parameter memory in MB (10^6 bytes)."""
    unique = {id(p): p for p in model.parameters()}.values()
    trainable = sum(p.numel() for p in unique if p.requires_grad)
    return {"trainable params": int(trainable),
            "non-trainable params": int(sum(p.numel() for p in unique) - trainable),
            "param memory (MB)": sum(p.numel() * p.element_size() for p in unique) / 1e6}


def incomplete_reason(result: Analysis) -> str:
    """One line saying why the analysis is incomplete ("" when it is not)."""
    unknown = [r for r in result.records if not r.known]
    if unknown:
        first = unknown[0]
        return (f"{len(unknown)} op(s) have no cost rule, first: {first.module} at "
                f"{first.path or '(root)'} (input {' '.join('x'.join(map(str, s)) for s in first.in_shapes)})")
    return fvcore_gap_reason(result)


def fvcore_gap_reason(result: Analysis) -> str:
    """One line on the gap between fvcore's conv + linear + matmul MACs and what our rules predict
    fvcore counts ("" without fvcore's column or when they agree)."""
    from ..peers.keys import fold_macs

    if result.fvcore_by_operator is None:
        return ""
    theirs = sum(fold_macs(result.fvcore_by_operator).values())
    # what fvcore's convention predicts for our MAC records (its einsum path, the products it sees)
    ours = sum(r.fvcore_view() for r in result.records if r.mac_key)
    if theirs != ours:
        ratio = f", {theirs / ours:.3g}x" if ours else ""
        return (f"fvcore counts {theirs:,} conv + linear + matmul MACs, our rules for the ops fvcore "
                f"handles give {ours:,} (gap {theirs - ours:+,}{ratio}, not explained)")
    return ""


def _first(inputs):
    """The first tensor of ``inputs`` (a tensor or a tuple of them): batch size and width."""
    return inputs[0] if isinstance(inputs, tuple) else inputs


def check_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints ("1,3,224,224", "1x3x224x224" and "(1, 3, 224, 224)" accepted)."""
    try:
        text = input_shape.strip().strip("()[]") if isinstance(input_shape, str) else None  # "(1, 3, 8, 8)" too
        parts = text.replace("x", ",").split(",") if text is not None else input_shape
        shape = tuple(int(v) for v in parts if not isinstance(v, str) or v.strip())
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(v < 1 for v in shape):
        raise ValueError(f"input_shape = {input_shape!r} is invalid: allowed is a tuple of positive "
                         "integers, batch first, e.g. (1, 3, 224, 224) or \"1,3,224,224\"")
    return shape
