"""``analyze()``: one recorded forward pass of any ``nn.Module``, costed by the rule tables.

The analytic numbers come from shapes and formulas (``rules``), never from a tracer; fvcore's
``by_module()`` is only an optional comparison column.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..peers import fvcore as fvcore_peer
from . import rules
from .recording import Recorder, function_mode, watch as watch_attributes
from .table import Analysis, assemble, rows


def analyze(model, input_shape, *, fvcore: bool = True, collapse_specs: bool = True,
            dtype=None, inputs=None, watch: list[tuple[Any, str, str]] | None = None) -> Analysis:
    """Per-layer analytic costs of ``model`` on an input of ``input_shape`` (NCHW, batch included).

    MACs and elementwise ops are for the whole batch; params once. The model is put in eval
    mode (BN and dropout counts depend on it). ``fvcore=True`` adds fvcore's by_module() as a
    separate column; the analytic numbers never come from it. ``inputs`` (a tensor or a tuple of
    tensors) replaces the random input, e.g. for integer or several inputs; ``watch`` lists
    attributes (owner, name, label) whose calls are noted (what ptflops patches, for reconcile).
    """
    import torch

    shape = check_shape(input_shape if inputs is None else tuple(_first(inputs).shape))
    param = next(model.parameters(), None)
    device = param.device if param is not None else "cpu"
    x = inputs if inputs is not None else torch.randn(shape, dtype=dtype or torch.float32, device=device)
    args = x if isinstance(x, tuple) else (x,)
    model.eval()
    recorder = Recorder(model, rules.module_record, rules.function_record, rules.design_hint)
    watching = watch_attributes(recorder, watch) if watch else contextlib.nullcontext()
    with recorder, torch.no_grad(), watching, function_mode(recorder):
        model(*args)
    x = _first(x)
    width = x.element_size()
    records = recorder.records + recorder.uncalled_params()
    table_rows, checked = rows(records, recorder.spec_calls, x.shape[0], width, collapse_specs)
    fv_modules, fv_total, fv_ops = fvcore_peer.by_module(model, args) if fvcore else (None, None, None)
    result = assemble(records, table_rows, checked, shape, width, fv_modules, fv_total)
    result.fvcore_by_operator = fv_ops
    result.watched = recorder.watched
    return result


def _first(inputs):
    """The first tensor of ``inputs`` (a tensor or a tuple of them): batch size and width."""
    return inputs[0] if isinstance(inputs, tuple) else inputs


def check_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints ("1,3,224,224" and "1x3x224x224" accepted)."""
    if isinstance(input_shape, str):
        input_shape = [int(v) for v in input_shape.replace("x", ",").split(",") if v.strip()]
    shape = tuple(int(v) for v in input_shape)
    if not shape or any(v < 1 for v in shape):
        raise ValueError(f"input_shape = {input_shape!r} is invalid: allowed is a tuple of positive "
                         "integers, batch first, e.g. (1, 3, 224, 224)")
    return shape
