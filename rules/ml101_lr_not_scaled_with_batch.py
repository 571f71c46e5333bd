import math
from typing import Optional, Tuple

from modellint.facts import names
from modellint.provenance import Fact, format_value
from modellint.fixes import UNSAFE, value_fix
from modellint.rule import Option, RecipeRule, fixes, flag, ok

# When a recipe has several LR keys, the base LR is the one named first here.
_BASE_LR_KEYS = ("SOLVER.BASE_LR", "optim_wrapper.optimizer.lr", "optimizer.lr", "learning_rate", "lr")


def _base_lr(recipe) -> Optional[Fact]:
    facts = recipe.all(names.LR)
    if len({f.key for f in facts}) == 1:
        return facts[-1]
    for key in _BASE_LR_KEYS:
        for fact in facts:
            if fact.key == key:
                return fact
    return None


def _before(fact: Fact, layer: int, recipe) -> Optional[Fact]:
    """The value ``fact`` had before file number ``layer`` of the recipe set anything."""
    if recipe.layer(fact) < layer:
        return fact
    for older in reversed(fact.chain):
        if recipe.layer(older) < layer:
            return older
    return None


def _batch_text(batch: Fact, devices: Optional[Fact]) -> str:
    if devices is None:
        return batch.key
    return f"{batch.key} {format_value(batch.value)} x {devices.value} GPUs from the {devices.key}"


