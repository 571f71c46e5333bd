import ast
import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from modellint.code.modules import PARAMETER, FileModules, self_attr
from modellint.code.names import call_name
from modellint.code.walk import children, walk
from modellint.lazy_re import lazy
from modellint.provenance import format_value
from modellint.rule import CodeRule, Option, flag, ok

# Names that say "a learnable loss weight" (log-variance, sigma, task weight).
WEIGHT_PARAM_NAME = lazy(r"log_?s|log_?var|log_?sigma|sigma|uncert|loss|weight|task|precision|lambda|balance|^s_|^w_|_s$", re.I)
LOSS_LIKE = lazy(r"loss|bce|\bce\b|_ce\b|^ce_|mse|nll|arcface|focal|dice|triplet|contrastive|giou|iou|l1|l2|"
                       r"recon|rec_|cls|reg|seg|det|kl|ctc|criterion|err", re.I)
# Operations a value goes through only to be logged or displayed.
LOGGING_OPS = frozenset({"item", "detach", "cpu", "tolist", "numpy", "data", "print", "log", "log_dict", "add_scalar",
                         "add_scalars", "fstring", "format", "info", "debug", "append", "float", "str", "repr"})
LOG_FUNCS = frozenset({"log", "log1p", "log2", "log10"})
SHAPE_OPS = frozenset({"index", "sum", "mean", "clamp", "clip", "squeeze", "unsqueeze", "view", "reshape", "to",
                       "float", "abs", "flatten", "expand", "expand_as", "repeat"})


@dataclass
class _Param:
    attr: str
    node: ast.AST  # the defining statement
    init: Optional[List[float]]  # initial values (one per element), None when unknown
    weight_forms: List[Tuple[str, float]] = field(default_factory=list)  # ("exp", coefficient) / ("pow", exponent)
    regularised: bool = False
    evidence: bool = False  # the weighted term looks like a loss


