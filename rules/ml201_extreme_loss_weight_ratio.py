import ast
import re
from typing import Dict, List, Optional, Tuple

from modellint.code.modules import FileModules, enclosing_class, self_attr
from modellint.code.walk import walk
from modellint.facts import names
from modellint.facts.loss_weights import (
    LOSS_TERMS,
    WEIGHT_MAPPING_KEYS,
    is_regularisation_term,
    term_tokens,
)
from modellint.lazy_re import lazy
from modellint.provenance import format_value
from modellint.rule import CodeRule, Option, RecipeRule, flag, ok

# Names of a variable/function that holds or returns a training objective.
LOSS_TARGET = lazy(r"loss|objective|criterion", re.I)
# Code weight mappings: the config keys plus ``self.loss_weights`` style attributes.
CODE_WEIGHT_TARGETS = WEIGHT_MAPPING_KEYS
# what a function needs on its lines before it can have weights apart: a ``*`` or ``/`` (a
# weighted term) or a weight mapping's name (every one says loss_, or is one of the others)
_WEIGHTED = ("*", "/", "loss_", "weight_dict", "lambdas", "task_weights")  # searched in lower case

Term = Tuple[float, ast.AST, str]  # (weight, the weighted expression, its label)


class ExtremeLossWeightRatio(CodeRule, RecipeRule):
    code = "ML201"
    name = "extreme-loss-weight-ratio"
    severity = "warning"
    summary = "Static weights of loss terms summed into one objective differ by more than max_ratio."
    rationale = (
        "When one supervised term is weighted 1000x less than another (`loss = bce + 0.001 * arcface`), its gradient is "
        "noise next to the other's: that head stops learning and its metric stays at chance, while the total loss "
        "still goes down. Weights that far apart usually compensate for terms of very different scale; normalise "
        "the terms instead. A post-mortem diarization model whose ArcFace loss (~13) dwarfed its BCE loss (~0.15) "
        "was 're-balanced' by hand-tuned weights and still never learned. KL and regularisation terms (KL/KLD, beta, "
        "weight decay, L1/L2 penalties, entropy bonuses) are meant to be small and are left out (ML203 owns KL); "
        "a term weighted 0 is disabled, not extreme."
    )
    fix = ("Bring the terms to comparable scales (normalise each loss, e.g. divide by its running mean at the start "
           "of training) and keep their weights within ~100x of each other.")
    options = (Option("max_ratio", 100, "Flag weights of one objective that differ by more than this factor."),)
    examples = (
        flag("train.py", """
            import torch.nn.functional as F

            def training_step(model, batch):
                logits, emb = model(batch["x"])
                bce = F.binary_cross_entropy_with_logits(logits, batch["vad"])
                arcface = model.arcface(emb, batch["spk"])
                loss = bce + 0.001 * arcface
                return loss
            """, line=7, title="code: literal weights 1 vs 0.001"),
        flag("losses.py", """
            ARC_WEIGHT = 5e-4

            def total_loss(outputs, targets, crit):
                loss = crit["ce"](outputs["cls"], targets["cls"])
                loss += 2.0 * crit["dice"](outputs["mask"], targets["mask"])
                loss += ARC_WEIGHT * crit["arcface"](outputs["emb"], targets["spk"])
                return loss
            """, line=6, title="code: accumulated with += and a module constant"),
        flag("segmentation.py", """
            def segmentation_objective(ce, dice):
                total = ce + dice / 1000.0
                return total
            """, line=2, title="code: a term divided down"),
        flag("configs/train.yaml", """
            model:
              d_model: 256
            loss_weights:
              bce: 1.0
              arcface: 0.001
            """, line=5, title="config: a mapping of loss weights"),
        flag("configs/retina_like.py", """
            model = dict(
                type='RetinaNet',
                bbox_head=dict(
                    type='RetinaHead',
                    loss_cls=dict(type='FocalLoss', gamma=2.0, alpha=0.25, loss_weight=1.0),
                    loss_bbox=dict(type='L1Loss', loss_weight=500.0)))
            """, line=5, title="config: mmdet loss sections of one head"),
        flag("configs/flat.yaml", """
            train:
              bce_loss_weight: 1.0
              arcface_loss_weight: 0.0005
            """, line=3, title="config: flat *_loss_weight keys of one section"),
        flag("model.py", """
            import torch.nn as nn

            class Criterion(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.loss_weights = {"ce": 1.0, "bbox": 5.0, "contrastive": 0.01}
            """, line=6, title="code: a weight mapping"),
        flag("criterion.py", """
            import torch.nn as nn
            import torch.nn.functional as F

            class JointCriterion(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.w_det = 1.0
                    self.w_embed = 0.0002

                def forward(self, det_logits, det_targets, emb, ids):
                    det_loss = F.binary_cross_entropy_with_logits(det_logits, det_targets)
                    emb_loss = F.cross_entropy(emb, ids)
                    return self.w_det * det_loss + self.w_embed * emb_loss
            """, line=13, title="code: weights set once to literals on self"),
        flag("configs/seg.yaml", """
            criterion:
              name: combo
              weights:
                ce: 1.0
                dice: 0.002
            """, line=5, title="config: a weights mapping inside a criterion section"),
        flag("configs/hydra_losses.yaml", """
            losses:
              bce:
                _target_: torch.nn.BCEWithLogitsLoss
                weight: 1.0
              arcface:
                _target_: speaker.losses.ArcFace
                weight: 0.0001
            """, line=7, title="config: one section per loss with its weight"),
        ok("vae.py", """
            import torch.nn.functional as F

            def vae_loss(recon, x, mu, logvar):
                rec = F.mse_loss(recon, x)
                kld = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean()
                loss = rec + 0.0001 * kld
                return loss
            """, title="KL terms are ML203's business"),
        ok("reg.py", """
            def objective(ce_loss, model, entropy, l2_penalty):
                loss = ce_loss + 1e-4 * l2_penalty - 0.001 * entropy
                loss = loss + 5e-5 * sum(p.pow(2).sum() for p in model.parameters())
                return loss
            """, title="L2 penalties, entropy bonus and an inline weight-decay sum"),
        ok("disabled.py", """
            def loss_fn(ce, aux):
                loss = 1.0 * ce + 0.0 * aux
                return loss
            """, title="a term weighted 0 is disabled, not extreme"),
        ok("configs/mask2former_like.yaml", """
            MODEL:
              MASK_FORMER:
                CLASS_WEIGHT: 2.0
                DICE_WEIGHT: 5.0
                MASK_WEIGHT: 5.0
                NO_OBJECT_WEIGHT: 0.1
            """, title="weights within 100x; the no-object class weight is not a loss term"),
        ok("configs/two_heads.py", """
            model = dict(
                rpn_head=dict(loss_cls=dict(type='CrossEntropyLoss', loss_weight=1.0)),
                roi_head=dict(bbox_head=dict(loss_bbox=dict(type='L1Loss', loss_weight=0.005))))
            """, title="losses of different heads are different objectives for this rule"),
        ok("configs/class_weights.yaml", """
            loss:
              type: CrossEntropyLoss
              weights:
                background: 0.01
                person: 5.0
            """, title="per-class weights of one loss are not loss-term weights"),
        ok("configs/beta_vae.yaml", """
            loss_weights:
              recon: 1.0
              kl: 0.00025
            """, title="config KL weight"),
        ok("metrics.py", """
            def score(precision, recall):
                total = precision + 0.001 * recall
                return total
            """, title="not a loss"),
        ok("pix2pix.py", """
            def generator_loss(gan_loss, l1_loss):
                loss_g = gan_loss + 100.0 * l1_loss
                return loss_g
            """, title="exactly 100x is not more than 100x"),
    )

    # -- code ------------------------------------------------------------------
    def visit_Module(self, node, ctx) -> None:
        from modellint.filecheck import (
            is_config_module,  # a config module's dicts are read as config facts
        )

        self._config_module = is_config_module(ctx.path, node)
        self._reported = set()
        self._defs: Dict[str, ast.AST] = {}
        self._class = None
        self._block(node.body, {}, ctx, function=None, module_level=True)

    def visit_FunctionDef(self, node, ctx) -> None:
        if ctx.prefilter and not ctx.doc.mentions(_WEIGHTED, node, lowered=True):
            return  # terms weigh ±1 unless multiplied or divided, and no weight mapping is named
        self._defs = {}
        self._class = enclosing_class(ctx)  # its attributes are looked up only for ``self.w * loss``
        self._block(node.body, {}, ctx, function=node, module_level=False)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _block(self, body, state: Dict[str, List[Term]], ctx, function, module_level: bool) -> None:
        state = dict(state)
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # analysed when the traversal reaches them
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                self._assign(stmt.targets[0], stmt.value, stmt, state, ctx, module_level)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self._assign(stmt.target, stmt.value, stmt, state, ctx, module_level)
            elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) and isinstance(stmt.op, (ast.Add, ast.Sub)):
                name = stmt.target.id
                if name in state:
                    sign = 1.0 if isinstance(stmt.op, ast.Add) else -1.0
                    added = self._terms(stmt.value, sign, ctx)
                    if added is None:
                        continue
                    state[name] = state[name] + added
                    self._judge(name, state[name], stmt, ctx)
            elif isinstance(stmt, ast.Return) and stmt.value is not None and function is not None:
                terms = self._terms(stmt.value, 1.0, ctx)
                if terms is not None and len(terms) > 1:
                    terms = _expand(terms, state)
                    # ``return a + 0.001 * b`` from a loss function, or of terms that all name losses
                    if LOSS_TARGET.search(function.name) or all(_loss_like(label) for _, _, label in terms):
                        self._judge(f"{function.name}()", terms, stmt, ctx)
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list):
                        self._block(inner, state, ctx, function, False)
                for handler in getattr(stmt, "handlers", None) or []:
                    self._block(handler.body, state, ctx, function, False)

    def _assign(self, target, value, stmt, state, ctx, module_level: bool) -> None:
        is_name = isinstance(target, ast.Name)
        # the last segment of ``_target_label(target)``, without building the label
        last = target.id if is_name else target.attr if isinstance(target, ast.Attribute) else ""
        if last and last.lower() in CODE_WEIGHT_TARGETS and not (module_level and self._config_module):
            self._weight_mapping(_target_label(target), value, stmt, ctx)
            return
        if not is_name:
            return
        name = target.id
        self._defs[name] = value
        if not isinstance(value, (ast.BinOp, ast.UnaryOp, ast.Name)) and not LOSS_TARGET.search(name):
            # any other value is one term at most, never expanded (only names are): not a
            # sum, and the name does not say loss (most assignments of a file end here)
            state.pop(name, None)
            return
        terms = self._terms(value, 1.0, ctx)
        if terms is None:
            state.pop(name, None)
            return
        terms = _expand(terms, state)
        if not LOSS_TARGET.search(name) and not (len(terms) > 1 and all(_loss_like(label) for _, _, label in terms)):
            state.pop(name, None)
            return
        state[name] = terms
        self._judge(name, terms, stmt, ctx)

    def _terms(self, expr, weight: float, ctx) -> Optional[List[Term]]:
        """Flatten ``a + 0.5 * (b - c) / 2`` into weighted leaves; None when not a sum of terms."""
        out: List[Term] = []

        def visit(e, w) -> None:
            if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub)):
                visit(e.left, w)
                visit(e.right, w if isinstance(e.op, ast.Add) else -w)
                return
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
                visit(e.operand, -w)
                return
            if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Mult, ast.Div)):
                right = self._weight(e.right, ctx)
                left = self._weight(e.left, ctx) if isinstance(e.op, ast.Mult) else None
                if right is not None and not isinstance(right, bool):
                    if isinstance(e.op, ast.Div):
                        if right != 0:
                            visit(e.left, _scaled(w, right, divide=True))
                        return
                    visit(e.left, _scaled(w, right))
                    return
                if left is not None and not isinstance(left, bool):
                    visit(e.right, _scaled(w, left))
                    return
                out.append((float("nan"), e, _label(e)))  # weighted by something we cannot read
                return
            if isinstance(e, ast.Constant):
                return  # ``+ 1e-8``: not a loss term
            out.append((w, e, _label(e)))

        try:
            visit(expr, weight)
        finally:
            # a recursive closure is a reference cycle through ``ctx`` and its whole syntax
            # tree: break it so the tree is freed when the file is done, not by the collector
            visit = None  # noqa: F841
        return out or None

    def _weight(self, expr, ctx) -> Optional[float]:
        """A literal weight: a constant, a module-level constant, or ``self.w`` set once to a literal."""
        if isinstance(expr, (ast.Call, ast.Subscript)):
            return None
        attr = self_attr(expr)
        if attr is not None:
            info = FileModules.of(ctx).info(self._class) if self._class is not None else None
            found = info.assignments.get(attr, []) if info is not None else []
            if len(found) == 1 and found[0].value is not None:
                value = ctx.doc.fold_number(found[0].value)
                return None if isinstance(value, bool) else value
            return None
        value = ctx.doc.fold_number(expr)
        return None if isinstance(value, bool) else value

    def _judge(self, name: str, terms: List[Term], stmt, ctx) -> None:
        target_is_loss = bool(LOSS_TARGET.search(name))
        known = [(w, e, label) for w, e, label in terms
                 if w == w and w != 0 and self._counts(e, label, target_is_loss)]
        max_ratio = float(self.option("max_ratio"))
        extremes = _extremes(known, lambda t: t[0], max_ratio)
        if extremes is None:
            return
        low, high, ratio = extremes
        key = (name, id(low[1]), id(high[1]))
        if key in self._reported:
            return
        self._reported.add(key)
        listing = ", ".join(f"`{label}` × {format_value(abs(w))}" for w, _, label in known)
        ctx.report(
            self, stmt,
            f"loss terms summed into `{name}` have static weights {ratio:.0f}x apart ({listing}): unless the raw losses differ "
            f"in scale by about as much, `{low[2]}` (× {format_value(abs(low[0]))}) contributes almost no gradient next to "
            f"`{high[2]}` (× {format_value(abs(high[0]))}) and its head effectively stops learning",
            help=("Normalise the terms to comparable scales instead of weighting one by "
                  f"{format_value(abs(low[0]) / abs(high[0]))} of the other; keep weights within {format_value(max_ratio)}x. "
                  "If the weights deliberately compensate for scale, suppress with `# modellint: ignore[ML201]`."),
        )

    def _counts(self, expr, label: str, target_is_loss: bool) -> bool:
        """Is this leaf a supervised loss term? Regularisers and unreadable leaves are not."""
        if not label or is_regularisation_term(label):
            return False
        tokens = set(term_tokens(label.replace("(...)", "")))
        if tokens and tokens <= {"l1", "l2", "norm", "self"}:
            return False  # a bare ``l1``/``l2`` is as often a penalty as a loss
        if isinstance(expr, ast.Name):
            source = self._defs.get(expr.id)
            if source is not None and any(isinstance(n, ast.Attribute) and n.attr in ("parameters", "named_parameters", "weight")
                                          for n in walk(source)):
                return False  # ``l2 = sum(p.pow(2).sum() for p in model.parameters())``: weight decay
        if _loss_like(label):
            return True
        # under a loss-named target, plain variables are its terms; calls must name a loss
        return target_is_loss and isinstance(expr, (ast.Name, ast.Attribute, ast.Subscript))

    def _weight_mapping(self, label: str, value, stmt, ctx) -> None:
        pairs: List[Tuple[str, ast.AST]] = []
        if isinstance(value, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(value.keys, value.values)
                     if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        elif isinstance(value, ast.Call) and getattr(value.func, "id", "") == "dict":
            pairs = [(kw.arg, kw.value) for kw in value.keywords if kw.arg]
        terms: List[Term] = []
        for term, expr in pairs:
            number = ctx.doc.fold_number(expr)
            if number is not None and not isinstance(number, bool):
                weight = _scaled(1.0, number)  # float(number), or nan beyond a float
                if weight == weight:
                    terms.append((weight, expr, term))
        known = [t for t in terms if t[0] != 0 and not is_regularisation_term(t[2])]
        max_ratio = float(self.option("max_ratio"))
        extremes = _extremes(known, lambda t: t[0], max_ratio)
        if extremes is None:
            return
        low, high, ratio = extremes
        listing = ", ".join(f"`{t}`: {format_value(w)}" for w, _, t in known)
        ctx.report(
            self, stmt,
            f"loss weights in `{label}` are {ratio:.0f}x apart ({listing}): unless the raw losses differ in scale by about as "
            f"much, `{low[2]}` (× {format_value(low[0])}) contributes almost no gradient next to `{high[2]}` "
            f"(× {format_value(high[0])}) and its head effectively stops learning",
            help=f"Normalise the loss terms to comparable scales and keep their weights within {format_value(max_ratio)}x.",
        )

    # -- configs -----------------------------------------------------------------
    def check(self, recipe, report) -> None:
        groups: Dict[str, Dict[str, object]] = {}
        for fact in recipe.all(names.LOSS_WEIGHT):
            group = fact.get("group")
            term = fact.get("term")
            if group is None or term is None:
                continue
            groups.setdefault(group, {})[term] = fact  # a later value of the same term overrides
        max_ratio = float(self.option("max_ratio"))
        for group, terms in groups.items():
            known = [f for t, f in terms.items() if f.value != 0 and not is_regularisation_term(t)]
            extremes = _extremes(known, lambda f: f.value, max_ratio)
            if extremes is None:
                continue
            low, high, ratio = extremes
            listing = ", ".join(f"{f.get('term')} = {format_value(f.value)}" for f in known)
            report(
                low,
                f"loss weights of one objective (`{group}`) are {ratio:.0f}x apart ({listing}): unless the raw losses differ in "
                f"scale by about as much, `{low.get('term')}` ({low.key} = {format_value(low.value)}) contributes almost no "
                f"gradient next to `{high.get('term')}` ({high.key} = {format_value(high.value)}) and that head effectively "
                f"stops learning",
                help=(f"Normalise the loss terms to comparable scales and keep their weights within {format_value(max_ratio)}x; "
                      "if the weights deliberately compensate for scale, suppress with `# modellint: ignore[ML201]`."),
                related=[(high, f"{high.key} = {format_value(high.value)} set here")],
            )


def _scaled(weight, factor, divide: bool = False):
    """``weight`` times (or divided by) ``factor``; nan, a weight that cannot be read, when the
    result is beyond a float (200-digit literals in a symbolic-math test are no loss weights)."""
    try:
        result = weight / factor if divide else weight * factor
    except OverflowError:  # true division of integers too large for a float
        return float("nan")
    return result if -1e308 < result < 1e308 else float("nan")


def _extremes(items, weight, max_ratio: float):
    """The lightest and heaviest weighted items and their ratio, when it exceeds ``max_ratio``."""
    if len(items) < 2:
        return None
    low = min(items, key=lambda item: abs(weight(item)))
    high = max(items, key=lambda item: abs(weight(item)))
    ratio = abs(weight(high)) / abs(weight(low))
    return (low, high, ratio) if ratio > max_ratio else None


def _expand(terms: List[Term], state: Dict[str, List[Term]]) -> List[Term]:
    """``loss = loss + 0.1 * aux``: replace the accumulator by the terms it already holds."""
    out: List[Term] = []
    for w, e, label in terms:
        held = state.get(e.id) if isinstance(e, ast.Name) else None
        if not held:
            out.append((w, e, label))
        elif len(held) == 1:
            # ``bce = 0.5 * F.binary_cross_entropy(...)``: keep the variable's name, carry its weight
            out.append((w * held[0][0], e, label))
        else:
            out.extend((w * w2, e2, l2) for w2, e2, l2 in held)
    return out


def _target_label(target) -> str:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        base = _target_label(target.value)
        return f"{base}.{target.attr}" if base else target.attr
    return ""


def _label(expr) -> str:
    """A readable name for a loss term: ``bce``, ``self.arcface``, ``losses['dice']``, ``criterion_ce(...)``."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = _label(expr.value)
        return f"{base}.{expr.attr}" if base else expr.attr
    if isinstance(expr, ast.Subscript):
        key = expr.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        return _label(expr.value)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Subscript):  # crit["dice"](...)
            return _label(func)
        if isinstance(func, ast.Attribute) and func.attr in ("mean", "sum", "item", "float", "squeeze"):
            return _label(func.value)
        name = _label(func)
        return f"{name}(...)" if name else ""
    return ""


def _loss_like(label: str) -> bool:
    """The label names a loss term: contains "loss"/"criterion" or a known loss name (bce, dice, arcface …)."""
    if not label:
        return False
    tokens = term_tokens(label.replace("(...)", ""))
    return (any("loss" in t or "criterion" in t or "cross" in t for t in tokens)
            or any(t in LOSS_TERMS for t in tokens))
