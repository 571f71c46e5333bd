import re
from typing import List, Optional, Tuple

from modellint.facts import names
from modellint.facts.evidence import attributable, is_test_file
from modellint.facts.vocabulary import ADAPTIVE, SCALE_FREE, SGD_LIKE, optimizer_family
from modellint.provenance import Fact, format_value
from modellint.rule import Option, RecipeRule, flag, ok

# Keys of configs whose model is composed by a registry (detectron2 yacs/LazyConfig, MMEngine): the model is
# what the config names, not whatever classes the project's code happens to define.
_REGISTRY_DIALECTS = ("detectron2", "mmengine")


def _registry_config(recipe) -> bool:
    return any(f.dialect in _REGISTRY_DIALECTS or f.key.startswith(("SOLVER.", "MODEL.", "optim_wrapper", "param_scheduler"))
               for f in recipe.facts)


def _detectron2_solver(recipe) -> bool:
    return any(f.key.startswith("SOLVER.") for f in recipe.facts if f.name in (names.LR, names.BATCH_GLOBAL, names.TOTAL_ITERS))


def _number(value) -> Optional[float]:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


class _Warmups:
    """What one pool of facts says about warmup."""

    def __init__(self, facts: List[Fact]):
        self.on: List[Fact] = []  # a warmup length > 0 that starts below the full LR
        self.named: List[Fact] = []  # a scheduler whose name/arguments say it warms up
        self.off: List[Fact] = []  # 0 steps, or a start factor of 1.0: no warmup
        self.weak: List[Fact] = []  # code reads a warmup setting whose value is set elsewhere
        for fact in facts:
            if fact.name == names.WARMUP:
                length = _number(fact.value)
                if length is None:
                    continue
                factor = fact.get("start_factor")
                if length <= 0 and fact.dialect == "argparse":
                    self.weak.append(fact)  # an option whose default is 0: the launch command decides
                elif length <= 0 or (isinstance(factor, (int, float)) and factor >= 1.0):
                    self.off.append(fact)
                else:
                    self.on.append(fact)
            elif fact.name == names.WARMUP_FACTOR:
                if isinstance(fact.value, (int, float)) and fact.value >= 1.0:
                    self.off.append(fact)
            elif fact.name == names.SCHEDULER and fact.get("warmup") is True:
                self.named.append(fact)
            elif fact.name == names.WARMUP_PARAM:
                self.weak.append(fact)

    @property
    def warm(self) -> bool:
        # ``WarmupPolyLR`` with WARMUP_FACTOR 1.0, ``constant_with_warmup`` with 0 steps: the numbers win
        return bool(self.on) or (bool(self.named) and not self.off)


def warmup_state(recipe) -> Tuple[str, List[Fact]]:
    """``("on"|"off"|"unknown", evidence)`` for the whole recipe (its own facts, then its project's code)."""
    own = _Warmups(recipe.facts)
    code = _Warmups(recipe.context)
    if own.warm:
        return "on", own.on + own.named
    if code.on or (code.named and not code.off):
        return "on", code.on + code.named  # a warmup the training code builds for itself
    if own.off:
        return "off", own.off
    if _detectron2_solver(recipe):
        return "on", []  # detectron2 defaults: WARMUP_ITERS 1000 from WARMUP_FACTOR 0.001
    if own.weak or code.weak:
        return "unknown", own.weak + code.weak
    return "off", code.off


def transformer_evidence(recipe, anchor: Fact) -> Optional[Fact]:
    """A fact saying the model is transformer-like, or None.

    A model chosen by name (a config's model type, ``--model``, ``create_model("vit_b")``) decides; the
    classes and layers a project's code defines count only when nothing names the model."""
    own = recipe.all(names.MODEL_ARCH)
    if not recipe.is_config:  # a code recipe: its facts are the whole project's code
        own = attributable(recipe, anchor, own)
    named = [f for f in own if f.get("named")]
    if any(f.value == "transformer" for f in named):
        return next(f for f in named if f.value == "transformer")
    if any(f.value == "other" and f.get("named") is True for f in named):
        return None  # the recipe names its whole model, and it is not transformer-like
    found = [f for f in own if f.value == "transformer"]
    if found:
        return found[0]
    if _registry_config(recipe):
        return None  # the config composes its model from a registry; nothing there is transformer-like
    found = attributable(recipe, anchor, [f for f in recipe.context_all(names.MODEL_ARCH) if f.value == "transformer"])
    return found[0] if found else None


