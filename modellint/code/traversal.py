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
from modellint.code.walk import _FIELDS, child_fields
from modellint.parsing.python_doc import PythonDocument
from modellint.provenance import Fact, Span


class PyContext:
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


Dispatch = Dict[str, List[Tuple[Any, Callable]]]


_METHODS: Dict[type, List[Tuple[str, str, bool]]] = {}


def _methods(cls: type) -> List[Tuple[str, str, bool]]:
    """(node type, method name, is_leave) of a visitor class, computed once per class."""
    found = _METHODS.get(cls)
    if found is None:
        found = [(attr[6:], attr, attr.startswith("leave_")) for attr in dir(cls) if attr.startswith(("visit_", "leave_"))]
        _METHODS[cls] = found
    return found


def build_dispatch(visitors: Sequence[Any]) -> Tuple[Dispatch, Dispatch]:
    enter: Dispatch = {}
    leave: Dispatch = {}
    for visitor in visitors:
        for node_type, attr, is_leave in _methods(type(visitor)):
            (leave if is_leave else enter).setdefault(node_type, []).append((visitor, getattr(visitor, attr)))
    return enter, leave


# a sentinel on the stack: "the node on top of the ancestor stack is finished"
_LEAVE = object()


# nodes that never have children: visiting them only matters when a visitor handles them
_LEAVES = (ast.Name, ast.Constant)


def traverse(ctx: PyContext, visitors: Sequence[Any]) -> None:
    enter, leave = build_dispatch(visitors)
    if not enter and not leave:
        return
    dead = set()
    ancestors = ctx.ancestors
    AST = ast.AST
    skip_leaves = not any(cls.__name__ in enter or cls.__name__ in leave for cls in _LEAVES)

    def call(handlers, node: ast.AST) -> None:
        for visitor, method in handlers:
            if id(visitor) in dead:
                continue
            try:
                method(node, ctx)
            except Exception as exc:  # a broken rule must not take the file down
                dead.add(id(visitor))
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
                ctx.crashes.append((visitor, f"{type(exc).__name__}: {exc} (at {where})", getattr(node, "lineno", 1)))

    stack: List[Any] = [ctx.doc.tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    enter_get, leave_get = enter.get, leave.get
    fields_of, cached = child_fields, _FIELDS
    LEAVE, leaves = _LEAVE, _LEAVES
    while stack:
        node = pop()
        if node is LEAVE:
            node = ancestors.pop()
            handlers = leave_get(type(node).__name__)
            if handlers:
                call(handlers, node)
            continue
        cls = type(node)
        handlers = enter_get(cls.__name__)
        if handlers:
            call(handlers, node)
        ancestors.append(node)
        push(LEAVE)
        children = []
        fields = cached.get(cls)
        if fields is None:
            fields = fields_of(cls)
        # walk.children inlined (calling it here makes the whole walk ~1.5x slower), plus the
        # leaf skip; the singleton-holding fields (``ctx``/``op``/``ops``) are not in ``fields``
        for field in fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, AST) and not (skip_leaves and isinstance(item, leaves)):
                        children.append(item)
            elif isinstance(value, AST) and not (skip_leaves and isinstance(value, leaves)):
                children.append(value)
        if children:
            children.reverse()
            extend(children)
