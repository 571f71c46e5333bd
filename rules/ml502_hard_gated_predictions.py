import ast
import re
from typing import Optional, Set, Tuple

from modellint.code.loops import describe, name_tokens, value_before
from modellint.code.names import call_name, dotted
from modellint.code.walk import walk
from modellint.lazy_re import lazy
from modellint.rule import CodeRule, flag, ok

PREDICTION_WORDS = frozenset({"pred", "preds", "prediction", "predictions", "prob", "probs", "proba", "probability",
                              "probabilities", "score", "scores", "logit", "logits", "out", "output", "outputs",
                              "conf", "confidence", "yhat", "hat", "activation", "act"})
GROUND_TRUTH_WORDS = frozenset({"label", "labels", "gt", "target", "targets", "true", "truth", "mask", "masks",
                                "valid", "validity", "padding", "pad", "attention", "attn", "lengths", "length",
                                "weight", "weights", "y", "onehot", "annotation", "annotations"})
# wrappers that keep the gate a gate: x[:, None], x.unsqueeze(1), x.astype(int), np.expand_dims(x, 1)
SHAPE_METHODS = frozenset({"unsqueeze", "reshape", "view", "astype", "float", "long", "int", "bool", "type", "to",
                           "double", "half", "cpu", "numpy", "detach", "expand_as", "expand", "view_as", "squeeze",
                           "type_as"})
SHAPE_FUNCTIONS = frozenset({"expand_dims", "asarray", "array", "reshape"})
_THRESHOLD_TEXT = lazy(r"[<>]=?\s*\(?\s*([\w.]*(thr|thresh|cutoff)\w*|0?\.\d+|1\b)", re.I)
_EXCLUDED_FUNCTIONS = lazy(r"^(forward|__call__|loss|compute_loss|.*_loss)$")


