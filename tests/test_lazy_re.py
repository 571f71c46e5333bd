"""``lazy(pattern)`` behaves as ``re.compile(pattern)`` and compiles on first use."""

from __future__ import annotations

import ast
import glob
import os
import re

import pytest

from modellint.lazy_re import LazyPattern, lazy
from tests.conftest import REPO

TEXT = "Warmup_Iters: 500\nwarm_up_steps = 10\nlr: 0.1\n"
CALLS = [("search", (TEXT,)), ("search", (TEXT, 5)), ("match", (TEXT,)), ("fullmatch", ("warmup",)),
         ("sub", ("W", TEXT)), ("subn", ("W", TEXT, 1)), ("findall", (TEXT,)), ("split", (TEXT,))]


def _same(a, b):
    if isinstance(a, re.Match):
        return isinstance(b, re.Match) and a.span() == b.span() and a.groups() == b.groups()
    return a == b


@pytest.mark.parametrize("method,args", CALLS)
def test_every_method_answers_as_the_compiled_pattern(method, args):
    pattern, flags = r"(warm)_?(up)", re.I | re.M
    fresh = lazy(pattern, flags)
    compiled = re.compile(pattern, flags)
    assert _same(getattr(fresh, method)(*args), getattr(compiled, method)(*args))  # the first call compiles
    assert _same(getattr(fresh, method)(*args), getattr(compiled, method)(*args))  # later calls go straight through
    assert [m.span() for m in lazy(pattern, flags).finditer(TEXT)] == [m.span() for m in compiled.finditer(TEXT)]


def test_nothing_is_compiled_before_first_use_and_then_the_compiled_methods_are_used():
    pattern = lazy(r"(")  # invalid: compiling it would raise
    assert pattern.pattern == "("
    with pytest.raises(re.error):
        pattern.search("x")
    good = lazy(r"a+")
    assert "search" not in vars(good)
    good.match("aa")
    assert all(getattr(good, name).__self__.pattern == "a+" for name in ("search", "match", "sub", "finditer"))


def test_module_level_patterns_are_lazy():
    """Module-level ``re.compile`` in the linter's own modules would be compiled by every run
    that imports them, used or not (the instantiation child runs alone and may compile)."""
    eager = []
    for path in glob.glob(os.path.join(REPO, "modellint", "**", "*.py"), recursive=True) + glob.glob(
            os.path.join(REPO, "rules", "*.py")):
        if os.sep + "instantiate" + os.sep in path:
            continue
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for statement in tree.body:
            value = getattr(statement, "value", None)
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "compile" \
                    and isinstance(value.func.value, ast.Name) and value.func.value.id == "re":
                eager.append(f"{os.path.relpath(path, REPO)}:{statement.lineno}")
    assert eager == []
    assert isinstance(__import__("modellint.facts.common_keys", fromlist=["x"]).EVAL_SECTION, LazyPattern)
