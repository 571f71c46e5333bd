"""Fast subtree walks for rules that look inside one function or statement.

``ast.walk``/``ast.iter_child_nodes`` probe every field of every node through
generators and also yield the ``Load``/``Store``/operator singletons, which
no rule asks about. These walks visit the same nodes in the same order minus
those singletons, reading only the fields of each node class that can hold
children (computed once per class).
"""

from __future__ import annotations

import ast
from collections import deque
from typing import Dict, Iterator, List, Tuple

_AST = ast.AST
_FIELDS: Dict[type, Tuple[str, ...]] = {}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def child_fields(cls: type) -> Tuple[str, ...]:
    """Fields of a node class that can hold child nodes (``ctx``/``op``/``ops`` hold only singletons)."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = tuple(name for name in cls._fields if name not in ("ctx", "op", "ops"))
        _FIELDS[cls] = fields
    return fields


def children(node: ast.AST) -> List[ast.AST]:
    """``ast.iter_child_nodes`` without the context/operator singletons, as a list."""
    out: List[ast.AST] = []
    append = out.append
    fields = _FIELDS.get(node.__class__)
    if fields is None:
        fields = child_fields(node.__class__)
    # ``ctx``/``op``/``ops`` are the only fields holding the singletons, and they are not
    # in ``fields``; lists can still hold strings (``Global.names``) or None (``Dict.keys``)
    for name in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            for item in value:
                if isinstance(item, _AST):
                    append(item)
        elif isinstance(value, _AST):
            append(value)
    return out


def _breadth_first(node: ast.AST, children_of) -> Iterator[ast.AST]:
    todo = deque([node])
    pop, extend = todo.popleft, todo.extend
    while todo:
        current = pop()
        yield current
        extend(children_of(current))


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk(node)`` (breadth first, the node itself first) without the singletons."""
    return _breadth_first(node, children)


def walk_function(func: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function body in source order (depth first), not descending
    into nested functions, lambdas or classes (they are analysed when the traversal
    reaches them)."""
    stack = list(reversed(getattr(func, "body", [])))
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        yield node
        kids = children(node)
        for child in reversed(kids):
            if not isinstance(child, _SCOPES):
                push(child)


# node classes that never hold child nodes
CHILDLESS = frozenset({ast.Name, ast.Constant, ast.alias, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal})


def inner_children(node: ast.AST) -> List[ast.AST]:
    """``children(node)`` without childless nodes and attributes of them: the children
    that can be or hold a call or a statement."""
    out: List[ast.AST] = []
    leaves, Attribute = CHILDLESS, ast.Attribute
    fields = _FIELDS.get(node.__class__)
    if fields is None:
        fields = child_fields(node.__class__)
    for name in fields:
        value = getattr(node, name, None)
        for item in (value if value.__class__ is list else (value,)):
            kind = item.__class__
            if kind in leaves or not isinstance(item, _AST) or (kind is Attribute and item.value.__class__ in leaves):
                continue
            out.append(item)
    return out


def walk_inner(node: ast.AST) -> Iterator[ast.AST]:
    """``walk(node)`` without names, constants, other childless nodes and attributes of them
    (``self.x``): the nodes that can be or hold a call or a statement, in the same order
    (``node`` itself comes first whatever it is)."""
    return _breadth_first(node, inner_children)


def walk_function_inner(func: ast.AST) -> Iterator[ast.AST]:
    """``walk_function(func)`` without names, constants, other childless nodes and attributes
    of them: the nodes that can be or hold a call or a statement, in the same order. For
    analyses that look for statements and calls."""
    stack = [stmt for stmt in reversed(getattr(func, "body", [])) if stmt.__class__ not in CHILDLESS]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        yield node
        for child in reversed(inner_children(node)):
            if not isinstance(child, _SCOPES):
                push(child)


_BLOCK_NAMES = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


class _BlockFields(dict):
    """node class → its fields that hold statements (or handlers, match cases), in field order."""

    def __missing__(self, cls: type) -> Tuple[str, ...]:
        blocks = self[cls] = tuple(name for name in child_fields(cls) if name in _BLOCK_NAMES)
        return blocks


_BLOCKS = _BlockFields()


def walk_statements(func: ast.AST) -> Iterator[ast.AST]:
    """The statements (and except handlers, match cases) ``walk_function`` yields, in the
    same order: expressions never hold statements, so skipping them keeps the order of
    the rest and visits a fraction of the nodes."""
    stack = list(reversed(getattr(func, "body", [])))
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        yield node
        for name in reversed(_BLOCKS[node.__class__]):
            block = getattr(node, name, None)
            if block:
                for child in reversed(block):
                    if not isinstance(child, _SCOPES):
                        push(child)


def walk_block_statements(node: ast.AST) -> Iterator[ast.AST]:
    """``walk(node)`` (breadth first, nested scopes included) keeping only the node itself
    and the statements, except handlers and match cases below it. A statement's
    ancestors are all statements (or handlers, cases), so its depth and its place
    among the statements of its level are those ``walk`` gives it."""
    return _breadth_first(node, _block_children)


def _block_children(node: ast.AST) -> List[ast.AST]:
    return [child for name in _BLOCKS[node.__class__] for child in (getattr(node, name, None) or ())]
