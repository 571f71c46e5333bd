"""Facts from a config tree by common key names (YAML, JSON, TOML, Python dicts).

This is the dialect every config falls back to; framework dialects
(detectron2, MMEngine, HF, DeepSpeed, Lightning, Hydra) add their own
meanings on top. A value that is not a literal number is unknown, and
unknown facts are never emitted: rules stay silent about what they cannot see.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from modellint.facts import names
from modellint.facts.vocabulary import (
    CLIP_ALGORITHM_KEYS,
    CLIP_KEYS,
    CLIP_SECTION_NORM_KEYS,
    LR_EXCLUDED_SECTIONS,
    LR_KEYS,
    OPTIMIZER_KEYS,
    TYPE_KEYS,
    optimizer_family,
)
from modellint.parsing.tree import Mapping, Node, Scalar, Unknown, any_search, as_bool, as_number, path_parts, walk
from modellint.provenance import Fact


def _str_value(node: Optional[Node]) -> Optional[str]:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return node.value
    if isinstance(node, Unknown) and node.text:
        return node.text
    return None


def _sibling(parent: Optional[Mapping], keys) -> Optional[Node]:
    if parent is None:
        return None
    for key, value in parent.items:
        if isinstance(key.value, str) and key.value.lower() in keys:
            return value
    return None


def _enabled(parent: Optional[Mapping], section: str) -> Optional[bool]:
    node = _sibling(parent, {"enabled", "enable"})
    if isinstance(node, Scalar):
        return as_bool(node.value)
    # detectron2's CLIP_GRADIENTS.ENABLED defaults to False
    return None if section == "clip_gradients" else True


def extract(root: Node, dialect: str = "plain") -> List[Fact]:
    facts: List[Fact] = []
    for key_path, key, value, parent in walk(root):
        leaf = key_path[-1]
        low = leaf.lower()
        ancestors, dotted, _ = path_parts(key_path)

        if low in LR_KEYS and not any_search(LR_EXCLUDED_SECTIONS, ancestors):
            number = as_number(value.value) if isinstance(value, Scalar) else None
            if number is not None:
                facts.append(Fact(names.LR, float(number), value.span, dotted, dialect))
            continue

        if low in OPTIMIZER_KEYS:
            name = _str_value(value)
            if isinstance(value, Mapping):
                name = _str_value(_sibling(value, TYPE_KEYS))
            family = optimizer_family(name)
            if name and family:
                facts.append(Fact(names.OPTIMIZER, name, value.span, dotted, dialect, (("family", family),)))
            continue

        if low in CLIP_KEYS:
            _clip_fact(facts, key_path, value, parent, CLIP_KEYS[low], dialect)
            continue

        if low in CLIP_SECTION_NORM_KEYS and ancestors and ancestors[-1] in CLIP_KEYS and isinstance(value, Scalar):
            # mmengine ``clip_grad=dict(max_norm=0.1)``: the section itself is the switch
            _clip_fact(facts, key_path, value, parent, CLIP_KEYS[ancestors[-1]], dialect)
    return facts


def _clip_fact(facts: List[Fact], key_path: Tuple[str, ...], value: Node, parent: Optional[Mapping], kind: str, dialect: str) -> None:
    if not isinstance(value, Scalar):
        return
    number = as_number(value.value)
    if number is None or number <= 0:
        return  # null, 0, negative or a flag such as ``grad_clip: true``: no threshold to judge
    algorithm = _str_value(_sibling(parent, CLIP_ALGORITHM_KEYS))
    if algorithm:
        algo = algorithm.lower()
        if algo == "value":
            kind = "value"
        elif algo in ("norm", "full_model"):
            kind = "norm"
        else:  # agc and friends clip a ratio, not a norm
            return
    section = key_path[-2].lower() if len(key_path) > 1 else ""
    enabled = _enabled(parent, section)
    if not enabled:
        return
    name = names.CLIP_VALUE if kind == "value" else names.CLIP_NORM
    facts.append(Fact(name, float(number), value.span, ".".join(key_path), dialect, (("enabled", True),)))
