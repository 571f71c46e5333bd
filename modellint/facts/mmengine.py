"""MMEngine / MMDetection / mmcv configs (Python or YAML).

``train_dataloader.batch_size`` is per GPU (old mmcv: ``data.samples_per_gpu``);
``auto_scale_lr.base_batch_size`` declares the batch the LR was tuned for;
warmup is a ``LinearLR`` entry of ``param_scheduler`` (or mmcv's
``lr_config.warmup``) with a start factor below 1.
"""

from __future__ import annotations

from typing import List, Optional

from modellint.facts import names
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence, Unknown, as_bool, as_number, walk
from modellint.provenance import Fact

_SIGNATURE = {"optim_wrapper", "train_dataloader", "param_scheduler", "train_cfg", "auto_scale_lr", "lr_config",
              "runner", "optimizer_config", "data", "_base_", "model"}
_WARMUP_TYPES = ("LinearLR", "LinearWarmup", "QuadraticWarmupLR", "LinearWarmupLR", "ExponentialWarmup")


def _type_name(node: Optional[Node]) -> str:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return node.value.rsplit(".", 1)[-1]
    if isinstance(node, Unknown):
        return node.text.rsplit(".", 1)[-1]
    return ""


def _num(mapping: Mapping, key: str):
    node = mapping.get(key)
    value = as_number(node.value) if isinstance(node, Scalar) else None
    return value, node


def _is_mmengine(root: Node) -> bool:
    if not isinstance(root, Mapping):
        return False
    keys = set(root.keys())
    return len(keys & _SIGNATURE) >= 2 or bool(keys & {"optim_wrapper", "train_dataloader", "param_scheduler", "auto_scale_lr"})


def extract(root: Node, dialect: str) -> List[Fact]:
    if not _is_mmengine(root):
        return []
    facts: List[Fact] = []
    loader = root.get("train_dataloader")
    if isinstance(loader, Mapping):
        value, node = _num(loader, "batch_size")
        if value is not None:
            facts.append(Fact(names.BATCH_PER_DEVICE, value, node.span, "train_dataloader.batch_size", "mmengine"))
    data = root.get("data")
    if isinstance(data, Mapping):
        value, node = _num(data, "samples_per_gpu")
        if value is not None:
            facts.append(Fact(names.BATCH_PER_DEVICE, value, node.span, "data.samples_per_gpu", "mmengine"))
    auto = root.get("auto_scale_lr")
    if isinstance(auto, Mapping):
        value, node = _num(auto, "base_batch_size")
        enable = auto.get("enable")
        enabled = as_bool(enable.value) if isinstance(enable, Scalar) else False
        if value is not None:
            facts.append(Fact(names.BATCH_REFERENCE, value, node.span, "auto_scale_lr.base_batch_size", "mmengine",
                              (("auto_scale", bool(enabled)),)))
    for section in ("train_cfg", "runner"):
        cfg = root.get(section)
        if isinstance(cfg, Mapping):
            for key, name in (("max_iters", names.TOTAL_ITERS), ("max_epochs", names.TOTAL_EPOCHS)):
                value, node = _num(cfg, key)
                if value is not None:
                    facts.append(Fact(name, value, node.span, f"{section}.{key}", "mmengine"))
    schedulers = root.get("param_scheduler")
    entries = schedulers.items if isinstance(schedulers, Sequence) else [schedulers] if isinstance(schedulers, Mapping) else []
    for index, entry in enumerate(entries):
        if isinstance(entry, Mapping) and _type_name(entry.get("type")) in _WARMUP_TYPES:
            _warmup_scheduler(entry, index, facts)
    lr_config = root.get("lr_config")
    if isinstance(lr_config, Mapping):
        warmup = lr_config.get("warmup")
        iters, node = _num(lr_config, "warmup_iters")
        if isinstance(warmup, Scalar) and isinstance(warmup.value, str) and iters is not None:
            ratio, _ = _num(lr_config, "warmup_ratio")
            by_epoch = lr_config.get("warmup_by_epoch")
            unit = "epochs" if isinstance(by_epoch, Scalar) and as_bool(by_epoch.value) else "iters"
            facts.append(Fact(names.WARMUP, iters, node.span, "lr_config.warmup_iters", "mmengine",
                              (("start_factor", ratio if ratio is not None else 0.1), ("unit", unit))))
    for key_path, key, value, parent in walk(root):
        if key_path[-1] == "norm_cfg" and isinstance(value, Mapping):
            kind = _type_name(value.get("type"))
            if kind:
                grad = value.get("requires_grad")
                trainable = as_bool(grad.value) if isinstance(grad, Scalar) else True
                facts.append(Fact(names.NORM, kind, value.get("type").span, ".".join(key_path) + ".type", "mmengine",
                                  (("section", ".".join(key_path[:-1])), ("trainable", trainable is not False))))
    return facts


def _warmup_scheduler(entry: Mapping, index: int, facts: List[Fact]) -> None:
    end, end_node = _num(entry, "end")
    begin, _ = _num(entry, "begin")
    factor, _ = _num(entry, "start_factor")
    if end is None:
        return
    by_epoch = entry.get("by_epoch")
    unit = "iters" if isinstance(by_epoch, Scalar) and as_bool(by_epoch.value) is False else "epochs"
    length = end - (begin or 0)
    facts.append(Fact(names.WARMUP, length, end_node.span, f"param_scheduler[{index}].end", "mmengine",
                      (("start_factor", factor if factor is not None else 1.0 / 3), ("unit", unit))))
