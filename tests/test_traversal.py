"""The one traversal calls every handler a plain recursive walk would, in the same order,
with the same ancestors, although it skips subtrees that hold no handled node."""

import ast
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from modellint.code.traversal import PyContext, traverse
from modellint.parsing.python_doc import parse_python

ROOT = Path(__file__).resolve().parent.parent
SINGLETONS = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
SAMPLE = '''
import torch.nn as nn, os
from a.b import c as d
global_value = os.path.join("x", "y").upper()
class Net(nn.Module, metaclass=abc.ABCMeta):
    scale: float = 1.0
    def __init__(self, dim: int = 4, *args, key=None, **kw) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.items = [nn.ReLU() for _ in range(3) if _]
        self.table = {"k": self.proj.weight.data, **kw}
    def forward(self, x):
        global global_value
        y = lambda z: z.mean(dim=-1) + 1
        for i, layer in enumerate(self.items):
            if i > 2 and not x.is_cuda or i in (1, 2):
                continue
            x = layer(x)[..., :2] @ self.proj.weight.T
        else:
            pass
        while x.sum() > 0:
            x -= 1
            break
        try:
            del self.table["k"]
        except (KeyError, ValueError) as exc:
            raise RuntimeError(f"bad {exc!r:>10}") from exc
        finally:
            assert x is not None, "never"
        with open(os.path.sep) as fh, torch.no_grad():
            data = yield from fh.read().split()
        return x if x.ndim else -x, data, *args
async def main():
    async for item in stream():
        await item.close()
    async with lock as held:
        nonlocal_value = [i async for i in held]
print(Net()(torch.zeros(1)).shape)
'''


def _snapshot(node, ctx):
    return (type(node).__name__, getattr(node, "lineno", 0), getattr(node, "col_offset", 0),
            tuple(id(a) for a in ctx.ancestors))


class Logger:
    """Handles a spread of node kinds, statements and expressions, entering and leaving."""

    def __init__(self):
        self.log = []

    def _log(self, node, ctx):
        self.log.append(_snapshot(node, ctx))

    visit_Call = visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_comprehension = _log
    visit_keyword = visit_arg = visit_BinOp = visit_Subscript = visit_ExceptHandler = visit_JoinedStr = _log

    def leave_ClassDef(self, node, ctx):
        self.log.append(("leave",) + _snapshot(node, ctx))

    def leave_Module(self, node, ctx):
        self.log.append(("leave",) + _snapshot(node, ctx))


class AttributeLogger(Logger):
    """Handles attributes (``a.b``) but not the names they hold."""

    visit_Attribute = Logger._log


class LeafLogger(Logger):
    """Also handles the node kinds the traversal skips when nobody handles them."""

    visit_Name = visit_Constant = visit_Attribute = visit_alias = visit_Pass = visit_Global = Logger._log


def _reference(tree, visitor_class):
    """The handler calls of a recursive walk over ``ast.iter_child_nodes`` (operator and
    context singletons left out: they are shared objects, not places in the source)."""
    visitor = visitor_class()
    ancestors = []

    class Ctx:
        pass

    ctx = Ctx()
    ctx.ancestors = ancestors

    def visit(node):
        name = type(node).__name__
        handler = getattr(visitor, "visit_" + name, None)
        if handler:
            handler(node, ctx)
        ancestors.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, SINGLETONS):
                visit(child)
        ancestors.pop()
        handler = getattr(visitor, "leave_" + name, None)
        if handler:
            handler(node, ctx)

    visit(tree)
    return visitor.log


def _traversed(text, visitor_class):
    doc, problems = parse_python(text, "sample.py")
    assert doc is not None, problems
    visitor = visitor_class()
    ctx = PyContext(doc)
    traverse(ctx, [visitor])
    assert not ctx.crashes
    return doc.tree, visitor.log


def _check(text):
    for visitor_class in (Logger, AttributeLogger, LeafLogger):
        tree, log = _traversed(text, visitor_class)
        assert log == _reference(tree, visitor_class)


def test_sample_matches_a_recursive_walk():
    tree, log = _traversed(SAMPLE, Logger)
    assert len(log) > 40 and log == _reference(tree, Logger)
    tree, leaves = _traversed(SAMPLE, LeafLogger)
    assert len(leaves) > len(log) + 100 and leaves == _reference(tree, LeafLogger)
    tree, attributes = _traversed(SAMPLE, AttributeLogger)
    assert len(attributes) > len(log) + 10 and attributes == _reference(tree, AttributeLogger)


def test_the_projects_own_sources_match_a_recursive_walk():
    sources = sorted(ROOT.glob("modellint/**/*.py")) + sorted(ROOT.glob("rules/*.py"))
    assert len(sources) > 50
    for path in sources:
        _check(path.read_text(encoding="utf-8"))


# hypothesmith compiles what it generates; ``1()`` makes the compiler warn, which is not ours
@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=__import__("hypothesmith").from_grammar())
def test_generated_modules_match_a_recursive_walk(source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesmith's odd escapes and literals warn when compiled
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        _check(source)


class Crashing:
    """Raises on its second call, then must never be called again (not even on leaving)."""

    def __init__(self):
        self.calls = 0

    def visit_Call(self, node, ctx):
        self.calls += 1
        if self.calls == 2:
            raise ValueError("boom")

    def leave_Module(self, node, ctx):
        self.calls += 100


def test_a_crashing_visitor_is_reported_once_and_dropped():
    doc, _ = parse_python(SAMPLE, "sample.py")
    ctx = PyContext(doc)
    crashing, logger = Crashing(), Logger()
    traverse(ctx, [crashing, logger])
    assert crashing.calls == 2
    assert len(ctx.crashes) == 1
    visitor, summary, line = ctx.crashes[0]
    assert visitor is crashing and summary.startswith("ValueError: boom (at test_traversal.py:")
    assert logger.log == _reference(doc.tree, Logger)  # the other visitor saw everything
