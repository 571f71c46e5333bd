"""detectron2 (yacs YAML and LazyConfig) facts.

``SOLVER.IMS_PER_BATCH`` is the *global* batch (all GPUs together), so
``--num-gpus`` does not change it; ``SOLVER.REFERENCE_WORLD_SIZE`` > 0 makes
detectron2 rescale batch and LR itself when the GPU count differs.
``WARMUP_FACTOR: 1.0`` starts at the full LR, which is no warmup.
"""

from __future__ import annotations

from typing import List

from modellint.facts import names
from modellint.parsing.tree import Mapping, Node, Scalar, as_number, walk
from modellint.provenance import Fact

_DEFAULT_WARMUP_FACTOR = 0.001  # detectron2's own default


def _is_detectron2(root: Node) -> bool:
    if not isinstance(root, Mapping):
        return False
    keys = set(root.keys())
    return bool(keys & {"SOLVER", "_BASE_"}) or ("MODEL" in keys and any(k.isupper() for k in keys - {"MODEL"}))


def _number(node) -> float:
    return as_number(node.value) if isinstance(node, Scalar) else None


def extract(root: Node, dialect: str) -> List[Fact]:
    facts: List[Fact] = []
    if _is_detectron2(root):
        solver = root.get("SOLVER")
        if isinstance(solver, Mapping):
            _solver(solver, facts, dialect)
        for key_path, key, value, parent in walk(root):
            if key_path[-1] == "NORM" and isinstance(value, Scalar) and isinstance(value.value, str) and value.value:
                facts.append(Fact(names.NORM, value.value, value.span, ".".join(key_path), "detectron2",
                                  (("section", ".".join(key_path[:-1])),)))
    elif isinstance(root, Mapping):
        _lazy(root, facts)
    return facts


def _solver(solver: Mapping, facts: List[Fact], dialect: str) -> None:
    def number_fact(key: str, name: str, *detail):
        node = solver.get(key)
        value = _number(node)
        if value is not None:
            facts.append(Fact(name, value, node.span, f"SOLVER.{key}", "detectron2", tuple(detail)))
        return value

    number_fact("IMS_PER_BATCH", names.BATCH_GLOBAL)
    number_fact("MAX_ITER", names.TOTAL_ITERS)
    number_fact("REFERENCE_WORLD_SIZE", names.DEVICES_REFERENCE)
    factor_node = solver.get("WARMUP_FACTOR")
    factor = _number(factor_node)
    if factor is None:
        factor = _DEFAULT_WARMUP_FACTOR
    iters_node = solver.get("WARMUP_ITERS")
    iters = _number(iters_node)
    if iters is not None:
        facts.append(Fact(names.WARMUP, iters, iters_node.span, "SOLVER.WARMUP_ITERS", "detectron2",
                          (("start_factor", factor), ("unit", "iters"))))
    if factor_node is not None and _number(factor_node) is not None:
        facts.append(Fact(names.WARMUP_FACTOR, factor, factor_node.span, "SOLVER.WARMUP_FACTOR", "detectron2"))


def _lazy(root: Mapping, facts: List[Fact]) -> None:
    """LazyConfig Python files: ``dataloader.train.total_batch_size``, ``train.max_iter``."""
    dataloader = root.get("dataloader")
    train_loader = dataloader.get("train") if isinstance(dataloader, Mapping) else None
    if isinstance(train_loader, Mapping):
        node = train_loader.get("total_batch_size")
        if _number(node) is not None:
            facts.append(Fact(names.BATCH_GLOBAL, _number(node), node.span, "dataloader.train.total_batch_size", "detectron2"))
    train = root.get("train")
    if isinstance(train, Mapping):
        node = train.get("max_iter")
        if _number(node) is not None:
            facts.append(Fact(names.TOTAL_ITERS, _number(node), node.span, "train.max_iter", "detectron2"))
