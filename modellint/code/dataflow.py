"""Per-function local dataflow for simple assignments.

A model-code rule often needs to know where a tensor came from: was the
decoder's target built from ``torch.zeros`` (and only reshaped since), or
does it carry a learned embedding? This answers that for local variables of
one function, with a three-point value per expression:

* ``ZERO`` — built only from ``torch.zeros``/``zeros_like``/``new_zeros``/
  ``torch.full(..., 0)`` (``origin`` is that call), kept through shape and
  device changes (``.to()``, ``.expand()``, ``.repeat()``, ``.view()`` …);
* ``LEARNED`` — derived from an ``nn.Parameter``, an ``nn.Embedding`` (its
  ``.weight`` or its output) or any ``.weight``; anything combined with a
  learned value is learned (``zeros + emb`` is learned);
* ``OTHER`` — anything else (inputs, outputs of other modules, unknown calls).

The function body is walked once, statements in order; ``if``/``for``/
``while``/``try`` branches are analysed on copies of the environment and
joined afterwards (a value is ZERO after the branch only if it is ZERO on
every path that defines it; LEARNED on any path wins, so rules stay silent
when a learned value *may* reach a call). A loop body is seen with the values
of its first iteration; ``loop_assigns`` tells a rule which names the loop
body reassigns (an autoregressive decoder feeds its output back in).

Callers hook ``on_call(call, flow)``: it runs for every call in the body with
the environment as it is just before that statement executes, and the hook
calls ``flow.value(expr)`` on the arguments it cares about.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set

from modellint.code.modules import (
    BUFFER,
    ClassInfo,
    FileModules,
    self_attr,
    walk_function,
)
from modellint.code.modules import OTHER as OTHER_KIND
from modellint.code.walk import inner_children, walk

ZERO = "zero"
LEARNED = "learned"
OTHER = "other"


@dataclass(frozen=True)
class Value:
    kind: str
    origin: Optional[ast.AST] = None  # the zeros call a ZERO value was built from

    @property
    def is_zero(self) -> bool:
        return self.kind == ZERO

    @property
    def is_learned(self) -> bool:
        return self.kind == LEARNED


UNKNOWN = Value(OTHER)
LEARNT = Value(LEARNED)

# Methods that keep "what it is built from": shape, dtype-preserving casts, device, copies.
PRESERVING_METHODS = frozenset({
    "to", "expand", "expand_as", "repeat", "repeat_interleave", "unsqueeze", "squeeze", "clone", "detach",
    "view", "view_as", "reshape", "reshape_as", "permute", "transpose", "t", "contiguous", "flatten",
    "unflatten", "float", "half", "bfloat16", "double", "cuda", "cpu", "type_as", "requires_grad_",
    "detach_", "squeeze_", "unsqueeze_", "tile", "movedim", "swapaxes", "narrow", "chunk", "split",
})
# Functions of the same kind, taking the tensor as first argument.
PRESERVING_FUNCTIONS = frozenset({
    "torch.unsqueeze", "torch.squeeze", "torch.reshape", "torch.permute", "torch.transpose", "torch.flatten",
    "torch.clone", "torch.tile", "torch.repeat_interleave", "torch.movedim", "einops.repeat", "einops.rearrange",
})
# Concatenations: zero only if every part is zero, learned if any part is.
JOINING_FUNCTIONS = frozenset({"torch.cat", "torch.concat", "torch.concatenate", "torch.stack", "torch.hstack", "torch.vstack"})
# Integer/boolean dtypes: a zeros tensor of these is indices or a mask, not features.
NON_FLOAT_DTYPES = frozenset({"long", "int", "int64", "int32", "int16", "int8", "uint8", "bool", "short"})
_CAST_TO_NON_FLOAT = frozenset({"long", "int", "bool", "short", "byte", "char"})

OnCall = Callable[[ast.Call, "LocalFlow"], None]


def join(a: Optional[Value], b: Optional[Value]) -> Value:
    """Merge two paths' values (None = not defined on that path)."""
    if a is None:
        return b if b is not None else UNKNOWN
    if b is None:
        return a
    if a.is_learned or b.is_learned:
        return LEARNT
    if a.is_zero and b.is_zero:
        return b
    return UNKNOWN


