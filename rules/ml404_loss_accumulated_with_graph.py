import ast
import re
from typing import Dict, Optional, Set

from modellint.code.loops import (
    LoopRule,
    analyse_function,
    analyse_loop,
    describe,
    enclosing_scope,
    file_index,
)
from modellint.code.names import call_name, dotted
from modellint.code.walk import children, walk, walk_block_statements
from modellint.fixes import SAFE, PySource, attach, make_fix
from modellint.lazy_re import lazy
from modellint.rule import fixes, flag, ok

# methods that give back a plain number or a tensor cut from the graph
DETACHING = frozenset({"item", "detach", "tolist", "numpy", "detach_"})
# methods that keep the graph (a tensor in, a tensor out)
KEEPING = frozenset({
    "mean", "sum", "float", "double", "half", "bfloat16", "cpu", "cuda", "to", "clone", "squeeze", "unsqueeze",
    "view", "reshape", "contiguous", "abs", "sqrt", "pow", "mul", "div", "add", "__mul__", "flatten",
})
FUNCTIONAL_LOSSES = frozenset({
    "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "nll_loss", "mse_loss", "l1_loss",
    "smooth_l1_loss", "huber_loss", "kl_div", "ctc_loss", "cosine_embedding_loss", "margin_ranking_loss",
    "triplet_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "hinge_embedding_loss", "soft_margin_loss",
    "multilabel_soft_margin_loss", "multi_margin_loss", "sigmoid_focal_loss",
})
_LOSS_NAME = lazy(r"loss|criterion", re.I)
_DATA_ITER = lazy(r"loader|\bdl\b|_dl\b|dataloader|batches|dataset|data_iter|train_iter|val_iter|test_iter|tqdm", re.I)

# (lowered) every loss value ``_is_loss_value`` knows is written with one of these
_LOSS_WORDS = ("loss", "criterion", "entropy", "kl_div")
_GROWING = ("+", "append")  # what every sum (``+``, ``+=``) and append is written with


