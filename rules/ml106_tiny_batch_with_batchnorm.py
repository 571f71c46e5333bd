from typing import List, Optional, Tuple

from modellint.facts import names
from modellint.facts.common_keys import norm_kind
from modellint.facts.evidence import attributable, is_test_file
from modellint.provenance import Fact, format_value
from modellint.rule import Option, RecipeRule, flag, ok

_REGISTRY_DIALECTS = ("detectron2", "mmengine")


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _kind(fact: Fact) -> Optional[str]:
    return fact.get("kind") or norm_kind(str(fact.value))


def _registry_config(recipe) -> bool:
    return any(f.dialect in _REGISTRY_DIALECTS or f.key.startswith(("SOLVER.", "MODEL.", "optim_wrapper", "train_dataloader"))
               for f in recipe.facts)


class TinyBatchWithBatchnorm(RecipeRule):
    code = "ML106"
    name = "tiny-batch-with-batchnorm"
    severity = "warning"
    summary = "Trainable BatchNorm sees 1-2 samples per device: its batch statistics are noise."
    rationale = (
        "BatchNorm normalises with the mean and variance of the current per-device batch and tracks them as "
        "running statistics for inference. With 1-2 samples (or images) per GPU those estimates are dominated by "
        "noise, training is unstable and the running statistics do not match the data at test time (a "
        "post-mortem detectron2 run cut IMS_PER_BATCH to 1 on one GPU with a BN head and scored worse after 18x "
        "more iterations). detectron2's `IMS_PER_BATCH` is global: per device = IMS_PER_BATCH / GPUs. Frozen BN "
        "(`FrozenBN`, mmcv `norm_eval=True` or `requires_grad=False`), SyncBN across more than 2 devices "
        "(statistics over the global batch), GroupNorm and LayerNorm do not depend on the batch and are fine."
    )
    fix = "Use GroupNorm (detectron2 NORM: \"GN\"), FrozenBN or SyncBN across GPUs, or raise the per-device batch (gradient accumulation does not help BN)."
    options = (
        Option("max_batch", 2, "Per-device batches at or below this are too small for trainable BatchNorm."),
    )
    examples = (
        flag({
            "configs/Base-Seg.yaml": """
                MODEL:
                  RESNETS:
                    NORM: "FrozenBN"
                  SEM_SEG_HEAD:
                    NORM: "BN"
                SOLVER:
                  IMS_PER_BATCH: 8
                  BASE_LR: 0.0001
                """,
            "scripts/train_full.sh": """
                #!/bin/bash
                python train_net.py --config-file configs/Base-Seg.yaml --num-gpus 1 \\
                    SOLVER.IMS_PER_BATCH 1 SOLVER.BASE_LR 0.0000125
                """,
            "README.md": "seg\n",
        }, at="scripts/train_full.sh", line=3, title="seed 003: IMS_PER_BATCH 1 on one GPU with a BN head"),
        flag({
            "configs/unet.yaml": """
                model:
                  norm: batch
                data:
                  batch_size: 2
                """,
        }, line=4, title="plain config: batch 2 with BatchNorm"),
        flag({
            "train.py": """
                import torch.nn as nn
                from torch.utils.data import DataLoader

                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.conv = nn.Conv2d(3, 16, 3)
                        self.bn = nn.BatchNorm2d(16)

                def main(train_set):
                    train_loader = DataLoader(train_set, batch_size=1, shuffle=True)
                """,
        }, line=11, title="code: a training DataLoader of batch 1 with nn.BatchNorm2d"),
        flag("configs/retina_r50_1xb1.py", """
            model = dict(
                backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False))
            train_dataloader = dict(batch_size=1, num_workers=2)
            optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.0025))
            """, line=3, title="mmcv norm_cfg BN, trainable and not in eval mode"),
        ok({
            "configs/Base-Seg.yaml": """
                MODEL:
                  RESNETS:
                    NORM: "FrozenBN"
                  SEM_SEG_HEAD:
                    NORM: "GN"
                SOLVER:
                  IMS_PER_BATCH: 8
                """,
            "scripts/train.sh": "python train_net.py --config-file configs/Base-Seg.yaml --num-gpus 4 SOLVER.IMS_PER_BATCH 8\n",
            "README.md": "seg\n",
        }, title="FrozenBN backbone and GroupNorm head"),
        ok({
            "configs/Base-Seg.yaml": """
                MODEL:
                  SEM_SEG_HEAD:
                    NORM: "BN"
                SOLVER:
                  IMS_PER_BATCH: 16
                """,
            "scripts/train.sh": "python train_net.py --config-file configs/Base-Seg.yaml --num-gpus 4\n",
            "README.md": "seg\n",
        }, title="16 images over 4 GPUs: 4 per device"),
        ok({
            "configs/Base-Seg.yaml": """
                MODEL:
                  SEM_SEG_HEAD:
                    NORM: "SyncBN"
                SOLVER:
                  IMS_PER_BATCH: 8
                """,
            "scripts/train.sh": "python train_net.py --config-file configs/Base-Seg.yaml --num-gpus 8\n",
            "README.md": "seg\n",
        }, title="SyncBN across 8 GPUs: statistics over 8 images"),
        ok("configs/det_r50_8xb2.py", """
            model = dict(
                backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True),
                neck=dict(type='FPN', norm_cfg=dict(type='GN', num_groups=32)))
            train_dataloader = dict(batch_size=2)
            """, title="mmdet: backbone BN in eval mode (norm_eval=True), GroupNorm neck"),
        ok({
            "model.py": """
                import torch.nn as nn
                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.bn = nn.BatchNorm1d(128)
                """,
            "configs/train.yaml": "batch_size: 4\nlr: 0.001\n",
        }, title="md-fed-tennis: BatchNorm1d with batch 4"),
        ok("configs/quick.yaml", """
            MODEL:
              META_ARCHITECTURE: "GeneralizedRCNN"
            SOLVER:
              IMS_PER_BATCH: 2
              BASE_LR: 0.005
            """, title="detectron2 defaults: FrozenBN backbone, no norm in FPN/heads"),
        ok({
            "train.py": """
                import pytorch_lightning as pl
                import torch.nn as nn
                from torch.utils.data import DataLoader

                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.bn = nn.BatchNorm2d(16)

                def main(train_set):
                    loader = DataLoader(train_set, batch_size=2, shuffle=True)
                    trainer = pl.Trainer(devices=8, sync_batchnorm=True)
                """,
        }, title="Lightning sync_batchnorm over 8 devices"),
        ok({
            "train.py": """
                import torch.nn as nn
                from torch.utils.data import DataLoader

                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.norm = nn.LayerNorm(64)

                def main(train_set, val_set):
                    train_loader = DataLoader(train_set, batch_size=1, shuffle=True)
                """,
        }, title="LayerNorm does not depend on the batch"),
    )

    def check(self, recipe, report) -> None:
        if not getattr(recipe, "complete", True):
            return  # a Hydra group file on its own: the full recipe that composes it is judged instead
        limit = self.option("max_batch")
        small = self._per_device(recipe)
        if small is None:
            return
        batch_fact, per_device, devices = small
        if per_device > limit:
            return
        bn, sync = self._batchnorm(recipe, batch_fact)
        if not bn:
            return
        device_count = devices.value if devices is not None else None
        if sync is not None:
            if device_count is None or device_count > limit:
                return  # SyncBN: statistics over the global batch
        norm = bn[0]
        where = f"{batch_fact.key} {format_value(batch_fact.value)}"
        if batch_fact.name == names.BATCH_GLOBAL and devices is not None:
            where += f" over {device_count:g} GPU{'s' if device_count != 1 else ''} ({devices.key})"
        elif batch_fact.name == names.BATCH_GLOBAL:
            where += " (a global batch, so at most that per GPU)"
        related = [(norm, f"trainable BatchNorm: {norm.key} = {norm.value}")]
        if devices is not None:
            related.append((devices, f"{devices.key} = {format_value(devices.value)}"))
        if sync is not None:
            related.append((sync, f"SyncBN over only {device_count:g} device(s)"))
        synced = ""
        if sync is not None:
            synced = f", synchronised ({sync.key}) across only {device_count:g} device{'s' if device_count != 1 else ''}"
        report(batch_fact,
               f"per-device batch {per_device:g} ({where}) with trainable BatchNorm ({norm.key} = {norm.value}, "
               f"{norm.span.describe()}{synced}): BatchNorm statistics over {per_device:g} sample{'s' if per_device != 1 else ''} "
               "are noise, training is unstable and the running statistics will not match the data at test time",
               related=related,
               help="Switch that BatchNorm to GroupNorm (detectron2 NORM: \"GN\"), FrozenBN, or SyncBN across GPUs, or "
                    "raise the per-device batch; gradient accumulation does not enlarge BN's batch.")

    # -- pieces ----------------------------------------------------------
    def _per_device(self, recipe) -> Optional[Tuple[Fact, float, Optional[Fact]]]:
        """The per-device batch (the largest of several candidates), the fact it came from and the device count."""
        devices_facts = [f for f in recipe.all(names.DEVICES) if _number(f.value) and f.value >= 1]
        devices = max(devices_facts, key=lambda f: f.value) if devices_facts else None
        candidates: List[Tuple[Fact, float]] = []
        for fact in recipe.all(names.BATCH_PER_DEVICE):
            value = _number(fact.value)
            if value and value >= 1 and not is_test_file(fact.span.path):
                candidates.append((fact, value))
        for fact in recipe.all(names.BATCH_GLOBAL):
            value = _number(fact.value)
            if not value or value < 1:
                continue
            if devices is not None:
                candidates.append((fact, value / devices.value))
            elif value <= self.option("max_batch"):
                candidates.append((fact, value))  # a global batch this small is at most that on any GPU
            else:
                return None  # per-device size unknown
        if not candidates:
            return None
        fact, value = max(candidates, key=lambda c: c[1])  # conflicting sources: assume the larger one
        return fact, value, devices

    def _batchnorm(self, recipe, batch: Fact) -> Tuple[List[Fact], Optional[Fact]]:
        """(trainable BatchNorm facts, a SyncBN fact) — from the config when it names norms, else the code."""
        own = recipe.all(names.NORM)
        if not recipe.is_config:  # a code recipe: its facts are the whole project's code
            own = attributable(recipe, batch, own)
            if any(f.get("frozen_by_code") for f in own):
                return [], None
        if own:
            pool = own
        elif _registry_config(recipe):
            return [], None  # the config composes the model; its defaults (FrozenBN backbones) apply
        else:
            pool = attributable(recipe, batch, recipe.context_all(names.NORM))
            if any(f.get("frozen_by_code") for f in pool):
                return [], None  # the code puts its BatchNorms in eval mode
        frozen_sections = {f.get("section") for f in pool if _kind(f) == "eval"}
        bn = [f for f in pool if _kind(f) == "BN" and f.get("trainable") is not False
              and (f.get("section") is None or f.get("section") not in frozen_sections)
              # a module-level ``norm_cfg`` shared by several sections: one of them keeps BN in eval mode
              and not (f.get("section") == "" and frozen_sections)]
        sync = [f for f in pool if _kind(f) == "SyncBN"]
        conversions = [f for f in recipe.all(names.SYNC_BN) + recipe.context_all(names.SYNC_BN) if f.value is True]
        if sync and not bn:
            return sync, sync[0]
        if conversions:
            return bn, conversions[0]
        return bn, None
