import ast
from typing import Iterator, Tuple

from modellint.code.modules import (
    MODULE,
    PARAMETER,
    PARAMETER_CALLS,
    FileModules,
    methods_reachable,
    parametrised_nn_call,
    self_attr,
)
from modellint.code.walk import inner_children
from modellint.rule import CodeRule, flag, ok


class ModuleCreatedInForward(CodeRule):
    code = "ML304"
    name = "module-created-in-forward"
    severity = "error"
    summary = "forward() constructs a layer with parameters on every call, so its weights are random and never trained."
    rationale = (
        "A layer built inside `forward()` (`nn.Linear(...)(x)`) gets fresh random weights on every call. The "
        "optimizer was created from `model.parameters()` before that layer existed, so it never updates it; the "
        "layer is not in `state_dict()`, lives on the CPU unless moved, and makes the output change randomly from "
        "step to step. Parameter-free modules (`nn.ReLU()`, `nn.Dropout()`) and functional calls are harmless."
    )
    fix = "Create the layer once in `__init__` (`self.proj = nn.Linear(...)`) and only call it in `forward()`."
    examples = (
        flag("head.py", """
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.d, self.n = d, n

                def forward(self, x):
                    proj = nn.Linear(self.d, self.n)
                    return proj(x)
            """, line=9, title="nn.Linear built in forward"),
        flag("block.py", """
            import torch
            from torch import nn

            class Block(nn.Module):
                def forward(self, x):
                    x = nn.Conv2d(x.size(1), 64, 3, padding=1)(x)
                    return nn.BatchNorm2d(64)(x).relu()
            """, line=6, title="constructed and applied in one expression"),
        flag("helper.py", """
            import torch.nn as nn

            class Tagger(nn.Module):
                def __init__(self, vocab, d):
                    super().__init__()
                    self.vocab, self.d = vocab, d

                def embed(self, tokens):
                    return nn.Embedding(self.vocab, self.d)(tokens)

                def forward(self, tokens):
                    return self.embed(tokens).mean(1)
            """, line=9, title="in a helper that only forward() calls"),
        flag("norm.py", """
            import torch.nn as nn

            class Net(nn.Module):
                def forward(self, x):
                    self.norm = nn.LayerNorm(x.size(-1))
                    return self.norm(x)
            """, line=5, title="re-created on every call even though it is stored on self"),
        flag("local_block.py", """
            import torch.nn as nn

            class ResidualUnit(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = nn.Linear(d, d)

                def forward(self, x):
                    return x + self.fc(x)

            class Tower(nn.Module):
                def forward(self, x):
                    for _ in range(3):
                        x = ResidualUnit(x.size(-1))(x)
                    return x
            """, line=14, title="a module class of the same file that owns parameters"),
        flag("param.py", """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Gate(nn.Module):
                def forward(self, x):
                    w = nn.Parameter(torch.randn(x.size(-1), 1))
                    return torch.sigmoid(F.linear(x, w.t()))
            """, line=7, title="an nn.Parameter created in forward is just as untrained"),
        ok("activations.py", """
            import torch.nn as nn
            import torch.nn.functional as F

            class Head(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = nn.Linear(d, d)

                def forward(self, x):
                    x = nn.ReLU()(self.fc(x))
                    x = nn.Dropout(0.1)(x)
                    x = nn.Identity()(x)
                    x = F.layer_norm(x, x.shape[-1:])
                    x = nn.LayerNorm(x.size(-1), elementwise_affine=False)(x)
                    return nn.Softmax(dim=-1)(x)
            """, title="parameter-free modules and functional calls"),
        ok("builder.py", """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.d = d
                    self.layers = self._make_layers(4)

                def _make_layers(self, n):
                    return nn.Sequential(*[nn.Linear(self.d, self.d) for _ in range(n)])

                def forward(self, x):
                    return self.layers(x)
            """, title="construction in __init__ and in helpers called from __init__"),
        ok("lazy.py", """
            import torch.nn as nn

            class LazyHead(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.n = n
                    self.fc = None

                def forward(self, x):
                    if self.fc is None:
                        self.fc = nn.Linear(x.size(-1), self.n).to(x.device)
                    return self.fc(x)
            """, title="built once, guarded, and registered on self (lazy initialisation)"),
        ok("adapter.py", """
            import torch.nn as nn

            class MergeableAdapter(nn.Module):
                def restore(self):
                    base = self.base_layer
                    original = base.weight.data - self.delta()
                    del base.weight
                    base.register_parameter("weight", nn.Parameter(original, requires_grad=False))

                def forward(self, x):
                    if self.merged:
                        self.restore()
                    return self.base_layer(x) + self.delta_out(x)
            """, title="re-wrapping existing weights as a frozen Parameter is not a new layer"),
        ok("not_module.py", """
            import torch.nn as nn

            class Recipe:
                def forward(self, d):
                    return nn.Linear(d, d)
            """, title="not an nn.Module"),
    )

    def wants(self, text: str) -> bool:
        return "forward" in text  # only modules with a ``forward`` method are judged

    def visit_ClassDef(self, node, ctx) -> None:
        modules = FileModules.of(ctx)
        info = modules.info(node)
        if not info.is_module or "forward" not in info.methods:
            return
        from_init = set(methods_reachable(info, "__init__", modules)) if "__init__" in info.methods else set()
        for name in methods_reachable(info, "forward", modules):
            if name in from_init or name == "__init__":
                continue
            method = info.methods[name]
            for call, guarded_store in _calls(method.body, False):
                if guarded_store:
                    continue
                layer = parametrised_nn_call(call, ctx)
                shown = f"nn.{layer}" if layer else None
                if layer is None and ctx.qualname(call.func) in PARAMETER_CALLS and _fresh_parameter(call, ctx):
                    layer, shown = "Parameter", "nn.Parameter"
                if layer is None:
                    layer = _local_parametrised_class(call, modules, ctx)
                    shown = layer
                if layer is None:
                    continue
                where = "`forward()`" if name == "forward" else f"`{name}()` (called from `forward()`)"
                ctx.report(
                    self, call,
                    f"{where} of `{info.name}` constructs `{shown}(...)` on every call: each call gets new random "
                    f"weights that the optimizer (built from `model.parameters()` before this layer existed) never "
                    f"updates, so this layer never learns and the output changes randomly between steps",
                    help=f"Create it once in `__init__` (`self.{layer.lower()} = {shown}(...)`) and use it in `forward()`.",
                )


