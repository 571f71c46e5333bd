"""Training-loop structure for code rules (ML401–ML404).

What a ``for``/``while`` body does, in source order: which calls happen
(``loss.backward()``, ``optimizer.step()``, ``zero_grad()``, ``scheduler.step()``),
which values are accumulated (``total += loss``), under which guards (``if``
branches, nested loops, ``except`` handlers) and whether gradient tracking is
off (``with torch.no_grad()``). Calls to helpers defined in the same file
(``train_step(...)``, ``self._optimizer_step()``) are followed up to a small
depth, so a loop that zeroes gradients in a helper is seen to zero them.

Everything is computed at the loop (or function) node by walking its
subtree once, and cached per file; nothing is re-parsed.

Names get roles:

* optimizer — bound from an optimizer constructor (``torch.optim.AdamW(...)``,
  any class in ``OPTIMIZER_CLASSES``), or named ``*optim*``/``opt``/``opt_g``;
* scheduler — bound from ``torch.optim.lr_scheduler.*``, a transformers
  ``get_*_schedule*`` or timm ``create_scheduler*`` call, or named ``*sched*``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from modellint.code.names import call_name, dotted
from modellint.code.walk import children, inner_children, walk_inner
from modellint.facts.vocabulary import OPTIMIZER_CLASSES
from modellint.lazy_re import lazy

OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"

SCHEDULER_CLASSES = frozenset({
    "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "LambdaLR",
    "MultiplicativeLR", "OneCycleLR", "CyclicLR", "LinearLR", "ConstantLR", "PolynomialLR", "SequentialLR",
    "ChainedScheduler", "ReduceLROnPlateau", "CosineLRScheduler", "StepLRScheduler", "PlateauLRScheduler",
    "MultiStepLRScheduler", "TanhLRScheduler", "PolyLRScheduler", "WarmupLR", "WarmupDecayLR",
    "WarmupCosineLR", "WarmupMultiStepLR", "GradualWarmupScheduler",
})
PLATEAU_CLASSES = frozenset({"ReduceLROnPlateau", "PlateauLRScheduler"})
_SCHEDULER_FACTORY = lazy(r"^(get_\w*schedule\w*|create_scheduler\w*|build_lr_scheduler|build_scheduler|make_scheduler)$")
_ZERO_CALL = lazy(r"^_?(zero_?grads?|clear_?grads?|reset_?grads?|zero_gradients|zero_optim\w*)$", re.I)
_GRAD_DISABLING = frozenset({"no_grad", "inference_mode"})
BACKWARD_METHODS = frozenset({"backward", "manual_backward"})
MAX_HELPER_DEPTH = 2


# -- names -------------------------------------------------------------------
def name_tokens(name: str) -> List[str]:
    """``optG`` → [opt, g]; ``lr_scheduler`` → [lr, scheduler]; ``optimizer2`` → [optimizer]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [token for token in re.split(r"[^A-Za-z]+", spaced.lower()) if token]


def receiver(expr: ast.AST) -> str:
    """Dotted name of what a method is called on, through subscripts and calls:
    ``self.optimizers[0]`` → ``self.optimizers``, ``self.optimizers()`` → ``self.optimizers``."""
    for _ in range(8):
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        else:
            break
    return dotted(expr)


def last(name: str) -> str:
    return name.rsplit(".", 1)[-1] if name else ""


def role_by_name(name: str) -> Optional[str]:
    low = last(name).lower()
    if not low:
        return None
    if "sched" in low:
        return SCHEDULER
    tokens = name_tokens(last(name))
    if "optim" in low or "optimiser" in low or "opt" in tokens:
        return OPTIMIZER
    return None


