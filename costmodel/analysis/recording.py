"""Recording one forward pass: forward hooks on every module and a ``TorchFunctionMode``.

The hooks give each module call its path, shapes and own parameters; the function mode sees the
tensor functions (``F.*``, ``torch.*``, Tensor methods and operators) the modules call. What each
record costs is decided by ``rules``; this module only records (and removes every hook after).

Why the torch-function level and not aten dispatch (``TorchDispatchMode``): a function call is
what the user wrote, with its arguments (SDPA's mask, GQA heads and causal flag, interpolate's
mode, einsum's equation), whatever kernel then runs; at the aten level a fused CPU attention
kernel or a fast-path ``nn.MultiheadAttention`` is one opaque op, and the names are aten's. The
mode sees only the outermost call (a composite such as ``F.normalize`` is one call), so each
such function has its own rule, and a function with none is reported as unknown, never dropped.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field
from typing import Any

from ..peers.fvcore import rule as fvcore_rule
from ..peers.keys import mac_key


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
        """"conv" / "linear" when this record's count is MACs (the one op-key map), else None."""
        return mac_key(self.kind) if self.kind != "unknown" else None

    @property
    def known(self) -> bool:
        return self.kind != "unknown"

    @property
    def count(self) -> int:
        """Our count: MACs for conv/linear/matmul records, elementwise ops for the rest."""
        return int(self.macs or 0) + int(self.elem or 0)

    def fvcore_view(self) -> int:
        """What fvcore should count for this record (its convention: ``peers.fvcore.rule``)."""
        if not self.known:
            return 0
        return sum(value for _cat, value, _why in fvcore_rule(self))


@dataclass
class SpecCall:
    """A call of a module tagged ``.costmodel_spec``: the records made inside it, by index."""

    path: str
    module: Any
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    first: int
    last: int


def shape(t: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in t.shape)


def numel(shape_: tuple[int, ...]) -> int:
    return int(math.prod(shape_))


def tensors(obj: Any) -> list:
    """Every tensor in ``obj`` (nested lists, tuples and dict values), in order."""
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out = []
        for item in obj:
            out += tensors(item)
        return out
    if isinstance(obj, dict):
        return tensors(list(obj.values()))
    return []


def function_name(func: Any) -> str:
    """A torch function's name, dunder, private and in-place underscores stripped (``__iadd__`` ->
    iadd, ``F._threshold`` -> threshold, ``relu_`` -> relu)."""
    name = getattr(func, "__name__", str(func))
    return name.strip("_") or name