class UnbalancedLearnableLossWeights(CodeRule):
    code = "ML202"
    name = "unbalanced-learnable-loss-weights"
    severity = "warning"
    summary = "Learnable (uncertainty) loss weights start far apart or lack their regulariser term."
    rationale = (
        "Uncertainty weighting learns one scalar s_i per loss and minimises sum_i exp(-s_i) * L_i + s_i. The `+ s_i` "
        "term (or `+ log sigma_i`) is what stops the optimiser from lowering the objective by growing every s_i: "
        "without it all weights exp(-s_i) slide towards 0 and the terms they scale stop being learned. Weights "
        "initialised orders of magnitude apart (exp(-0) vs exp(-5)) silence one task from step 0. A post-mortem "
        "diarization model did both and its BCE term was suppressed while the error rate stayed above 0.9."
    )
    fix = ("Use the full form `total = sum(torch.exp(-s_i) * L_i + s_i)` (or `0.5 * exp(-s_i) * L_i + 0.5 * s_i`) and "
           "initialise every s_i to the same value (0.0), letting the optimiser find the balance.")
    options = (Option("max_ratio", 100, "Flag initial implied weights that differ by more than this factor."),)
    examples = (
        flag("model.py", """
            import torch
            import torch.nn as nn

            class SpeakerModel(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.log_s_bce = nn.Parameter(torch.tensor(0.0))
                    self.log_s_arcface = nn.Parameter(torch.tensor(5.0))

                def compute_loss(self, bce, arcface):
                    return torch.exp(-self.log_s_bce) * bce + torch.exp(-self.log_s_arcface) * arcface
            """, line=7, title="seed 000: 148x apart at init and no + s regulariser"),
        flag("multitask.py", """
            import torch
            from torch import nn

            class UncertaintyWeighting(nn.Module):
                def __init__(self, n_tasks):
                    super().__init__()
                    self.log_vars = nn.Parameter(torch.zeros(n_tasks))

                def forward(self, losses):
                    total = 0.0
                    for i, loss in enumerate(losses):
                        total = total + torch.exp(-self.log_vars[i]) * loss
                    return total
            """, line=7, title="(b) equal init but no regulariser: every weight is driven to 0"),
        flag("init_apart.py", """
            import math
            import torch
            import torch.nn as nn

            class Joint(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.s_cls = nn.Parameter(torch.tensor(0.0))
                    self.s_box = nn.Parameter(torch.tensor(math.log(1000.0)))

                def loss(self, cls_loss, box_loss):
                    return (torch.exp(-self.s_cls) * cls_loss + self.s_cls
                            + torch.exp(-self.s_box) * box_loss + self.s_box)
            """, line=8, title="(a) regularised, but initial weights 1 vs 0.001"),
        ok("kendall.py", """
            import torch
            import torch.nn as nn

            class SpeakerModel(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.log_s_bce = nn.Parameter(torch.tensor(0.0))
                    self.log_s_arcface = nn.Parameter(torch.tensor(1.0))

                def compute_loss(self, bce, arc):
                    total = (0.5 * torch.exp(-self.log_s_bce) * bce + 0.5 * self.log_s_bce
                             + 0.5 * torch.exp(-self.log_s_arcface) * arc + 0.5 * self.log_s_arcface)
                    stats = {"w_bce": torch.exp(-self.log_s_bce).item()}
                    return total, stats
            """, title="close initial values and + 0.5 * s terms"),
        ok("vector.py", """
            import torch
            import torch.nn as nn

            class MultiTaskLoss(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.log_vars = nn.Parameter(torch.zeros(n))

                def forward(self, losses):
                    precision = torch.exp(-self.log_vars)
                    return (precision * losses).sum() + self.log_vars.sum()
            """, title="vectorised form with the regulariser"),
        ok("sigma.py", """
            import torch
            import torch.nn as nn

            class SigmaWeights(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.sigma_seg = nn.Parameter(torch.ones(1))
                    self.sigma_depth = nn.Parameter(torch.ones(1))

                def forward(self, seg_loss, depth_loss):
                    total = seg_loss / (2 * self.sigma_seg ** 2) + depth_loss / (2 * self.sigma_depth ** 2)
                    return total + torch.log(self.sigma_seg * self.sigma_depth)
            """, title="sigma parameterisation with + log(sigma)"),
        flag("inverse.py", """
            import torch
            import torch.nn as nn

            class TwoTaskLoss(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.log_var_seg = nn.Parameter(torch.zeros(1))
                    self.log_var_depth = nn.Parameter(torch.zeros(1))

                def forward(self, seg_loss, depth_loss):
                    seg = 1.0 / (2 * torch.exp(self.log_var_seg)) * seg_loss
                    depth = depth_loss / torch.exp(self.log_var_depth)
                    return seg + depth
            """, line=7, title="(b) the 1/(2 exp(s)) and L/exp(s) forms without + s"),
        ok("clip.py", """
            import numpy as np
            import torch
            import torch.nn as nn

            class CLIPHead(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))

                def forward(self, img, txt):
                    return self.logit_scale.exp() * img @ txt.t()
            """, title="a learnable temperature is not a loss weight"),
        ok("loop_reg.py", """
            import torch
            import torch.nn as nn

            class AutoWeight(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.log_vars = nn.Parameter(torch.zeros(n))

                def forward(self, losses):
                    total = 0
                    for loss, s in zip(losses, self.log_vars):
                        total += torch.exp(-s) * loss + s
                    return total
            """, title="regulariser through a loop variable"),
    )

    def wants(self, text: str) -> bool:
        return "Parameter" in text  # learnable weights are ``nn.Parameter(...)`` attributes

    def visit_ClassDef(self, node, ctx) -> None:
        info = FileModules.of(ctx).info(node)
        if not info.is_module:
            return
        params: Dict[str, _Param] = {}
        for attr, assignments in info.assignments.items():
            if len(assignments) != 1 or assignments[0].kind != PARAMETER:
                continue
            value = assignments[0].value
            data = value.args[0] if isinstance(value, ast.Call) and value.args else None
            if data is None:
                continue
            small, init = _small_init(data, ctx)
            if small:
                params[attr] = _Param(attr, assignments[0].node, init)
        if not params:
            return
        for method in info.methods.values():
            _scan_method(method, params, ctx)
        weighted = [p for p in params.values() if p.weight_forms and (p.evidence or WEIGHT_PARAM_NAME.search(p.attr))]
        if not weighted:
            return
        weighted.sort(key=lambda p: (p.node.lineno, p.node.col_offset))
        reasons = []
        # (a) implied initial weights
        implied: List[Tuple[str, float, float]] = []
        for p in weighted:
            if p.init is None:
                continue
            form, k = p.weight_forms[0]
            for v in p.init:
                try:
                    w = math.exp(k * v) if form == "exp" else (v ** -k if v > 0 else None)
                except OverflowError:
                    w = None
                if w is not None and w > 0:
                    implied.append((p.attr, v, w))
        max_ratio = float(self.option("max_ratio"))
        if len(implied) >= 2:
            low = min(implied, key=lambda t: t[2])
            high = max(implied, key=lambda t: t[2])
            ratio = high[2] / low[2]
            if ratio > max_ratio:
                reasons.append(
                    f"their initial values imply weights {high[2]:.3g} (`{high[0]}` = {format_value(high[1])}) and "
                    f"{low[2]:.3g} (`{low[0]}` = {format_value(low[1])}), {ratio:.0f}x apart (more than {format_value(max_ratio)}x), "
                    f"so the low-weighted term barely trains from the first step")
        # (b) missing regulariser
        missing = [p.attr for p in weighted if not p.regularised]
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            reasons.append(
                f"the objective weights losses by exp(-s) for {names} but never adds the regulariser term (`+ s`, "
                f"`+ 0.5 * s` or `+ log(sigma)`), so the optimiser lowers the total by growing s and drives every weight towards 0, "
                f"suppressing the terms it scales")
        if not reasons:
            return
        first = weighted[0]
        others = [(ctx.span(p.node), f"learnable loss weight `{p.attr}` defined here") for p in weighted[1:]]
        ctx.report(
            self, first.node,
            f"learnable loss weights in `{info.name}` ({', '.join(p.attr for p in weighted)}): " + "; and ".join(reasons),
            help=("Use `total = sum(torch.exp(-s_i) * L_i + s_i)` (Kendall et al.) and start every s_i at the same value "
                  "(0.0); if one loss is much larger, rescale it by a fixed constant instead."),
            related=others,
        )