class LossAccumulatedWithGraph(LoopRule):
    code = "ML404"
    name = "loss-accumulated-with-graph"
    severity = "warning"
    summary = "A running total adds the loss tensor itself, keeping every iteration's autograd graph alive."
    rationale = (
        "`total += loss` with a loss that requires grad makes `total` a tensor whose graph links to the "
        "graph of every iteration summed so far: activations are never freed, memory grows each step until "
        "the run goes out of memory, and logging `total` backpropagates nothing useful. A loss tensor is one "
        "passed to `.backward()` or returned by a criterion/loss call. `loss.item()`, `loss.detach()`, "
        "`float(loss)` are fine, and so is accumulation under `torch.no_grad()` / `torch.inference_mode()` "
        "(block or decorator) and a sum of loss terms that is itself backpropagated "
        "(`loss = loss + aux; loss.backward()`)."
    )
    fix = "Accumulate a number: `total += loss.item()` (or `loss.detach()` to stay on the device)."
    examples = (
        flag("train.py", """
            import torch

            def train_epoch(model, loader, optimizer, criterion):
                running = 0.0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    running += loss
                return running / len(loader)
            """, line=10, title="the backpropagated loss summed into a running total"),
        flag("validate.py", """
            import torch.nn.functional as F

            def validate(model, val_loader):
                model.eval()
                total = 0
                for images, labels in val_loader:
                    total += F.cross_entropy(model(images), labels)
                return total / len(val_loader)
            """, line=7, title="evaluation without torch.no_grad()"),
        flag("evaluate.py", """
            import torch.nn as nn

            objective = nn.SmoothL1Loss()

            def score(model, batches):
                err_sum = 0.0
                for inputs, targets in batches:
                    err = objective(model(inputs), targets)
                    err_sum += err
                print("mean error", err_sum / len(batches))
            """, line=9, title="a criterion object under any name (a name bound to a `…Loss()`)"),
        flag("train.py", """
            def train(model, loader, optimizer, criterion):
                epoch_loss = 0
                for batch in loader:
                    loss = criterion(model(batch["x"]), batch["y"])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    epoch_loss = epoch_loss + loss * batch["x"].size(0)
                return epoch_loss
            """, line=8, title="`acc = acc + loss * n` is the same accumulation"),
        flag("train.py", """
            def train(model, loader, optimizer, criterion):
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    history.append(loss)
                return history
            """, line=8, title="appending the backpropagated loss to a list"),
        ok("train.py", """
            def train(model, loader, optimizer, criterion):
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    history.append(loss.item())
                return history
            """, title="appending .item()"),
        ok("test_training.py", """
            def test_loss_decreases(model, batch, optim):
                losses = []
                for _ in range(5):
                    optim.zero_grad()
                    loss = model(**batch).loss
                    loss.backward()
                    optim.step()
                    losses.append(loss)
                assert losses[-1] < losses[0]
            """, title="a few steps in a test keep their losses on purpose (not a data loop)"),
        ok("train.py", """
            def train_epoch(model, loader, optimizer, criterion):
                running = 0.0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    running += loss.item()
                return running / len(loader)
            """, title=".item()"),
        ok("train.py", """
            def train_epoch(model, loader, optimizer, criterion):
                total_loss = 0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total_loss += loss.detach()
                    total_float = float(loss)
                return total_loss
            """, title=".detach() and float()"),
        ok("evaluate.py", """
            import torch

            @torch.no_grad()
            def evaluate(model, loader, criterion):
                total = 0.0
                for x, y in loader:
                    total += criterion(model(x), y)
                return total / len(loader)

            def evaluate_block(model, loader, criterion):
                total = 0.0
                with torch.inference_mode():
                    for x, y in loader:
                        total += criterion(model(x), y)
                return total
            """, title="accumulation with gradients off"),
        ok("evaluate.py", """
            import torch

            def evaluation(model, eval_dataloader):
                model.eval()
                losses = 0
                for step, batch in enumerate(eval_dataloader):
                    with torch.no_grad():
                        outputs = model(**batch)
                    loss = outputs.loss
                    losses += loss.float()
                return losses / (step + 1)
            """, title="loss read from outputs computed under no_grad"),
        ok("losses.py", """
            def step(model, batch, criterion, optimizer, heads):
                outputs = model(batch)
                loss = 0
                for name in heads:
                    loss = loss + criterion(outputs[name], batch[name])
                loss.backward()
                optimizer.step()
            """, title="summing loss terms that are then backpropagated"),
        ok("train.py", """
            def train(model, loader, optimizer, criterion, accum):
                for i, (x, y) in enumerate(loader):
                    total = 0
                    for chunk_x, chunk_y in zip(x.chunk(accum), y.chunk(accum)):
                        total += criterion(model(chunk_x), chunk_y) / accum
                    total.backward()
                    optimizer.step()
                    optimizer.zero_grad()
            """, title="gradient-accumulation sum that is backpropagated"),
        ok("deep_supervision.py", """
            def multi_scale_loss(outputs, target, criterion):
                total = 0
                for out in outputs:
                    total += criterion(out, target)
                return total
            """, title="a loss built from terms (not a data loop), returned to be backpropagated"),
        fixes("train.py", """
            def train_epoch(model, loader, optimizer, criterion, accum):
                total = 0.0
                for step, (x, y) in enumerate(loader):
                    loss = criterion(model(x), y)
                    (loss / accum).backward()
                    optimizer.step()
                    total += loss  # running sum for the log
                    total += loss / accum
                print(f"epoch loss {total / len(loader):.4f}")
            """, """
            def train_epoch(model, loader, optimizer, criterion, accum):
                total = 0.0
                for step, (x, y) in enumerate(loader):
                    loss = criterion(model(x), y)
                    (loss / accum).backward()
                    optimizer.step()
                    total += loss.item()  # running sum for the log
                    total += (loss / accum).item()
                print(f"epoch loss {total / len(loader):.4f}")
            """, title="fix: `.item()` makes the running sum a number"),
        fixes("train.py", """
            import torch.distributed as dist

            def train_epoch(model, loader, optimizer, criterion):
                total = 0
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total += loss
                    history.append(loss)
                dist.all_reduce(total)
                return total.item(), history
            """, """
            import torch.distributed as dist

            def train_epoch(model, loader, optimizer, criterion):
                total = 0
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach()
                    history.append(loss.item())
                dist.all_reduce(total)
                return total.item(), history
            """, title="fix: `.detach()` when the sum is used as a tensor later"),
    )

    def wants(self, text: str) -> bool:
        # cheap text pre-filter: no need to analyse loops otherwise
        return any(word in text for word in ("loss", "Loss", "criterion", "backward", "entropy", "kl_div"))

    def _check(self, loop, ctx) -> None:
        # a loop whose own lines have no ``+`` and no ``append`` neither sums nor appends
        # (the only events judged below); then the loop analysis is not needed for this rule
        if ctx.prefilter and not ctx.doc.mentions(_GROWING, loop):
            return
        info = analyse_loop(loop, ctx)  # shared with ML401/ML403; helper events are skipped below
        accumulations = [e for e in info.events if e.kind == "accumulate" and not e.loops and not e.no_grad and e.targets
                         and not e.helper]
        appends = [e for e in info.events if e.kind == "call" and e.name == "append" and not e.loops and not e.no_grad
                   and not e.helper and len(e.node.args) == 1 and isinstance(e.node.func, ast.Attribute)]
        if not accumulations and not appends:
            return
        scope = enclosing_scope(ctx)
        backwarded_here = _backwarded([e for e in info.events if not e.helper])
        if ctx.prefilter and not backwarded_here and not _may_hold_losses(scope, ctx):
            return  # nothing here can carry a loss tensor: no finding, whatever the function does
        summary = analyse_function(scope, ctx)
        index = file_index(ctx)
        backwarded_anywhere = _backwarded(summary.events)
        data_loop = any(not e.helper for e in info.of("backward", "step")) or (
            not isinstance(loop, ast.While) and bool(_DATA_ITER.search(describe(loop.iter, 200))))
        assigned_in_loop = {t for e in info.events if e.kind in ("assign", "accumulate") and not e.helper for t in e.targets}
        over_data = not isinstance(loop, ast.While) and bool(_DATA_ITER.search(describe(loop.iter, 200)))
        for event in appends if over_data else ():  # a list of losses only grows without bound over a dataset
            holder = dotted(event.node.func.value)
            if not holder or holder in assigned_in_loop or holder in backwarded_anywhere:
                continue  # a list rebuilt every iteration, or summed and backpropagated later
            assigned = _last_assignments(summary.events, event.node.lineno)
            detached = {n for n, v in assigned.items() if v is None or _detaches(v)}
            found = _carrier(event.node.args[0], backwarded_here - detached, set(), index, direct_ok=False)
            if found is None or not found[1]:
                continue
            ctx.report(
                self, event.node,
                f"`{describe(event.node)}` keeps the loss tensor itself (`{found[0]}` is passed to `.backward()`) in "
                f"`{holder}` on every iteration: the list holds each iteration's autograd graph, so memory grows until "
                f"the run goes out of memory",
                help=f"Append a number: `{holder}.append({describe(event.node.args[0], 40)}.item())`.",
            )
            attach(ctx, _detach_fix(ctx, event.node.args[0], holder, scope, container=True))
        for event in accumulations:
            target = event.targets[0]
            if target in backwarded_anywhere or _returned_for_backward(target, summary):
                continue
            line = event.node.lineno
            assigned = _last_assignments(summary.events, line)
            detached = {n for n, v in assigned.items() if v is None or _detaches(v)}
            found = _carrier(event.value, (backwarded_here - detached), _LossNames(assigned, detached, index), index,
                             direct_ok=True)
            if found is None:
                continue
            name, strong = found
            # (the no-grad callers need a walk of the whole file: asked last)
            if not strong and (not data_loop or (isinstance(scope, ast.FunctionDef) and scope.name in index.no_grad_calls)):
                continue
            why = (f"`{name}` is passed to `.backward()`" if strong
                   else f"`{name}` comes from a loss call and gradients are on here")
            ctx.report(
                self, event.node,
                f"`{describe(event.node)}` adds a loss tensor that requires grad ({why}) to `{target}` on every "
                f"iteration: the running sum keeps each iteration's autograd graph alive, so memory grows until "
                f"the run goes out of memory",
                help=f"Accumulate a number: use `{describe(event.value, 40)}` with `.item()` (or `.detach()`), "
                     f"or wrap evaluation in `torch.no_grad()`.",
            )
            if isinstance(event.node, ast.AugAssign) or event.value is not event.node.value:
                attach(ctx, _detach_fix(ctx, event.value, target, scope, container=False))