class Recorder:
    """Hooks every module and watches tensor functions; builds Records and SpecCalls.

    A module with a rule (``has_rule(mod)``: a stock class running its own forward) is costed as a
    whole by ``module_rule(path, mod, args, output, params) -> Record``, and the functions it calls
    are not recorded. Every other module (a custom leaf, a container, a subclass with its own
    forward) is costed by the tensor functions it calls itself: ``function_rule(path, func, args,
    kwargs, result) -> [Record]``. ``hint(class name)`` labels a module's own ops with the design
    it belongs to.
    """

    def __init__(self, model, has_rule, module_rule, function_rule, hint) -> None:
        self.model = model
        self.module_rule, self.function_rule, self.hint = module_rule, function_rule, hint
        self.has_rule = has_rule
        self.ruled: dict[int, bool] = {}
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
        self.used_params: set[int] = set()  # ids of parameters tensor functions took (uncalled_params)

    def __enter__(self) -> "Recorder":
        for path, mod in self.model.named_modules():
            self.is_leaf[id(mod)] = next(iter(mod.children()), None) is None
            self.ruled[id(mod)] = self.has_rule(mod)
            self.handles.append(mod.register_forward_pre_hook(self._pre(path)))
            self.handles.append(mod.register_forward_hook(self._post(path), with_kwargs=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()

    def own_params(self, mod) -> int:
        """The module's own parameters not counted yet (a shared parameter counts once)."""
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
        def hook(mod, args, kwargs, output):
            with _no_function_mode():  # our own .shape / .numel() reads are not the model's ops
                # tensors passed by keyword (self.fc(input=x)) are inputs too
                self._record_call(path, mod, (*args, *kwargs.values()) if kwargs else args, output)
        return hook

    def _record_call(self, path: str, mod, args, output) -> None:
        """A module call has returned: its record (ruled modules) or its own parameters' record."""
        self.stack.pop()
        self.called.add(id(mod))
        ins = [shape(t) for t in tensors(args)]
        outs = tensors(output)
        out_shape = shape(outs[0]) if outs else ()
        if self.ruled[id(mod)]:
            self.records.append(self.module_rule(path, mod, args, output, self.own_params(mod)))
        else:
            own = self.own_params(mod)
            if own:  # the module's own parameters, used by the functions it calls
                self.records.append(Record(path, "params", type(mod).__name__, "params", "params",
                                           ins, out_shape, params=own, reads=0))
        if getattr(mod, "costmodel_spec", None) is not None:
            first = self.spec_open.pop()
            self.spec_calls.append(SpecCall(path, mod, ins[0] if ins else (), out_shape, first,
                                            len(self.records)))

    def on_function(self, func: Any, args: tuple, kwargs: dict, result: Any) -> None:
        from torch.nn import Parameter

        if not self.stack:
            return
        path, mod = self.stack[-1]
        if self.ruled[id(mod)]:
            return  # the module's own rule covers what it computes
        self.used_params.update(id(t) for t in tensors(list(args) + list(kwargs.values()))
                                if isinstance(t, Parameter))
        parent = type(mod).__name__
        for record in self.function_rule(path, func, args, kwargs, result):
            record.module = f"{parent}.{record.module}"
            record.layer = self.hint(parent) or record.layer
            self.records.append(record)

    def uncalled_params(self) -> list[Record]:
        """Parameters of modules the forward never called: still params (torch counts them).
        Labelled "used by parent" when a tensor function took one of them (nn.MultiheadAttention
        passes its out_proj's weight to F.multi_head_attention_forward: costed there), else
        "not called"."""
        out = []
        for path, mod in self.model.named_modules():
            if id(mod) in self.called:
                continue
            own = self.own_params(mod)
            if own:
                used = any(id(p) in self.used_params for p in mod.parameters(recurse=False))
                label = "used by parent" if used else "not called"
                out.append(Record(path, "params", type(mod).__name__, "params", label, [], (), params=own))
        return out


def _no_function_mode():
    """Torch-function handling off (modes included) while our hooks read shapes: those reads
    would otherwise go through the function mode as if the model had made them."""
    import torch

    disable = getattr(torch._C, "DisableTorchFunction", None)
    return disable() if disable is not None else contextlib.nullcontext()


def function_mode(recorder: Recorder):
    """A TorchFunctionMode that hands every tensor function call to ``recorder.on_function``."""
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


@contextlib.contextmanager
def watch(recorder: Recorder, targets: list[tuple[Any, str, str]]):
    """Wrap attributes (owner, attr, label) so that each call through them is noted with its
    shapes: a peer that patches the same attributes counts exactly these calls."""
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


def _watcher(recorder: Recorder, original: Any, label: str):
    @functools.wraps(original)  # the function mode names ops by __name__: keep the original's
    def call(*args, **kwargs):
        if recorder.dispatching:
            # the function mode re-dispatching a call resolves methods through these attributes
            # (even ``x + y`` becomes Tensor.add): not a call the user's code made
            return original(*args, **kwargs)
        result = original(*args, **kwargs)
        found = tensors(list(args)) + tensors(list(kwargs.values()))
        outs = tensors(result)
        top = recorder.stack[-1] if recorder.stack else None
        note: dict[str, Any] = {
            "via": label, "path": top[0] if top else "",
            "in_leaf": top is not None and recorder.is_leaf[id(top[1])],
            "in_shapes": [shape(t) for t in found], "out_numel": numel(shape(outs[0])) if outs else 0,
            "args": [a if isinstance(a, (int, float, tuple, list)) or a is None else None for a in args],
            "kwargs": {k: v for k, v in kwargs.items() if isinstance(v, (int, float, tuple, list))}}
        recorder.watched.append(note)
        return result
    return call


HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
              "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called", "_backward_hooks",
              "_backward_pre_hooks", "_state_dict_hooks", "_state_dict_pre_hooks",
              "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")
"""Per-module hook dicts of ``nn.Module`` (a counter that registers hooks adds keys to these)."""

GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                "_global_backward_pre_hooks", "_global_forward_hooks_always_called",
                "_global_forward_hooks_with_kwargs", "_global_module_registration_hooks",
                "_global_parameter_registration_hooks", "_global_buffer_registration_hooks")
"""torch.nn.modules.module's global hook dicts (``register_module_forward_hook`` and kin)."""


@contextlib.contextmanager
def untouched(model):
    """Run the body, then give ``model`` back as it came in: every module's training flag, and
    no key added to its ``__dict__`` (attributes), ``_buffers``, ``_parameters``, ``_modules`` or
    hook dicts, nor to torch's global hook dicts. The counters we run (ours, thop's buffers,
    ptflops' attributes and methods) may add such things; whatever they add is removed here.
    Values the user's own forward changes (a BN's running stats in train mode) are not ours to
    undo: analyze() runs in eval mode under no_grad so that nothing like that happens."""
    import torch.nn.modules.module as module_globals

    before = [(m, m.training, _owned_keys(m)) for m in model.modules()]
    global_keys = {name: set(getattr(module_globals, name, {})) for name in GLOBAL_HOOKS}
    try:
        yield
    finally:
        for mod, training, owned in before:
            state = vars(mod)
            for name, keys in owned.items():
                table = state if name == "__dict__" else state.get(name)
                if table is None or len(table) == len(keys) and all(k in keys for k in table):
                    continue
                for key in [k for k in table if k not in keys]:
                    if isinstance(table, set):
                        table.discard(key)
                    else:
                        del table[key]
            mod.training = training
        for name, keys in global_keys.items():
            table = getattr(module_globals, name, None)
            for key in [k for k in (table or {}) if k not in keys]:
                del table[key]


def _owned_keys(mod) -> dict[str, set]:
    """The keys of a module's attribute, parameter, buffer, child and hook dicts (what a counter
    may add to; ``__dict__`` stands for the attributes)."""
    state = vars(mod)
    names = ("__dict__", "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set") + HOOK_DICTS
    return {name: set(state if name == "__dict__" else state.get(name) or ()) for name in names}
