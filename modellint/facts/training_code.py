"""Facts from training code: schedulers and their warmup, Lightning ``Trainer`` and
HF ``TrainingArguments`` keywords, training ``DataLoader`` batch sizes, argparse
defaults, and what the model is (transformer-like, a VAE, BatchNorm layers).

A visitor in each Python file's single traversal (see
:mod:`modellint.code.traversal`). Values are literals or module-level
constants; ``num_warmup_steps=args.warmup`` is left to the argparse default
(or the launch-script flag) that really sets it, and only records that the
code *reads* a warmup setting (``names.WARMUP_PARAM``), so rules know
warmup is implemented even when its length is set elsewhere.
"""

from __future__ import annotations

import ast
import re
from typing import Dict, Optional, Set

from modellint.code.names import call_name, dotted, keyword
from modellint.code.walk import walk
from modellint.facts import names
from modellint.facts.common_keys import (
    KEY_TABLE,
    KL_ANNEAL_KEY,
    VQ_NAME,
    model_family,
    scheduler_warmup,
)
from modellint.facts.vocabulary import ADAPTIVE
from modellint.lazy_re import lazy

_TRANSFORMER_CALLS = frozenset({"Transformer", "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoder",
                                "TransformerDecoderLayer", "MultiheadAttention", "scaled_dot_product_attention"})
_BN_CALLS = {
    "BatchNorm1d": "BN", "BatchNorm2d": "BN", "BatchNorm3d": "BN", "LazyBatchNorm1d": "BN", "LazyBatchNorm2d": "BN",
    "LazyBatchNorm3d": "BN", "SyncBatchNorm": "SyncBN", "FrozenBatchNorm2d": "FrozenBN",
}
_TRANSFORMER_CLASS = lazy(r"Attention|ViT|Vit(?=[A-Z_]|$)|Swin|BERT|Bert|GPT|Gpt|DETR|Detr|Transformer|"
                                r"(?<=[a-z0-9])Former(?=[A-Z_]|$)")
_VAE_CLASS = lazy(r"VAE|Vae(?=[A-Z_0-9]|$)|VariationalAuto[Ee]ncoder")
_FREEZE_BN_FUNC = lazy(r"freeze_?bn|freeze_?norm|freeze_?batch_?norm|fix_?bn|bn_?eval|set_bn_eval|frozen_?bn", re.I)
_WARMUP_READ = lazy(r"warm_?up", re.I)
_NOT_LR_WARMUP = lazy(r"ema|momentum|kl|beta|bias|prefix|restart", re.I)
_KL_OPERAND = lazy(r"^(kl|kld|kl_loss|kld_loss|kl_div|kl_term|kl_divergence|loss_kl|loss_kld|kl_cost|"
                         r"kl_value|kl_mean|kl_sum|latent_kl)$", re.I)
_MU = frozenset({"mu", "mean", "z_mean", "q_mu", "mu_q", "posterior_mean", "mus", "z_mu", "mu_z", "mean_z"})
# log-variances: a Gaussian policy's ``log_std`` (PPO, SAC) is deliberately not here
_LOGVAR = frozenset({"logvar", "log_var", "logvar_q", "z_log_var", "z_logvar", "logvar_z", "log_variance",
                     "log_sigma2", "log_var_z", "lv", "logsigma2"})
_LATENT_WORDS = lazy(r"post|prior|latent|q_?z|p_?z|z_?dist|encoder|approx", re.I)
# searched in lower case: every _LOGVAR name holds one of the first five, and the free-bits
# clamp needs "free" or a KL operand
_VAE_WORDS = ("logvar", "log_var", "log_sigma2", "logsigma2", "lv", "free", "kl")
_STEP_WORDS = lazy(r"step|epoch|iter|global_step|current_epoch|it$|^it|^t$", re.I)
_KL_WEIGHT_NAME = lazy(r"^(kl|kld|beta)(_weight|_coef|_coeff|_scale|_w)?(_t|_now|_cur|_current)?$|^current_(beta|kl_weight)$", re.I)
_MODEL_OPTIONS = frozenset({"model", "arch", "model_name", "model_name_or_path", "backbone", "model_type",
                            "pretrained_model_name_or_path", "model_arch", "network", "net"})
_QUALIFIED_CALLS = frozenset(_TRANSFORMER_CALLS | set(_BN_CALLS) | {
    "convert_sync_batchnorm", "from_pretrained", "Trainer", "create_scheduler", "create_scheduler_v2"})