class LrNotScaledWithBatch(RecipeRule):
    code = "ML101"
    name = "lr-not-scaled-with-batch"
    severity = "warning"
    summary = "The effective batch size was changed from its reference but the learning rate was not rescaled."
    rationale = (
        "An LR is tuned for a batch size. Cutting the batch 8x (to fit a smaller GPU) while keeping, or only "
        "loosely lowering, the LR makes every step 8x noisier at the same step size: a post-mortem "
        "detectron2 run took a Swin-B recipe tuned at IMS_PER_BATCH 8 / BASE_LR 1e-4 and trained it as "
        "1 / 7e-5 from a launch script (linear scaling expects 1.25e-5) and lost 3 mIoU. The reference is "
        "the value the recipe inherits (`_BASE_`, `_base_`, Hydra defaults), the config a launch script "
        "overrides, or a framework's declared reference (MMEngine `auto_scale_lr.base_batch_size`). "
        "Effective batch = per-device x devices x gradient accumulation where known; detectron2's "
        "IMS_PER_BATCH is already global. Expected LR = reference LR x (batch / reference batch) with "
        "`scaling = \"linear\"` (or its square root with `\"sqrt\"`); a finding needs the actual LR to be "
        "off by more than `tolerance`. MMEngine's `auto_scale_lr.enable = True` and detectron2's "
        "`REFERENCE_WORLD_SIZE` rescale automatically and are respected. An argparse default overridden by a "
        "launch script is not a reference: defaults are placeholders, not a tuned recipe."
    )
    fix = "Scale the LR with the batch (linear rule: lr x new_batch / old_batch), or keep the batch and use gradient accumulation."
    options = (
        Option("scaling", "linear", "How LR should follow the batch: \"linear\" or \"sqrt\"."),
        Option("tolerance", 1.5, "Allowed factor between the actual and the expected LR."),
    )
    examples = (
        flag({
            "configs/Base-Seg.yaml": """
                SOLVER:
                  IMS_PER_BATCH: 8
                  BASE_LR: 0.0001
                  MAX_ITER: 45000
                """,
            "configs/swin/seg_swinb.yaml": """
                _BASE_: ../Base-Seg.yaml
                MODEL:
                  BACKBONE:
                    NAME: D2SwinTransformer
                """,
            "scripts/train_full.sh": """
                #!/bin/bash
                python train_net.py --config-file configs/swin/seg_swinb.yaml --num-gpus 1 \\
                    SOLVER.IMS_PER_BATCH 1 SOLVER.BASE_LR 0.00007 SOLVER.MAX_ITER 90000
                """,
            "README.md": "seg\n",
        }, at="scripts/train_full.sh", line=3, title="seed 003: batch 8 → 1 from a launch script, LR 1e-4 → 7e-5"),
        flag({
            "configs/base.yaml": """
                SOLVER:
                  IMS_PER_BATCH: 16
                  BASE_LR: 0.02
                """,
            "configs/small_gpu.yaml": """
                _BASE_: base.yaml
                SOLVER:
                  IMS_PER_BATCH: 2
                """,
        }, at="configs/small_gpu.yaml", line=3, title="batch overridden in a child config, LR inherited unchanged"),
        flag({
            "configs/retinanet_r50_8xb2_coco.py": """
                optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
                train_dataloader = dict(batch_size=2, num_workers=2)
                auto_scale_lr = dict(enable=False, base_batch_size=16)
                """,
            "tools/dist_train.sh": "#!/usr/bin/env bash\npython -m torch.distributed.launch train.py $1\n",
            "scripts/run.sh": """
                bash tools/dist_train.sh configs/retinanet_r50_8xb2_coco.py 2
                """,
            "README.md": "det\n",
        }, at="scripts/run.sh", line=1, title="MMEngine: 8 GPUs x 2 planned, launched on 2 GPUs, auto_scale_lr off"),
        ok({
            "configs/base.yaml": "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n",
            "configs/small.yaml": "_BASE_: base.yaml\nSOLVER:\n  IMS_PER_BATCH: 8\n  BASE_LR: 0.01\n",
        }, title="batch halved and LR halved"),
        ok({
            "configs/Base-Seg.yaml": "SOLVER:\n  IMS_PER_BATCH: 8\n  BASE_LR: 0.0001\n",
            "scripts/train.sh": "python train_net.py --config-file configs/Base-Seg.yaml SOLVER.IMS_PER_BATCH 2 SOLVER.BASE_LR 0.000025\n",
            "README.md": "seg\n",
        }, title="launch script scales the LR correctly"),
        ok({
            "train.py": """
                import argparse
                parser = argparse.ArgumentParser()
                parser.add_argument("--train_batch_size", type=int, default=4)
                parser.add_argument("--learning_rate", type=float, default=5e-6)
                """,
            "train.sh": "accelerate launch train.py --train_batch_size 1 --learning_rate 3e-5\n",
            "README.md": "x\n",
        }, title="argparse defaults are placeholders, not a tuned reference"),
        ok({
            "configs/base.yaml": "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n",
            "scripts/train.sh": "python train_net.py --config-file configs/base.yaml --num-gpus 2\n",
            "README.md": "det\n",
        }, title="--num-gpus does not change detectron2's global batch"),
        ok({
            "configs/retinanet_r50_8xb2_coco.py": """
                optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
                train_dataloader = dict(batch_size=2)
                auto_scale_lr = dict(enable=True, base_batch_size=16)
                """,
            "scripts/run.sh": "bash tools/dist_train.sh configs/retinanet_r50_8xb2_coco.py 2\n",
            "README.md": "det\n",
        }, title="auto_scale_lr enabled: MMEngine rescales the LR itself"),
        ok({
            "configs/base.yaml": "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n  WARMUP_FACTOR: 0.001\n",
            "configs/warm.yaml": "_BASE_: base.yaml\nSOLVER:\n  WARMUP_FACTOR: 0.0001\n  IMS_PER_BATCH: 16\n",
        }, title="a warmup factor is not a base LR; the batch did not change"),
        fixes({
            "configs/base.yaml": "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n",
            "configs/small_gpu.yaml": """
                _BASE_: base.yaml
                SOLVER:
                  IMS_PER_BATCH: 4
                  BASE_LR: 0.01  # halved "to be safe"
                """,
        }, after={"configs/small_gpu.yaml": """
                _BASE_: base.yaml
                SOLVER:
                  IMS_PER_BATCH: 4
                  BASE_LR: 0.005  # halved "to be safe"
                """}, at="configs/small_gpu.yaml", line=4, unsafe=True,
            title="fix (unsafe): the overriding LR becomes the linearly scaled value, the comment kept"),
        fixes({
            "configs/Base-Seg.yaml": "SOLVER:\n  IMS_PER_BATCH: 8\n  BASE_LR: 0.0001\n",
            "scripts/train.sh": """
                #!/bin/bash
                python train_net.py --config-file configs/Base-Seg.yaml --num-gpus 1 \\
                    SOLVER.IMS_PER_BATCH 1 SOLVER.BASE_LR 0.00007  # one GPU
                """,
            "README.md": "seg\n",
        }, after={"scripts/train.sh": """
                #!/bin/bash
                python train_net.py --config-file configs/Base-Seg.yaml --num-gpus 1 \\
                    SOLVER.IMS_PER_BATCH 1 SOLVER.BASE_LR 1.25e-05  # one GPU
                """}, at="scripts/train.sh", line=3, unsafe=True,
            title="fix (unsafe): in a launch script"),
    )

    def _expected(self, ref_lr: float, batch: float, ref_batch: float) -> float:
        ratio = batch / ref_batch
        return ref_lr * (math.sqrt(ratio) if self.option("scaling") == "sqrt" else ratio)

    def check(self, recipe, report) -> None:
        lr = _base_lr(recipe)
        if lr is None or lr.value <= 0:
            return
        if self._check_override(recipe, lr, report):
            return
        self._check_declared(recipe, lr, report)

    # -- a value that overrides an inherited one ---------------------------
    def _batch_pair(self, recipe) -> Optional[Tuple[Fact, Fact]]:
        candidates = [names.BATCH_GLOBAL]
        # a per-device batch compares like with like only when the GPU count is not
        # part of the story (MMEngine names it per leaf file, declares its reference)
        if recipe.get(names.BATCH_REFERENCE) is None and not any(d.get("implied") for d in recipe.all(names.DEVICES)):
            candidates.append(names.BATCH_PER_DEVICE)
        for name in candidates:
            facts = [f for f in recipe.all(name) if f.chain]
            if len(facts) == 1:
                batch = facts[0]
                ref = batch.chain[-1]
                if ref.dialect == "argparse":
                    # an argparse default is a placeholder, not a recipe someone tuned
                    continue
                if batch.value > 0 and ref.value > 0 and batch.value != ref.value:
                    return batch, ref
        return None

    def _check_override(self, recipe, lr: Fact, report) -> bool:
        pair = self._batch_pair(recipe)
        if pair is None:
            return self._check_devices(recipe, lr, report)
        batch, ref_batch = pair
        if batch.name == names.BATCH_GLOBAL and recipe.get(names.DEVICES_REFERENCE) and recipe.get(names.DEVICES_REFERENCE).value:
            return True  # detectron2 rescales batch and LR itself
        accum = recipe.get(names.GRAD_ACCUM)
        factor = accum.value if accum is not None and accum.value and accum.value > 0 and not accum.chain else 1
        layer = recipe.layer(batch)
        ref_lr = _before(lr, layer, recipe)
        if ref_lr is None:
            return True
        effective = batch.value * factor
        expected = self._expected(ref_lr.value, effective, ref_batch.value)
        self._judge(recipe, lr, expected, effective, ref_batch.value, batch, ref_batch, ref_lr, report)
        return True

    def _check_devices(self, recipe, lr: Fact, report) -> bool:
        """MMEngine: the GPU count in the file name (8xb2) vs the one a launch script uses."""
        devices = recipe.all(names.DEVICES)
        implied = [d for d in devices if d.get("implied")]
        launched = [d for d in devices if not d.get("implied")]
        per_device = recipe.get(names.BATCH_PER_DEVICE)
        if not implied or len(launched) != 1 or per_device is None:
            return False
        if self._auto_scaled(recipe):
            return True
        new, old = launched[0], implied[0]
        if new.value == old.value:
            return False
        effective, reference = per_device.value * new.value, per_device.value * old.value
        expected = self._expected(lr.value, effective, reference)
        self._judge(recipe, lr, expected, effective, reference, new, old, lr, report)
        return True

    # -- a framework's declared reference ------------------------------------
    def _auto_scaled(self, recipe) -> bool:
        ref = recipe.get(names.BATCH_REFERENCE)
        return ref is not None and bool(ref.get("auto_scale"))

    def _check_declared(self, recipe, lr: Fact, report) -> None:
        ref = recipe.get(names.BATCH_REFERENCE)
        per_device = recipe.get(names.BATCH_PER_DEVICE)
        devices = recipe.all(names.DEVICES)
        if ref is None or ref.get("auto_scale") or per_device is None or len({d.value for d in devices}) != 1:
            return
        if any(d.get("implied") and d.get("per_device") != per_device.value for d in devices):
            return  # the file name's layout disagrees with the config itself: neither can be trusted
        effective = per_device.value * devices[0].value
        expected = self._expected(lr.value, effective, ref.value)
        # the GPU count is what makes this recipe differ from its reference: report there
        self._judge(recipe, lr, expected, effective, ref.value, per_device, ref, lr, report, declared=True,
                    at=devices[-1])

    def _judge(self, recipe, lr: Fact, expected: float, batch: float, ref_batch: float, batch_fact: Fact,
               ref_fact: Fact, ref_lr: Fact, report, declared: bool = False, at: Optional[Fact] = None) -> None:
        tolerance = self.option("tolerance")
        if expected <= 0 or batch == ref_batch:
            return
        ratio = lr.value / expected
        if 1 / tolerance <= ratio <= tolerance:
            return
        lr_changed = recipe.layer(lr) >= recipe.layer(batch_fact) and lr is not ref_lr
        where = at or (lr if lr_changed else batch_fact)
        change = f"{ref_batch / batch:g}x smaller" if batch < ref_batch else f"{batch / ref_batch:g}x larger"
        what_ref = "the declared reference" if declared else "the value it overrides"
        rule = "sqrt" if self.option("scaling") == "sqrt" else "linear"
        off = f"{ratio:.2g}x too high" if ratio > 1 else f"{1 / ratio:.2g}x too low"
        message = (
            f"effective batch {batch:g} ({_batch_text(batch_fact, at)}) is {change} than {what_ref}, {ref_batch:g}, "
            f"but the LR {format_value(lr.value)} ({lr.key}) was not rescaled to match: {rule} scaling expects "
            f"{format_value(expected)} ({format_value(ref_lr.value)} x {batch:g}/{ref_batch:g}{', square root' if rule == 'sqrt' else ''}), "
            f"{off}"
        )
        related = [(ref_fact, f"{ref_fact.key} {format_value(ref_fact.value)} set here")]
        if ref_lr is not lr:
            related.append((ref_lr, f"{ref_lr.key} {format_value(ref_lr.value)} set here"))
        if where is not batch_fact:
            related.insert(0, (batch_fact, f"{batch_fact.key} {format_value(batch_fact.value)} set here"))
        if where is not lr:
            related.append((lr, f"{lr.key} {format_value(lr.value)} set here"))
        # only an LR set where the batch was changed is rewritten: the base value serves other recipes
        fix = value_fix(lr.span, lr.value, expected, UNSAFE, f"Set {lr.key} to {format_value(expected)}") if lr_changed else None
        report(where, message, related=related, fix=fix,
               help=f"Set the LR to {format_value(expected)}, or keep the effective batch at {ref_batch:g} "
                    "(gradient accumulation) so the LR stays valid.")
