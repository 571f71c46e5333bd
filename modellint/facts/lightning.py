"""PyTorch Lightning: LightningCLI YAML (``trainer:``/``model:``/``data:``/
``optimizer:``/``lr_scheduler:``) and Hydra trainer configs
(``_target_: lightning.pytorch.trainer.Trainer`` at the root of a group file).

Trainer arguments (lightning/pytorch/trainer/trainer.py):

* ``accumulate_grad_batches`` — gradient accumulation (an int; a dict is a
  schedule and stays unknown);
* ``devices`` × ``num_nodes`` — processes, each with its own dataloader, so
  ``data.init_args.batch_size`` is per device; ``devices`` may be an int, a
  list of indices, ``"0,1"``, ``-1``/``"auto"`` (unknown); old ``gpus``
  means the same;
* ``max_epochs`` / ``max_steps`` (``-1`` = unlimited) — training length;
  ``max_steps`` counts optimizer steps;
* ``sync_batchnorm: true`` converts every BatchNorm to SyncBatchNorm.

``gradient_clip_val`` is a common key (:mod:`modellint.facts.plain_config`);
``model.init_args.*`` and ``data.init_args.batch_size`` are read by
:mod:`modellint.facts.common_keys`; the optimizer/scheduler classes by both.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from modellint.facts import names
from modellint.facts.common_keys import scheduler_warmup
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence, as_bool, as_number
from modellint.provenance import Fact

DIALECT = "lightning"

_TRAINER_KEYS = frozenset({"accumulate_grad_batches", "devices", "gpus", "num_nodes", "max_epochs", "max_steps",
                           "min_epochs", "accelerator", "strategy", "precision", "gradient_clip_val",
                           "sync_batchnorm", "check_val_every_n_epoch", "log_every_n_steps", "callbacks",
                           "val_check_interval", "limit_train_batches", "default_root_dir", "logger",
                           "enable_checkpointing", "deterministic", "benchmark", "fast_dev_run"})


def _is_trainer_target(node: Optional[Node]) -> bool:
    if not isinstance(node, Mapping):
        return False
    target = node.get("_target_") or node.get("class_path")
    return isinstance(target, Scalar) and isinstance(target.value, str) and target.value.rsplit(".", 1)[-1] == "Trainer" \
        and ("lightning" in target.value or target.value == "Trainer")


def _trainers(root: Node) -> Iterator[Tuple[str, Mapping]]:
    """(key prefix, trainer arguments) for each trainer section of a config."""
    if not isinstance(root, Mapping):
        return
    if _is_trainer_target(root):
        yield "", root
        return
    for key in ("trainer", "trainer_params", "trainer_args", "pl_trainer"):
        trainer = root.get(key)
        if isinstance(trainer, Mapping):
            args = trainer.get("init_args") if isinstance(trainer.get("init_args"), Mapping) else trainer
            if set(args.keys()) & _TRAINER_KEYS:
                yield (f"{key}.init_args." if args is not trainer else f"{key}."), args


def _number(node: Optional[Node]) -> Optional[float]:
    return as_number(node.value) if isinstance(node, Scalar) else None


def _devices(node: Optional[Node]) -> Optional[int]:
    if isinstance(node, Sequence):
        return len(node.items) or None
    if isinstance(node, Scalar):
        if isinstance(node.value, str) and "," in node.value:
            return len([p for p in node.value.split(",") if p.strip()]) or None
        number = as_number(node.value)
        if number is not None and number >= 1 and float(number).is_integer():
            return int(number)
    return None  # -1, "auto", null, an interpolation: unknown


def extract(root: Node, dialect: str = "") -> List[Fact]:
    facts: List[Fact] = []
    for prefix, args in _trainers(root):
        accum = args.get("accumulate_grad_batches")
        value = _number(accum)
        if value is not None and value >= 1 and float(value).is_integer():
            facts.append(Fact(names.GRAD_ACCUM, value, accum.span, prefix + "accumulate_grad_batches", DIALECT))
        for key in ("devices", "gpus"):
            node = args.get(key)
            count = _devices(node)
            if count is None:
                continue
            nodes = _number(args.get("num_nodes"))
            total = count * int(nodes) if nodes is not None and nodes >= 1 and float(nodes).is_integer() else count
            detail = (("num_nodes", int(nodes)),) if nodes and nodes > 1 else ()
            facts.append(Fact(names.DEVICES, total, node.span, prefix + key, DIALECT, detail))
            break
        for key, name, unit in (("max_epochs", names.TOTAL_EPOCHS, "epochs"), ("max_steps", names.TOTAL_ITERS, "iters")):
            node = args.get(key)
            value = _number(node)
            if value is not None and value > 0:
                facts.append(Fact(name, value, node.span, prefix + key, DIALECT, (("unit", unit),)))
        sync = args.get("sync_batchnorm")
        if isinstance(sync, Scalar) and as_bool(sync.value) is not None:
            facts.append(Fact(names.SYNC_BN, bool(as_bool(sync.value)), sync.span, prefix + "sync_batchnorm", DIALECT))
    if isinstance(root, Mapping) and not _is_trainer_target(root):
        _lr_scheduler(root, facts)
    return facts


def _lr_scheduler(root: Mapping, facts: List[Fact]) -> None:
    """LightningCLI ``lr_scheduler: {class_path: …, init_args: {…}}``."""
    scheduler = root.get("lr_scheduler")
    if not isinstance(scheduler, Mapping):
        return
    path = scheduler.get("class_path")
    if not isinstance(path, Scalar) or not isinstance(path.value, str):
        return
    args = scheduler.get("init_args") if isinstance(scheduler.get("init_args"), Mapping) else Mapping(scheduler.span, [])
    short = path.value.rsplit(".", 1)[-1]
    warm = scheduler_warmup(short)
    detail = []
    if short == "LinearLR":
        node = args.get("start_factor")
        factor = 1.0 / 3 if node is None else _number(node)
        if factor is None:
            return
        end = _number(args.get("end_factor"))
        warm = factor < 1.0 and (end is None or end > factor)
        detail.append(("start_factor", factor))
        length = args.get("total_iters")
        if warm and _number(length) is not None:
            facts.append(Fact(names.WARMUP, _number(length), length.span, "lr_scheduler.init_args.total_iters", DIALECT,
                              (("unit", None), ("start_factor", factor))))
    elif short == "OneCycleLR":
        pct = args.get("pct_start")
        ratio = 0.3 if pct is None else _number(pct)
        if ratio is not None:
            warm = ratio > 0
            facts.append(Fact(names.WARMUP, ratio, (pct or path).span, "lr_scheduler.init_args.pct_start", DIALECT,
                              (("unit", "ratio"),)))
    if warm is None:
        return
    facts.append(Fact(names.SCHEDULER, path.value, path.span, "lr_scheduler.class_path", DIALECT,
                      (("warmup", bool(warm)),) + tuple(detail)))
