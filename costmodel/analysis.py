"""Analytic per-layer costs of ANY ``nn.Module``, from shapes and formulas (not from a tracer).

How: one forward pass with forward hooks on every module records each leaf module's input and
output shapes, and a ``TorchFunctionMode`` records the tensor functions that non-leaf modules
call themselves (a residual ``x + y``, an SE ``x * gate``, ``torch.cat``). Each record is then
costed by the rules below, written with the same conventions as the designs (``ops.py``):

  * conv (any dim, groups):  MACs = out.numel() * (c_in/groups) * prod(kernel); transposed:
    in.numel() * (c_out/groups) * prod(kernel); bias adds no MAC. Linear: out.numel() * in_features.
  * BatchNorm (eval): 2 ops per element with affine, 1 without. LayerNorm / GroupNorm: 5 per
    element with affine, 4 without; InstanceNorm likewise (fvcore's estimate, stated as such).
  * activations, add, mul, softmax, gather: 1 op per output element; topk: 1 per input element. Max/avg pool: prod(kernel) per output
    element. Adaptive avg pool: 1 per input element. Upsample: 1 per output element (nearest),
    4 (bilinear). cat, views, dropout, identity, flatten: 0 ops (data movement / free).
  * params: sum(p.numel()) of every module's own parameters, once (shared ones once).
  * bytes: (inputs + output + weights) x element width, per record.

A module tagged ``.costmodel_spec`` (built by ``Spec.module()``) is a recognised design: its row
uses the design's formulas (``spec.costs()``, or ``executed_costs`` for dynamic designs), and the
leaf rows inside it are kept aside and checked against it (column ``leaf_check``). A leaf module
(or function) with no rule is reported in ``unknown`` with its shapes: never silently zero.
The fvcore comparison (its ``by_module()``) is a separate column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# fvcore counts these kinds (MACs for conv/linear/matmul; elementwise for the rest).
FVCORE_KINDS = frozenset({"conv", "conv_transpose", "linear", "matmul", "batch_norm", "layer_norm",
                          "group_norm", "instance_norm", "adaptive_avg_pool2d", "upsample"})
MAC_KEY = {"conv": "conv", "conv_transpose": "conv", "linear": "linear", "matmul": "linear"}

ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu", "PReLU": "prelu",
               "ELU": "elu", "GELU": "gelu", "SiLU": "silu", "Sigmoid": "sigmoid", "Tanh": "tanh",
               "Hardsigmoid": "hardsigmoid", "Hardswish": "hardswish", "Hardtanh": "hardtanh",
               "Mish": "mish", "Softplus": "softplus"}
FREE_MODULES = {"Identity", "Dropout", "Dropout2d", "Dropout1d", "Dropout3d", "AlphaDropout",
                "Flatten", "Unflatten", "ZeroPad2d", "ConstantPad2d", "PixelShuffle", "ChannelShuffle"}

# tensor functions: name (inplace "_" and dunder stripped) -> op kind
FUNCTION_KINDS = {
    "add": "add", "iadd": "add", "radd": "add", "sub": "add", "isub": "add", "rsub": "add",
    "mul": "mul", "imul": "mul", "rmul": "mul", "div": "mul", "truediv": "mul", "itruediv": "mul",
    "rtruediv": "mul",
    "relu": "relu", "relu6": "relu6", "hardtanh": "hardtanh", "hardsigmoid": "hardsigmoid",
    "hardswish": "hardswish", "sigmoid": "sigmoid", "silu": "silu", "gelu": "gelu", "tanh": "tanh",
    "leaky_relu": "leaky_relu", "elu": "elu", "clamp": "clamp", "clamp_min": "clamp",
    "softmax": "softmax", "log_softmax": "softmax",
    "cat": "concat", "concat": "concat", "stack": "concat",
    "matmul": "matmul", "mm": "matmul", "bmm": "matmul", "linear": "linear", "conv2d": "conv",
    "adaptive_avg_pool2d": "adaptive_avg_pool2d", "avg_pool2d": "avg_pool2d",
    "max_pool2d": "max_pool2d", "mean": "mean", "gather": "gather", "index_select": "gather",
    "topk": "topk", "sort": "topk",
}
FREE_FUNCTIONS = {
    "get", "size", "dim", "numel", "view", "reshape", "flatten", "permute", "transpose", "t",
    "contiguous", "getitem", "chunk", "split", "narrow", "unsqueeze", "squeeze", "expand",
    "expand_as", "unbind", "to", "float", "type", "detach", "clone", "len", "is_contiguous",
    "dropout", "identity", "empty", "zeros", "ones", "zeros_like", "ones_like", "empty_like",
    "set_grad_enabled", "is_floating_point", "setitem", "repeat", "new_zeros", "new_empty",
    "channel_shuffle", "pixel_shuffle", "pad", "format", "repr", "bool", "item", "tolist",
    "requires_grad_", "data_ptr", "storage_offset", "stride", "element_size", "flip", "roll",
}


@dataclass
class Record:
    """One costed event: a leaf module call or a tensor function called by a non-leaf module."""

    path: str
    source: str  # "module" | "function" | "params"
    module: str  # class name, or the function's name
    kind: str  # op kind (conv, pointwise..., batch_norm, relu, add, free, unknown)
    layer: str  # human label: conv, pointwise, depthwise, group, linear, BN, activation, pool, ...
    in_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]
    params: int = 0
    macs: int | None = 0
    elem: int | None = 0
    reads: int = 0  # elements
    writes: int = 0
    info: dict[str, Any] = field(default_factory=dict)  # what peer conventions need (bias, affine...)

    @property
    def mac_key(self) -> str | None:
        return MAC_KEY.get(self.kind)

    @property
    def known(self) -> bool:
        return self.kind != "unknown"

    def fvcore_view(self) -> int:
        """What fvcore should count for this record (MACs + the elementwise kinds it counts)."""
        if not self.known or self.kind not in FVCORE_KINDS:
            return 0
        return (self.macs or 0) + (self.elem or 0)


@dataclass
class SpecCall:
    """A call of a module tagged ``.costmodel_spec``: the records made inside it, by index."""

    path: str
    module: Any
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    first: int
    last: int


# --- recording ------------------------------------------------------------------------------

def _shape(t: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in t.shape)


def _tensors(obj: Any) -> list:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out = []
        for item in obj:
            out += _tensors(item)
        return out
    if isinstance(obj, dict):
        return _tensors(list(obj.values()))
    return []


def _function_name(func: Any) -> str:
    name = getattr(func, "__name__", str(func))
    return name.strip("_") if name.startswith("__") else name.rstrip("_") or name


class _Recorder:
    """Hooks every module and watches tensor functions; builds Records and SpecCalls."""

    def __init__(self, model) -> None:
        self.model = model
        self.records: list[Record] = []
        self.spec_calls: list[SpecCall] = []
        self.stack: list[tuple[str, Any]] = []
        self.is_leaf: dict[int, bool] = {}
        self.seen_params: set[int] = set()
        self.called: set[int] = set()
        self.handles: list = []
        self.spec_open: list[int] = []
        self.watched: list[dict[str, Any]] = []  # calls through watched attributes (reconcile)
        self.dispatching = 0  # > 0 while the function mode re-dispatches a call (not a user call)

    def __enter__(self) -> "_Recorder":
        for path, mod in self.model.named_modules():
            self.is_leaf[id(mod)] = next(iter(mod.children()), None) is None
            self.handles.append(mod.register_forward_pre_hook(self._pre(path)))
            self.handles.append(mod.register_forward_hook(self._post(path)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()

    def _own_params(self, mod) -> int:
        total = 0
        for p in mod.parameters(recurse=False):
            if id(p) not in self.seen_params:
                self.seen_params.add(id(p))
                total += p.numel()
        return int(total)

    def _pre(self, path: str):
        def hook(mod, args):
            self.stack.append((path, mod))
            if getattr(mod, "costmodel_spec", None) is not None:
                self.spec_open.append(len(self.records))
        return hook

    def _post(self, path: str):
        def hook(mod, args, output):
            self.stack.pop()
            self.called.add(id(mod))
            ins = [_shape(t) for t in _tensors(args)]
            outs = _tensors(output)
            out_shape = _shape(outs[0]) if outs else ()
            if self.is_leaf[id(mod)]:
                self.records.append(module_record(path, mod, args, output, self._own_params(mod)))
            else:
                own = self._own_params(mod)
                if own:  # a non-leaf module's own parameters, used in its forward
                    self.records.append(Record(path, "params", type(mod).__name__, "params", "params",
                                               ins, out_shape, params=own, reads=0))
            if getattr(mod, "costmodel_spec", None) is not None:
                first = self.spec_open.pop()
                self.spec_calls.append(SpecCall(path, mod, ins[0] if ins else (), out_shape, first,
                                                len(self.records)))
        return hook

    def on_function(self, func: Any, args: tuple, kwargs: dict, result: Any) -> None:
        if not self.stack:
            return
        path, mod = self.stack[-1]
        if self.is_leaf[id(mod)]:
            return  # the leaf module's own rule covers what it computes
        record = function_record(path, func, args, kwargs, result)
        if record is not None:
            parent = type(mod).__name__
            record.module = f"{parent}.{record.module}"
            record.layer = _design_hint(parent) or record.layer
            self.records.append(record)


def _watch(recorder: _Recorder, targets: list[tuple[Any, str, str]]):
    """Wrap attributes (owner, attr, label) so that each call through them is noted with its
    shapes: a peer that patches the same attributes counts exactly these calls."""
    import contextlib

    @contextlib.contextmanager
    def patched():
        saved = []
        for owner, attr, label in targets:
            original = getattr(owner, attr, None)
            if original is None:
                continue
            saved.append((owner, attr, original))
            setattr(owner, attr, _watcher(recorder, original, label))
        try:
            yield
        finally:
            for owner, attr, original in reversed(saved):
                setattr(owner, attr, original)

    return patched()


def _watcher(recorder: _Recorder, original: Any, label: str):
    import functools

    @functools.wraps(original)  # the function mode names ops by __name__: keep the original's
    def call(*args, **kwargs):
        if recorder.dispatching:
            # the function mode re-dispatching a call resolves methods through these attributes
            # (even ``x + y`` becomes Tensor.add): not a call the user's code made
            return original(*args, **kwargs)
        result = original(*args, **kwargs)
        tensors = _tensors(list(args)) + _tensors(list(kwargs.values()))
        outs = _tensors(result)
        note: dict[str, Any] = {"via": label, "path": recorder.stack[-1][0] if recorder.stack else "",
                                "in_leaf": bool(recorder.stack) and recorder.is_leaf[id(recorder.stack[-1][1])],
                                "in_shapes": [_shape(t) for t in tensors],
                                "out_numel": _numel(_shape(outs[0])) if outs else 0,
                                "args": [a if isinstance(a, (int, float, tuple, list)) or a is None else None
                                         for a in args], "kwargs": {k: v for k, v in kwargs.items()
                                                                    if isinstance(v, (int, float, tuple, list))}}
        recorder.watched.append(note)
        return result
    return call


DESIGN_HINTS: tuple[tuple[str, str], ...] = (
    ("squeezeexcit", "SE"), ("selayer", "SE"), ("semodule", "SE"), ("ghostbottleneck", "Ghost bottleneck"),
    ("ghost", "Ghost module"), ("spconv", "SPConv"), ("bottleneck", "bottleneck"), ("residual", "residual"),
    ("basicblock", "residual"), ("inception", "Inception"),
)
"""Lower-case class-name fragments of foreign modules -> the design their own ops belong to."""


def _design_hint(class_name: str) -> str | None:
    """The design a non-leaf module's own ops belong to, recognised by its class name."""
    low = class_name.lower()
    return next((label for fragment, label in DESIGN_HINTS if fragment in low), None)