# -- initial values ---------------------------------------------------------------
def _number(expr: ast.AST, ctx) -> Optional[float]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float)) and not isinstance(expr.value, bool):
        return float(expr.value)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.USub, ast.UAdd)):
        inner = _number(expr.operand, ctx)
        return None if inner is None else (-inner if isinstance(expr.op, ast.USub) else inner)
    if isinstance(expr, ast.BinOp):
        a, b = _number(expr.left, ctx), _number(expr.right, ctx)
        if a is None or b is None:
            return None
        try:
            if isinstance(expr.op, ast.Add):
                return a + b
            if isinstance(expr.op, ast.Sub):
                return a - b
            if isinstance(expr.op, ast.Mult):
                return a * b
            if isinstance(expr.op, ast.Div):
                return a / b
            if isinstance(expr.op, ast.Pow):
                return a ** b
        except (ZeroDivisionError, OverflowError, ValueError):
            return None
        return None
    if isinstance(expr, ast.Call) and len(expr.args) == 1:
        name = call_name(expr)
        if name in ("log", "exp", "sqrt", "float", "tensor", "Tensor", "FloatTensor"):
            inner = _number(expr.args[0], ctx)
            if inner is None:
                return None
            try:
                return {"log": math.log, "exp": math.exp, "sqrt": math.sqrt}.get(name, float)(inner)
            except (ValueError, OverflowError):
                return None
    if isinstance(expr, (ast.Name, ast.Attribute)) and ctx is not None:
        return ctx.doc.fold_number(expr)
    return None


def _small_shape(args: List[ast.expr]) -> bool:
    """Shape arguments of a scalar or a vector: ``()``, ``1``, ``(k,)``, ``n_tasks``."""
    if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
        args = args[0].elts
    return len(args) <= 1


