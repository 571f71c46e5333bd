"""DeepSpeed JSON configs (``ds_config.json``, or a ``deepspeed_config`` section).

What the keys mean (deepspeed/runtime/config.py, deepspeed/runtime/lr_schedules.py):

* ``train_batch_size`` = ``train_micro_batch_size_per_gpu`` ×
  ``gradient_accumulation_steps`` × number of GPUs: the effective batch.
* ``scheduler.type`` ``WarmupLR`` / ``WarmupDecayLR`` / ``WarmupCosineLR``
  ramp the LR from ``warmup_min_lr`` (default 0) to ``warmup_max_lr`` over
  ``warmup_num_steps`` (default 1000) optimizer steps; ``WarmupDecayLR`` and
  ``WarmupCosineLR`` then decay until ``total_num_steps``.
* ``"auto"`` (filled in by the HF/accelerate integration) is unknown.

``optimizer.type``/``optimizer.params.lr`` and ``gradient_clipping`` are
common keys (:mod:`modellint.facts.plain_config`).
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from modellint.facts import names
from modellint.parsing.tree import Mapping, Node, Scalar, as_number
from modellint.provenance import Fact

DIALECT = "deepspeed"

_SIGNATURE = frozenset({"train_micro_batch_size_per_gpu", "zero_optimization", "steps_per_print",
                        "zero_allow_untested_optimizer", "wall_clock_breakdown", "prescale_gradients",
                        "gradient_predivide_factor", "zero_stage", "offload_optimizer_device"})
_WARMUP_SCHEDULERS = ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR")
_SECTIONS = ("deepspeed", "deepspeed_config", "ds_config", "deepspeed_cfg")


def looks_like_deepspeed(node: Optional[Node]) -> bool:
    if not isinstance(node, Mapping):
        return False
    keys = set(node.keys())
    if keys & _SIGNATURE:
        return True
    scheduler = node.get("scheduler")
    kind = scheduler.get("type") if isinstance(scheduler, Mapping) else None
    if isinstance(kind, Scalar) and kind.value in _WARMUP_SCHEDULERS + ("OneCycle", "LRRangeTest"):
        return True
    return "train_batch_size" in keys and bool(keys & {"optimizer", "fp16", "bf16", "gradient_accumulation_steps", "gradient_clipping"})


def _configs(root: Node) -> Iterator[Tuple[str, Mapping]]:
    if looks_like_deepspeed(root):
        yield "", root
        return
    if isinstance(root, Mapping):
        for key, value in root.items:
            if isinstance(key.value, str) and key.value.lower() in _SECTIONS and isinstance(value, Mapping):
                yield key.value + ".", value


def _number(node: Optional[Node]) -> Optional[float]:
    return as_number(node.value) if isinstance(node, Scalar) else None


def extract(root: Node, dialect: str = "") -> List[Fact]:
    facts: List[Fact] = []
    for prefix, config in _configs(root):
        def number_fact(key: str, name: str, *detail) -> Tuple[Optional[float], Optional[Node]]:
            node = config.get(key)
            value = _number(node)
            if value is None or value < 1:
                return None, node
            facts.append(Fact(name, value, node.span, prefix + key, DIALECT, tuple(detail)))
            return value, node

        total, total_node = number_fact("train_batch_size", names.BATCH_EFFECTIVE)
        micro, _ = number_fact("train_micro_batch_size_per_gpu", names.BATCH_PER_DEVICE)
        accum, _ = number_fact("gradient_accumulation_steps", names.GRAD_ACCUM)
        if total and micro and accum:  # with one of the three missing, DeepSpeed derives it from the GPU count
            gpus = total / (micro * accum)
            if gpus >= 1 and float(gpus).is_integer():
                facts.append(Fact(names.DEVICES, int(gpus), total_node.span, prefix + "train_batch_size", DIALECT,
                                  (("implied", True),)))
        _scheduler(config, prefix, facts)
    return facts


def _scheduler(config: Mapping, prefix: str, facts: List[Fact]) -> None:
    scheduler = config.get("scheduler")
    if not isinstance(scheduler, Mapping):
        return
    kind = scheduler.get("type")
    if not isinstance(kind, Scalar) or not isinstance(kind.value, str):
        return
    params = scheduler.get("params")
    params = params if isinstance(params, Mapping) else Mapping(scheduler.span, [])
    key = prefix + "scheduler.params."
    if kind.value in _WARMUP_SCHEDULERS:
        steps_node = params.get("warmup_num_steps")
        steps = _number(steps_node)
        low = _number(params.get("warmup_min_lr"))
        high_node = params.get("warmup_max_lr")
        high = _number(high_node)
        if kind.value == "WarmupCosineLR":
            factor = _number(params.get("warmup_min_ratio"))
            factor = 0.0 if factor is None and params.get("warmup_min_ratio") is None else factor
        else:
            low = 0.0 if low is None and params.get("warmup_min_lr") is None else low
            factor = low / high if low is not None and high else None
        warm = steps is None or steps > 0  # absent → DeepSpeed's default 1000 steps; "auto" → set elsewhere
        if factor is not None and factor >= 1.0:
            warm = False
        facts.append(Fact(names.SCHEDULER, kind.value, kind.span, prefix + "scheduler.type", DIALECT, (("warmup", warm),)))
        if steps is not None and steps >= 0:
            detail = [("unit", "iters")]
            if factor is not None:
                detail.append(("start_factor", factor))
            facts.append(Fact(names.WARMUP, steps, steps_node.span, key + "warmup_num_steps", DIALECT, tuple(detail)))
        if factor is not None:
            where = params.get("warmup_min_lr") or params.get("warmup_min_ratio") or kind
            facts.append(Fact(names.WARMUP_FACTOR, factor, where.span, key + ("warmup_min_ratio" if kind.value == "WarmupCosineLR" else "warmup_min_lr"), DIALECT))
        if high is not None and high > 0 and _optimizer_lr(config) is None:
            facts.append(Fact(names.LR, float(high), high_node.span, key + "warmup_max_lr", DIALECT, (("peak", True),)))
        total_node = params.get("total_num_steps")
        total = _number(total_node)
        if total is not None and total > 0:
            facts.append(Fact(names.TOTAL_ITERS, total, total_node.span, key + "total_num_steps", DIALECT, (("unit", "iters"),)))
    elif kind.value == "OneCycle":
        facts.append(Fact(names.SCHEDULER, kind.value, kind.span, prefix + "scheduler.type", DIALECT, (("warmup", True),)))
    else:
        facts.append(Fact(names.SCHEDULER, kind.value, kind.span, prefix + "scheduler.type", DIALECT, (("warmup", False),)))


def _optimizer_lr(config: Mapping) -> Optional[float]:
    optimizer = config.get("optimizer")
    params = optimizer.get("params") if isinstance(optimizer, Mapping) else None
    return _number(params.get("lr")) if isinstance(params, Mapping) else None