def effective_batch(recipe) -> Optional[Tuple[float, List[Fact]]]:
    """A lower bound of per-device × devices × accumulation from the recipe's own facts."""
    def smallest(name: str) -> Optional[Fact]:
        facts = [f for f in recipe.all(name) if _number(f.value) and f.value > 0]
        return min(facts, key=lambda f: f.value) if facts else None

    accum = smallest(names.GRAD_ACCUM)
    devices = smallest(names.DEVICES)
    factor = accum.value if accum else 1
    best: Optional[Tuple[float, List[Fact]]] = None
    effective = smallest(names.BATCH_EFFECTIVE)
    if effective:
        best = (effective.value, [effective])
    glob = smallest(names.BATCH_GLOBAL)
    if glob:
        candidate = (glob.value * factor, [glob] + ([accum] if accum else []))
        best = candidate if best is None or candidate[0] > best[0] else best
    per = smallest(names.BATCH_PER_DEVICE)
    if per:
        used = [per] + ([devices] if devices else []) + ([accum] if accum else [])
        candidate = (per.value * (devices.value if devices else 1) * factor, used)
        best = candidate if best is None or candidate[0] > best[0] else best
    return best


class MissingLrWarmup(RecipeRule):
    code = "ML103"
    name = "missing-lr-warmup"
    severity = "warning"
    summary = "A transformer-like model or a very large batch is trained at a high LR with no warmup anywhere in the recipe."
    rationale = (
        "Adam-family optimizers estimate the gradient's second moment from the first few steps; at full LR "
        "those first updates are huge, and attention models (LayerNorm, softmax over large logits) and "
        "large-batch runs are the ones that diverge or lock into a bad region from them. A linear warmup over "
        "the first ~1-5% of training is the standard remedy (a post-mortem multimodal transformer first ran "
        "AdamW at 1e-4 with a cosine schedule and no warmup; its loss never moved). The rule needs a "
        "transformer-like model (attention/ViT/Swin/BERT/GPT/DETR/`nn.Transformer*` in the recipe's model "
        "config or its project's code) or an effective batch of at least `min_batch_for_warmup`, a base LR of "
        "at least `min_lr_for_warmup` (Adam family) or `min_sgd_lr_for_warmup` (SGD family; both bounds when "
        "the optimizer is unknown), and no warmup anywhere: no warmup length > 0, no warmup scheduler "
        "(`LinearLR`, a `LambdaLR` named warm*, `get_*_schedule_with_warmup`, `OneCycleLR`, a `SequentialLR` "
        "opening with a ramp, DeepSpeed `WarmupLR`). A warmup that starts at factor 1.0 (`WARMUP_FACTOR: 1.0`, "
        "`start_factor=1.0`) or lasts 0 steps is no warmup. detectron2's defaults (1000 iterations from 0.001) "
        "count as warmup. When the code reads a warmup setting whose value the rule cannot see, it stays silent. "
        "Published recipes that train without warmup on purpose (DETR, Mask2Former's `WARMUP_ITERS: 10` at "
        "factor 1.0) meet this definition: the finding says what was seen so it can be suppressed deliberately."
    )
    fix = "Add a linear LR warmup over the first ~1-5% of training (e.g. warmup_ratio 0.03, LinearLR(start_factor=0.01), WARMUP_ITERS 1000 with WARMUP_FACTOR 0.001)."
    options = (
        Option("min_lr_for_warmup", 1e-4, "Adam-family base LRs at or above this need a warmup (transformer-like model or large batch)."),
        Option("min_sgd_lr_for_warmup", 0.1, "The same bound for SGD-family optimizers (SGD, RMSprop, LARS)."),
        Option("min_batch_for_warmup", 1024, "An effective batch at or above this needs a warmup whatever the model."),
    )
    examples = (
        flag({
            "configs/train_config.py": """
                TRAIN = {
                    "batch_size": 32,
                    "num_epochs": 100,
                    "optimizer": "adamw",
                    "learning_rate": 1e-4,
                    "lr_scheduler": "cosine",
                    "min_lr": 1e-6,
                }
                """,
            "src/model.py": """
                import torch.nn as nn

                class Fusion(nn.Module):
                    def __init__(self, d_model=512):
                        super().__init__()
                        layer = nn.TransformerEncoderLayer(d_model, nhead=8, batch_first=True)
                        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
                """,
            "README.md": "quadmodal\n",
        }, at="configs/train_config.py", line=5, title="seed 001: AdamW 1e-4, transformer fusion in the code, cosine only"),
        flag("configs/mask2former_r50.yaml", """
            MODEL:
              META_ARCHITECTURE: "MaskFormer"
              MASK_FORMER:
                TRANSFORMER_DECODER_NAME: "MultiScaleMaskedTransformerDecoder"
                NHEADS: 8
            SOLVER:
              IMS_PER_BATCH: 16
              BASE_LR: 0.0001
              OPTIMIZER: "ADAMW"
              LR_SCHEDULER_NAME: "WarmupPolyLR"
              WARMUP_FACTOR: 1.0
              WARMUP_ITERS: 10
            """, line=8, title="Mask2Former calibration case: WARMUP_ITERS 10 at factor 1.0 is no warmup"),
        flag({
            "main.py": """
                import argparse
                import torch
                from models.detr import build_model

                def get_args_parser():
                    parser = argparse.ArgumentParser('DETR', add_help=False)
                    parser.add_argument('--lr', default=1e-4, type=float)
                    parser.add_argument('--lr_backbone', default=1e-5, type=float)
                    parser.add_argument('--backbone', default='resnet50', type=str)
                    parser.add_argument('--batch_size', default=2, type=int)
                    parser.add_argument('--epochs', default=300, type=int)
                    parser.add_argument('--lr_drop', default=200, type=int)
                    return parser

                def main(args):
                    model = build_model(args)
                    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
                    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.lr_drop)
                """,
            "models/transformer.py": """
                from torch import nn

                class TransformerDecoderLayer(nn.Module):
                    def __init__(self, d_model, nhead):
                        super().__init__()
                        self.self_attn = nn.MultiheadAttention(d_model, nhead)
                """,
        }, at="main.py", line=7, title="DETR calibration case: AdamW 1e-4, StepLR, no warmup"),
        flag("ds_config.json", """
            {
              "train_batch_size": 4096,
              "train_micro_batch_size_per_gpu": 64,
              "gradient_accumulation_steps": 8,
              "optimizer": {"type": "Lamb", "params": {"lr": 0.004}},
              "zero_optimization": {"stage": 1}
            }
            """, line=5, title="effective batch 4096 at LAMB 4e-3 without a DeepSpeed scheduler"),
        flag("args.json", """
            {
              "model_name_or_path": "bert-base-uncased",
              "learning_rate": 3e-4,
              "per_device_train_batch_size": 32,
              "num_train_epochs": 3,
              "lr_scheduler_type": "linear",
              "warmup_steps": 0
            }
            """, line=3, title="HF args file: BERT at 3e-4, warmup_steps 0"),
        flag({
            "scripts/train_vit.sh": """
                #!/bin/bash
                python train.py --model vit_small_patch16_224 --lr 1e-3 --warmup-epochs 0
                """,
            "train.py": """
                import argparse
                parser = argparse.ArgumentParser()
                parser.add_argument("--model", default="resnet50", type=str)
                parser.add_argument("--opt", default="adamw", type=str)
                parser.add_argument("--lr", default=5e-4, type=float)
                parser.add_argument("--warmup-epochs", default=5, type=int)
                """,
            "README.md": "timm-style training\n",
        }, at="scripts/train_vit.sh", line=2, title="timm-style launch: a ViT at 1e-3 with --warmup-epochs 0"),
        ok("configs/train_config.py", """
            TRAIN = {
                "optimizer": "adamw",
                "learning_rate": 1e-4,
                "lr_scheduler": "cosine_warmup",
                "warmup_epochs": 10,
                "warmup_start_lr": 1e-7,
                "model": "vit_base_patch16_224",
            }
            """, title="seed 001 fixed: 10 warmup epochs"),
        ok({
            "train.py": """
                import argparse
                import torch
                from torch.optim.lr_scheduler import LambdaLR

                parser = argparse.ArgumentParser()
                parser.add_argument("--lr", type=float, default=1e-4)
                parser.add_argument("--warmup-steps", type=int, default=2000)

                def main(args, model):
                    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
                    warmup_scheduler = LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / args.warmup_steps))
                """,
            "model.py": """
                import torch.nn as nn
                class Decoder(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.layers = nn.TransformerDecoder(nn.TransformerDecoderLayer(256, 8), 6)
                """,
        }, title="warmup LambdaLR and --warmup-steps in the training code"),
        ok("configs/swin_seg.yaml", """
            MODEL:
              BACKBONE:
                NAME: "D2SwinTransformer"
            SOLVER:
              OPTIMIZER: "ADAMW"
              BASE_LR: 0.0001
              WARMUP_FACTOR: 0.001
              WARMUP_ITERS: 1000
            """, title="detectron2 warmup from 0.001 over 1000 iterations"),
        ok("configs/swin_default_warmup.yaml", """
            MODEL:
              BACKBONE:
                NAME: "D2SwinTransformer"
            SOLVER:
              OPTIMIZER: "ADAMW"
              BASE_LR: 0.0001
            """, title="detectron2 warms up by default (WARMUP_ITERS 1000, WARMUP_FACTOR 0.001)"),
        ok({
            "train.py": """
                import argparse
                import torch
                from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

                parser = argparse.ArgumentParser()
                parser.add_argument("--learning_rate", type=float, default=1e-3)
                parser.add_argument("--num_warmup_steps", type=int, default=0)

                def main(args, steps):
                    model = AutoModelForSequenceClassification.from_pretrained("roberta-base")
                    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
                    scheduler = get_linear_schedule_with_warmup(optimizer, args.num_warmup_steps, steps)
                """,
        }, title="a warmup option defaulting to 0: the launch command decides"),
        ok("configs/seqsetvae.yaml", """
            model:
              class_path: seqsetvae.model.SeqSetVAE
              init_args:
                transformer_layers: 4
                lr: 5e-5
            """, title="transformer at an Adam LR below 1e-4 (PyYAML reads 5e-5 as a string)"),
        ok({
            "train_md_fed.py": """
                import torch
                import torch.nn as nn

                class CoarseFine(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.gru = nn.GRU(64, 128, batch_first=True)
                        self.bn = nn.BatchNorm1d(128)

                def main(model):
                    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
                """,
        }, title="a GRU model is not transformer-like"),
        ok("ds_config.json", """
            {
              "train_batch_size": 4096,
              "train_micro_batch_size_per_gpu": 64,
              "gradient_accumulation_steps": 8,
              "optimizer": {"type": "Lamb", "params": {"lr": 0.004}},
              "scheduler": {"type": "WarmupDecayLR",
                            "params": {"warmup_num_steps": 2000, "total_num_steps": 100000}}
            }
            """, title="DeepSpeed WarmupDecayLR"),
        ok("configs/vit.yaml", """
            model:
              arch: vit_base_patch16_224
            optimizer:
              type: SGD
              lr: 0.01
            """, title="SGD below 0.1"),
        ok({
            "configs/resnet50_8xb32_in1k.py": """
                model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=50))
                optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001))
                param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
                train_dataloader = dict(batch_size=32)
                """,
            "models/vit.py": """
                import torch.nn as nn
                class VisionTransformer(nn.Module):
                    pass
                """,
        }, title="a ResNet config in a repository that also defines ViTs"),
        ok({
            "scripts/train_resnet.sh": "python train.py --model resnet50 --lr 0.4 --warmup-epochs 0 --opt sgd\n",
            "train.py": """
                import argparse
                parser = argparse.ArgumentParser()
                parser.add_argument("--model", default="vit_base_patch16_224", type=str)
                parser.add_argument("--opt", default="adamw", type=str)
                parser.add_argument("--lr", default=5e-4, type=float)
                parser.add_argument("--warmup-epochs", default=5, type=int)
                """,
            "models/vit.py": """
                import torch.nn as nn
                class Attention(nn.Module):
                    pass
                """,
        }, title="a launch script picks a ResNet: the ViT classes of the code base do not matter"),
        ok("args.yaml", """
            model_name_or_path: gpt2
            learning_rate: 5.0e-4
            per_device_train_batch_size: 8
            lr_scheduler_type: cosine
            warmup_ratio: 0.03
            """, title="HF warmup_ratio"),
        ok({
            "configs/model.yaml": """
                model:
                  name: bert-base-uncased
                optimizer: {type: AdamW, lr: 2.0e-4}
                """,
            "train.py": """
                from transformers import get_scheduler

                def build(optimizer, cfg, steps):
                    return get_scheduler("linear", optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=steps)
                """,
        }, title="the training code builds a warmup scheduler whose length the config sets"),
    )

    @staticmethod
    def _optimizer(recipe, lr: Fact) -> Tuple[Optional[str], str]:
        """The optimizer family for this LR: the constructor it was passed to, else the recipe's one optimizer."""
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\(lr=", lr.key)
        if match and optimizer_family(match.group(1)):
            return optimizer_family(match.group(1)), match.group(1)
        family = recipe.optimizer_family()
        optimizer = recipe.optimizer_fact()
        if family is not None and optimizer is not None:
            return family, str(optimizer.value) + (" (the default optimizer)" if optimizer.get("default") else "")
        candidates = sorted({str(f.value).rsplit(".", 1)[-1] for f in recipe.all(names.OPTIMIZER) + recipe.context_all(names.OPTIMIZER)})
        if candidates:
            return None, "an optimizer modellint cannot pin down (" + ", ".join(candidates[:4]) + ")"
        return None, "an optimizer modellint could not identify"

    def _threshold(self, family: Optional[str]) -> float:
        if family == ADAPTIVE:
            return self.option("min_lr_for_warmup")
        if family == SGD_LIKE:
            return self.option("min_sgd_lr_for_warmup")
        return max(self.option("min_lr_for_warmup"), self.option("min_sgd_lr_for_warmup"))

    def check(self, recipe, report) -> None:
        if not getattr(recipe, "complete", True):
            return  # a Hydra group file on its own: the full recipe that composes it is judged instead
        lrs = [f for f in recipe.all(names.LR) if _number(f.value) and f.value > 0 and not is_test_file(f.span.path)]
        if not lrs:
            return
        lr = max(lrs, key=lambda f: f.value)
        family, who = self._optimizer(recipe, lr)
        if family == SCALE_FREE:
            return
        threshold = self._threshold(family)
        if lr.value < threshold:
            return
        model = transformer_evidence(recipe, lr)
        batch = effective_batch(recipe)
        large = batch is not None and batch[0] >= self.option("min_batch_for_warmup")
        if model is None and not large:
            return
        state, evidence = warmup_state(recipe)
        if state != "off":
            return

        optimizer = recipe.optimizer_fact() if family is not None else None
        bound = f"{format_value(threshold)}" + (" for Adam-family optimizers" if family == ADAPTIVE else
                                                 " for SGD-family optimizers" if family == SGD_LIKE else "")
        reasons = []
        related = []
        if model is not None:
            reasons.append(f"a transformer-like model ({model.get('evidence') or model.key}, {model.span.describe()})")
            related.append((model, f"transformer-like model: {model.get('evidence') or model.key}"))
        if large:
            value, used = batch
            reasons.append(f"an effective batch of {value:g} (" + " x ".join(f"{f.key} {format_value(f.value)}" for f in used) + ")")
            related.extend((f, f"{f.key} = {format_value(f.value)}") for f in used)
        if optimizer is not None:
            related.append((optimizer, f"optimizer {optimizer.value} set here"))
        if evidence:
            shown = self._off_evidence(evidence)
            related.extend((f, self._describe_off(f)) for f in shown)
            no_warmup = "no effective warmup: " + "; ".join(dict.fromkeys(self._describe_off(f) for f in shown))
        else:
            no_warmup = "no warmup anywhere in the recipe or its training code (no warmup length, no warmup scheduler)"
        recipe_name = ""
        if recipe.is_config and lr.span.path not in recipe.name:
            recipe_name = f" in the recipe of {recipe.name}"
        report(lr, f"learning rate {format_value(lr.value)} ({lr.key}) with {who}{recipe_name} is at or above {bound}, on "
                   + " and ".join(reasons) + f", with {no_warmup}. The first full-size steps on such a "
                   "model or batch often diverge or settle in a poor region",
               related=related,
               help="Warm the LR up over the first ~1-5% of training (HF warmup_ratio: 0.03; detectron2 WARMUP_ITERS: 1000 "
                    "with WARMUP_FACTOR: 0.001; torch LinearLR(start_factor=0.01) in a SequentialLR). If training "
                    "without warmup is deliberate (DETR does), suppress with `# modellint: ignore[ML103]`.")

    @staticmethod
    def _off_evidence(evidence: List[Fact]) -> List[Fact]:
        """A warmup length whose start factor is known already says what its factor fact says."""
        lengths = [f for f in evidence if f.name == names.WARMUP and f.get("start_factor") is not None]
        return [f for f in evidence if not (f.name == names.WARMUP_FACTOR and lengths)]

    @staticmethod
    def _describe_off(fact: Fact) -> str:
        if fact.name == names.WARMUP_FACTOR:
            return f"{fact.key} {format_value(fact.value)} starts at the full LR"
        factor = fact.get("start_factor")
        if fact.name == names.WARMUP and isinstance(factor, (int, float)) and factor >= 1.0 and _number(fact.value):
            return f"{fact.key} {format_value(fact.value)} starts at factor {format_value(factor)}, the full LR"
        return f"{fact.key} = {format_value(fact.value)}"