def _may_hold_losses(scope, ctx) -> bool:
    """Can a value of ``scope`` (the function around the loop, or the module) be a loss without a
    ``.backward()`` in the loop? Only as a name assigned a loss value in ``scope``, a ``.loss``
    or ``["loss"]`` read, or a loss call (``_is_loss_value``, ``_is_loss_call``): each is written
    with one of ``_LOSS_WORDS`` on the lines of ``scope``, except a call of a name bound to a
    ``…Loss(…)`` object, which needs ``Loss`` somewhere in the file."""
    if "Loss" in ctx.doc.filter_text:
        return True
    return ctx.doc.mentions(_LOSS_WORDS, scope, lowered=True)


_NUMBER_CALLS = frozenset({"print", "float", "int", "round", "str", "abs", "min", "max", "format", "repr", "sum", "len",
                           "append", "info", "debug", "warning", "log", "add_scalar", "set_postfix", "write", "mean"})
_ATOMS = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)


def _number_ok(name: str, scope, container: bool) -> bool:
    """Is ``name`` only used as a number (or a list of numbers) in ``scope``: arithmetic, printing,
    logging, comparisons? Then ``.item()`` keeps the code working; otherwise ``.detach()`` does."""
    parents = {}
    for node in walk(scope):
        for child in children(node):
            parents[id(child)] = node
    for node in walk(scope):
        if not isinstance(node, (ast.Name, ast.Attribute)) or dotted(node) != name:
            continue
        parent = parents.get(id(node))
        if isinstance(parent, ast.Attribute) and parent.value is node:
            if container and parent.attr in ("append", "extend", "clear"):
                continue
            return False  # ``total.item()``, ``total.cpu()``: a tensor method
        if isinstance(parent, ast.Subscript):
            if container:
                grand = parents.get(id(parent))
                if isinstance(grand, ast.Attribute):
                    return False  # ``history[-1].item()``
                continue
            return False
        if isinstance(parent, ast.Call) and node is not parent.func:
            if call_name(parent) in _NUMBER_CALLS:
                continue
            return False  # ``torch.stack(history)``, ``all_reduce(total)``
        if isinstance(parent, ast.keyword):
            call = parents.get(id(parent))
            if isinstance(call, ast.Call) and call_name(call) in _NUMBER_CALLS:
                continue
            return False
    return True