# -- the per-file index ------------------------------------------------------
class FileIndex:
    """Module-wide lookups: functions by name, and what each name is bound to.

    The definitions are read from the statements when the index is made; the bindings and
    calls need a walk of every expression of the module, made on the first question about
    them (a loop without an optimizer or scheduler call never asks)."""

    def __init__(self, tree: Optional[ast.AST] = None, text: Optional[str] = None):
        self.text = text  # the file's source: a word it lacks cannot be bound or called (None: unknown)
        self.functions: Dict[str, List[ast.AST]] = {}  # name → FunctionDef nodes
        self.owner: Dict[int, str] = {}  # id(FunctionDef) → class name ("" at module level)
        self.classes: Dict[str, ast.ClassDef] = {}
        self._tree = tree  # not walked yet
        self._bindings: Dict[str, List[ast.expr]] = {}
        self._called: Set[str] = set()
        self._no_grad_calls: Set[str] = set()

    @property
    def bindings(self) -> Dict[str, List[ast.expr]]:
        """Last target segment → the values assigned to it, in ``walk`` order."""
        self._scan()
        return self._bindings

    @property
    def called(self) -> Set[str]:
        """The last segment of every called name."""
        self._scan()
        return self._called

    @property
    def no_grad_calls(self) -> Set[str]:
        """Functions called inside a no-grad block."""
        self._scan()
        return self._no_grad_calls

    def _scan(self) -> None:
        tree, self._tree = self._tree, None
        if tree is None:
            return
        # one walk of the module; names and constants are neither bindings nor calls
        for node in walk_inner(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    _bind(self._bindings, target, node.value)
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                _bind(self._bindings, node.target, node.value)
            elif isinstance(node, ast.Call):
                name = call_name(node)
                if name:
                    self._called.add(name)
            elif isinstance(node, (ast.With, ast.AsyncWith)) and grad_disabling_with(node):
                for inner in walk_inner(node):
                    if isinstance(inner, ast.Call) and call_name(inner):
                        self._no_grad_calls.add(call_name(inner))

    def role(self, expr_or_name) -> Optional[str]:
        name = expr_or_name if isinstance(expr_or_name, str) else receiver(expr_or_name)
        bound = self.bound_role(last(name))
        return bound or role_by_name(name)

    def bound_role(self, name: str) -> Optional[str]:
        roles = set()
        for value in self.bindings.get(name, ()):
            role = constructor_role(value)
            if role:
                roles.add(role)
        return roles.pop() if len(roles) == 1 else None

    def is_plateau(self, name: str) -> bool:
        return any(isinstance(v, ast.Call) and call_name(v) in PLATEAU_CLASSES for v in self.bindings.get(last(name), ()))

    def scheduler_optimizer(self, name: str) -> Optional[str]:
        """The optimizer a scheduler was built on (``StepLR(opt, ...)`` → ``opt``), when one is known."""
        found = set()
        for value in self.bindings.get(last(name), ()):
            if isinstance(value, ast.Call) and constructor_role(value) == SCHEDULER:
                arg = value.args[0] if value.args else None
                for kw in value.keywords:
                    if kw.arg == "optimizer":
                        arg = kw.value
                if arg is not None and receiver(arg):
                    found.add(last(receiver(arg)))
        return found.pop() if len(found) == 1 else None

    def helpers(self, call: ast.Call, klass: Optional[str]) -> List[ast.AST]:
        """Same-file definitions a call may run: ``f(...)`` → module function ``f``;
        ``self.f(...)`` → method ``f`` of the enclosing class (or any class when unknown)."""
        func = call.func
        if isinstance(func, ast.Name):
            return [f for f in self.functions.get(func.id, ()) if self.owner.get(id(f)) == ""]
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
            methods = [f for f in self.functions.get(func.attr, ()) if self.owner.get(id(f))]
            if klass:
                mine = [f for f in methods if self.owner.get(id(f)) == klass]
                if mine:
                    return mine
            return methods
        return []


def constructor_role(value: ast.AST) -> Optional[str]:
    if not isinstance(value, ast.Call):
        return None
    name = call_name(value)
    if name in OPTIMIZER_CLASSES:
        return OPTIMIZER
    if name in SCHEDULER_CLASSES or _SCHEDULER_FACTORY.match(name or ""):
        return SCHEDULER
    func = value.func
    text = dotted(func)
    if ".lr_scheduler." in f".{text}." or text.startswith("lr_scheduler."):
        return SCHEDULER
    if text.startswith(("torch.optim.", "optim.")) and name and name[:1].isupper():
        return OPTIMIZER
    return None


def file_index(ctx) -> FileIndex:
    """Made once per file and shared by every rule (its whole-module walk is made on demand)."""
    doc = ctx.doc
    index = doc.memo.get("file_index")
    if index is not None:
        return index
    index = FileIndex(doc.tree, doc.filter_text if ctx.prefilter else None)
    # definitions: module level, class bodies and nested defs (statements only, cheap)
    stack: List[Tuple[ast.AST, str]] = [(doc.tree, "")]
    while stack:
        node, klass = stack.pop()
        for child in getattr(node, "body", ()):
            if isinstance(child, ast.ClassDef):
                index.classes.setdefault(child.name, child)
                stack.append((child, child.name))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                index.functions.setdefault(child.name, []).append(child)
                index.owner[id(child)] = klass if isinstance(node, ast.ClassDef) else ""
                stack.append((child, ""))
            elif isinstance(child, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                stack.append((child, klass))
                for extra in ("orelse", "finalbody"):
                    stack.extend((_Body(part), klass) for part in [getattr(child, extra, None)] if part)
                for handler in getattr(child, "handlers", ()):
                    stack.append((handler, klass))
    doc.memo["file_index"] = index
    return index


class _Body:
    """A statement list seen as a node with a ``body`` (``orelse``/``finalbody`` blocks)."""

    def __init__(self, body):
        self.body = body


def _bind(bindings: Dict[str, List[ast.expr]], target: ast.AST, value: ast.expr) -> None:
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            for t, v in zip(target.elts, value.elts):
                _bind(bindings, t, v)
        return
    name = last(dotted(target)) if isinstance(target, (ast.Name, ast.Attribute)) else ""
    if name:
        bindings.setdefault(name, []).append(value)


# -- grad mode -----------------------------------------------------------------
def grad_disabling_call(expr: ast.AST) -> bool:
    """``torch.no_grad()``, ``torch.inference_mode()``, ``torch.set_grad_enabled(False)``."""
    if isinstance(expr, ast.Call):
        name = call_name(expr)
        if name in _GRAD_DISABLING:
            mode = expr.args[0] if expr.args else None
            return not (isinstance(mode, ast.Constant) and mode.value is False)
        if name == "set_grad_enabled" and expr.args:
            arg = expr.args[0]
            return isinstance(arg, ast.Constant) and arg.value is False
        return False
    if isinstance(expr, (ast.Attribute, ast.Name)):
        return last(dotted(expr)) in _GRAD_DISABLING
    return False


def grad_disabling_with(node: ast.AST) -> bool:
    return isinstance(node, (ast.With, ast.AsyncWith)) and any(grad_disabling_call(item.context_expr) for item in node.items)


def grad_disabled_function(func: Optional[ast.AST]) -> bool:
    """``@torch.no_grad()`` / ``@torch.inference_mode()`` on the function."""
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    return any(grad_disabling_call(d) for d in func.decorator_list)


def grad_disabled_here(ctx) -> bool:
    """Whether the node being visited runs with gradient tracking off."""
    for node in reversed(ctx.ancestors):
        if grad_disabling_with(node):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return grad_disabled_function(node)
    return False


# -- events ------------------------------------------------------------------
Guard = Tuple[str, int]


@dataclass
class Event:
    """One thing a loop body does.

    kind: ``backward`` (``loss`` = the differentiated expression), ``step`` (an
    optimizer step; ``receiver`` = the optimizer), ``zero_grad``,
    ``sched_step`` (``receiver`` = the scheduler; ``has_args`` for
    ``step(epoch)``/``step(val_loss)``), ``assign``/``accumulate``
    (``targets``, ``value``), or ``call`` (anything else).
    """

    kind: str
    node: ast.AST
    order: int
    guards: Tuple[Guard, ...] = ()
    loops: Tuple[int, ...] = ()  # ids of loops between the analysed node and this event
    no_grad: bool = False
    site: Optional[ast.AST] = None  # the call in the analysed body that reached a helper
    helper: str = ""
    ambiguous: bool = False  # reached through a helper name with several definitions
    receiver: str = ""
    loss: Optional[ast.expr] = None
    has_args: bool = False
    targets: Tuple[str, ...] = ()
    value: Optional[ast.expr] = None
    name: str = ""

    @property
    def where(self) -> ast.AST:
        return self.site if self.site is not None else self.node


@dataclass
class BodyInfo:
    node: ast.AST
    events: List[Event]

    def of(self, *kinds: str) -> List[Event]:
        return [e for e in self.events if e.kind in kinds]

    def first(self, kind: str) -> Optional[Event]:
        for event in self.events:
            if event.kind == kind:
                return event
        return None


class _Walker:
    def __init__(self, index: FileIndex, klass: Optional[str], follow_helpers: bool, skip: Set[int]):
        self.index = index
        self.klass = klass
        self.follow = follow_helpers
        self.events: List[Event] = []
        self.stack: Set[int] = set(skip)

    # state: guards, loops, no_grad, site, helper, ambiguous, depth
    def body(self, stmts: Sequence[ast.stmt], state: dict) -> None:
        for stmt in stmts:
            self.stmt(stmt, state)

    def _with(self, state: dict, **changes) -> dict:
        new = dict(state)
        new.update(changes)
        return new

    def stmt(self, stmt: ast.stmt, state: dict) -> None:
        guards = state["guards"]
        if isinstance(stmt, ast.If):
            self.exprs(stmt.test, state)
            self.body(stmt.body, self._with(state, guards=guards + (("if", id(stmt)),)))
            self.body(stmt.orelse, self._with(state, guards=guards + (("else", id(stmt)),)))
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self.exprs(stmt.iter if not isinstance(stmt, ast.While) else stmt.test, state)
            inner = self._with(state, guards=guards + (("loop", id(stmt)),), loops=state["loops"] + (id(stmt),))
            self.body(stmt.body, inner)
            self.body(stmt.orelse, self._with(state, guards=guards + (("loop-else", id(stmt)),)))
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self.exprs(item.context_expr, state)
            no_grad = state["no_grad"] or grad_disabling_with(stmt)
            if any(isinstance(i.context_expr, ast.Call) and call_name(i.context_expr) == "enable_grad" for i in stmt.items):
                no_grad = False
            self.body(stmt.body, self._with(state, no_grad=no_grad))
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.body(stmt.body, state)
            for handler in stmt.handlers:
                self.body(handler.body, self._with(state, guards=guards + (("except", id(handler)),)))
            self.body(stmt.orelse, state)
            self.body(stmt.finalbody, state)
        elif type(stmt).__name__ == "Match":
            self.exprs(stmt.subject, state)
            for case in stmt.cases:
                self.body(case.body, self._with(state, guards=guards + (("case", id(case)),)))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # a closure (LBFGS ``def closure(): opt.zero_grad(); loss.backward()``)
            self.body(stmt.body, self._with(state, guards=guards + (("def", id(stmt)),),
                                            no_grad=grad_disabled_function(stmt)))
        elif isinstance(stmt, ast.ClassDef):
            return
        else:
            self.simple(stmt, state)

    def simple(self, stmt: ast.stmt, state: dict) -> None:
        self.exprs(stmt, state)
        if isinstance(stmt, ast.Assign):
            if _is_grad_reset(stmt.targets, stmt.value):
                self.add("zero_grad", stmt, state)
            names = tuple(n for t in stmt.targets for n in _target_names(t))
            if len(stmt.targets) == 1 and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Add):
                target = dotted(stmt.targets[0])
                operands = _add_operands(stmt.value)
                if target and any(dotted(o) == target for o in operands):
                    added = [o for o in operands if dotted(o) != target]
                    self.add("accumulate", stmt, state, targets=(target,), value=added[0] if len(added) == 1 else stmt.value)
                    return
            self.add("assign", stmt, state, targets=names, value=stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.add("assign", stmt, state, targets=tuple(_target_names(stmt.target)), value=stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            target = dotted(stmt.target) if isinstance(stmt.target, (ast.Name, ast.Attribute)) else receiver(stmt.target)
            if isinstance(stmt.op, ast.Add):
                self.add("accumulate", stmt, state, targets=(target,) if target else (), value=stmt.value)
            else:
                self.add("assign", stmt, state, targets=(target,) if target else (), value=stmt.value)
        elif isinstance(stmt, ast.Delete):
            if any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in stmt.targets):
                self.add("zero_grad", stmt, state)

    def exprs(self, node: ast.AST, state: dict) -> None:
        calls = []
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Call):
                calls.append(current)
            for child in inner_children(current):  # names and constants hold no calls
                if isinstance(child, ast.stmt):
                    continue  # statements are walked by ``stmt`` with their guards
                stack.append(child)
        calls.sort(key=lambda c: (c.lineno, c.col_offset))
        for call in calls:
            self.call(call, state)

    def call(self, call: ast.Call, state: dict) -> None:
        name = call_name(call)
        func = call.func
        index = self.index
        if name in BACKWARD_METHODS and isinstance(func, ast.Attribute):
            owner = func.value
            if call.args and (name == "manual_backward" or not _is_tensor_like(owner)):
                loss = call.args[0]  # accelerator.backward(loss), fabric.backward(loss), torch.autograd.backward(loss)
            else:
                loss = owner
                if isinstance(loss, ast.Call) and call_name(loss) == "scale" and loss.args:
                    loss = loss.args[0]  # scaler.scale(loss).backward()
            self.add("backward", call, state, loss=loss)
            return
        if name == "step" and isinstance(func, ast.Attribute):
            owner = receiver(func.value)
            role = index.role(owner)
            if role == SCHEDULER:
                self.add("sched_step", call, state, receiver=owner, has_args=bool(call.args or call.keywords))
                return
            if call.args and index.role(call.args[0]) == OPTIMIZER and role != OPTIMIZER:
                self.add("step", call, state, receiver=receiver(call.args[0]))  # scaler.step(optimizer)
                return
            if role == OPTIMIZER:
                self.add("step", call, state, receiver=owner)
                return
        if name == "step_update" and isinstance(func, ast.Attribute) and index.role(func.value) == SCHEDULER:
            self.add("sched_step", call, state, receiver=receiver(func.value), has_args=True)
            return
        if name == "optimizer_step" and call.args and isinstance(func, ast.Attribute) and \
                ("xla" in dotted(func.value) or dotted(func.value) == "xm") and index.role(call.args[0]) == OPTIMIZER:
            self.add("step", call, state, receiver=receiver(call.args[0]))  # xm.optimizer_step(optimizer)
            return
        if _ZERO_CALL.match(name or ""):
            self.add("zero_grad", call, state, receiver=receiver(func.value) if isinstance(func, ast.Attribute) else "")
            return
        if name in ("zero_", "fill_", "mul_") and isinstance(func, ast.Attribute) and ".grad" in f".{dotted(func.value)}.":
            self.add("zero_grad", call, state)
            return
        self.add("call", call, state, name=name or "")
        if self.follow and state["depth"] < MAX_HELPER_DEPTH:
            self.follow_helpers(call, state)

    def follow_helpers(self, call: ast.Call, state: dict) -> None:
        targets = [f for f in self.index.helpers(call, self.klass) if id(f) not in self.stack]
        if not targets:
            return
        ambiguous = state["ambiguous"] or len(targets) > 1
        for func in targets:
            self.stack.add(id(func))
            inner = self._with(
                state,
                guards=state["guards"] + (("helper", id(call)),),
                site=state["site"] if state["site"] is not None else call,
                helper=state["helper"] or func.name,
                ambiguous=ambiguous,
                depth=state["depth"] + 1,
                no_grad=state["no_grad"] or grad_disabled_function(func),
            )
            self.body(func.body, inner)
            self.stack.discard(id(func))

    def add(self, kind: str, node: ast.AST, state: dict, **fields) -> None:
        self.events.append(Event(
            kind, node, len(self.events), state["guards"], state["loops"], state["no_grad"], state["site"],
            state["helper"], state["ambiguous"], **fields))


def _is_tensor_like(expr: ast.AST) -> bool:
    """``loss.backward()`` vs ``accelerator.backward(loss)``: the receiver of a
    backward that also takes the loss as an argument is a wrapper."""
    name = last(receiver(expr)).lower()
    return not any(word in name for word in ("accelerator", "fabric", "engine", "model", "trainer", "autograd", "self", "deepspeed", "scaler", "amp"))


def _target_names(target: ast.AST) -> List[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _target_names(t)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    name = dotted(target) if isinstance(target, (ast.Name, ast.Attribute)) else ""
    return [name] if name else []


def _add_operands(expr: ast.expr) -> List[ast.expr]:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _add_operands(expr.left) + _add_operands(expr.right)
    return [expr]


def _is_grad_reset(targets: Sequence[ast.expr], value: ast.expr) -> bool:
    """``p.grad = None`` (or zeros)."""
    if not any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in targets):
        return False
    if isinstance(value, ast.Constant) and value.value in (None, 0):
        return True
    return isinstance(value, ast.Call) and call_name(value) in ("zeros_like", "zeros", "new_zeros")


def _enclosing_class(ctx, node: ast.AST) -> Optional[str]:
    for ancestor in reversed(ctx.ancestors):
        if isinstance(ancestor, ast.ClassDef):
            return ancestor.name
    return None


def _state() -> dict:
    return {"guards": (), "loops": (), "no_grad": False, "site": None, "helper": "", "ambiguous": False, "depth": 0}


def _cache(ctx) -> dict:
    return ctx.doc.memo.setdefault("loops", {})


def analyse_loop(loop: ast.AST, ctx, follow_helpers: bool = True) -> BodyInfo:
    """Events of one ``for``/``while`` body (nested blocks, nested loops and
    same-file helpers included). Call it while visiting ``loop``: the enclosing
    class and function come from ``ctx.ancestors``. Cached per loop."""
    cache = _cache(ctx)
    key = ("loop", id(loop), follow_helpers)
    if key in cache:
        return cache[key][1]
    enclosing = ctx.enclosing(ast.FunctionDef, ast.AsyncFunctionDef)
    walker = _Walker(file_index(ctx), _enclosing_class(ctx, loop), follow_helpers, {id(enclosing)} if enclosing else set())
    state = _state()
    state["no_grad"] = grad_disabled_here(ctx)
    walker.body(loop.body, state)
    info = BodyInfo(loop, walker.events)
    cache[key] = (loop, info)  # keep the node alive so its id stays unique
    return info


def analyse_function(func: ast.AST, ctx, follow_helpers: bool = False) -> BodyInfo:
    """Events of a whole function body (or a module's top-level code), loops included."""
    cache = _cache(ctx)
    key = ("function", id(func), follow_helpers)
    if key in cache:
        return cache[key][1]
    klass = None
    if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        klass = file_index(ctx).owner.get(id(func)) or None
    walker = _Walker(file_index(ctx), klass, follow_helpers, {id(func)})
    state = _state()
    state["no_grad"] = grad_disabled_function(func)
    body = [s for s in func.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))] \
        if isinstance(func, ast.Module) else func.body
    walker.body(body, state)
    info = BodyInfo(func, walker.events)
    cache[key] = (func, info)
    return info


