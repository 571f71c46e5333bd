"""Framework vocabularies as data: which keys mean what, which optimizers are which.

Knowledge lives in tables here (as TorchFix keeps its symbols in YAML), not
in ``if`` chains inside rules. Keys are compared lower-cased.
"""

from __future__ import annotations

import re
from typing import Optional

from modellint.lazy_re import lazy

# Keys that hold a base/peak learning rate. Floors (eta_min, min_lr, lr_end,
# final_lr, lrf), warmup starts (warmup_start_lr, warmup_lr, WARMUP_FACTOR,
# start_factor) and multipliers (lr_mult, BACKBONE_MULTIPLIER) are absent on
# purpose: they are not base learning rates.
LR_KEYS = frozenset({
    "lr", "learning_rate", "learningrate", "base_lr", "peak_lr", "init_lr", "initial_lr",
    "initial_learning_rate", "lr0",
})

# Sections whose ``lr`` is not the recipe's base LR.
LR_EXCLUDED_SECTIONS = lazy(r"warm|floor|min|final|end", re.I)

OPTIMIZER_KEYS = frozenset({"optimizer", "optim", "opt", "optimizer_name", "optimizer_type", "optim_type", "optimizer_cls"})
TYPE_KEYS = frozenset({"type", "name", "class_path", "_target_", "cls"})

# Gradient clipping, by key. Value: "norm", "value" or "section" (a mapping
# whose own keys say the kind, such as mmengine ``clip_grad=dict(max_norm=…)``
# or detectron2 ``CLIP_GRADIENTS``).
CLIP_KEYS = {
    "gradient_clip_val": "norm",
    "max_grad_norm": "norm",
    "clip_grad_norm": "norm",
    "grad_clip_norm": "norm",
    "gradient_clip_norm": "norm",
    "grad_norm_clip": "norm",
    "clip_norm": "norm",
    "clip_max_norm": "norm",
    "gradient_clipping": "norm",
    "clip_gradient": "norm",
    "grad_clip": "norm",
    "clip_grad": "norm",
    "clip_grad_value": "value",
    "grad_clip_value": "value",
    "clip_value": "value",
}
CLIP_SECTION_NORM_KEYS = frozenset({"max_norm", "clip_value", "max_grad_norm", "value", "norm", "clip_norm"})
CLIP_ALGORITHM_KEYS = frozenset({"gradient_clip_algorithm", "clip_mode", "clip_type", "clip_algorithm"})

# The optimizer families that decide ML102's upper bound and ML104's severity.
ADAPTIVE = "adaptive"
SGD_LIKE = "sgd"
SCALE_FREE = "scale-free"

_FAMILY_BY_NAME = {
    "adam": ADAPTIVE, "adamw": ADAPTIVE, "nadam": ADAPTIVE, "nadamw": ADAPTIVE, "radam": ADAPTIVE,
    "adamax": ADAPTIVE, "lion": ADAPTIVE, "lamb": ADAPTIVE, "adabelief": ADAPTIVE, "adan": ADAPTIVE,
    "sparseadam": ADAPTIVE, "fusedadam": ADAPTIVE, "fusedlamb": ADAPTIVE, "adamp": ADAPTIVE,
    "deepspeedcpuadam": ADAPTIVE, "cpuadam": ADAPTIVE, "onebitadam": ADAPTIVE, "zerooneadam": ADAPTIVE,
    "onebitlamb": ADAPTIVE, "adamw8bit": ADAPTIVE, "adam8bit": ADAPTIVE, "pagedadamw": ADAPTIVE,
    "pagedadamw8bit": ADAPTIVE, "lion8bit": ADAPTIVE, "adopt": ADAPTIVE,
    "sgd": SGD_LIKE, "sgdp": SGD_LIKE, "momentum": SGD_LIKE, "nesterov": SGD_LIKE, "rmsprop": SGD_LIKE,
    "rmsproptf": SGD_LIKE, "adagrad": SGD_LIKE, "lars": SGD_LIKE, "fusedsgd": SGD_LIKE, "asgd": SGD_LIKE,
    "adadelta": SCALE_FREE, "lbfgs": SCALE_FREE, "adafactor": SCALE_FREE, "prodigy": SCALE_FREE,
    "dadaptadam": SCALE_FREE, "dadaptsgd": SCALE_FREE, "schedulefreeadamw": ADAPTIVE,
}

# Optimizer class names recognised in code (``torch.optim.AdamW(...)``).
OPTIMIZER_CLASSES = frozenset({
    "SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Adagrad", "Adadelta", "RMSprop", "LBFGS",
    "SparseAdam", "ASGD", "Rprop", "Lion", "Lamb", "LAMB", "FusedAdam", "FusedLAMB", "FusedSGD",
    "Adafactor", "AdamW8bit", "Adam8bit", "PagedAdamW", "PagedAdamW8bit", "AdaBelief", "Adan",
    "DeepSpeedCPUAdam", "AdamP", "SGDP", "LARS", "Prodigy",
})


def optimizer_family(name: Optional[str]) -> Optional[str]:
    """``torch.optim.AdamW`` / ``adamw_torch`` / ``ADAMW`` / ``paged_adamw_8bit`` → family."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = name.strip().rsplit(".", 1)[-1].lower()
    text = re.sub(r"[^a-z0-9]", "", text)
    if text in _FAMILY_BY_NAME:
        return _FAMILY_BY_NAME[text]
    # HF ``optim`` spellings: adamw_torch, adamw_torch_fused, adamw_apex_fused, adamw_bnb_8bit …
    for prefix in ("pagedadamw", "adamw", "adam", "lion", "lamb", "rmsprop", "sgd", "adafactor", "adagrad", "adadelta"):
        if text.startswith(prefix) or text.endswith(prefix):
            return _FAMILY_BY_NAME.get(prefix, ADAPTIVE if "adam" in prefix else None)
    return None
