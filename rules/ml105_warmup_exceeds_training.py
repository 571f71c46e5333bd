from typing import List, Optional

from modellint.facts import names
from modellint.facts.evidence import is_test_file
from modellint.provenance import Fact, format_value
from modellint.rule import RecipeRule, flag, ok

_UNITS = {"iters": "iterations", "steps": "iterations", "epochs": "epochs"}


def _origin(fact: Fact) -> str:
    """The file a code value belongs to (a launch flag replaces the default of its script's option)."""
    return fact.chain[0].span.path if fact.chain else fact.span.path


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class WarmupExceedsTraining(RecipeRule):
    code = "ML105"
    name = "warmup-exceeds-training"
    severity = "error"
    summary = "The LR warmup is as long as (or longer than) the whole training run."
    rationale = (
        "A warmup ramps the LR from a small start to its peak; if it lasts as long as training, the run never "
        "reaches the LR it was tuned for (and decay phases never start): typically a warmup copied from a long "
        "schedule into a short fine-tune, or a step count compared with an epoch count by mistake. Lengths are "
        "compared in the same unit only (iterations with iterations, epochs with epochs; a `warmup_ratio` of 1 "
        "or more is the whole run by definition); a warmup that starts at the full LR (factor 1.0) does nothing "
        "and is not judged."
    )
    fix = "Shorten the warmup to a few percent of training (or lengthen training); check both numbers use the same unit."
    examples = (
        flag("configs/finetune.yaml", """
            trainer:
              max_steps: 1000
            model:
              init_args:
                lr: 3.0e-4
                warmup_steps: 2000
            """, line=6, title="LightningCLI: 2000 warmup steps in a 1000-step run"),
        flag("configs/train_config.py", """
            TRAIN = {
                "learning_rate": 1e-4,
                "warmup_epochs": 10,
                "num_epochs": 10,
            }
            """, line=3, title="warmup as long as training (epochs)"),
        flag("args.json", """
            {
              "learning_rate": 2e-5,
              "per_device_train_batch_size": 16,
              "warmup_ratio": 1.0,
              "num_train_epochs": 3
            }
            """, line=4, title="HF warmup_ratio 1.0 is the whole run"),
        flag("ds_config.json", """
            {
              "train_micro_batch_size_per_gpu": 8,
              "scheduler": {
                "type": "WarmupDecayLR",
                "params": {"warmup_num_steps": 5000, "total_num_steps": 3000}
              }
            }
            """, line=5, title="DeepSpeed WarmupDecayLR warmup longer than total_num_steps"),
        flag("configs/Base-Seg.yaml", """
            SOLVER:
              BASE_LR: 0.0001
              MAX_ITER: 500
              WARMUP_FACTOR: 0.001
              WARMUP_ITERS: 1000
            """, line=5, title="detectron2 WARMUP_ITERS beyond MAX_ITER"),
        flag({
            "configs/base.yaml": """
                SOLVER:
                  BASE_LR: 0.02
                  MAX_ITER: 90000
                  WARMUP_ITERS: 1000
                """,
            "scripts/smoke.sh": """
                #!/bin/bash
                python train_net.py --config-file configs/base.yaml --num-gpus 1 SOLVER.MAX_ITER 500
                """,
            "README.md": "det\n",
        }, at="scripts/smoke.sh", line=2, title="a launch script shortens the run below the inherited warmup"),
        flag("train.py", """
            from transformers import get_linear_schedule_with_warmup

            def build(optimizer):
                return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=500, num_training_steps=400)
            """, line=4, title="training code: the scheduler's own numbers"),
        ok("configs/train_config.py", """
            TRAIN = {
                "learning_rate": 1e-4,
                "warmup_epochs": 10,
                "num_epochs": 100,
            }
            """, title="10 of 100 epochs"),
        ok("args.json", """
            {
              "warmup_steps": 500,
              "num_train_epochs": 3,
              "per_device_train_batch_size": 8
            }
            """, title="steps against epochs: steps per epoch unknown"),
        ok("configs/mask2former.yaml", """
            SOLVER:
              MAX_ITER: 5
              WARMUP_FACTOR: 1.0
              WARMUP_ITERS: 10
            """, title="a warmup that starts at factor 1.0 does nothing"),
        ok("configs/phases.yaml", """
            pretrain:
              epochs: 100
              warmup_epochs: 10
            finetune:
              epochs: 5
            """, title="a phase's warmup is compared with that phase's length"),
        ok("configs/ft.yaml", """
            trainer:
              max_steps: -1
              max_epochs: 3
            model:
              init_args:
                warmup_steps: 100
            """, title="max_steps -1 means unlimited"),
        ok({
            "train_a.py": """
                import argparse
                p = argparse.ArgumentParser()
                p.add_argument("--warmup-steps", type=int, default=4000)
                """,
            "finetune_b.py": """
                import argparse
                p = argparse.ArgumentParser()
                p.add_argument("--max-steps", type=int, default=1000)
                """,
        }, title="two scripts of one project: their options are not one run"),
    )

    def check(self, recipe, report) -> None:
        if not getattr(recipe, "complete", True):
            return  # a Hydra group file on its own: the full recipe that composes it is judged instead
        code_recipe = not recipe.is_config
        totals = {unit: [t for t in recipe.all(name) if _number(t.value) and t.value > 0]
                  for unit, name in (("iters", names.TOTAL_ITERS), ("epochs", names.TOTAL_EPOCHS))}
        for warmup in recipe.all(names.WARMUP):
            length = _number(warmup.value)
            factor = warmup.get("start_factor")
            if length is None or length <= 0 or (isinstance(factor, (int, float)) and factor >= 1.0) or is_test_file(warmup.span.path):
                continue
            unit = warmup.get("unit")
            if unit == "ratio":
                if length >= 1.0:
                    report(warmup, f"warmup ratio {format_value(length)} ({warmup.key}) covers the whole training run: "
                                   "the LR never reaches its peak and no decay phase ever starts",
                           help="A warmup ratio is a fraction of training: use 0.01-0.1.")
                continue
            unit = "iters" if unit == "steps" else unit
            if unit not in totals:
                continue
            pool: List[Fact] = totals[unit]
            if code_recipe:
                pool = [t for t in pool if _origin(t) == _origin(warmup)]
            if not pool:
                continue
            section = warmup.key.rsplit(".", 1)[0] if "." in warmup.key else ""
            same = [t for t in pool if (t.key.rsplit(".", 1)[0] if "." in t.key else "") == section]
            total = max(same or pool, key=lambda t: t.value)  # a phase's own length first, else the longest
            if length < total.value:
                continue
            what = _UNITS[unit]
            # cross-file: report where the later of the two was set (a launch script's override)
            later = recipe.is_config and recipe.layer(total) > recipe.layer(warmup)
            at, other = (total, warmup) if later else (warmup, total)
            report(at, f"warmup of {format_value(length)} {what} ({warmup.key}, {warmup.span.describe()}) is "
                       f"{'as long as' if length == total.value else 'longer than'} the whole run of "
                       f"{format_value(total.value)} {what} ({total.key}, {total.span.describe()}): "
                       "the LR never reaches the peak it was tuned for and no decay phase ever starts",
                   related=[(other, f"{other.key} = {format_value(other.value)} {what}")],
                   help=f"Shorten the warmup to a few percent of the {format_value(total.value)} {what}, or train longer.")
