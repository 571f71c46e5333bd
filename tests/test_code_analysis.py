"""The shared model-code analysis layer: nn.Module classes and their attributes
(modellint/code/modules.py) and per-function local dataflow (modellint/code/dataflow.py)."""

import ast
import textwrap

from modellint.code.dataflow import LEARNED, OTHER, ZERO, LocalFlow
from modellint.code.modules import (
    BUFFER,
    CONTAINER,
    LIKELY,
    MODULE,
    NO,
    PARAMETER,
    YES,
    FileModules,
    methods_reachable,
    parametrised_nn_call,
)
from modellint.code.traversal import PyContext
from modellint.parsing.python_doc import parse_python


def context(text):
    doc, problems = parse_python(textwrap.dedent(text).lstrip("\n"), "example.py")
    assert doc is not None, problems
    return PyContext(doc)


def classes(ctx):
    modules = FileModules.of(ctx)
    return {node.name: modules.info(node) for node in ast.walk(ctx.doc.tree) if isinstance(node, ast.ClassDef)}


# -- which classes are modules ---------------------------------------------------
def test_module_kinds_through_imports_and_local_bases():
    ctx = context("""
        import torch
        import torch.nn as nn
        from torch import nn as tnn
        import pytorch_lightning as pl
        from lightning.pytorch import LightningModule
        from .base import BaseHead
        from torch.utils.data import Dataset

        class A(nn.Module):
            pass

        class B(A):
            pass

        class C(tnn.Sequential):
            pass

        class D(pl.LightningModule):
            pass

        class E(LightningModule):
            pass

        class F(BaseHead):
            def forward(self, x):
                return x

        class G(BaseHead):
            def build(self):
                pass

        class H(Dataset):
            def forward(self, x):
                return x

        class I(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

        class J:
            def forward(self, x):
                return x

        class K(F):
            pass
        """)
    kinds = {name: info.module_kind for name, info in classes(ctx).items()}
    assert kinds == {"A": YES, "B": YES, "C": YES, "D": YES, "E": YES, "F": LIKELY, "G": NO, "H": NO, "I": NO,
                     "J": NO, "K": NO}


def test_attribute_kinds_in_init():
    ctx = context("""
        import torch
        import torch.nn as nn

        class Block(nn.Module):
            pass

        class Net(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.fc = nn.Linear(d, d)
                self.block = Block()
                self.query = nn.Parameter(torch.zeros(4, d))
                self.embed = nn.Embedding(10, d)
                self.blocks = [Block() for _ in range(3)]
                self.cfg = {"a": 1}
                self.scale = 0.5
                self.register_buffer("anchors", torch.zeros(4))
                self.a, self.b = nn.ReLU(), 3

            def forward(self, x):
                return self.fc(x)
        """)
    info = classes(ctx)["Net"]
    assert info.is_module
    assert set(info.methods) == {"__init__", "forward"}
    kinds = {name: info.attr_kind(name) for name in info.assignments}
    assert kinds == {"fc": MODULE, "block": MODULE, "query": PARAMETER, "embed": MODULE, "blocks": CONTAINER,
                     "cfg": CONTAINER, "scale": "other", "anchors": BUFFER, "a": MODULE, "b": "other"}
    assert info.attr("fc").ctor == "torch.nn.Linear"
    assert info.is_learned_attr("query") and info.is_learned_attr("embed")
    assert not info.is_learned_attr("fc") and not info.is_learned_attr("anchors")


def test_class_info_is_cached_per_file():
    ctx = context("""
        import torch.nn as nn
        class Net(nn.Module):
            pass
        """)
    node = ctx.doc.tree.body[1]
    assert FileModules.of(ctx) is FileModules.of(ctx)
    assert FileModules.of(ctx).info(node) is FileModules.of(ctx).info(node)


def test_methods_reachable_from_forward():
    ctx = context("""
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = self._build()

            def _build(self):
                return nn.Linear(2, 2)

            def _head(self, x):
                return self._act(x)

            def _act(self, x):
                return x

            def forward(self, x):
                return self._head(self.layers(x))
        """)
    info = classes(ctx)["Net"]
    assert methods_reachable(info, "forward") == ["forward", "_head", "_act"]
    assert methods_reachable(info, "__init__") == ["__init__", "_build"]


def test_parametrised_nn_table():
    ctx = context("""
        import torch.nn as nn
        nn.Linear(2, 2)
        nn.ReLU()
        nn.LayerNorm(4)
        nn.LayerNorm(4, elementwise_affine=False)
        nn.BatchNorm2d(4, affine=False)
        nn.InstanceNorm2d(4)
        nn.InstanceNorm2d(4, affine=True)
        nn.Dropout(0.1)
        nn.Embedding(4, 2)
        """)
    calls = [stmt.value for stmt in ctx.doc.tree.body[1:]]
    assert [parametrised_nn_call(c, ctx) for c in calls] == [
        "Linear", None, "LayerNorm", None, None, None, "InstanceNorm2d", None, "Embedding"]