def _function_mode(recorder: _Recorder):
    from torch.overrides import TorchFunctionMode

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            recorder.dispatching += 1
            try:
                result = func(*args, **kwargs)
            finally:
                recorder.dispatching -= 1
            recorder.on_function(func, args, kwargs, result)
            return result

    return Watch()


# --- cost rules -----------------------------------------------------------------------------

def _numel(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


def _conv_layer(mod) -> str:
    k = tuple(mod.kernel_size)
    if mod.groups == 1:
        return "pointwise" if all(x == 1 for x in k) else "conv"
    if mod.groups == mod.in_channels and mod.out_channels % mod.in_channels == 0:
        return "depthwise"
    return "group"


def module_record(path: str, mod, args: Any, output: Any, params: int) -> Record:
    """Cost a leaf module's call from its shapes (the rules in the module docstring)."""
    from torch import nn

    ins = [_shape(t) for t in _tensors(args)]
    outs = _tensors(output)
    out = _shape(outs[0]) if outs else ()
    x = ins[0] if ins else ()
    n_in, n_out = sum(_numel(s) for s in ins), _numel(out)
    cls = type(mod).__name__
    rec = Record(path, "module", cls, "unknown", "unknown", ins, out, params=params, macs=None,
                 elem=None, reads=n_in, writes=n_out)

    def done(kind: str, layer: str, macs: int = 0, elem: int = 0, **info: Any) -> Record:
        rec.kind, rec.layer, rec.macs, rec.elem = kind, layer, int(macs), int(elem)
        rec.info.update(info)
        return rec

    if isinstance(mod, nn.modules.conv._ConvTransposeNd):
        per = (mod.out_channels // mod.groups) * math.prod(mod.kernel_size)
        return done("conv_transpose", "transposed conv", _numel(x) * per, bias=mod.bias is not None,
                    groups=mod.groups, kernel=tuple(mod.kernel_size), transposed=True)
    if isinstance(mod, nn.modules.conv._ConvNd):
        per = (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
        return done("conv", _conv_layer(mod), n_out * per, bias=mod.bias is not None, groups=mod.groups,
                    kernel=tuple(mod.kernel_size), transposed=False)
    if isinstance(mod, nn.Linear):
        return done("linear", "linear", n_out * mod.in_features, bias=mod.bias is not None,
                    in_features=mod.in_features)
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        return done("batch_norm", "BN", elem=_numel(x) * (2 if mod.affine else 1), affine=bool(mod.affine))
    if isinstance(mod, (nn.LayerNorm, nn.GroupNorm)):
        affine = bool(getattr(mod, "elementwise_affine", getattr(mod, "affine", False)))
        kind = "layer_norm" if isinstance(mod, nn.LayerNorm) else "group_norm"
        return done(kind, "norm", elem=_numel(x) * (5 if affine else 4), affine=affine)
    if isinstance(mod, nn.modules.instancenorm._InstanceNorm):
        return done("instance_norm", "norm", elem=_numel(x) * (5 if mod.affine else 4), affine=bool(mod.affine))
    if cls in ACTIVATIONS:
        return done(ACTIVATIONS[cls], "activation", 0, n_out)
    if isinstance(mod, (nn.Softmax, nn.LogSoftmax)):
        return done("softmax", "softmax", 0, n_out, dim=mod.dim)
    if isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        dims = len(x) - 2
        k = mod.kernel_size if isinstance(mod.kernel_size, tuple) else (mod.kernel_size,) * dims
        kind = ("max_pool" if "Max" in cls else "avg_pool") + f"{dims}d"
        return done(kind, "pool", 0, math.prod(k) * n_out, kernel=tuple(k))
    if isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        return done(f"adaptive_avg_pool{len(x) - 2}d", "pool", 0, _numel(x))
    if isinstance(mod, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return done(f"adaptive_max_pool{len(x) - 2}d", "pool", 0, _numel(x))
    if isinstance(mod, nn.Upsample):
        per = 4 if mod.mode == "bilinear" else 1
        return done("upsample", "upsample", 0, per * n_out, mode=mod.mode)
    if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):  # a table lookup: a gather, no MACs
        return done("gather", "embedding", 0, n_out)
    if cls in FREE_MODULES:
        return done("free", "free", 0, 0)
    return rec  # unknown: shapes and params kept, costs None


def function_record(path: str, func: Any, args: tuple, kwargs: dict, result: Any) -> Record | None:
    """Cost a tensor function called by a non-leaf module; None for free ones."""
    name = _function_name(func)
    if name in FREE_FUNCTIONS:
        return None
    tensors = _tensors(list(args) + list(kwargs.values()))
    outs = _tensors(result)
    if not tensors and not outs:
        return None  # no tensor involved (e.g. a shape computation)
    if outs and not any(t.is_floating_point() or t.is_complex() for t in outs):
        return None  # index arithmetic (arange, offsets): bookkeeping, not model compute
    ins = [_shape(t) for t in tensors]
    out = _shape(outs[0]) if outs else ()
    n_out = sum(_numel(_shape(t)) for t in outs)
    n_in = sum(_numel(s) for s in ins)
    kind = FUNCTION_KINDS.get(name)
    rec = Record(path, "function", name, "unknown", "unknown", ins, out, macs=None, elem=None,
                 reads=n_in, writes=n_out)
    if kind is None:
        return rec
    rec.kind, rec.macs, rec.elem = kind, 0, 0
    if kind in ("add", "mul"):
        rec.layer, rec.elem = "elementwise", n_out
        rec.info["tensor_operands"] = sum(1 for a in args[:2] if hasattr(a, "shape"))
    elif kind == "concat":
        rec.layer = "concat"
    elif kind == "gather":  # a copy of the selected elements: 1 per output element, as dgc.py
        rec.layer, rec.elem = "gather", _numel(out)
    elif kind == "topk":  # 1 comparison per input element, as dgc.py
        rec.layer, rec.elem = "selection", n_in
    elif kind in ("softmax",):
        rec.layer, rec.elem = "softmax", n_out
    elif kind == "matmul":
        a = ins[0]
        rec.layer, rec.macs = "matmul", _numel(out) * a[-1]
    elif kind == "linear":
        weight = ins[1]
        rec.layer, rec.macs = "linear", n_out * weight[-1]
        rec.info.update(bias=len(ins) > 2, in_features=weight[-1])
    elif kind == "conv":
        weight = ins[1]
        rec.layer, rec.macs = "conv", n_out * _numel(weight[1:])
        rec.info.update(bias=len(ins) > 2)
    elif kind == "adaptive_avg_pool2d":
        rec.layer, rec.elem = "pool", n_in
    elif kind in ("avg_pool2d", "max_pool2d"):
        k = args[1] if len(args) > 1 else kwargs.get("kernel_size")
        k = (k, k) if isinstance(k, int) else tuple(k)
        rec.layer, rec.elem = "pool", math.prod(k) * n_out
        rec.info["kernel"] = k
    elif kind == "mean":
        rec.layer, rec.elem = "pool", n_in
    else:  # activations
        rec.layer, rec.elem = "activation", n_out
    return rec


# --- the analysis ---------------------------------------------------------------------------

@dataclass
class Analysis:
    """The per-layer table, totals and unknowns of one model at one input shape."""

    table: Any  # pandas.DataFrame: one row per layer (recognised designs collapsed)
    records: list[Record]  # every leaf-level record (what reconcile() uses)
    totals: dict[str, Any]
    unknown: Any  # pandas.DataFrame of modules/functions with no rule, with their shapes
    by_module: Any  # pandas.DataFrame: ours (fvcore's convention) vs fvcore.by_module(), per path
    input_shape: tuple[int, ...]
    fvcore_total: int | None = None
    fvcore_by_operator: dict[str, int] | None = None  # fvcore's by_operator() (MACs / ops)
    watched: list[dict[str, Any]] = field(default_factory=list)  # calls through watched attributes

    @property
    def params(self) -> int:
        return self.totals["params"]

    @property
    def macs(self) -> int:
        """conv + linear (+ matmul) MACs, for the whole input batch."""
        return self.totals["MACs"]

    def __repr__(self) -> str:
        return (f"Analysis(input={self.input_shape}, params={self.params:,}, MACs={self.macs:,}, "
                f"rows={len(self.table)}, unknown={len(self.unknown)})")


def analyze(model, input_shape, *, fvcore: bool = True, collapse_specs: bool = True,
            dtype=None, inputs=None, watch: list[tuple[Any, str, str]] | None = None) -> Analysis:
    """Per-layer analytic costs of ``model`` on an input of ``input_shape`` (NCHW, batch included).

    MACs and elementwise ops are for the whole batch; params once. The model is put in eval
    mode (BN and dropout counts depend on it). ``fvcore=True`` adds fvcore's by_module() as a
    separate column; the analytic numbers never come from it. ``inputs`` (a tensor or a tuple of
    tensors) replaces the random input, e.g. for integer or several inputs; ``watch`` lists
    attributes (owner, name, label) whose calls are noted (what ptflops patches, for reconcile).
    """
    import contextlib

    import torch

    shape = _check_shape(input_shape if inputs is None else tuple(_first(inputs).shape))
    param = next(model.parameters(), None)
    device = param.device if param is not None else "cpu"
    x = inputs if inputs is not None else torch.randn(shape, dtype=dtype or torch.float32, device=device)
    args = x if isinstance(x, tuple) else (x,)
    model.eval()
    recorder = _Recorder(model)
    watching = _watch(recorder, watch) if watch else contextlib.nullcontext()
    with recorder, torch.no_grad(), watching, _function_mode(recorder):
        model(*args)
    x = _first(x)
    width = x.element_size()
    uncalled = _uncalled_params(model, recorder)
    records = recorder.records + uncalled
    rows, checked = _rows(records, recorder.spec_calls, x.shape[0], width, collapse_specs)
    fv_modules, fv_total, fv_ops = (_fvcore_by_module(model, args) if fvcore else (None, None, None))
    result = _assemble(records, rows, checked, shape, width, fv_modules, fv_total)
    result.fvcore_by_operator = fv_ops
    result.watched = recorder.watched
    return result


def _first(inputs):
    """The first tensor of ``inputs`` (a tensor or a tuple of them): batch size and width."""
    return inputs[0] if isinstance(inputs, tuple) else inputs


def _check_shape(input_shape) -> tuple[int, ...]:
    if isinstance(input_shape, str):
        input_shape = [int(v) for v in input_shape.replace("x", ",").split(",") if v.strip()]
    shape = tuple(int(v) for v in input_shape)
    if not shape or any(v < 1 for v in shape):
        raise ValueError(f"input_shape = {input_shape!r} is invalid: allowed is a tuple of positive "
                         "integers, batch first, e.g. (1, 3, 224, 224)")
    return shape


def _uncalled_params(model, recorder: _Recorder) -> list[Record]:
    """Parameters of modules the forward never called: still params (torch counts them)."""
    out = []
    for path, mod in model.named_modules():
        if id(mod) in recorder.called:
            continue
        own = recorder._own_params(mod)
        if own:
            out.append(Record(path, "params", type(mod).__name__, "params", "not called", [], (),
                              params=own))
    return out


def _record_bytes(r: Record, width: int) -> int:
    return width * (r.reads + r.writes + r.params)


def _spec_costs(call: SpecCall, batch: int):
    """(costs, spec) for a tagged module call, or None when its spec does not fit the shape."""
    spec = call.module.costmodel_spec
    want = tuple(spec.input_shape()[1:])
    got = tuple(call.in_shape[1:])
    fields = spec.field_ranges()
    if want != got and not ("h" not in fields and math.prod(want) == math.prod(got)):
        # (a spec without spatial fields, e.g. a classifier, accepts any layout of its features)
        if len(got) == 3 and "h" in fields and "w" in fields and want[:1] == got[:1]:
            try:
                spec = spec.replace(h=got[1], w=got[2])
            except ValueError:
                return None
        else:
            return None
    hook = getattr(spec, "executed_costs", None)  # dynamic designs: what the last forward ran
    if hook is not None:
        return hook(call.module, batch), spec, "executed"
    return spec.costs(), spec, "formula"


def _spec_row(call: SpecCall, inside: list[Record], batch: int, width: int) -> dict | None:
    found = _spec_costs(call, batch)
    if found is None:
        return None
    costs, spec, how = found
    scale = batch  # design costs are per sample (executed ones too)
    macs = {k: v * scale for k, v in costs.macs_by_key.items()}
    elem = {k: v * scale for k, v in costs.elementwise.items()}
    leaf_macs: dict[str, int] = {}
    leaf_elem: dict[str, int] = {}
    for r in inside:
        if r.mac_key:
            leaf_macs[r.mac_key] = leaf_macs.get(r.mac_key, 0) + (r.macs or 0)
        elif r.elem:
            leaf_elem[r.kind] = leaf_elem.get(r.kind, 0) + r.elem
    same_macs = all(leaf_macs.get(k, 0) == v for k, v in macs.items()) and \
        all(macs.get(k, 0) == v for k, v in leaf_macs.items())
    # every elementwise kind, not only fvcore's: the designs use the same conventions as here
    same_elem = all(elem.get(k, 0) == leaf_elem.get(k, 0) for k in set(elem) | set(leaf_elem))
    params = sum(r.params for r in inside)
    check = (params == costs.params and same_macs and same_elem and all(r.known for r in inside))
    try:
        table = spec.op_table()
        traffic = int(scale * (table["reads"] + table["writes"]).sum() + table["params"].sum())
        mem = spec.dtype_bytes * traffic if width == spec.dtype_bytes else width * traffic
    except Exception:  # a dynamic design without a static op table
        mem = sum(_record_bytes(r, width) for r in inside)
    fv = sum(macs.values()) + sum(v for k, v in elem.items() if k in FVCORE_KINDS)
    return {"path": call.path, "layer": spec.title or spec.name, "kind": spec.name,
            "module": type(call.module).__name__, "input": _fmt(call.in_shape),
            "output": _fmt(call.out_shape), "params": params, "MACs": sum(macs.values()),
            "conv MACs": macs.get("conv", 0), "linear MACs": macs.get("linear", 0),
            "elementwise ops": sum(elem.values()), "mem bytes": mem, "_fv": fv,
            "source": f"design {spec.name} ({how})", "leaf_check": check, "_elem": elem}


def _record_row(r: Record, width: int) -> dict:
    unknown = not r.known
    return {"path": r.path, "layer": r.layer, "kind": r.kind, "module": r.module,
            "input": " ".join(_fmt(s) for s in r.in_shapes), "output": _fmt(r.out_shape),
            "params": r.params, "MACs": None if unknown else (r.macs or 0),
            "conv MACs": (r.macs or 0) if r.mac_key == "conv" else 0,
            "linear MACs": (r.macs or 0) if r.mac_key == "linear" else 0,
            "elementwise ops": None if unknown else (0 if r.mac_key else (r.elem or 0)),
            "mem bytes": _record_bytes(r, width), "_fv": r.fvcore_view(), "source": r.source,
            "leaf_check": None, "_elem": {} if (unknown or r.mac_key or not r.elem) else {r.kind: r.elem}}


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _rows(records: list[Record], calls: list[SpecCall], batch: int, width: int, collapse: bool
          ) -> tuple[list[dict], list[bool]]:
    """Table rows in execution order: a collapsed row per outermost usable design call."""
    covered: dict[int, dict] = {}  # first record index -> spec row
    skip: set[int] = set()
    checks: list[bool] = []
    if collapse:
        for call in sorted(calls, key=lambda c: (c.first, -(c.last - c.first))):
            if call.first in skip or any(i in skip for i in range(call.first, call.last)):
                continue
            row = _spec_row(call, records[call.first:call.last], batch, width)
            if row is None:
                continue
            covered[call.first] = row
            skip.update(range(call.first, call.last))
            checks.append(bool(row["leaf_check"]))
    rows: list[dict] = []
    emitted: set[int] = set()
    for i, r in enumerate(records):
        if i in covered:
            rows.append(covered[i])
            emitted.add(i)
        if i in skip:
            continue
        if r.kind == "free":
            continue
        rows.append(_record_row(r, width))
    for first, row in covered.items():  # an empty design call (no records) still gets its row
        if first not in emitted:
            rows.append(row)
    return rows, checks


def _fvcore_by_module(model, x) -> tuple[dict[str, int], int, dict[str, int]]:
    import logging

    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    by_module = {k: int(v) for k, v in analysis.by_module().items()}
    return by_module, int(analysis.total()), {k: int(v) for k, v in analysis.by_operator().items()}


def _assemble(records, rows, checks, shape, width, fv_modules, fv_total) -> Analysis:
    import pandas as pd

    frame = pd.DataFrame(rows)
    ours_fv: dict[str, int] = {}
    for row in rows:
        if row["source"] != "function":
            ours_fv[row["path"]] = ours_fv.get(row["path"], 0) + row["_fv"]
    by_module = None
    if fv_modules is not None:
        frame["fvcore"] = [fv_modules.get(p) if s != "function" else None
                           for p, s in zip(frame["path"], frame["source"])]
        frame["fvcore_match"] = [None if s == "function" else ours_fv.get(p) == f
                                 for p, f, s in zip(frame["path"], frame["fvcore"], frame["source"])]
        by_module = pd.DataFrame([{"path": p, "ours (fvcore convention)": v, "fvcore": fv_modules.get(p, 0),
                                   "match": v == fv_modules.get(p, 0)} for p, v in ours_fv.items()])
    elem: dict[str, int] = {}
    macs = {"conv": 0, "linear": 0}
    for row in rows:
        macs["conv"] += row["conv MACs"]
        macs["linear"] += row["linear MACs"]
        for k, v in row["_elem"].items():
            elem[k] = elem.get(k, 0) + v
    unknown_rows = [r for r in records if not r.known]
    unknown = pd.DataFrame([{"path": r.path, "module": r.module, "source": r.source,
                             "input": " ".join(_fmt(s) for s in r.in_shapes), "output": _fmt(r.out_shape),
                             "params": r.params} for r in unknown_rows],
                           columns=["path", "module", "source", "input", "output", "params"])
    fv_ours = sum(row["_fv"] for row in rows)
    totals = {"params": int(sum(r.params for r in records)), "MACs": macs["conv"] + macs["linear"],
              "conv MACs": macs["conv"], "linear MACs": macs["linear"],
              "FLOPs": 2 * (macs["conv"] + macs["linear"]), "elementwise": elem,
              "elementwise ops": sum(elem.values()),
              "mem bytes": int(sum(row["mem bytes"] for row in rows)),
              "fvcore convention (MACs + BN + pools)": fv_ours, "fvcore total": fv_total,
              "unknown": len(unknown_rows), "designs recognised": len(checks),
              "designs matching their leaves": sum(checks)}
    frame = frame.drop(columns=["_fv", "_elem"])
    for col in ("MACs", "elementwise ops"):
        frame[col] = frame[col].astype("Int64")
    return Analysis(frame, records, totals, unknown, by_module, shape, fv_total)