def _small_init(data: ast.expr, ctx) -> Tuple[bool, Optional[List[float]]]:
    """(is a scalar/vector init, its values when known)."""
    if isinstance(data, ast.BinOp) and isinstance(data.op, ast.Mult):
        for tensor, factor in ((data.left, data.right), (data.right, data.left)):
            k = _number(factor, ctx)
            if k is not None:
                small, values = _small_init(tensor, ctx)
                return small, (None if values is None else [k * v for v in values])
        return False, None
    if isinstance(data, ast.Call) and isinstance(data.func, ast.Attribute) and data.func.attr in ("float", "to", "cuda", "double"):
        return _small_init(data.func.value, ctx)
    if not isinstance(data, ast.Call):
        return False, None
    qual = ctx.qualname(data.func) or ""
    last = qual.rsplit(".", 1)[-1]
    if last in ("tensor", "Tensor", "FloatTensor", "as_tensor") and data.args:
        payload = data.args[0]
        items = payload.elts if isinstance(payload, (ast.List, ast.Tuple)) else [payload]
        if len(items) > 64 or any(isinstance(i, (ast.List, ast.Tuple)) for i in items):
            return False, None
        values = [_number(i, ctx) for i in items]
        return True, (values if all(v is not None for v in values) else None)
    if last in ("zeros", "ones", "randn", "rand", "empty") and qual.startswith("torch."):
        if not _small_shape(list(data.args)):
            return False, None
        return True, {"zeros": [0.0], "ones": [1.0]}.get(last)
    if last == "full" and qual.startswith("torch.") and len(data.args) >= 2:
        if not _small_shape([data.args[0]]):
            return False, None
        v = _number(data.args[1], ctx)
        return True, (None if v is None else [v])
    return False, None


# -- uses ----------------------------------------------------------------------------
def _scan_method(method: ast.AST, params: Dict[str, _Param], ctx) -> None:
    parents: Dict[int, ast.AST] = {}
    for node in walk(method):
        for child in children(node):
            parents[id(child)] = node
    aliases: Dict[str, str] = {}  # local name → param attr (``s = self.log_vars[i]``)
    exp_aliases: Dict[str, Tuple[str, str, float]] = {}  # ``precision = torch.exp(-self.log_vars)``
    # aliases first (in source order is enough for straight-line code)
    for node in walk(method):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            attr = _param_in(node.value, params, aliases)
            if attr is not None:
                if _is_exp_expr(node.value):
                    found = _exp_use(node.value, attr, params, aliases)
                    if found is not None:
                        exp_aliases[node.targets[0].id] = (attr,) + found
                elif not _contains_exp(node.value):
                    aliases[node.targets[0].id] = attr
        elif isinstance(node, (ast.For, ast.comprehension)):
            for name, source in _loop_pairs(node.target, node.iter):
                attr = _param_in(source, params, aliases)
                if attr is not None:
                    aliases[name] = attr
    for node in walk(method):
        attr = None
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and self_attr(node) in params:
            attr = self_attr(node)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in aliases:
            attr = aliases[node.id]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in exp_aliases:
            attr, form, k = exp_aliases[node.id]
            use = _factor_use(node, parents, ctx)
            if use is not None:
                _record_weight(params[attr], form, k if use == "multiplier" else -k, node, parents)
            continue
        if attr is None:
            continue
        _classify(node, attr, params[attr], parents, ctx)


def _param_in(expr: ast.AST, params, aliases) -> Optional[str]:
    for node in walk(expr):
        if isinstance(node, ast.Attribute) and self_attr(node) in params:
            return self_attr(node)
        if isinstance(node, ast.Name) and node.id in aliases:
            return aliases[node.id]
    return None


def _contains_exp(expr: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and call_name(n) == "exp" for n in walk(expr))


def _is_exp_expr(expr: ast.AST) -> bool:
    """``torch.exp(-s)`` or a constant multiple of it: a weight kept in a local (``precision = ...``)."""
    if isinstance(expr, ast.Call) and call_name(expr) == "exp":
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mult, ast.Div)):
        if isinstance(expr.left, ast.Constant):
            return _is_exp_expr(expr.right)
        if isinstance(expr.right, ast.Constant):
            return _is_exp_expr(expr.left)
    return False


