"""Facts from literals in Python code: optimizer constructors, clipping calls,
Lightning ``Trainer`` and HF ``TrainingArguments`` keywords, argparse defaults.

A visitor in the file's single traversal. Values are literals or module-level
constants folded from the same file; ``lr=args.lr`` is left to the argparse
default (or the launch script) that really sets it.
"""

from __future__ import annotations

import ast
from typing import Optional

from modellint.code.names import call_name, keyword
from modellint.facts import names
from modellint.facts.vocabulary import OPTIMIZER_CLASSES, optimizer_family

# argparse option → (fact, detail)
ARGPARSE_OPTIONS = {
    "lr": names.LR, "learning_rate": names.LR, "base_lr": names.LR,
    "clip_grad": names.CLIP_NORM, "clip_max_norm": names.CLIP_NORM, "max_grad_norm": names.CLIP_NORM,
    "grad_clip": names.CLIP_NORM, "gradient_clip_val": names.CLIP_NORM, "clip_norm": names.CLIP_NORM,
    "grad_norm_clip": names.CLIP_NORM, "clip_grad_norm": names.CLIP_NORM, "gradient_clipping": names.CLIP_NORM,
    "clip_value": names.CLIP_VALUE, "grad_clip_value": names.CLIP_VALUE,
    "opt": names.OPTIMIZER, "optimizer": names.OPTIMIZER, "optim": names.OPTIMIZER,
}
TRAINER_KEYWORDS = {"gradient_clip_val": names.CLIP_NORM}
TRAINING_ARGUMENTS_KEYWORDS = {"learning_rate": names.LR, "max_grad_norm": names.CLIP_NORM, "optim": names.OPTIMIZER}


class CodeLiterals:
    """Emits facts for the recipe; reports nothing itself."""

    code = "facts"

    def visit_Call(self, node: ast.Call, ctx) -> None:
        name = call_name(node)
        # an optimizer is built over parameters; ``Adam(lr=0.1)`` alone is some other class
        if name in OPTIMIZER_CLASSES and (node.args or keyword(node, "params") is not None):
            self._optimizer(node, name, ctx)
        elif name in ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_"):
            self._clip_call(node, name, ctx)
        elif name == "add_argument":
            self._argparse(node, ctx)
        elif name.endswith("Trainer"):
            self._keywords(node, name, TRAINER_KEYWORDS, "lightning", ctx)
        elif name.endswith("TrainingArguments") or name in ("SFTConfig",):
            self._keywords(node, name, TRAINING_ARGUMENTS_KEYWORDS, "hf", ctx)

    # -- pieces ------------------------------------------------------------
    def _number(self, expr: Optional[ast.expr], ctx) -> Optional[float]:
        return ctx.doc.fold_number(expr)

    def _optimizer(self, node: ast.Call, name: str, ctx) -> None:
        family = optimizer_family(name)
        qual = ctx.qualname(node.func) or name
        if family:
            ctx.fact(names.OPTIMIZER, qual, node, qual, family=family)
        lr = keyword(node, "lr")
        if lr is None and len(node.args) >= 2 and name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"):
            lr = node.args[1]
        value = self._number(lr, ctx)
        if value is not None:
            # the constructor says which optimizer this LR is for, whatever else the project builds
            extra = {"family": family, "optimizer": qual} if family else {}
            ctx.fact(names.LR, float(value), lr, f"{name}(lr=…)", **extra)

    def _clip_call(self, node: ast.Call, name: str, ctx) -> None:
        is_value = name == "clip_grad_value_"
        arg = keyword(node, "clip_value" if is_value else "max_norm")
        if arg is None and len(node.args) >= 2:
            arg = node.args[1]
        value = self._number(arg, ctx)
        if value is not None and value > 0:
            ctx.fact(names.CLIP_VALUE if is_value else names.CLIP_NORM, float(value), arg, f"{name}(…)", enabled=True)

    def _argparse(self, node: ast.Call, ctx) -> None:
        options = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        long_names = [o.lstrip("-").replace("-", "_").lower() for o in options if o.startswith("--")]
        default = keyword(node, "default")
        if default is None:
            return
        for option in long_names:
            fact = ARGPARSE_OPTIONS.get(option)
            if fact is None:
                continue
            raw = "--" + option
            if fact == names.OPTIMIZER:
                if isinstance(default, ast.Constant) and isinstance(default.value, str):
                    family = optimizer_family(default.value)
                    if family:
                        ctx.fact(fact, default.value, default, raw, "argparse", family=family)
                return
            value = self._number(default, ctx)
            if value is None:
                return
            if fact in (names.CLIP_NORM, names.CLIP_VALUE):
                if value <= 0:
                    return
                ctx.fact(fact, float(value), default, raw, "argparse", enabled=True)
            else:
                ctx.fact(fact, float(value), default, raw, "argparse")
            return

    def _keywords(self, node: ast.Call, name: str, table, dialect: str, ctx) -> None:
        algorithm = keyword(node, "gradient_clip_algorithm")
        algo = algorithm.value if isinstance(algorithm, ast.Constant) else "norm"
        for kw in node.keywords:
            fact = table.get(kw.arg or "")
            if fact is None:
                continue
            if fact == names.OPTIMIZER:
                if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    family = optimizer_family(kw.value.value)
                    if family:
                        ctx.fact(fact, kw.value.value, kw.value, f"{name}(optim=…)", dialect, family=family)
                continue
            value = self._number(kw.value, ctx)
            if value is None:
                continue
            if fact == names.CLIP_NORM:
                if value <= 0:
                    continue
                if algo == "value":
                    fact = names.CLIP_VALUE
                ctx.fact(fact, float(value), kw.value, f"{name}({kw.arg}=…)", dialect, enabled=True)
            else:
                ctx.fact(fact, float(value), kw.value, f"{name}({kw.arg}=…)", dialect)

