import ast
from typing import Dict, List, Optional, Tuple

from modellint.code.loops import describe, file_index, last
from modellint.code.names import call_name, dotted, keyword
from modellint.code.walk import children
from modellint.fixes import UNSAFE, PySource, attach, make_fix
from modellint.rule import CodeRule, fixes, flag, ok

SOFTMAX = "softmax"
SIGMOID = "sigmoid"
CE = "CrossEntropyLoss"
BCE_LOGITS = "BCEWithLogitsLoss"

LOSS_CLASSES = {"CrossEntropyLoss": CE, "BCEWithLogitsLoss": BCE_LOGITS}
LOSS_FUNCTIONS = {"cross_entropy": CE, "binary_cross_entropy_with_logits": BCE_LOGITS}
ACTIVATION_FUNCTIONS = {"softmax": SOFTMAX, "sigmoid": SIGMOID, "expit": SIGMOID}
ACTIVATION_MODULES = {"Softmax": SOFTMAX, "Sigmoid": SIGMOID}
# shape/dtype/device changes keep probabilities probabilities
PASSTHROUGH = frozenset({
    "view", "reshape", "squeeze", "unsqueeze", "permute", "transpose", "contiguous", "flatten", "float", "double",
    "half", "to", "cuda", "cpu", "clone", "type", "type_as", "clamp", "clamp_", "clip", "view_as", "reshape_as",
    "expand", "expand_as", "repeat", "narrow", "index_select", "squeeze_", "unsqueeze_",
})

Env = Dict[str, Tuple[str, ast.AST]]