_DISTRIBUTIONS = frozenset({"Normal", "MultivariateNormal", "Independent", "LowRankMultivariateNormal"})
_HF_ARGS = frozenset({"SFTConfig", "DPOConfig", "ORPOConfig", "KTOConfig", "GRPOConfig", "RewardConfig", "CPOConfig",
                      "PPOConfig", "RLOOConfig"})
_TIMM_SCHEDULERS = frozenset({"CosineLRScheduler", "StepLRScheduler", "MultiStepLRScheduler", "PlateauLRScheduler",
                              "PolyLRScheduler", "TanhLRScheduler"})
_EVAL_WORDS = lazy(r"val|test|eval|infer|predict|calib", re.I)


def _literal_number(ctx, expr: Optional[ast.expr]) -> Optional[float]:
    if expr is None:
        return None
    return ctx.doc.fold_number(expr)


def _names_in(expr: ast.AST) -> Set[str]:
    out = set()
    for node in walk(expr):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def _is_ramp(expr: ast.AST) -> bool:
    """``min(1.0, step / warmup)``-like bodies: a linear ramp capped at 1."""
    for node in walk(expr):
        if isinstance(node, ast.Call) and call_name(node) == "min" and len(node.args) == 2:
            consts = [a for a in node.args if isinstance(a, ast.Constant) and a.value in (1, 1.0)]
            divs = [a for a in node.args if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) for n in walk(a))]
            if consts and divs:
                return True
    return any(_WARMUP_READ.search(name) and not _NOT_LR_WARMUP.search(name) for name in _names_in(expr))