# -- local dataflow ---------------------------------------------------------------------
def values_at_calls(text, callee="sink"):
    """Run the dataflow over every function and return the value of ``sink(arg)``'s argument, in order."""
    ctx = context(text)
    modules = FileModules.of(ctx)
    found = []
    for cls in [n for n in ast.walk(ctx.doc.tree) if isinstance(n, ast.ClassDef)] or [None]:
        info = modules.info(cls) if cls is not None else None
        funcs = [n for n in (cls.body if cls is not None else ctx.doc.tree.body) if isinstance(n, ast.FunctionDef)]
        for func in funcs:
            def on_call(call, flow):
                if isinstance(call.func, ast.Name) and call.func.id == callee:
                    found.append(flow.value(call.args[0]))
            LocalFlow(ctx, info).run(func, on_call)
    return found


def kinds(values):
    return [v.kind for v in values]


def test_zero_built_through_shape_and_device_changes():
    values = values_at_calls("""
        import torch
        from torch import zeros

        def f(x, B, N, D):
            a = torch.zeros(B, N, D)
            sink(a)
            b = a.to(x.device).expand(2, -1, -1).repeat(1, 1, 1).unsqueeze(0).clone().detach()
            sink(b)
            c = b.view(-1).reshape(B, N, D)
            sink(c)
            sink(torch.zeros_like(x))
            sink(x.new_zeros(3))
            sink(torch.full((B, N), 0.0))
            sink(torch.full((B, N), 1.0))
            sink(zeros(3))
            sink(torch.zeros(3, dtype=torch.long))
            sink(torch.zeros(3).long())
        """)
    assert kinds(values) == [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, OTHER, ZERO, OTHER, OTHER]
    assert values[1].origin is values[0].origin  # the origin stays the zeros call


def test_learned_values_and_mixing():
    values = values_at_calls("""
        import torch
        import torch.nn as nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.q = nn.Parameter(torch.randn(4, 8))
                self.emb = nn.Embedding(4, 8)
                self.proj = nn.Linear(8, 8)

            def forward(self, x):
                z = torch.zeros(2, 4, 8)
                sink(self.q)
                sink(self.emb.weight.unsqueeze(0))
                sink(self.emb(torch.arange(4)))
                sink(z + self.q)
                sink(z + x)
                sink(z * 2.0)
                sink(self.proj(z))
                sink(torch.cat([z, self.q.expand(2, -1, -1)], 1))
                sink(torch.cat([z, z], 1))
        """)
    assert kinds(values) == [LEARNED, LEARNED, LEARNED, LEARNED, OTHER, ZERO, OTHER, LEARNED, ZERO]


def test_branches_loops_and_in_place_writes():
    values = values_at_calls("""
        import torch

        def f(x, init, cond, steps):
            a = torch.zeros(3)
            if cond:
                a = init
            sink(a)
            b = torch.zeros(3)
            if cond:
                b = torch.zeros(4)
            sink(b)
            c = torch.zeros(3)
            c[0] = x
            sink(c)
            d = torch.zeros(3)
            d.copy_(x)
            sink(d)
            e = torch.empty(3)
            e.zero_()
            sink(e)
            g = torch.zeros(3)
            for _ in range(steps):
                sink(g)
                g = x
            sink(g)
            h = None
            if cond:
                h = torch.zeros(3)
            sink(h)
        """)
    assert kinds(values) == [OTHER, ZERO, OTHER, OTHER, ZERO, ZERO, OTHER, OTHER]


def test_loop_assigns_reports_names_rebound_in_a_loop():
    ctx = context("""
        import torch
        def f(memory, steps):
            frame = torch.zeros(2)
            for _ in range(steps):
                out = decoder(frame, memory)
                frame = out
        """)
    func = ctx.doc.tree.body[1]
    seen = []

    def on_call(call, flow):
        if isinstance(call.func, ast.Name) and call.func.id == "decoder":
            loop = flow.loop_stack[-1]
            seen.append((flow.value(call.args[0]).kind, sorted(flow.loop_assigns(loop))))

    LocalFlow(ctx).run(func, on_call)
    assert seen == [(ZERO, ["frame", "out"])]  # bound in the body (the loop target is not)


def test_zero_attribute_buffer_unless_written():
    values = values_at_calls("""
        import torch
        import torch.nn as nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("slots", torch.zeros(4, 8))
                self.register_buffer("filled", torch.zeros(4, 8))
                nn.init.normal_(self.filled)

            def forward(self, x):
                sink(self.slots.expand(2, -1, -1))
                sink(self.filled)
        """)
    assert kinds(values) == [ZERO, OTHER]


def test_recursive_class_does_not_recurse_forever():
    # timm's DlaTree builds DlaTree instances in its own __init__
    ctx = context("""
        import torch.nn as nn

        class Tree(nn.Module):
            def __init__(self, levels):
                super().__init__()
                if levels > 1:
                    self.left = Tree(levels - 1)
                    self.right = Tree(levels - 1)
                else:
                    self.leaf = nn.Linear(4, 4)
        """)
    info = classes(ctx)["Tree"]
    assert info.is_module
    assert info.attr_kind("left") == MODULE and info.attr("left").ctor == "Tree"