def enclosing_scope(ctx) -> ast.AST:
    """The function being visited, or the module for top-level code."""
    return ctx.enclosing(ast.FunctionDef, ast.AsyncFunctionDef) or ctx.doc.tree


def loops_holding(events: Iterable[Event], *kinds: str) -> Set[int]:
    """Ids of nested loops that contain an event of every kind given."""
    per_kind = []
    for kind in kinds:
        ids: Set[int] = set()
        for event in events:
            if event.kind == kind:
                ids.update(event.loops)
        per_kind.append(ids)
    return set.intersection(*per_kind) if per_kind else set()


def is_prefix(short: Tuple[Guard, ...], long: Tuple[Guard, ...]) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def describe(node: ast.AST, limit: int = 60) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse is total on parsed trees
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scope_nodes(scope: ast.AST) -> Iterable[ast.AST]:
    """Nodes of a function (or module) body, not descending into nested defs, classes or lambdas."""
    stack = list(getattr(scope, "body", []))
    while stack:
        node = stack.pop()
        yield node
        for child in children(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


def local_assignments(scope: ast.AST, ctx) -> Dict[str, List[ast.Assign]]:
    """Dotted target → plain assignments in one scope, in source order (cached per scope)."""
    cache = _cache(ctx)
    key = ("assignments", id(scope))
    if key in cache:
        return cache[key][1]
    table: Dict[str, List[ast.AST]] = {}
    for node in scope_nodes(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                name = dotted(target) if isinstance(target, (ast.Name, ast.Attribute)) else ""
                if name:
                    table.setdefault(name, []).append(node)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            name = dotted(node.target)
            if name:
                table.setdefault(name, []).append(node)
    for nodes in table.values():
        nodes.sort(key=lambda n: (n.lineno, n.col_offset))
    cache[key] = (scope, table)
    return table


def value_before(scope: ast.AST, name: str, node: ast.AST, ctx) -> Optional[ast.expr]:
    """The value ``name`` was last assigned in ``scope`` before ``node`` (by position)."""
    best = None
    for assign in local_assignments(scope, ctx).get(name, ()):
        if (assign.end_lineno, assign.end_col_offset) <= (node.lineno, node.col_offset):
            best = assign
    return best.value if best is not None else None


from modellint.rule import CodeRule  # noqa: E402 - the rule API does not import this module


class LoopRule(CodeRule):
    """A code rule that judges every ``for``/``while`` loop of a file whose text
    passes the rule's cheap pre-filter (``wants``); subclasses implement ``_check``."""

    # files ``wants`` rejects never reach these visitors (the checker leaves the rule out)
    def visit_For(self, node, ctx) -> None:
        self._check(node, ctx)

    visit_AsyncFor = visit_For
    visit_While = visit_For

    def _check(self, loop, ctx) -> None:  # pragma: no cover - interface
        raise NotImplementedError
