"""Hugging Face ``TrainingArguments`` written as a JSON/YAML args file.

``transformers.HfArgumentParser.parse_json_file`` / ``parse_yaml_file`` (and
TRL / alignment-handbook recipes) read flat files of TrainingArguments
fields. What they mean:

* ``per_device_train_batch_size`` is per GPU; the global batch is that ×
  GPUs × ``gradient_accumulation_steps``.
* warmup is ``warmup_steps`` (optimizer steps; wins when > 0) or
  ``warmup_ratio`` (a fraction of all training steps); both default to 0, so
  a ``linear``/``cosine`` ``lr_scheduler_type`` alone has no warmup.
* training length is ``max_steps`` when > 0, else ``num_train_epochs``.

``learning_rate``, ``optim`` and ``max_grad_norm`` are common keys
(:mod:`modellint.facts.plain_config`) and are not repeated here.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from modellint.facts import names
from modellint.facts.vocabulary import ADAPTIVE
from modellint.parsing.tree import Mapping, Node, Scalar, as_number
from modellint.provenance import Fact

DIALECT = "hf"

# keys only TrainingArguments (and its subclasses) use
_STRONG = frozenset({
    "per_device_train_batch_size", "per_gpu_train_batch_size", "per_device_eval_batch_size", "num_train_epochs",
    "lr_scheduler_type", "evaluation_strategy", "eval_strategy", "save_strategy", "logging_strategy",
    "overwrite_output_dir", "do_train", "report_to", "logging_steps", "save_total_limit", "gradient_checkpointing",
    "dataloader_num_workers", "push_to_hub", "hub_model_id", "load_best_model_at_end", "warmup_ratio",
})
_COMMON = frozenset({
    "output_dir", "learning_rate", "max_steps", "warmup_steps", "gradient_accumulation_steps", "weight_decay",
    "max_grad_norm", "optim", "bf16", "fp16", "seed", "logging_dir", "save_steps", "eval_steps", "adam_beta1",
    "adam_beta2", "adam_epsilon", "tf32", "deepspeed", "fsdp", "torch_compile", "model_name_or_path",
})
_SECTIONS = ("training_args", "training_arguments", "train_args", "trainer_args", "training", "args", "trainer")


def looks_like_training_arguments(node: Optional[Node]) -> bool:
    if not isinstance(node, Mapping):
        return False
    keys = {k.lower() for k in node.keys()}
    strong = len(keys & _STRONG)
    return strong >= 2 or (strong >= 1 and len(keys & _COMMON) >= 1)


def _argument_sets(root: Node) -> Iterator[Tuple[str, Mapping]]:
    if looks_like_training_arguments(root):
        yield "", root
        return
    if isinstance(root, Mapping):
        for key, value in root.items:
            if isinstance(key.value, str) and key.value.lower() in _SECTIONS and looks_like_training_arguments(value):
                yield key.value + ".", value


def _number(node: Optional[Node]) -> Optional[float]:
    return as_number(node.value) if isinstance(node, Scalar) else None


def extract(root: Node, dialect: str = "") -> List[Fact]:
    facts: List[Fact] = []
    for prefix, args in _argument_sets(root):
        def number_fact(key: str, name: str, minimum: float, *detail) -> Optional[float]:
            node = args.get(key)
            value = _number(node)
            if value is None or value < minimum:
                return None
            facts.append(Fact(name, value, node.span, prefix + key, DIALECT, tuple(detail)))
            return value

        for key in ("per_device_train_batch_size", "per_gpu_train_batch_size"):
            number_fact(key, names.BATCH_PER_DEVICE, 1)
        number_fact("gradient_accumulation_steps", names.GRAD_ACCUM, 1)
        steps_node = args.get("warmup_steps")
        steps = _number(steps_node)
        if steps is not None and steps >= 0:
            # transformers >= 4.5x reads a float below 1 as a ratio
            unit = "ratio" if isinstance(steps, float) and 0 < steps < 1 else "iters"
            facts.append(Fact(names.WARMUP, steps, steps_node.span, prefix + "warmup_steps", DIALECT, (("unit", unit),)))
        number_fact("warmup_ratio", names.WARMUP, 0, ("unit", "ratio"))
        max_steps = number_fact("max_steps", names.TOTAL_ITERS, 1, ("unit", "iters"))
        if max_steps is None:  # max_steps > 0 overrides the epoch count
            number_fact("num_train_epochs", names.TOTAL_EPOCHS, 1e-9, ("unit", "epochs"))
        if args.get("optim") is None and args.get("learning_rate") is not None and dialect != "shell":
            # TrainingArguments' default optimizer is AdamW (``optim="adamw_torch"``)
            facts.append(Fact(names.OPTIMIZER, "adamw_torch", args.get("learning_rate").span, prefix + "optim (default)",
                              DIALECT, (("default", True), ("family", ADAPTIVE))))
        scheduler = args.get("lr_scheduler_type")
        if isinstance(scheduler, Scalar) and isinstance(scheduler.value, str) and scheduler.value:
            # HF's schedulers warm up only for warmup_steps/warmup_ratio > 0 (both default to 0)
            facts.append(Fact(names.SCHEDULER, scheduler.value, scheduler.span, prefix + "lr_scheduler_type", DIALECT,
                              (("warmup", False),)))
    return facts