def _detach_fix(ctx, value, holder: str, scope, container: bool):
    """``total += loss`` → ``total += loss.item()`` (``.detach()`` when ``total`` is used as a tensor)."""
    if value is None or not hasattr(value, "end_lineno"):
        return None
    method = "item" if holder and _number_ok(holder, scope, container) else "detach"
    src = PySource.of(ctx)
    (line, col), (end_line, end_col) = src.start(value), src.end(value)
    edits = [src.insert(end_line, end_col, f".{method}()")]
    if not isinstance(value, _ATOMS) or (isinstance(value, ast.Call) and isinstance(value.func, ast.Lambda)):
        edits = [src.insert(line, col, "("), src.insert(end_line, end_col, f").{method}()")]
    return make_fix(SAFE, f"Add `.{method}()` so the graph is freed each iteration", edits)


def _backwarded(events) -> Set[str]:
    names: Set[str] = set()
    for event in events:
        if event.kind == "backward" and event.loss is not None:
            for node in _operands(event.loss):
                if isinstance(node, (ast.Name, ast.Attribute)) and dotted(node):
                    names.add(dotted(node))
    return names


def _operands(expr: ast.AST):
    if isinstance(expr, ast.BinOp):
        return _operands(expr.left) + _operands(expr.right)
    if isinstance(expr, ast.UnaryOp):
        return _operands(expr.operand)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in KEEPING:
        return _operands(expr.func.value)
    return [expr]


def _returned_for_backward(target: str, summary) -> bool:
    """A sum built in a function that has no training loop of its own and returns it: a loss being built."""
    func = summary.node
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    if summary.of("backward", "step"):
        return False
    for node in walk_block_statements(func):  # a return is a statement
        if isinstance(node, ast.Return) and node.value is not None and dotted(node.value) == target:
            return True
    return False


def _last_assignments(events, line: int):
    """Name → value of its last plain assignment before ``line``: None when computed without a graph
    (under ``torch.no_grad()``, or read from such a value: ``loss = outputs.loss``), a ``_TupleValue`` for
    a tuple unpack."""
    out = {}
    for event in events:
        if event.kind != "assign" or event.node.lineno >= line:
            continue
        single = len(event.targets) == 1 and not isinstance(getattr(event.node, "targets", [None])[0], (ast.Tuple, ast.List))
        for target in event.targets:
            if event.no_grad or (single and _read_from_graphless(event.value, out)):
                out[target] = None  # computed without a graph
            else:
                out[target] = event.value if single else _TupleValue(event.value)
    return out