class TrainingCode:
    """Emits facts for the recipe; reports nothing itself."""

    code = "facts"

    def visit_Module(self, node: ast.Module, ctx) -> None:
        self._once: Set[str] = set()
        self._sched_vars: Dict[str, bool] = {}
        self._functions: Dict[str, ast.AST] = {}
        self._distributions = False
        self._kl_divergence: Optional[ast.Call] = None

    def leave_Module(self, node: ast.Module, ctx) -> None:
        if self._kl_divergence is not None and self._distributions:
            self._hint(ctx, "vae", self._kl_divergence, "a KL divergence between Normal distributions")

    # -- helpers -----------------------------------------------------------
    def _first(self, tag: str) -> bool:
        if tag in self._once:
            return False
        self._once.add(tag)
        return True

    def _hint(self, ctx, family: str, node: ast.AST, evidence: str, named: bool = False) -> None:
        """``named``: the code picks a model by name (``create_model("vit_b")``, ``from_pretrained``), not a layer it defines."""
        if self._first("arch:" + family + (":named" if named else "")):
            if named:
                ctx.fact(names.MODEL_ARCH, family, node, evidence, "code", evidence=evidence, named=True)
            else:
                ctx.fact(names.MODEL_ARCH, family, node, evidence, "code", evidence=evidence)

    def _warmup_read(self, ctx, node: ast.AST, what: str) -> None:
        if "warmup.param" in self._once or ("arm" not in what and "ARM" not in what):
            return
        if _WARMUP_READ.search(what) and not _NOT_LR_WARMUP.search(what) and self._first("warmup.param"):
            ctx.fact(names.WARMUP_PARAM, what, node, what, "code")

    def _target_name(self, ctx) -> str:
        parent = ctx.parent
        if isinstance(parent, (ast.Assign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            return " ".join(dotted(t) for t in targets)
        return ""

    # -- definitions ---------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef, ctx) -> None:
        if VQ_NAME.search(node.name) or node.name.startswith(("VQ", "Vq")):
            self._hint(ctx, "vqvae", node, f"class {node.name}")
        elif _VAE_CLASS.search(node.name):
            self._hint(ctx, "vae", node, f"class {node.name}")
        elif _TRANSFORMER_CLASS.search(node.name):
            self._hint(ctx, "transformer", node, f"class {node.name}")

    def visit_FunctionDef(self, node: ast.FunctionDef, ctx) -> None:
        name = node.name
        if name.lower() in ("reparameterize", "reparametrize", "reparameterization", "reparameterise", "reparam_trick",
                            "reparameterize_trick", "sample_z"):
            self._hint(ctx, "vae", node, f"def {name} (reparameterisation trick)")
        if KL_ANNEAL_KEY.search(name) or name in ("current_beta", "get_beta", "kl_weight_at", "get_kl_weight", "beta_at"):
            ctx.fact(names.KL_ANNEAL, True, node, f"def {name}", "code")
        if _FREEZE_BN_FUNC.search(name) and self._first("norm:frozen"):
            ctx.fact(names.NORM, "FrozenBN", node, f"def {name}", "code", kind="FrozenBN", frozen_by_code=True)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self._bn_reference(default, ctx)
        # a function that may ramp (``def warmup_lambda(step): return min(1.0, step / 500)``), judged
        # only if a LambdaLR uses it
        self._functions[name] = node
        self._vae_terms(node, ctx)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _vae_terms(self, func: ast.FunctionDef, ctx) -> None:
        """The Gaussian KL term (``1 + logvar - mu**2 - logvar.exp()``) and free-bits clamping."""
        if "arch:vae" in self._once and "free_bits" in self._once:
            return
        if ctx.enclosing(ast.FunctionDef, ast.AsyncFunctionDef) is not None:
            return  # walked with its enclosing function
        # a cheap look at the text before walking the tree: does a line of the function name
        # a log-variance, free bits or a KL term?
        if ctx.prefilter and not ctx.doc.mentions(_VAE_WORDS, func, lowered=True):
            return
        seen: Set[str] = set()
        has_exp = has_square = False
        for node in walk(func):
            if isinstance(node, ast.Name):
                seen.add(node.id.lower())
            elif isinstance(node, ast.Attribute):
                seen.add(node.attr.lower())
                if node.attr == "exp":
                    has_exp = True
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) \
                    and node.right.value == 2:
                has_square = True
            if isinstance(node, ast.Call):
                called = call_name(node)
                if called in ("pow", "square") or (called == "exp" and not isinstance(node.func, ast.Attribute)):
                    has_square = has_square or called in ("pow", "square")
                    has_exp = has_exp or called == "exp"
                if called in ("clamp", "clamp_min", "clip", "maximum", "max"):
                    self._free_bits_clamp(node, ctx)
        if seen & _MU and seen & _LOGVAR and has_exp and has_square:
            self._hint(ctx, "vae", func, f"a Gaussian KL term in {func.name}()")

    def _free_bits_clamp(self, node: ast.Call, ctx) -> None:
        """``torch.clamp(kl, min=0.5)``, ``kl.clamp(min=self.free_bits)``, ``torch.max(kl, free_bits)``."""
        name = call_name(node)
        owner = dotted(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        if owner and owner.split(".")[0] not in ("torch", "F", "np", "numpy", "jnp"):
            operand, rest = node.func.value, list(node.args)  # a method: kl.clamp(min=…)
        else:
            operand, rest = (node.args[0] if node.args else None), list(node.args[1:])
        if operand is None:
            return
        bound = keyword(node, "min")
        if bound is None and name in ("maximum", "max", "clamp_min") and rest:
            bound = rest[0]
        elif bound is None and name in ("clamp", "clip") and rest:
            bound = rest[0]
        if bound is None:
            return
        operand_words = {w.lower() for w in _names_in(operand)}
        bound_words = {w.lower() for w in _names_in(bound)}
        kl_operand = any(w.startswith("kl") or "kld" in w or w.endswith("_kl") for w in operand_words)
        free_name = any("free" in w for w in bound_words | operand_words)
        if not (free_name or (kl_operand and name in ("clamp", "clamp_min", "clip", "maximum", "max"))):
            return
        self._hint(ctx, "vae", node, "free-bits clamping of the KL term")
        value = _literal_number(ctx, bound)
        if value is not None and self._first("free_bits"):
            ctx.fact(names.FREE_BITS, float(value), bound, f"{name}(kl, min=…)", "code")
        elif value is None and self._first("free_bits_clamp"):
            text = ast.unparse(bound)[:60]
            ctx.fact(names.FREE_BITS_CLAMP, text, bound, f"{name}(kl, min={text})", "code")

    def visit_Assign(self, node: ast.Assign, ctx) -> None:
        self._read(ctx, node.value)
        for target in node.targets:
            text = dotted(target).rsplit(".", 1)[-1]
            if not text or isinstance(node.value, ast.Constant):
                continue
            if KL_ANNEAL_KEY.search(text) or text in ("current_beta", "beta_t", "kl_weight_t"):
                ctx.fact(names.KL_ANNEAL, True, node, text, "code")
            elif _KL_WEIGHT_NAME.match(text) and self._ramps_with_step(node.value):
                # kl_weight = min(1.0, step / 10000): the KL weight is annealed in the training loop
                ctx.fact(names.KL_ANNEAL, True, node, f"{text} = … (ramped with the step)", "code")

    @staticmethod
    def _ramps_with_step(expr: ast.AST) -> bool:
        words = _names_in(expr)
        stepping = any(_STEP_WORDS.search(w) for w in words)
        ramp = any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) for n in walk(expr)) or \
            any(isinstance(n, ast.Call) and call_name(n) in ("min", "clamp", "clip", "sigmoid", "tanh") for n in walk(expr))
        return stepping and ramp

    # -- reads of a warmup setting ---------------------------------------------------
    # Read where values are used (comparisons, keywords, divisions, call arguments, assignments)
    # rather than in a visit_Name/visit_Attribute for every name of the file.
    def _read(self, ctx, expr: Optional[ast.AST]) -> None:
        if "warmup.param" in self._once or expr is None:
            return
        if isinstance(expr, ast.Name):
            self._warmup_read(ctx, expr, expr.id)
        elif isinstance(expr, ast.Attribute):
            self._warmup_read(ctx, expr, dotted(expr) or expr.attr)
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and isinstance(expr.slice.value, str):
            self._warmup_read(ctx, expr, f"[{expr.slice.value!r}]")

    def visit_Compare(self, node: ast.Compare, ctx) -> None:
        for operand in [node.left] + list(node.comparators):  # if it < warmup_iters:
            self._read(ctx, operand)

    def visit_keyword(self, node: ast.keyword, ctx) -> None:
        self._bn_reference(node.value, ctx)
        self._read(ctx, node.value)

    def visit_BinOp(self, node: ast.BinOp, ctx) -> None:
        if isinstance(node.op, ast.Div):
            self._read(ctx, node.right)  # step / warmup_steps
        if not isinstance(node.op, ast.Mult):
            return
        for side in (node.left, node.right):
            if isinstance(side, ast.Call) and call_name(side) in ("min", "clamp", "clip") and self._ramps_with_step(side):
                words = {w.lower() for w in _names_in(node)}
                if any(w.startswith(("kl", "beta")) or w.endswith(("_kl", "kld", "beta")) for w in words):
                    ctx.fact(names.KL_ANNEAL, True, side, "KL weight x min(1, step / N)", "code")
                    break
        for number_side, other in ((node.left, node.right), (node.right, node.left)):
            name = dotted(other) if not isinstance(other, ast.Call) else call_name(other)
            if not name or not _KL_OPERAND.match(name.rsplit(".", 1)[-1]):
                continue
            value = _literal_number(ctx, number_side)
            if value is not None and value >= 0:
                ctx.fact(names.KL_WEIGHT, float(value), number_side, f"{ast.unparse(number_side)} * {name}", "code")
            return

    # -- calls ------------------------------------------------------------------
    def visit_Call(self, node: ast.Call, ctx) -> None:
        name = call_name(node)
        if not name:
            return
        # the qualified name is only read for these callee names (most calls are none of them)
        qual = ctx.qualname(node.func) or name if name in _QUALIFIED_CALLS else name
        if name == "get" and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self._warmup_read(ctx, node, f"get({node.args[0].value!r})")
        for arg in node.args:
            self._read(ctx, arg)
        if name in _TRANSFORMER_CALLS and (qual.startswith(("torch.", "nn.", "F.")) or qual == name):
            self._hint(ctx, "transformer", node, f"{qual}(...)")
        elif name in _BN_CALLS and (qual.startswith(("torch.", "nn.")) or qual == name or "detectron2" in qual):
            self._norm(ctx, node, name)
        elif name == "convert_sync_batchnorm":
            ctx.fact(names.SYNC_BN, True, node, f"{qual}(...)", "code")
        elif name == "from_pretrained" and qual.startswith("transformers."):
            cls = qual.split(".")[-2] if qual.count(".") >= 2 else ""
            if "Model" in cls or "For" in cls:
                self._hint(ctx, "transformer", node, f"{cls}.from_pretrained(...)", named=True)
        elif name == "create_model" and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            family = model_family(node.args[0].value)
            if family is not None:
                self._hint(ctx, family, node, f"create_model({node.args[0].value!r})", named=True)
        elif name in _DISTRIBUTIONS or name == "rsample":
            self._distributions = True
        elif name == "kl_divergence" and self._kl_divergence is None:
            if any(_LATENT_WORDS.search(w) for arg in node.args for w in _names_in(arg)):
                self._kl_divergence = node  # KL(q(z|x) || p(z)), not a policy's KL penalty

        if name == "add_argument":
            self._argparse(node, ctx)
        elif name == "Trainer" and not qual.startswith("transformers"):
            self._lightning_trainer(node, ctx)
        elif name.endswith("TrainingArguments") or name in _HF_ARGS:
            self._training_arguments(node, name, ctx)
        elif name == "DataLoader":
            self._dataloader(node, ctx)
        else:
            self._scheduler(node, name, qual, ctx)

    def _norm(self, ctx, node: ast.Call, name: str) -> None:
        kind = _BN_CALLS[name]
        if self._first("norm:" + kind):
            ctx.fact(names.NORM, name, node, f"{name}(...)", "code", kind=kind)

    def _bn_reference(self, expr: Optional[ast.expr], ctx) -> None:
        """``norm_layer=nn.BatchNorm2d`` passes the class itself."""
        if not isinstance(expr, (ast.Attribute, ast.Name)):
            return
        qual = ctx.qualname(expr) or ""
        name = qual.rsplit(".", 1)[-1]
        if name in _BN_CALLS and qual.startswith(("torch.nn", "nn.")):
            kind = _BN_CALLS[name]
            if self._first("norm:" + kind):
                ctx.fact(names.NORM, name, expr, name, "code", kind=kind)

    # -- argparse -----------------------------------------------------------------
    def _argparse(self, node: ast.Call, ctx) -> None:
        options = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        long_names = [o.lstrip("-").replace("-", "_").lower() for o in options if o.startswith("--")]
        default = keyword(node, "default")
        for option in long_names:
            if option in _MODEL_OPTIONS and isinstance(default, ast.Constant) and isinstance(default.value, str):
                family = model_family(default.value)
                if family is not None:
                    ctx.fact(names.MODEL_ARCH, family, default, "--" + option, "argparse",
                             evidence=f"--{option} {default.value}", named="part" if option == "backbone" else True)
                return
            entry = KEY_TABLE.get(option)
            if entry is None:
                continue
            fact, unit = entry
            raw = "--" + option
            if default is None:
                action = keyword(node, "action")
                if fact == names.WARMUP and isinstance(action, ast.Constant) and action.value == "store_true":
                    ctx.fact(fact, False, node, raw, "argparse", unit=unit)
                return
            if fact == names.SYNC_BN:
                if isinstance(default, ast.Constant) and default.value is True:
                    ctx.fact(fact, True, default, raw, "argparse")
                return
            value = _literal_number(ctx, default)
            if value is None:
                return
            if fact == names.WARMUP:
                if value >= 0:
                    ctx.fact(fact, value, default, raw, "argparse", unit=unit)
            elif fact in (names.TOTAL_EPOCHS, names.TOTAL_ITERS):
                if value > 0:
                    ctx.fact(fact, value, default, raw, "argparse", unit=unit)
            elif fact in (names.BATCH_PER_DEVICE, names.BATCH_GLOBAL, names.GRAD_ACCUM):
                if value >= 1:
                    ctx.fact(fact, value, default, raw, "argparse")
            elif value >= 0:
                ctx.fact(fact, float(value), default, raw, "argparse")
            return

    # -- Lightning / HF --------------------------------------------------------------
    def _lightning_trainer(self, node: ast.Call, ctx) -> None:
        nodes = _literal_number(ctx, keyword(node, "num_nodes"))
        for kw in node.keywords:
            arg, value_node = kw.arg, kw.value
            key = f"Trainer({arg}=…)"
            if arg == "accumulate_grad_batches":
                value = _literal_number(ctx, value_node)
                if value is not None and value >= 1:
                    ctx.fact(names.GRAD_ACCUM, value, value_node, key, "lightning")
            elif arg in ("devices", "gpus"):
                count = None
                if isinstance(value_node, (ast.List, ast.Tuple)):
                    count = len(value_node.elts) or None
                elif isinstance(value_node, ast.Constant) and isinstance(value_node.value, str) and "," in value_node.value:
                    count = len([p for p in value_node.value.split(",") if p.strip()]) or None
                else:
                    number = _literal_number(ctx, value_node)
                    count = int(number) if number is not None and number >= 1 and float(number).is_integer() else None
                if count is not None:
                    total = count * int(nodes) if nodes and nodes >= 1 else count
                    ctx.fact(names.DEVICES, total, value_node, key, "lightning")
            elif arg in ("max_epochs", "max_steps"):
                value = _literal_number(ctx, value_node)
                if value is not None and value > 0:
                    fact = names.TOTAL_EPOCHS if arg == "max_epochs" else names.TOTAL_ITERS
                    ctx.fact(fact, value, value_node, key, "lightning", unit="epochs" if arg == "max_epochs" else "iters")
            elif arg == "sync_batchnorm" and isinstance(value_node, ast.Constant) and isinstance(value_node.value, bool):
                ctx.fact(names.SYNC_BN, value_node.value, value_node, key, "lightning")

    def _training_arguments(self, node: ast.Call, name: str, ctx) -> None:
        max_steps = _literal_number(ctx, keyword(node, "max_steps"))
        if keyword(node, "optim") is None and keyword(node, "learning_rate") is not None and not any(kw.arg is None for kw in node.keywords):
            # TrainingArguments' default optimizer is AdamW (``optim="adamw_torch"``)
            ctx.fact(names.OPTIMIZER, "adamw_torch", keyword(node, "learning_rate"), f"{name}(optim default)", "hf",
                     default=True, family=ADAPTIVE)
        for kw in node.keywords:
            arg, value_node = kw.arg, kw.value
            key = f"{name}({arg}=…)"
            value = _literal_number(ctx, value_node)
            if arg in ("warmup_steps", "warmup_ratio"):
                if value is None:
                    self._warmup_read(ctx, value_node, arg)
                elif value >= 0:
                    unit = "ratio" if arg == "warmup_ratio" or (isinstance(value, float) and 0 < value < 1) else "iters"
                    ctx.fact(names.WARMUP, value, value_node, key, "hf", unit=unit)
            elif value is None:
                if arg == "lr_scheduler_type" and isinstance(value_node, ast.Constant) and isinstance(value_node.value, str):
                    ctx.fact(names.SCHEDULER, value_node.value, value_node, key, "hf", warmup=False)
                continue
            elif arg in ("per_device_train_batch_size", "per_gpu_train_batch_size") and value >= 1:
                ctx.fact(names.BATCH_PER_DEVICE, value, value_node, key, "hf")
            elif arg == "gradient_accumulation_steps" and value >= 1:
                ctx.fact(names.GRAD_ACCUM, value, value_node, key, "hf")
            elif arg == "max_steps" and value > 0:
                ctx.fact(names.TOTAL_ITERS, value, value_node, key, "hf", unit="iters")
            elif arg == "num_train_epochs" and value > 0 and not (max_steps and max_steps > 0):
                ctx.fact(names.TOTAL_EPOCHS, value, value_node, key, "hf", unit="epochs")

    def _dataloader(self, node: ast.Call, ctx) -> None:
        batch = keyword(node, "batch_size")
        if batch is None and len(node.args) >= 2:
            batch = node.args[1]
        value = _literal_number(ctx, batch)
        if value is None or value < 1:
            return
        dataset = keyword(node, "dataset") or (node.args[0] if node.args else None)
        words = [self._target_name(ctx)]
        if dataset is not None:
            words.append(dotted(dataset) if not isinstance(dataset, ast.Call) else call_name(dataset))
            if isinstance(dataset, ast.Call):
                words.extend(str(kw.value.value) for kw in dataset.keywords
                             if kw.arg in ("split", "mode", "train", "subset") and isinstance(kw.value, ast.Constant))
        shuffle = keyword(node, "shuffle")
        text = " ".join(w for w in words if w)
        if _EVAL_WORDS.search(text):
            return
        is_train = "train" in text.lower() or (isinstance(shuffle, ast.Constant) and shuffle.value is True)
        if is_train:
            ctx.fact(names.BATCH_PER_DEVICE, value, batch, "DataLoader(batch_size=…)", "code", loader="train")

    # -- schedulers -------------------------------------------------------------------
    def _scheduler(self, node: ast.Call, name: str, qual: str, ctx) -> None:
        low = name.lower()
        if low.startswith("get_") and "schedule" in low or name == "get_scheduler":
            self._hf_scheduler(node, name, ctx)
        elif name == "OneCycleLR":
            pct = keyword(node, "pct_start")
            ratio = 0.3 if pct is None else _literal_number(ctx, pct)
            ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=ratio is None or ratio > 0)
            if pct is not None and ratio is not None:
                ctx.fact(names.WARMUP, ratio, pct, f"{name}(pct_start=…)", "code", unit="ratio")
            self._remember(ctx, True)
        elif name in ("LinearLR", "ConstantLR"):
            self._linear_lr(node, name, ctx)
        elif name == "SequentialLR":
            self._sequential(node, ctx)
        elif name == "LambdaLR":
            warm = self._lambda_is_warmup(node, ctx)
            ctx.fact(names.SCHEDULER, name, node, f"{name}({'warmup' if warm else '...'})", "code", warmup=warm)
            self._remember(ctx, warm)
        elif name in ("create_scheduler", "create_scheduler_v2") and ("timm" in qual or qual == name):
            self._timm_factory(node, name, ctx)
        elif name in _TIMM_SCHEDULERS:
            self._timm_scheduler(node, name, ctx)
        elif "warmup" in low and name[:1].isupper():
            self._named_warmup(node, name, ctx)
        elif name.endswith(("LR", "Scheduler", "Schedule")) and name[:1].isupper() and scheduler_warmup(name) is False:
            ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=False)
            self._remember(ctx, False)

    def _remember(self, ctx, warm: bool) -> None:
        target = self._target_name(ctx)
        for part in target.split():
            self._sched_vars[part] = warm

    def _hf_scheduler(self, node: ast.Call, name: str, ctx) -> None:
        if name == "get_scheduler":
            kind = keyword(node, "name") or (node.args[0] if node.args else None)
            label = kind.value if isinstance(kind, ast.Constant) and isinstance(kind.value, str) else name
            warm_node = keyword(node, "num_warmup_steps") or (node.args[2] if len(node.args) > 2 else None)
            total_node = keyword(node, "num_training_steps") or (node.args[3] if len(node.args) > 3 else None)
        elif "warmup" in name or name in ("get_inverse_sqrt_schedule", "get_wsd_schedule"):
            label = name
            warm_node = keyword(node, "num_warmup_steps") or (node.args[1] if len(node.args) > 1 else None)
            total_node = keyword(node, "num_training_steps") or (node.args[2] if len(node.args) > 2 and "warmup" in name else None)
        else:
            return
        if warm_node is None:
            ctx.fact(names.SCHEDULER, label, node, f"{name}(...)", "code", warmup=False)
            return
        steps = _literal_number(ctx, warm_node)
        ctx.fact(names.SCHEDULER, label, node, f"{name}(...)", "code", warmup=steps is None or steps > 0)
        if steps is not None and steps >= 0:
            ctx.fact(names.WARMUP, steps, warm_node, f"{name}(num_warmup_steps=…)", "code", unit="iters")
        total = _literal_number(ctx, total_node)
        if total is not None and total > 0:
            ctx.fact(names.TOTAL_ITERS, total, total_node, f"{name}(num_training_steps=…)", "code", unit="iters")

    def _linear_lr(self, node: ast.Call, name: str, ctx) -> None:
        if name == "ConstantLR":
            factor_node = keyword(node, "factor") or (node.args[1] if len(node.args) > 1 else None)
            factor = 1.0 / 3 if factor_node is None else _literal_number(ctx, factor_node)
            warm = factor is not None and factor < 1.0
            ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=False)
            self._remember(ctx, warm)  # a constant warmup only when it opens a SequentialLR
            return
        start_node = keyword(node, "start_factor") or (node.args[1] if len(node.args) > 1 else None)
        end_node = keyword(node, "end_factor") or (node.args[2] if len(node.args) > 2 else None)
        iters_node = keyword(node, "total_iters") or (node.args[3] if len(node.args) > 3 else None)
        start = 1.0 / 3 if start_node is None else _literal_number(ctx, start_node)
        if start is None:
            self._warmup_read(ctx, start_node, "LinearLR(start_factor=…)")
            self._remember(ctx, True)
            return
        end = 1.0 if end_node is None else _literal_number(ctx, end_node)
        warm = start < 1.0 and (end is None or end > start)
        ctx.fact(names.SCHEDULER, name, node, f"{name}(start_factor={start:g})", "code", warmup=warm, start_factor=start)
        self._remember(ctx, warm)
        if warm:
            ctx.fact(names.WARMUP_FACTOR, float(start), start_node or node, f"{name}(start_factor=…)", "code")
            length = _literal_number(ctx, iters_node)
            if iters_node is not None and length is not None:
                ctx.fact(names.WARMUP, length, iters_node, f"{name}(total_iters=…)", "code", unit=None, start_factor=start)

    def _sequential(self, node: ast.Call, ctx) -> None:
        schedulers = keyword(node, "schedulers") or (node.args[1] if len(node.args) > 1 else None)
        if not isinstance(schedulers, (ast.List, ast.Tuple)) or not schedulers.elts:
            return
        first = schedulers.elts[0]
        warm = False
        if isinstance(first, ast.Call):
            inner = call_name(first)
            if inner == "LinearLR":
                start_node = keyword(first, "start_factor") or (first.args[1] if len(first.args) > 1 else None)
                start = 1.0 / 3 if start_node is None else _literal_number(ctx, start_node)
                warm = start is None or start < 1.0
            elif inner == "ConstantLR":
                factor_node = keyword(first, "factor") or (first.args[1] if len(first.args) > 1 else None)
                factor = 1.0 / 3 if factor_node is None else _literal_number(ctx, factor_node)
                warm = factor is None or factor < 1.0
            elif inner == "LambdaLR":
                warm = self._lambda_is_warmup(first, ctx)
            else:
                warm = bool(scheduler_warmup(inner))
        else:
            text = dotted(first)
            warm = self._sched_vars.get(text, bool(_WARMUP_READ.search(text)))
        ctx.fact(names.SCHEDULER, "SequentialLR", node, "SequentialLR(...)", "code", warmup=warm)
        milestones = keyword(node, "milestones") or (node.args[2] if len(node.args) > 2 else None)
        if warm and isinstance(milestones, (ast.List, ast.Tuple)) and milestones.elts:
            length = _literal_number(ctx, milestones.elts[0])
            if length is not None:
                ctx.fact(names.WARMUP, length, milestones.elts[0], "SequentialLR(milestones=[…])", "code", unit=None)

    def _lambda_is_warmup(self, node: ast.Call, ctx) -> bool:
        if _WARMUP_READ.search(self._target_name(ctx)):
            return True
        fn = keyword(node, "lr_lambda") or (node.args[1] if len(node.args) > 1 else None)
        if fn is None:
            return False
        if isinstance(fn, ast.Lambda):
            return _is_ramp(fn.body)
        if isinstance(fn, ast.Call):  # functools.partial(_warmup_fn, ...)
            return any(_WARMUP_READ.search(dotted(a) or "") or self._ramps((dotted(a) or "").rsplit(".", 1)[-1])
                       for a in [fn.func] + list(fn.args))
        text = dotted(fn)
        return bool(_WARMUP_READ.search(text)) or self._ramps(text.rsplit(".", 1)[-1])

    def _ramps(self, name: str) -> bool:
        func = self._functions.get(name)
        if func is None:
            return False
        returns = [s.value for s in func.body if isinstance(s, ast.Return) and s.value is not None]
        return any(_is_ramp(r) for r in returns)

    def _timm_factory(self, node: ast.Call, name: str, ctx) -> None:
        if name == "create_scheduler":  # create_scheduler(args, optimizer) reads args.warmup_epochs
            self._warmup_read(ctx, node, "create_scheduler(args.warmup_epochs)")
            return
        warm_node = keyword(node, "warmup_epochs")
        if warm_node is None:
            ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=False)
            return
        value = _literal_number(ctx, warm_node)
        if value is None:
            self._warmup_read(ctx, warm_node, "create_scheduler_v2(warmup_epochs=…)")
            return
        ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=value > 0)
        ctx.fact(names.WARMUP, value, warm_node, f"{name}(warmup_epochs=…)", "code", unit="epochs")
        total = _literal_number(ctx, keyword(node, "num_epochs"))
        if total is not None and total > 0:
            ctx.fact(names.TOTAL_EPOCHS, total, keyword(node, "num_epochs"), f"{name}(num_epochs=…)", "code", unit="epochs")

    def _timm_scheduler(self, node: ast.Call, name: str, ctx) -> None:
        warm_node = keyword(node, "warmup_t")
        if warm_node is None:
            ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=False)
            return
        value = _literal_number(ctx, warm_node)
        if value is None:
            self._warmup_read(ctx, warm_node, f"{name}(warmup_t=…)")
            return
        ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=value > 0)
        ctx.fact(names.WARMUP, value, warm_node, f"{name}(warmup_t=…)", "code", unit=None)

    def _named_warmup(self, node: ast.Call, name: str, ctx) -> None:
        """``WarmupMultiStepLR``, ``GradualWarmupScheduler``, ``LinearWarmupCosineAnnealingLR``, ``WarmupParamScheduler`` …"""
        warm = True
        for kw in node.keywords:
            arg = (kw.arg or "").lower()
            value = _literal_number(ctx, kw.value)
            if value is None:
                continue
            if arg in ("warmup_factor", "warmup_start_factor") and value >= 1.0:
                warm = False
            elif "warmup" in arg and re.search(r"iters?|steps?|epochs?|length|_t$", arg):
                unit = "epochs" if "epoch" in arg else ("iters" if re.search(r"iter|step", arg) else None)
                if value == 0:
                    warm = False
                if arg != "warmup_length":  # detectron2: a fraction of training
                    ctx.fact(names.WARMUP, value, kw.value, f"{name}({kw.arg}=…)", "code", unit=unit)
        ctx.fact(names.SCHEDULER, name, node, f"{name}(...)", "code", warmup=warm)
        self._remember(ctx, warm)