class HardGatedPredictions(CodeRule):
    code = "ML502"
    name = "hard-gated-predictions"
    severity = "info"
    summary = "Evaluation multiplies a downstream prediction by an argmax/threshold of an upstream head."
    rationale = (
        "Gating fine-grained predictions by a hard decision of a coarse head (`fine_pred = coarse_pred[:, None] "
        "* fine_pred` with `coarse_pred = argmax(...)` or `(p > 0.5)`) makes every downstream metric depend on "
        "the upstream head: if that head collapses to the majority class (\"no event\" everywhere, common with "
        "imbalanced data), every fine metric reads exactly 0 and looks like a broken fine head (a post-mortem "
        "spent days on that). The gate itself may be the intended inference rule; the problem is reporting only "
        "the gated number. Masking by ground truth or by attention/padding masks is not a prediction gate and "
        "is not reported."
    )
    fix = "Also report per-stage metrics: the upstream head on its own (F1, predicted positive rate) and the downstream head ungated."
    examples = (
        flag("evaluate.py", """
            import numpy as np

            def evaluate(coarse_scores, fine_scores, threshold=0.5):
                coarse_pred = np.argmax(coarse_scores, axis=1)
                fine_pred = (fine_scores > threshold).astype(np.int64)
                fine_pred = coarse_pred[:, np.newaxis] * fine_pred
                return fine_pred
            """, line=6, title="seed 004: fine predictions gated by the coarse argmax"),
        flag("eval.py", """
            import torch

            @torch.no_grad()
            def predict(model, clips):
                event_logits, element_logits = model(clips)
                has_event = event_logits.sigmoid() > 0.5
                element_pred = element_logits.argmax(-1)
                return element_pred * has_event.long()
            """, line=8, title="threshold gate of an upstream head"),
        flag("eval.py", """
            def gate(stage1_out, stage2_probs):
                return stage2_probs * stage1_out.argmax(dim=1).unsqueeze(-1)
            """, line=2, title="inline argmax gate"),
        ok("eval.py", """
            import numpy as np

            def masked(fine_pred, labels, valid_mask, attention_mask, batch_has_event):
                a = fine_pred * valid_mask[:, None]
                b = fine_pred * (labels > 0)[:, None]
                c = fine_pred * attention_mask.unsqueeze(-1)
                gt_event = np.argmax(labels, axis=1)
                d = fine_pred * gt_event[:, None]
                event_pred = batch_has_event > 0.5
                e = fine_pred * event_pred[:, None]
                f = event_pred[:, None] * np.argmax(fine_pred, axis=-1)
                return a, b, c, d, e, f
            """, title="masking by ground truth or padding/attention masks"),
        ok("eval.py", """
            import numpy as np

            def evaluate(coarse_scores, fine_scores, threshold=0.5):
                coarse_pred = np.argmax(coarse_scores, axis=1)
                fine_pred = (fine_scores > threshold).astype(np.int64)
                return {"coarse": coarse_pred, "fine": fine_pred}
            """, title="each stage scored on its own"),
        ok("model.py", """
            import torch.nn as nn

            class Cascade(nn.Module):
                def forward(self, x):
                    coarse_logits = self.coarse(x)
                    gate = (coarse_logits.sigmoid() > 0.5).float()
                    return self.fine(x) * gate
            """, title="gating inside forward is a modelling choice, not an evaluation"),
        ok("postprocess.py", """
            def sharpen(probs, thr=0.5):
                return probs * (probs > thr)
            """, title="thresholding a prediction by itself"),
    )

    def wants(self, text: str) -> bool:
        # a hard gate is an argmax or a threshold comparison
        return "argmax" in text or bool(_THRESHOLD_TEXT.search(text))

    def visit_BinOp(self, node, ctx) -> None:
        if isinstance(node.op, ast.Mult):
            self._check(node, node.left, node.right, ctx)

    def visit_AugAssign(self, node, ctx) -> None:
        if isinstance(node.op, ast.Mult):
            self._check(node, node.target, node.value, ctx)

    def visit_Call(self, node, ctx) -> None:
        if call_name(node) in ("multiply", "mul") and len(node.args) == 2 and isinstance(node.func, ast.Attribute) \
                and dotted(node.func.value) in ("np", "numpy", "torch"):
            self._check(node, node.args[0], node.args[1], ctx)

    def _check(self, node, left, right, ctx) -> None:
        func = ctx.enclosing(ast.FunctionDef, ast.AsyncFunctionDef)
        if func is not None and _EXCLUDED_FUNCTIONS.match(func.name):
            return
        scope = func or ctx.doc.tree
        if not ((_words(_strip(left)) | _words(_strip(right))) & PREDICTION_WORDS):
            return
        for gate_side, other in ((left, right), (right, left)):
            if not (_words(_strip(other)) & PREDICTION_WORDS):
                continue
            gate = self._gate(gate_side, scope, node, ctx, 0)
            if gate is None:
                continue
            kind, source, origin = gate
            gate_words = _words(_strip(gate_side)) | _words(source)
            if gate_words & GROUND_TRUTH_WORDS or not (_words(source) & PREDICTION_WORDS):
                continue  # the gate must be computed from a model output, not from data or labels
            gated = _strip(other)
            other_gate = self._gate(other, scope, node, ctx, 0)
            if other_gate is not None:
                other_source = _words(other_gate[1])
                if other_source & GROUND_TRUTH_WORDS or not (other_source & PREDICTION_WORDS):
                    continue  # the other side is a mask computed from data or labels
            gated_words = _words(gated)
            if gated_words & GROUND_TRUTH_WORDS or not (gated_words & PREDICTION_WORDS):
                continue
            if _names(gated) & (_names(source) | _names(_strip(gate_side))):
                continue  # a prediction thresholded by itself
            if other_gate is not None and _names(gated) == _names(_strip(gate_side)):
                continue
            origin_text = describe(origin, 50)
            ctx.report(
                self, node,
                f"`{describe(other, 40)}` is multiplied by a hard {kind} of another head (`{origin_text}`): if that "
                f"upstream head collapses to the majority class, every downstream prediction becomes 0 and every "
                f"downstream metric reads 0, hiding whether the downstream head learned anything",
                help="Keep the gated result if it is your inference rule, but also report per-stage metrics: the "
                     "upstream head on its own (F1, predicted positive rate) and the downstream head ungated.",
                related=[(ctx.span(origin), f"{kind} computed here")] if origin is not node and hasattr(origin, "lineno") else [],
            )
            return

    def _gate(self, expr, scope, at, ctx, depth) -> Optional[Tuple[str, ast.AST, ast.AST]]:
        """(kind, source, origin) when ``expr`` is an argmax or a threshold, directly or through a local name."""
        if depth > 3:
            return None
        base = _strip(expr)
        if isinstance(base, ast.Compare) and len(base.ops) == 1 and isinstance(base.ops[0], (ast.Gt, ast.GtE, ast.Lt, ast.LtE)):
            left, right = base.left, base.comparators[0]
            if _thresholdish(right):
                return "threshold", left, base
            if _thresholdish(left):
                return "threshold", right, base
            return None
        if isinstance(base, ast.Call):
            name = call_name(base)
            if name == "argmax":
                if isinstance(base.func, ast.Attribute) and dotted(base.func.value) in ("np", "numpy", "torch", "jnp"):
                    return ("argmax", base.args[0], base) if base.args else None
                if isinstance(base.func, ast.Attribute):
                    return "argmax", base.func.value, base
            return None
        if isinstance(base, ast.Name):
            value = value_before(scope, base.id, at, ctx)
            if value is not None:
                return self._gate(value, scope, value, ctx, depth + 1)
        return None


def _strip(expr):
    for _ in range(10):
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in SHAPE_METHODS:
            expr = expr.func.value
        elif isinstance(expr, ast.Call) and call_name(expr) in SHAPE_FUNCTIONS and expr.args:
            expr = expr.args[0]
        else:
            break
    return expr


def _thresholdish(expr) -> bool:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float)) and not isinstance(expr.value, bool):
        return True
    name = dotted(expr) if isinstance(expr, (ast.Name, ast.Attribute)) else ""
    return bool(name) and any(t in ("threshold", "thresh", "thr", "cutoff") for t in name_tokens(name.rsplit(".", 1)[-1]))


def _names(expr) -> Set[str]:
    return {dotted(n) for n in walk(expr) if isinstance(n, (ast.Name, ast.Attribute)) and dotted(n)} if expr is not None else set()


def _words(expr) -> Set[str]:
    words: Set[str] = set()
    if expr is None:
        return words
    for node in walk(expr):
        if isinstance(node, ast.Name):
            words.update(name_tokens(node.id))
        elif isinstance(node, ast.Attribute):
            words.update(name_tokens(node.attr))
    return words
