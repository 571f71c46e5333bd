"""One traversal of a Python module that serves every code rule and fact extractor.

Each visitor declares ``visit_<Node>``/``leave_<Node>`` methods; a dispatch
table built once per run maps node types to the bound methods, and one
iterative walk (no recursion limit to hit) calls them in source order with
the ancestor stack available on the context. A visitor that raises is
reported once (ML999) and dropped for the rest of the file; the others go on.
"""

from __future__ import annotations

import ast
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from modellint.code.names import ImportTable
from modellint.code.walk import CHILDLESS, child_fields
from modellint.parsing.python_doc import PythonDocument
from modellint.provenance import Fact, Span


class PyContext:
    # Rules may skip work inside a file on textual evidence (a loop whose lines hold no ``+``);
    # like ``CodeRule.wants``, such a skip must never drop a finding, and tests/test_prefilter.py
    # proves it by comparing runs with this off (filecheck.PREFILTER).
    prefilter = True

    def __init__(self, doc: PythonDocument):
        self.doc = doc
        self.path = doc.path
        self.imports = ImportTable.of_module(doc.tree)
        self.ancestors: List[ast.AST] = []
        self.reports: List[Tuple[Any, Span, str, Optional[str], Optional[str], tuple]] = []
        self.facts: List[Fact] = []
        self.crashes: List[Tuple[Any, str, int]] = []

    # -- lookups ---------------------------------------------------------
    def qualname(self, expr: ast.AST) -> Optional[str]:
        return self.imports.qualname(expr)

    def span(self, node: ast.AST) -> Span:
        return self.doc.span(node)

    def enclosing(self, *types: Type[ast.AST]) -> Optional[ast.AST]:
        for node in reversed(self.ancestors):
            if isinstance(node, types):
                return node
        return None

    @property
    def parent(self) -> Optional[ast.AST]:
        return self.ancestors[-1] if self.ancestors else None

    # -- outputs ---------------------------------------------------------
    def report(self, rule, where, message: str, *, help: Optional[str] = None, severity: Optional[str] = None,
               related: Sequence[Tuple[Span, str]] = ()) -> None:
        span = where if isinstance(where, Span) else self.span(where)
        self.reports.append((rule, span, message, help, severity, tuple(related)))

    def fact(self, name: str, value: Any, where, key: str, dialect: str = "code", **detail: Any) -> None:
        span = where if isinstance(where, Span) else self.span(where)
        self.facts.append(Fact(name, value, span, key, dialect, tuple(sorted(detail.items()))))


Dispatch = Dict[type, List[Tuple[Any, Callable]]]


_METHODS: Dict[type, List[Tuple[type, str, bool]]] = {}


def _methods(cls: type) -> List[Tuple[type, str, bool]]:
    """(node class, method name, is_leave) of a visitor class, computed once per class."""
    found = _METHODS.get(cls)
    if found is None:
        found = []
        for attr in dir(cls):
            if attr.startswith(("visit_", "leave_")):
                node_class = getattr(ast, attr[6:], None)
                if isinstance(node_class, type) and issubclass(node_class, ast.AST):
                    found.append((node_class, attr, attr.startswith("leave_")))
        _METHODS[cls] = found
    return found


def build_dispatch(visitors: Sequence[Any]) -> Tuple[Dispatch, Dispatch]:
    """Node class → [(visitor, bound method)] for entering and for leaving a node, in visitor order."""
    enter: Dispatch = {}
    leave: Dispatch = {}
    for visitor in visitors:
        for node_class, attr, is_leave in _methods(type(visitor)):
            (leave if is_leave else enter).setdefault(node_class, []).append((visitor, getattr(visitor, attr)))
    return enter, leave


# a sentinel on the stack: "the node on top of the ancestor stack is finished"
_LEAVE = object()

_BACKWARDS: Dict[type, Tuple[str, ...]] = {}  # node class → child_fields(cls), last first


def _drop(tables: Sequence[Dispatch], visitor: Any) -> None:
    # new lists, so a loop over the old one (the handlers of the current node) is not disturbed
    for table in tables:
        for node_class, handlers in list(table.items()):
            kept = [pair for pair in handlers if pair[0] is not visitor]
            if len(kept) != len(handlers):
                table[node_class] = kept


def traverse(ctx: PyContext, visitors: Sequence[Any]) -> None:
    enter, leave = build_dispatch(visitors)
    if not enter and not leave:
        return
    ancestors = ctx.ancestors
    AST, Attribute = ast.AST, ast.Attribute
    handled = set(enter) | set(leave)
    # subtrees with no handled node are not walked: childless nodes, and ``a.b`` (an attribute
    # of a plain name, the commonest expression after names and constants) unless handled.
    # Every handled node is still reached with all of its ancestors on the stack.
    skip = frozenset(CHILDLESS - handled)  # pushing a childless node only matters when it is handled
    skip_attribute = Attribute not in handled

    def crashed(visitor, exc: Exception, node: ast.AST) -> None:
        # a broken rule must not take the file down: it is reported once and dropped
        _drop((enter, leave), visitor)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        ctx.crashes.append((visitor, f"{type(exc).__name__}: {exc} (at {where})", getattr(node, "lineno", 1)))

    stack: List[Any] = [ctx.doc.tree]
    pop, push = stack.pop, stack.append
    enter_get, leave_get = enter.get, leave.get
    backwards = _BACKWARDS
    LEAVE = _LEAVE
    while stack:
        node = pop()
        if node is LEAVE:
            node = ancestors.pop()
            handlers = leave_get(node.__class__)
            if handlers:
                for visitor, method in handlers:
                    try:
                        method(node, ctx)
                    except Exception as exc:
                        crashed(visitor, exc, node)
            continue
        cls = node.__class__
        handlers = enter_get(cls)
        if handlers:
            for visitor, method in handlers:
                try:
                    method(node, ctx)
                except Exception as exc:
                    crashed(visitor, exc, node)
        ancestors.append(node)
        push(LEAVE)
        mark = len(stack)
        fields = backwards.get(cls)
        if fields is None:
            fields = backwards[cls] = tuple(reversed(child_fields(cls)))
        # walk.children inlined and backwards (the stack pops the first child first): a call
        # per node makes the whole walk ~1.5x slower; the singleton-holding fields
        # (``ctx``/``op``/``ops``) are not in ``fields``
        for field in fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                for item in reversed(value):
                    kind = item.__class__
                    if kind in skip or not isinstance(item, AST) or \
                            (kind is Attribute and skip_attribute and item.value.__class__ in skip):
                        continue
                    push(item)
            else:
                kind = value.__class__
                if kind in skip or not isinstance(value, AST) or \
                        (kind is Attribute and skip_attribute and value.value.__class__ in skip):
                    continue
                push(value)
        # nothing was pushed below it and nothing handles leaving it: it is left at once,
        # without a turn of the loop for its sentinel (most calls, keywords, subscripts)
        if len(stack) == mark and cls not in leave:
            pop()
            ancestors.pop()