class LocalFlow:
    """Run over one function body: ``LocalFlow(ctx, info).run(func, on_call)``."""

    def __init__(self, ctx, info: Optional[ClassInfo] = None):
        self.ctx = ctx
        self.info = info  # the enclosing class, to know which ``self.<attr>`` are learned/zero
        self.env: Dict[str, Value] = {}
        self.loop_stack: List[ast.AST] = []
        self._loop_assigns: Dict[int, Set[str]] = {}
        self._on_call: Optional[OnCall] = None
        self._attr_zero_cache: Dict[str, Value] = {}

    # -- public ---------------------------------------------------------------
    def run(self, func: ast.AST, on_call: Optional[OnCall] = None) -> "LocalFlow":
        self._on_call = on_call
        args = getattr(func, "args", None)
        if args is not None:
            for arg in args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]:
                self.env[arg.arg] = UNKNOWN
        self._block(getattr(func, "body", []))
        return self

    def value(self, expr: Optional[ast.AST]) -> Value:
        """The value of an expression in the current environment."""
        if expr is None:
            return UNKNOWN
        return self._eval(expr, 0)

    def loop_assigns(self, loop: ast.AST) -> Set[str]:
        """Names (re)bound anywhere inside a loop's body."""
        key = id(loop)
        if key not in self._loop_assigns:
            names: Set[str] = set()
            for node in walk_function(loop):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
            self._loop_assigns[key] = names
        return self._loop_assigns[key]

    # -- statements -----------------------------------------------------------
    def _block(self, body: List[ast.stmt]) -> None:
        for stmt in body:
            self._stmt(stmt)

    def _branches(self, bodies: List[List[ast.stmt]], may_skip: bool) -> None:
        before = dict(self.env)
        outcomes = []
        for body in bodies:
            self.env = dict(before)
            self._block(body)
            outcomes.append(self.env)
        if may_skip or not outcomes:
            outcomes.append(before)
        merged: Dict[str, Value] = {}
        for name in set().union(*outcomes):
            # a name defined on only some paths keeps what those paths say
            value: Optional[Value] = None
            for env in outcomes:
                if name in env:
                    value = join(value, env[name])
            merged[name] = value if value is not None else UNKNOWN
        self.env = merged

    def _stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.env[stmt.name] = UNKNOWN
            return
        if isinstance(stmt, ast.If):
            self._calls(stmt.test)
            self._branches([stmt.body, stmt.orelse], may_skip=not stmt.orelse)
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self._calls(stmt.iter if isinstance(stmt, (ast.For, ast.AsyncFor)) else stmt.test)
            self.loop_stack.append(stmt)
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                for name in _names(stmt.target):
                    self.env[name] = UNKNOWN
            self._branches([stmt.body], may_skip=True)
            self.loop_stack.pop()
            if stmt.orelse:
                self._block(stmt.orelse)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self._branches([stmt.body] + [h.body for h in stmt.handlers], may_skip=False)
            self._block(stmt.orelse)
            self._block(stmt.finalbody)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self._calls(item.context_expr)
                if item.optional_vars is not None:
                    for name in _names(item.optional_vars):
                        self.env[name] = UNKNOWN
            self._block(stmt.body)
            return
        # straight-line statements: calls first (they see the values before the assignment)
        self._calls(stmt)
        if isinstance(stmt, ast.Assign):
            value = stmt.value
            for target in stmt.targets:
                self._bind(target, value)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self._bind(stmt.target, stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, ast.Name):
                old = self.env.get(stmt.target.id, UNKNOWN)
                self.env[stmt.target.id] = self._combine(old, self.value(stmt.value), stmt.op)
            else:
                self._write_into(stmt.target, stmt.value)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self._in_place(stmt.value)

    def _calls(self, node: ast.AST) -> None:
        if self._on_call is None:
            return
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Call):
                self._on_call(current, self)
            for child in inner_children(current):  # names and constants hold no calls
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    stack.append(child)

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = self.value(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                values = [self.value(v) for v in value.elts]  # evaluate all before binding (a, b = b, a)
                for t, v in zip(target.elts, values):
                    if isinstance(t, ast.Name):
                        self.env[t.id] = v
                    else:
                        for name in _names(t):
                            self.env[name] = UNKNOWN
            else:
                # ``q, k = torch.split(x, …)`` keeps what x is; other unpacking is unknown
                whole = self.value(value)
                keep = whole if (isinstance(value, ast.Call) and _method(value) in ("split", "chunk", "unbind")
                                 or self.ctx.qualname(getattr(value, "func", None) or value) in ("torch.split", "torch.chunk")) else UNKNOWN
                for name in _names(target):
                    self.env[name] = keep
        elif isinstance(target, ast.Subscript):
            self._write_into(target, value)
        elif isinstance(target, ast.Starred):
            for name in _names(target.value):
                self.env[name] = UNKNOWN

    def _write_into(self, target: ast.expr, value: ast.expr) -> None:
        """``x[...] = v`` / ``x[...] += v``: x is no longer purely zeros."""
        base = target
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name) and base.id in self.env:
            written = self.value(value)
            old = self.env[base.id]
            if written.is_learned or old.is_learned:
                self.env[base.id] = LEARNT
            elif old.is_zero and written.is_zero:
                pass
            else:
                self.env[base.id] = UNKNOWN

    def _in_place(self, call: ast.Call) -> None:
        """``x.copy_(v)``, ``x.add_(v)``, ``nn.init.normal_(x)``, ``x.zero_()``."""
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.attr.endswith("_"):
            name = func.value.id
            if func.attr in PRESERVING_METHODS:
                return
            if func.attr == "zero_" or (func.attr == "fill_" and call.args and self._is_zero_literal(call.args[0])):
                self.env[name] = Value(ZERO, call)
                return
            args = [self.value(a) for a in call.args]
            self.env[name] = LEARNT if any(a.is_learned for a in args) else UNKNOWN
            return
        qual = self.ctx.qualname(func) or ""
        if qual.startswith("torch.nn.init.") and call.args and isinstance(call.args[0], ast.Name):
            name = call.args[0].id
            self.env[name] = Value(ZERO, call) if qual.endswith(".zeros_") else UNKNOWN

    # -- expressions ----------------------------------------------------------
    def _eval(self, expr: ast.AST, depth: int) -> Value:
        if depth > 40:
            return UNKNOWN
        if isinstance(expr, ast.Name):
            return self.env.get(expr.id, UNKNOWN)
        if isinstance(expr, ast.Attribute):
            return self._attribute(expr, depth)
        if isinstance(expr, ast.Subscript):
            return self._eval(expr.value, depth + 1)
        if isinstance(expr, ast.Starred):
            return self._eval(expr.value, depth + 1)
        if isinstance(expr, ast.BinOp):
            return self._combine(self._eval(expr.left, depth + 1), self._eval(expr.right, depth + 1), expr.op)
        if isinstance(expr, ast.UnaryOp):
            inner = self._eval(expr.operand, depth + 1)
            return inner if isinstance(expr.op, (ast.USub, ast.UAdd)) else UNKNOWN
        if isinstance(expr, ast.IfExp):
            return join(self._eval(expr.body, depth + 1), self._eval(expr.orelse, depth + 1))
        if isinstance(expr, ast.NamedExpr):
            value = self._eval(expr.value, depth + 1)
            self.env[expr.target.id] = value
            return value
        if isinstance(expr, ast.Call):
            return self._call(expr, depth)
        return UNKNOWN

    def _combine(self, left: Value, right: Value, op: ast.operator) -> Value:
        if left.is_learned or right.is_learned:
            return LEARNT
        if left.is_zero and right.is_zero:
            return left
        if isinstance(op, ast.Mult) and (left.is_zero or right.is_zero):
            return left if left.is_zero else right  # zeros times anything (not learned) is zeros
        return UNKNOWN

    def _attribute(self, expr: ast.Attribute, depth: int) -> Value:
        if expr.attr == "weight":  # an embedding table / a layer's weight
            return LEARNT
        attr = self_attr(expr)
        if attr is not None and self.info is not None:
            if self.info.is_learned_attr(attr):
                return LEARNT
            return self._zero_attr(attr)
        if isinstance(expr.value, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)) and expr.attr in ("data", "T", "mT"):
            return self._eval(expr.value, depth + 1)
        return UNKNOWN

    def _zero_attr(self, attr: str) -> Value:
        """``self.query`` stored once as zeros (plain tensor or buffer) and never written again."""
        cached = self._attr_zero_cache.get(attr)
        if cached is not None:
            return cached
        result = UNKNOWN
        found = self.info.assignments.get(attr, []) if self.info else []
        if len(found) == 1 and found[0].method == "__init__" and found[0].kind in (BUFFER, OTHER_KIND) and found[0].value is not None:
            origin = self._zeros_origin(found[0].value)
            if origin is not None and not _attr_written(self.info, attr, FileModules.of(self.ctx)):
                result = Value(ZERO, origin)
        self._attr_zero_cache[attr] = result
        return result

    def _zeros_origin(self, expr: ast.expr) -> Optional[ast.Call]:
        """The zeros call an ``__init__`` value is, if it is one (no local flow there)."""
        if isinstance(expr, ast.Call):
            if self._zeros_call(expr):
                return expr
            if _method(expr) in PRESERVING_METHODS and isinstance(expr.func, ast.Attribute):
                return self._zeros_origin(expr.func.value)
        return None

    def _call(self, call: ast.Call, depth: int) -> Value:
        func = call.func
        if self._zeros_call(call):
            return Value(ZERO, call)
        qual = self.ctx.qualname(func) or ""
        method = _method(call)
        if qual in PRESERVING_FUNCTIONS and call.args:
            return self._eval(call.args[0], depth + 1)
        if isinstance(func, ast.Attribute):
            if method in _CAST_TO_NON_FLOAT or (method == "to" and _casts_to_non_float(call)):
                return UNKNOWN  # ``.long()``: indices or a mask from here on, not features
            if method in PRESERVING_METHODS and not qual.startswith("torch."):
                base = self._eval(func.value, depth + 1)
                if base.is_zero and any(self._eval(a, depth + 1).is_learned for a in call.args):
                    # ``zeros.type_as(self.query.weight)`` is still zeros, but a learned
                    # value this close to the query is reason enough to stay silent
                    return LEARNT
                return base
            if method == "zero_":
                return Value(ZERO, call)
            # ``self.query_embed(idx)``: the output of an embedding table is learned
            attr = self_attr(func)
            if attr is not None and self.info is not None and self.info.is_learned_attr(attr):
                return LEARNT
        if qual in JOINING_FUNCTIONS and call.args:
            parts = call.args[0]
            items = parts.elts if isinstance(parts, (ast.List, ast.Tuple)) else [parts]
            values = [self._eval(i, depth + 1) for i in items]
            if any(v.is_learned for v in values):
                return LEARNT
            if values and all(v.is_zero for v in values):
                return values[0]
            return UNKNOWN
        if qual in ("torch.add",) and len(call.args) >= 2:
            return self._combine(self._eval(call.args[0], depth + 1), self._eval(call.args[1], depth + 1), ast.Add())
        if qual in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return LEARNT
        return UNKNOWN

    def _zeros_call(self, call: ast.Call) -> bool:
        """``torch.zeros(...)``, ``torch.zeros_like(x)``, ``x.new_zeros(...)``, ``torch.full(s, 0)``,
        ``torch.full_like(x, 0)``, ``x.new_full(s, 0)`` — with a floating dtype."""
        qual = self.ctx.qualname(call.func) or ""
        method = _method(call)
        if qual in ("torch.zeros", "torch.zeros_like") or (method == "new_zeros" and isinstance(call.func, ast.Attribute)):
            return not _non_float_dtype(call, self.ctx)
        fill = None
        if qual in ("torch.full", "torch.full_like") or method == "new_full":
            fill = call.args[1] if len(call.args) > 1 else _kw(call, "fill_value")
        if fill is not None and self._is_zero_literal(fill):
            return not _non_float_dtype(call, self.ctx)
        if method in ("zero_",) and isinstance(call.func, ast.Attribute):
            inner = call.func.value
            return isinstance(inner, ast.Call) and (self.ctx.qualname(inner.func) or "") in ("torch.empty", "torch.empty_like")
        return False

    def _is_zero_literal(self, expr: ast.expr) -> bool:
        number = self.ctx.doc.fold_number(expr)
        return number is not None and number == 0