def _loop_pairs(target: ast.AST, source: ast.AST):
    """``for i, s in enumerate(x)`` → (s, x); ``for l, s in zip(a, b)`` → (l, a), (s, b)."""
    if isinstance(source, ast.Call) and isinstance(source.func, ast.Name):
        if source.func.id == "enumerate" and source.args and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            return _loop_pairs(target.elts[1], source.args[0])
        if source.func.id == "zip" and isinstance(target, ast.Tuple) and len(target.elts) == len(source.args):
            pairs = []
            for t, s in zip(target.elts, source.args):
                pairs.extend(_loop_pairs(t, s))
            return pairs
    if isinstance(target, ast.Name):
        return [(target.id, source)]
    return []


def _coefficient(expr: ast.AST, is_ref) -> Optional[float]:
    """exp's argument as ``k * s``: the coefficient k, None when not of that form."""
    if is_ref(expr):
        return 1.0
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = _coefficient(expr.operand, is_ref)
        return None if inner is None else -inner
    if isinstance(expr, ast.Subscript):
        return _coefficient(expr.value, is_ref)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "neg":
            inner = _coefficient(expr.func.value, is_ref)
            return None if inner is None else -inner
        if expr.func.attr in SHAPE_OPS:
            return _coefficient(expr.func.value, is_ref)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mult, ast.Div)):
        for ref_side, const_side in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(expr.op, ast.Div) and ref_side is expr.right:
                continue
            k = _number(const_side, None) if isinstance(const_side, (ast.Constant, ast.UnaryOp, ast.BinOp)) else None
            inner = _coefficient(ref_side, is_ref)
            if k is not None and inner is not None:
                return inner * k if isinstance(expr.op, ast.Mult) else (inner / k if k else None)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Sub) and isinstance(expr.left, ast.Constant) and expr.left.value == 0:
        inner = _coefficient(expr.right, is_ref)
        return None if inner is None else -inner
    return None


def _is_ref_factory(params, aliases):
    def is_ref(node):
        return (isinstance(node, ast.Attribute) and self_attr(node) in params) or (isinstance(node, ast.Name) and node.id in aliases)
    return is_ref


def _exp_use(expr: ast.AST, attr: str, params, aliases) -> Optional[Tuple[str, float]]:
    """("exp", k) for the first ``exp(k * s)`` inside ``expr``."""
    is_ref = _is_ref_factory(params, aliases)
    for node in walk(expr):
        if isinstance(node, ast.Call) and call_name(node) == "exp":
            arg = node.args[0] if node.args else (node.func.value if isinstance(node.func, ast.Attribute) else None)
            if arg is None:
                continue
            k = _coefficient(arg, is_ref)
            if k is not None:
                return "exp", k
    return None


def _factor_use(node: ast.AST, parents, ctx) -> Optional[str]:
    """How a weight expression is applied: "multiplier", "divisor" or None. Constant scaling
    (``0.5 * w``, ``w / 2``) is skipped and a constant numerator inverts (``1 / (2 * exp(s))``)."""
    cur = node
    inverted = False
    while True:
        parent = parents.get(id(cur))
        if isinstance(parent, ast.Subscript) and parent.value is cur:
            cur = parent
            continue
        if not isinstance(parent, ast.BinOp):
            return None
        other = parent.right if parent.left is cur else parent.left
        constant = isinstance(other, ast.Constant)
        use = None
        if isinstance(parent.op, ast.Mult):
            if constant:
                cur = parent
                continue
            use = "multiplier"
        elif isinstance(parent.op, ast.Div):
            if constant:
                inverted ^= parent.right is cur
                cur = parent
                continue
            use = "divisor" if parent.right is cur else None
        if use is None:
            return None
        if inverted:
            return "divisor" if use == "multiplier" else "multiplier"
        return use


def _record_weight(param: _Param, form: str, k: float, node: ast.AST, parents) -> None:
    # only a weight that shrinks as s grows (exp(-s) * L, L / exp(s), L / sigma**2) is a loss weight
    if (form == "exp" and k < 0) or (form == "pow" and k > 0):
        param.weight_forms.append((form, k))
        # evidence: the weighted operand looks like a loss
        cur = node
        for _ in range(6):
            parent = parents.get(id(cur))
            if parent is None or isinstance(parent, ast.stmt):
                if isinstance(parent, (ast.Assign, ast.AugAssign, ast.Return)):
                    targets = getattr(parent, "targets", None) or [getattr(parent, "target", None)]
                    if any(LOSS_LIKE.search(ast.unparse(t) if t is not None and hasattr(ast, "unparse") else "") for t in targets):
                        param.evidence = True
                break
            if isinstance(parent, ast.BinOp):
                other = parent.right if parent.left is cur else parent.left
                text = ast.unparse(other) if hasattr(ast, "unparse") else ""
                if LOSS_LIKE.search(text):
                    param.evidence = True
            cur = parent