# Tensor factories: an nn.Parameter built from one of these holds new values, not existing weights.
FRESH_TENSORS = frozenset({"randn", "rand", "randn_like", "rand_like", "empty", "empty_like", "zeros", "ones",
                           "zeros_like", "ones_like", "full", "normal", "Tensor", "FloatTensor", "randint", "tensor"})


def _fresh_parameter(call, ctx) -> bool:
    """``nn.Parameter(torch.randn(d, 1))``: a new trainable tensor. Re-wrapping existing weights
    (``nn.Parameter(old_weight, requires_grad=False)`` when unmerging an adapter) is not."""
    for kw in call.keywords:
        if kw.arg == "requires_grad" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
            return False
    data = call.args[0] if call.args else None
    while isinstance(data, ast.Call) and isinstance(data.func, ast.Attribute) and data.func.attr in ("to", "cuda", "float", "mul_", "normal_", "uniform_"):
        data = data.func.value
    if not isinstance(data, ast.Call):
        return False
    qual = ctx.qualname(data.func) or ""
    return qual.startswith("torch.") and qual.rsplit(".", 1)[-1] in FRESH_TENSORS


def _local_parametrised_class(call, modules, ctx):
    """A module class of this file that owns parameters (``ResidualBlock(64)``), by name."""
    qual = ctx.qualname(call.func)
    local = modules.local_class(qual)
    if local is None:
        return None
    info = modules.info(local)
    if not info.is_module:
        return None
    own = [a for found in info.assignments.values() for a in found if a.method == "__init__"]
    if any(a.kind == PARAMETER or (a.kind == MODULE and _has_parameters(a, ctx, modules)) for a in own):
        return local.name
    return None


def _has_parameters(assignment, ctx, modules) -> bool:
    value = assignment.value
    if not isinstance(value, ast.Call):
        return False
    if parametrised_nn_call(value, ctx) is not None:
        return True
    last = (assignment.ctor or "").rsplit(".", 1)[-1]
    return last in ("Sequential", "ModuleList", "ModuleDict") or not (assignment.ctor or "").startswith("torch.")


def _calls(body, under_if: bool) -> Iterator[Tuple[ast.Call, bool]]:
    """Calls in a statement list with a flag: is the call's value stored on ``self`` under an ``if``
    (lazy initialisation, built once)? Nested functions and classes are skipped."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.If):
            yield from _expr_calls(stmt.test, False)
            yield from _calls(stmt.body, True)
            yield from _calls(stmt.orelse, True)
            continue
        nested = [getattr(stmt, f, None) for f in ("body", "orelse", "finalbody")]
        handlers = getattr(stmt, "handlers", None) or []
        if any(isinstance(n, list) for n in nested):
            for field in ("test", "iter", "items"):
                part = getattr(stmt, field, None)
                if isinstance(part, list):
                    for item in part:
                        yield from _expr_calls(item, False)
                elif part is not None:
                    yield from _expr_calls(part, False)
            for n in nested:
                if isinstance(n, list):
                    yield from _calls(n, under_if)
            for handler in handlers:
                yield from _calls(handler.body, under_if)
            continue
        stored_on_self = isinstance(stmt, ast.Assign) and any(
            self_attr(t) is not None or (isinstance(t, ast.Subscript) and self_attr(t.value) is not None)
            for t in stmt.targets)
        yield from ((call, under_if and stored_on_self) for call, _ in _expr_calls(stmt, False))


def _expr_calls(node, flag_value: bool) -> Iterator[Tuple[ast.Call, bool]]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Call):
            yield current, flag_value
        for child in inner_children(current):  # names and constants hold no calls
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)