def _kw(call: ast.Call, name: str) -> Optional[ast.expr]:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _method(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _dtype_name(expr: Optional[ast.expr]) -> str:
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return ""


def _non_float_dtype(call: ast.Call, ctx) -> bool:
    return _dtype_name(_kw(call, "dtype")) in NON_FLOAT_DTYPES


def _casts_to_non_float(call: ast.Call) -> bool:
    candidates = list(call.args) + [_kw(call, "dtype")]
    return any(_dtype_name(c) in NON_FLOAT_DTYPES for c in candidates if c is not None)


def _names(target: ast.AST) -> List[str]:
    return [n.id for n in walk(target) if isinstance(n, ast.Name)]


def _attr_written(info: ClassInfo, attr: str, modules=None) -> bool:
    """Is ``self.<attr>`` written in place anywhere in the class (``self.q[...] = v``,
    ``self.q.copy_(v)``, ``nn.init.normal_(self.q)``, ``self.q.data = v``)?"""
    for method in info.methods.values():
        for node in (modules.nodes(method) if modules is not None else walk_function(method)):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    base = target
                    while isinstance(base, (ast.Subscript, ast.Attribute)) and self_attr(base) is None:
                        base = base.value
                    if self_attr(base) == attr and base is not target:
                        return True
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr.endswith("_") and func.attr not in PRESERVING_METHODS:
                    base = func.value
                    while isinstance(base, ast.Attribute) and self_attr(base) is None:
                        base = base.value
                    if self_attr(base) == attr:
                        return True
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name.endswith("_") and any(self_attr(a) == attr for a in node.args):
                    return True
    return False