def _classify(ref: ast.AST, attr: str, param: _Param, parents, ctx) -> None:
    """Walk up from one reference of the parameter and decide what the use is."""
    ops: List[Tuple[str, ast.AST]] = []
    cur = ref
    while True:
        parent = parents.get(id(cur))
        if parent is None or isinstance(parent, ast.stmt):
            if isinstance(parent, ast.AugAssign) and parent.value is cur:
                ops.append(("augassign", parent))
            elif isinstance(parent, (ast.Return, ast.Assign)) and not ops:
                ops.append(("bare", parent))
            break
        if isinstance(parent, ast.Attribute) and parent.value is cur:
            grand = parents.get(id(parent))
            if isinstance(grand, ast.Call) and grand.func is parent:
                ops.append((parent.attr, grand))
                cur = grand
                continue
            ops.append((parent.attr, parent))
            cur = parent
            continue
        if isinstance(parent, ast.Call):
            if cur in parent.args or any(kw.value is cur for kw in parent.keywords):
                ops.append((call_name(parent), parent))
            cur = parent
            continue
        if isinstance(parent, ast.Subscript):
            ops.append(("index", parent))
        elif isinstance(parent, ast.UnaryOp):
            ops.append(("neg" if isinstance(parent.op, ast.USub) else "unary", parent))
        elif isinstance(parent, ast.BinOp):
            ops.append((type(parent.op).__name__, parent))
        elif isinstance(parent, (ast.JoinedStr, ast.FormattedValue)):
            ops.append(("fstring", parent))
        elif isinstance(parent, (ast.List, ast.Tuple, ast.Dict, ast.Set)):
            ops.append(("container", parent))
        elif isinstance(parent, ast.Compare):
            ops.append(("compare", parent))
        else:
            ops.append(("other", parent))
        cur = parent
    names = [name for name, _ in ops]
    # 1. inside exp(): a weighting use
    if "exp" in names:
        index = names.index("exp")
        exp_call = ops[index][1]
        arg = exp_call.args[0] if exp_call.args else exp_call.func.value
        is_ref = lambda n: n is ref or (_same_ref(n, ref))
        k = _coefficient(arg, is_ref)
        if k is None:
            return
        use = _factor_use(exp_call, parents, ctx)
        if use == "multiplier":
            _record_weight(param, "exp", k, exp_call, parents)
        elif use == "divisor":
            _record_weight(param, "exp", -k, exp_call, parents)
        return
    # 2. only logged / displayed / handed to an optimizer
    for name in names:
        if name in LOGGING_OPS or name in ("container", "compare", "fstring"):
            return
        if name in ("Add", "Sub", "Mult", "Div", "Pow", "augassign") or name in LOG_FUNCS:
            break
    # 3. log(sigma): the regulariser of the sigma form
    if any(name in LOG_FUNCS for name in names):
        param.regularised = True
        return
    # 4. sigma ** 2 in a denominator: the sigma form's weight
    if "Pow" in names:
        pow_node = ops[names.index("Pow")][1]
        exponent = _number(pow_node.right, ctx)
        if exponent is not None and _factor_use(pow_node, parents, ctx) == "divisor":
            _record_weight(param, "pow", exponent, pow_node, parents)
        return
    # 5. added/subtracted/scaled into the objective: the + s term
    for name in names:
        if name in ("Add", "Sub", "Mult", "augassign"):
            param.regularised = True
            return
        if name in SHAPE_OPS or name in ("neg", "sum", "mean"):
            continue
        return


def _same_ref(a: ast.AST, b: ast.AST) -> bool:
    return isinstance(a, type(b)) and ast.dump(a) == ast.dump(b)
