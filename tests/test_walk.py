"""The fast subtree walks visit what ``ast.walk`` would, in the documented order."""

import ast
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from modellint.code.walk import (
    walk,
    walk_block_statements,
    walk_function,
    walk_function_inner,
    walk_inner,
    walk_statements,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = '''
def f(self, x):
    self.a = 1
    def inner():
        self.hidden = 2
    if x:
        self.b: int = 2
        class C:
            z = 1
    else:
        for i in range(3):
            self.c = i
        else:
            self.d = 0
    try:
        self.e = 1
    except ValueError as exc:
        self.f = exc
    except Exception:
        pass
    else:
        self.g = 1
    finally:
        self.h = 1
    while x:
        with open(x) as h:
            self.i = lambda: (yield)
    async def later():
        self.j = 1
    return [self.k for _ in x]
'''
MATCH = '''
def m(self, cmd):
    match cmd:
        case [a, b] if a:
            self.x = a
        case _:
            self.y = 1
'''


def _statements(func):
    kinds = (ast.stmt, ast.excepthandler) + ((ast.match_case,) if sys.version_info >= (3, 10) else ())
    return [n for n in walk_function(func) if isinstance(n, kinds)]


def _block_statements(node):
    kinds = (ast.stmt, ast.excepthandler) + ((ast.match_case,) if sys.version_info >= (3, 10) else ())
    return [n for n in walk(node) if n is node or isinstance(n, kinds)]


LEAVES = (ast.Name, ast.Constant, ast.alias, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal)


def _kept(node):
    return not isinstance(node, LEAVES) and not (isinstance(node, ast.Attribute) and isinstance(node.value, LEAVES))


def _inner(func):
    return [n for n in walk_function(func) if _kept(n)]


def _check(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            assert list(walk_statements(node)) == _statements(node)
            assert list(walk_block_statements(node)) == _block_statements(node)
            assert list(walk_function_inner(node)) == _inner(node)
            assert list(walk_inner(node)) == [n for n in walk(node) if n is node or _kept(n)]


def test_statements_in_walk_function_order():
    tree = ast.parse(SAMPLE)
    _check(tree)
    names = [t.attr for n in walk_statements(tree.body[0]) if isinstance(n, (ast.Assign, ast.AnnAssign))
             for t in ([n.target] if isinstance(n, ast.AnnAssign) else n.targets) if isinstance(t, ast.Attribute)]
    # a def directly in the body is walked (as walk_function does); one nested in a block is not
    assert names == ["a", "hidden", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    everywhere = [t.attr for n in walk_block_statements(tree.body[0]) if isinstance(n, ast.Assign)
                  for t in n.targets if isinstance(t, ast.Attribute)]
    # breadth first, nested scopes included (as ast.walk)
    assert everywhere == ["a", "hidden", "e", "g", "h", "j", "c", "d", "f", "i"]
    inner = list(walk_function_inner(tree.body[0]))
    assert len(inner) < len(list(walk_function(tree.body[0]))) / 2
    assert sum(isinstance(n, ast.Call) for n in inner) == 2  # open(x), range(3)


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match statements")
def test_match_cases():
    _check(ast.parse(MATCH))


def test_walk_is_ast_walk_without_context_singletons():
    tree = ast.parse(SAMPLE)
    expected = [n for n in ast.walk(tree) if not isinstance(n, (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop))]
    assert list(walk(tree)) == expected


def test_real_sources():
    for path in sorted((ROOT / "modellint").rglob("*.py")) + sorted((ROOT / "fixtures").rglob("*.py")):
        _check(ast.parse(path.read_text(encoding="utf-8")))


hypothesmith = pytest.importorskip("hypothesmith")


# hypothesmith compiles what it generates; ``1()`` makes the compiler warn, which is not ours
@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=hypothesmith.from_grammar())
def test_generated_python(source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
    _check(tree)