class ActivationBeforeLoss(CodeRule):
    code = "ML402"
    name = "activation-before-loss"
    severity = "error"
    summary = "Probabilities (softmax/sigmoid output) are fed to a loss that expects logits."
    rationale = (
        "`CrossEntropyLoss`/`F.cross_entropy` apply log-softmax themselves and `BCEWithLogitsLoss`/"
        "`binary_cross_entropy_with_logits` apply a sigmoid. Given probabilities, they squash values that "
        "already lie in [0, 1]: the loss can barely move away from log(num_classes), gradients vanish as "
        "the model grows confident, and training stalls at a plateau while accuracy looks half-right. "
        "This includes an `nn.Sequential` or a model whose `forward` ends in `nn.Softmax`. "
        "`log_softmax` + `NLLLoss` is the correct pair and is not flagged, nor are softmax outputs used "
        "only for metrics (`argmax`, accuracy) or as soft targets (the second argument)."
    )
    fix = "Pass the raw logits to the loss and apply softmax/sigmoid only where probabilities are needed (metrics, inference)."
    examples = (
        flag("train.py", """
            import torch
            import torch.nn.functional as F

            def training_step(model, x, y):
                logits = model(x)
                probs = F.softmax(logits, dim=1)
                loss = F.cross_entropy(probs, y)
                return loss
            """, line=7, title="softmax into F.cross_entropy"),
        flag("train.py", """
            import torch
            import torch.nn as nn

            criterion = nn.BCEWithLogitsLoss()

            def step(model, x, y):
                out = torch.sigmoid(model(x))
                return criterion(out, y.float())
            """, line=8, title="sigmoid into BCEWithLogitsLoss"),
        flag("train.py", """
            import torch
            import torch.nn as nn

            model = nn.Sequential(
                nn.Linear(784, 256),
                nn.ReLU(),
                nn.Linear(256, 10),
                nn.Softmax(dim=1),
            )
            loss_fn = nn.CrossEntropyLoss()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)

            def train(loader):
                for x, y in loader:
                    preds = model(x)
                    loss = loss_fn(preds, y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            """, line=16, title="nn.Sequential ending in nn.Softmax"),
        flag("model.py", """
            import torch.nn as nn
            import torch.nn.functional as F

            class Classifier(nn.Module):
                def __init__(self, dim, classes):
                    super().__init__()
                    self.fc = nn.Linear(dim, classes)

                def forward(self, x):
                    return F.softmax(self.fc(x), dim=-1)

            class Trainer:
                def __init__(self):
                    self.model = Classifier(128, 5)
                    self.criterion = nn.CrossEntropyLoss()

                def step(self, x, y):
                    out = self.model(x)
                    return self.criterion(out.view(-1, 5), y)
            """, line=19, title="a model whose forward ends in softmax"),
        flag("train.py", """
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.proj = nn.Linear(64, 3)
                    self.act = nn.Softmax(dim=-1)

                def loss(self, x, y):
                    p = self.act(self.proj(x))
                    return nn.CrossEntropyLoss()(p, y)
            """, line=11, title="an nn.Softmax attribute"),
        flag("probe.py", """
            import torch
            from torch.nn import LazyLinear, Sequential, Softmax

            probe = Sequential(LazyLinear(10), Softmax(-1)).to("cuda")
            criterion = torch.nn.CrossEntropyLoss()

            def fit(features, labels):
                pred = probe(features)
                return criterion(pred, labels)
            """, line=9, title="Sequential(..., Softmax) moved with .to(device)"),
        ok("train.py", """
            import torch.nn as nn
            import torch.nn.functional as F

            nll = nn.NLLLoss()

            def step(model, x, y):
                log_probs = F.log_softmax(model(x), dim=1)
                return nll(log_probs, y)
            """, title="log_softmax + NLLLoss is correct"),
        ok("train.py", """
            import torch
            import torch.nn.functional as F

            def step(model, x, y):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                probs = torch.softmax(logits, dim=-1)
                acc = (probs.argmax(dim=-1) == y).float().mean()
                return loss, acc, probs.max(dim=-1).values
            """, title="softmax only for metrics"),
        ok("distill.py", """
            import torch.nn.functional as F

            def distill(student_logits, teacher_logits, T=2.0):
                soft = F.softmax(teacher_logits / T, dim=-1)
                return F.cross_entropy(student_logits / T, soft)
            """, title="softmax as the soft target (second argument)"),
        ok("focal.py", """
            import torch
            import torch.nn.functional as F

            def focal(logits, target, gamma=2.0):
                p = torch.sigmoid(logits)
                ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                p_t = p * target + (1 - p) * (1 - target)
                return (ce * (1 - p_t) ** gamma).mean()
            """, title="sigmoid computed next to the logits loss, not fed to it"),
        ok("train.py", """
            import torch
            import torch.nn.functional as F

            def step(model, x, y, training):
                logits = model(x)
                if training:
                    out = logits
                else:
                    out = torch.softmax(logits, dim=1)
                return F.cross_entropy(out, y)
            """, title="softmax on only one branch: not certain"),
        ok("train.py", """
            import torch.nn as nn

            def step(probs, y):
                return nn.BCELoss()(probs, y)
            """, title="BCELoss expects probabilities"),
        fixes("train.py", """
            import torch
            import torch.nn.functional as F

            def training_step(model, x, y):
                logits = model(x)
                probs = F.softmax(logits, dim=1)  # class probabilities
                loss = F.cross_entropy(probs, y)
                return loss
            """, """
            import torch
            import torch.nn.functional as F

            def training_step(model, x, y):
                logits = model(x)
                probs = logits  # class probabilities
                loss = F.cross_entropy(probs, y)
                return loss
            """, unsafe=True, title="fix (unsafe): the softmax is dropped, the loss gets the logits"),
        fixes("train.py", """
            import torch
            import torch.nn as nn

            criterion = nn.BCEWithLogitsLoss()

            def step(model, x, y):
                loss = criterion(torch.sigmoid(model(x) + 1.0).squeeze(1), y)
                return loss
            """, """
            import torch
            import torch.nn as nn

            criterion = nn.BCEWithLogitsLoss()

            def step(model, x, y):
                loss = criterion((model(x) + 1.0).squeeze(1), y)
                return loss
            """, unsafe=True, title="fix (unsafe): the sigmoid's argument is kept in parentheses"),
    )

    def wants(self, text: str) -> bool:
        # a logits loss and an activation must both be named
        return any(w in text for w in ("cross_entropy", "CrossEntropyLoss", "BCEWithLogitsLoss")) and \
            any(w in text for w in ("softmax", "Softmax", "sigmoid", "Sigmoid", "expit"))

    def visit_Module(self, node, ctx) -> None:
        self._classes: Dict[str, Optional[Tuple[str, ast.AST]]] = {}
        self._ctx = ctx
        body = [s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        _Interpreter(self, ctx, report=True, scope=body).run(body, {})

    def visit_FunctionDef(self, node, ctx) -> None:
        _Interpreter(self, ctx, report=True, scope=node.body).run(node.body, {})

    def visit_AsyncFunctionDef(self, node, ctx) -> None:
        _Interpreter(self, ctx, report=True, scope=node.body).run(node.body, {})

    # -- what a same-file class returns --------------------------------------
    def class_output(self, name: str, ctx) -> Optional[Tuple[str, ast.AST]]:
        if name in self._classes:
            return self._classes[name]
        self._classes[name] = None  # recursion guard
        klass = file_index(ctx).classes.get(name)
        result = None
        if klass is not None:
            forward = next((s for s in klass.body if isinstance(s, ast.FunctionDef) and s.name == "forward"), None)
            if forward is not None:
                interp = _Interpreter(self, ctx, report=False)
                interp.run(forward.body, {})
                kinds = {k for k, _ in interp.returns} if interp.returns else set()
                if len(kinds) == 1 and None not in kinds and interp.returns_all_known:
                    result = interp.returns[-1]
        self._classes[name] = result
        return result


class _Interpreter:
    """Forward, branch-aware tracking of which local values hold probabilities."""

    def __init__(self, rule: ActivationBeforeLoss, ctx, report: bool, scope=None):
        self.scope = scope  # the statements interpreted (fixes edit only activations among them)
        self._scope_ids = None
        self.rule = rule
        self.ctx = ctx
        self.index = file_index(ctx)
        self.report = report
        self.returns: List[Tuple[Optional[str], Optional[ast.AST]]] = []
        self.returns_all_known = True

    def run(self, stmts, env: Env) -> Env:
        for stmt in stmts:
            env = self.stmt(stmt, env)
        return env

    def stmt(self, stmt, env: Env) -> Env:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return env
        if isinstance(stmt, ast.If):
            self.check(stmt.test, env)
            return _merge(self.run(stmt.body, dict(env)), self.run(stmt.orelse, dict(env)))
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            self.check(stmt.iter if not isinstance(stmt, ast.While) else stmt.test, env)
            after = self.run(stmt.body, dict(env))
            env = _merge(env, after)
            return self.run(stmt.orelse, env)
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self.check(item.context_expr, env)
            return self.run(stmt.body, env)
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            env = self.run(stmt.body, env)
            for handler in stmt.handlers:
                env = _merge(env, self.run(handler.body, dict(env)))
            env = self.run(stmt.orelse, env)
            return self.run(stmt.finalbody, env)
        if type(stmt).__name__ == "Match":
            branches = [self.run(case.body, dict(env)) for case in stmt.cases]
            for branch in branches:
                env = _merge(env, branch)
            return env
        self.check(stmt, env)
        if isinstance(stmt, ast.Assign):
            self.assign(stmt.targets, stmt.value, env)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.assign([stmt.target], stmt.value, env)
        elif isinstance(stmt, ast.AugAssign):
            env.pop(dotted(stmt.target), None)
        elif isinstance(stmt, ast.Return):
            kind = self.eval(stmt.value, env) if stmt.value is not None else None
            if kind is None:
                self.returns_all_known = False
            self.returns.append(kind if kind else (None, None))
        return env

    def assign(self, targets, value, env: Env) -> None:
        for target in targets:
            if isinstance(target, (ast.Tuple, ast.List)):
                values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
                for i, element in enumerate(target.elts):
                    if values is not None:
                        self.assign([element], values[i], env)
                    else:
                        env.pop(dotted(element), None)
                continue
            name = dotted(target)
            if not name:
                continue
            kind = self.eval(value, env)
            if kind:
                env[name] = kind
            else:
                env.pop(name, None)

    # -- values ----------------------------------------------------------------
    def eval(self, expr, env: Env, depth: int = 0) -> Optional[Tuple[str, ast.AST]]:
        if expr is None or depth > 20:
            return None
        if isinstance(expr, (ast.Name, ast.Attribute)):
            found = env.get(dotted(expr))
            if found:
                return found
            if isinstance(expr, ast.Attribute) and expr.attr in ("data",):
                return self.eval(expr.value, env, depth + 1)
            return None
        if isinstance(expr, ast.Subscript):
            return self.eval(expr.value, env, depth + 1)
        if isinstance(expr, ast.IfExp):
            a = self.eval(expr.body, env, depth + 1)
            b = self.eval(expr.orelse, env, depth + 1)
            return a if a and b and a[0] == b[0] else None
        if isinstance(expr, ast.Call):
            return self.eval_call(expr, env, depth)
        return None

    def eval_call(self, call: ast.Call, env: Env, depth: int) -> Optional[Tuple[str, ast.AST]]:
        func = call.func
        name = call_name(call)
        if name in ACTIVATION_FUNCTIONS:
            return ACTIVATION_FUNCTIONS[name], call
        if isinstance(func, ast.Attribute) and name in PASSTHROUGH:
            return self.eval(func.value, env, depth + 1)
        if name in ("clamp", "clip") and call.args:  # torch.clamp(probs, eps, 1)
            return self.eval(call.args[0], env, depth + 1)
        if isinstance(func, ast.Call) and call_name(func) in ACTIVATION_MODULES:
            return ACTIVATION_MODULES[call_name(func)], call  # nn.Softmax(dim=1)(x)
        target = func
        if isinstance(func, ast.Attribute) and func.attr == "forward":
            target = func.value
        if isinstance(target, (ast.Name, ast.Attribute)):
            module = self.module_output(last(dotted(target)))
            if module:
                return module[0], call
        return None

    def module_output(self, name: str) -> Optional[Tuple[str, ast.AST]]:
        """What calling the module bound to ``name`` returns, when every binding agrees."""
        values = self.index.bindings.get(name, ())
        if not values:
            return None
        kinds = set()
        origin = None
        for value in values:
            value = _strip_module_methods(value)
            if isinstance(value, (ast.Name, ast.Attribute)) and last(dotted(value)) == name:
                continue  # ``model = model.to(device)`` does not change what the model is
            out = self.constructed_output(value)
            if out is None:
                return None
            kinds.add(out[0])
            origin = out[1]
        return (kinds.pop(), origin) if len(kinds) == 1 else None

    def constructed_output(self, value) -> Optional[Tuple[str, ast.AST]]:
        if not isinstance(value, ast.Call):
            return None
        name = call_name(value)
        if name in ACTIVATION_MODULES:
            return ACTIVATION_MODULES[name], value
        if name == "Sequential":
            layers = list(value.args)
            if len(layers) == 1 and isinstance(layers[0], ast.Call) and call_name(layers[0]) == "OrderedDict" and layers[0].args:
                pairs = layers[0].args[0]
                if isinstance(pairs, (ast.List, ast.Tuple)) and pairs.elts and isinstance(pairs.elts[-1], ast.Tuple) \
                        and len(pairs.elts[-1].elts) == 2:
                    layers = [pairs.elts[-1].elts[1]]
            if layers and not any(isinstance(a, ast.Starred) for a in layers[-1:]):
                tail = layers[-1]
                if isinstance(tail, ast.Call) and call_name(tail) in ACTIVATION_MODULES:
                    return ACTIVATION_MODULES[call_name(tail)], tail
            return None
        if isinstance(value.func, ast.Name) and name in self.index.classes:
            return self.rule.class_output(name, self.ctx)
        return None

    # -- losses ----------------------------------------------------------------
    def loss_kind(self, call: ast.Call) -> Optional[str]:
        func = call.func
        name = call_name(call)
        if name in LOSS_FUNCTIONS:
            qual = self.ctx.qualname(func) or ""
            if qual.startswith("torch.") or qual == name and name in _imported_from_torch(self.ctx, name):
                return LOSS_FUNCTIONS[name]
            return None
        if isinstance(func, ast.Call):
            return self.loss_class(func)
        target = func.value if isinstance(func, ast.Attribute) and func.attr == "forward" else func
        if isinstance(target, (ast.Name, ast.Attribute)):
            values = self.index.bindings.get(last(dotted(target)), ())
            kinds = {self.loss_class(v) if isinstance(v, ast.Call) else None for v in values}
            if len(kinds) == 1:
                return kinds.pop()
        return None

    def loss_class(self, ctor: ast.Call) -> Optional[str]:
        name = call_name(ctor)
        if name not in LOSS_CLASSES or name in self.index.classes:
            return None
        qual = self.ctx.qualname(ctor.func) or ""
        if qual.startswith("torch.") or (qual == name and name in _imported_from_torch(self.ctx, name)):
            return LOSS_CLASSES[name]
        return None

    def check(self, node, env: Env) -> None:
        if not self.report:
            return
        stack = [node]
        calls = []
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Call):
                calls.append(current)
            for child in children(current):
                if not isinstance(child, (ast.stmt, ast.Lambda)):
                    stack.append(child)
        for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
            loss = self.loss_kind(call)
            if loss is None:
                continue
            arg = call.args[0] if call.args else keyword(call, "input")
            seen = self.eval(arg, env)
            if seen is None:
                continue
            activation, origin = seen
            expects = "applies log-softmax itself" if loss == CE else "applies a sigmoid itself"
            right = "F.log_softmax + nn.NLLLoss" if activation == SOFTMAX else "nn.BCELoss"
            related = []
            if origin is not None and getattr(origin, "lineno", None) and origin is not call:
                related = [(self.ctx.span(origin), f"{activation} applied here")]
            self.ctx.report(
                self.rule, call,
                f"`{describe(arg, 40)}` is a {activation} output (probabilities) but `{describe(call.func, 40)}` is a "
                f"{loss} that expects logits and {expects}: the loss saturates near its starting value and "
                f"gradients vanish as predictions grow confident",
                help=f"Pass the raw logits to `{describe(call.func, 40)}` and keep {activation} for metrics/inference "
                     f"(or use {right} if you need the probabilities in the loss).",
                related=related,
            )
            attach(self.ctx, self._drop_fix(origin, activation))

    def _drop_fix(self, origin, activation: str):
        """``F.softmax(logits, dim=1)`` → ``logits`` (``x.sigmoid()`` → ``x``) where it is computed in this scope."""
        if not isinstance(origin, ast.Call) or self.scope is None:
            return None
        if self._scope_ids is None:
            ids, stack = set(), list(self.scope)
            while stack:
                node = stack.pop()
                ids.add(id(node))
                stack.extend(c for c in children(node)
                             if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)))
            self._scope_ids = ids
        if id(origin) not in self._scope_ids:
            return None  # a module's forward or a helper: other callers rely on its probabilities
        func = origin.func
        args = origin.args
        if isinstance(func, ast.Call):  # nn.Softmax(dim=1)(x)
            value = args[0] if len(args) == 1 and not origin.keywords else None
        elif call_name(origin) in ACTIVATION_FUNCTIONS:
            qual = self.ctx.qualname(func) or ""
            if isinstance(func, ast.Attribute) and not qual.startswith(("torch.", "scipy.", "numpy.")):
                value = func.value  # ``logits.softmax(dim=-1)``
            else:
                value = args[0] if args else None
        else:
            value = None
        if value is None or isinstance(value, ast.Starred):
            return None
        src = PySource.of(self.ctx)
        text = src.text(value)
        if not isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.Constant)):
            text = f"({text})"
        return make_fix(UNSAFE, f"Drop the {activation} and pass `{describe(value, 40)}` (the logits)",
                        [src.replace(origin, text)])


MODULE_METHODS = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "bfloat16",
                            "requires_grad_", "to_empty"})


def _strip_module_methods(value):
    """``Sequential(...).to(device).eval()`` → ``Sequential(...)``."""
    for _ in range(6):
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in MODULE_METHODS:
            value = value.func.value
        else:
            break
    return value


def _imported_from_torch(ctx, name: str):
    qual = ctx.imports.aliases.get(name, "")
    return {name} if qual.startswith("torch") else set()


def _merge(a: Env, b: Env) -> Env:
    return {k: v for k, v in a.items() if k in b and b[k][0] == v[0]}