def _read_from_graphless(value, known) -> bool:
    """``outputs.loss`` / ``outputs["loss"]`` / ``out.loss.mean()`` where ``outputs`` has no graph."""
    for _ in range(8):
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in KEEPING:
            value = value.func.value
        elif isinstance(value, (ast.Attribute, ast.Subscript)):
            name = dotted(value) if isinstance(value, ast.Attribute) else ""
            if name and name in known:
                return known[name] is None
            value = value.value
        else:
            break
    return isinstance(value, ast.Name) and value.id in known and known[value.id] is None


class _TupleValue:
    def __init__(self, value):
        self.value = value


def _detaches(value) -> bool:
    if isinstance(value, _TupleValue):
        return False
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr in DETACHING:
            return True
        if isinstance(func, ast.Name) and func.id in ("float", "int", "round"):
            return True
    if isinstance(value, ast.Attribute) and value.attr == "data":
        return True
    return isinstance(value, ast.Constant)


def _is_loss_value(value, index) -> bool:
    if isinstance(value, _TupleValue):
        return False
    if isinstance(value, ast.Attribute) and value.attr == "loss":
        return True  # HF model outputs: ``outputs.loss``
    if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Constant) and value.slice.value == "loss":
        return True
    return _is_loss_call(value, index)


def _is_loss_call(value, index) -> bool:
    if not isinstance(value, ast.Call):
        return False
    name = call_name(value)
    if not name:
        return False
    if name in FUNCTIONAL_LOSSES:
        return True
    if "scale" in name.lower() or name in DETACHING:
        return False
    if _LOSS_NAME.search(name) and not name.lower().startswith(("get_", "log", "print", "record", "update", "add")):
        return True
    if index.text is not None and "Loss" not in index.text:
        return False  # no name can be bound to a ``…Loss(…)`` call (and the bindings need a walk of the file)
    bound = index.bindings.get(name, ())
    return bool(bound) and all(isinstance(v, ast.Call) and call_name(v).endswith("Loss") for v in bound)


class _LossNames:
    """The names whose last assignment is a loss value and not detached, asked one name at a
    time: deciding it for every name the function assigns would, for names the sum never
    mentions, look up loss bindings that need a walk of the whole file."""

    def __init__(self, assigned: Dict[str, Optional[ast.AST]], detached: Set[str], index):
        self.assigned = assigned
        self.detached = detached
        self.index = index

    def __contains__(self, name: str) -> bool:
        value = self.assigned.get(name)
        return value is not None and name not in self.detached and _is_loss_value(value, self.index)


def _carrier(expr, backwarded: Set[str], loss_names, index, direct_ok: bool) -> Optional[tuple]:
    """(name, strong) of the loss tensor ``expr`` carries, or None. Strong: backpropagated in this loop."""
    if isinstance(expr, (ast.Name, ast.Attribute)):
        name = dotted(expr)
        if name in backwarded:
            return name, True
        if name in loss_names:
            return name, False
        if isinstance(expr, ast.Attribute) and expr.attr == "loss" and not _detached_chain(expr.value):
            return name or "….loss", False
        return None
    if isinstance(expr, ast.Subscript):
        return _carrier(expr.value, backwarded, loss_names, index, False)
    if isinstance(expr, ast.BinOp):
        return (_carrier(expr.left, backwarded, loss_names, index, direct_ok)
                or _carrier(expr.right, backwarded, loss_names, index, direct_ok))
    if isinstance(expr, ast.UnaryOp):
        return _carrier(expr.operand, backwarded, loss_names, index, direct_ok)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute):
            if func.attr in DETACHING:
                return None
            if func.attr in KEEPING:
                return _carrier(func.value, backwarded, loss_names, index, direct_ok)
        if direct_ok and _is_loss_call(expr, index):
            return f"{call_name(expr)}(…)", False
    return None


def _detached_chain(expr) -> bool:
    while isinstance(expr, (ast.Attribute, ast.Call, ast.Subscript)):
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Attribute) and expr.func.attr in DETACHING:
                return True
            expr = expr.func
        else:
            expr = expr.value
    return False
