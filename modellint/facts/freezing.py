"""Which encoder/backbone sections of a config are frozen (``names.FREEZE``).

One fact per encoder/backbone section of the tree, so a rule can tell "every
encoder is frozen" from "one of three is":

* ``value`` is True only when the section is known to be frozen entirely:
  ``freeze_backbone: true`` (or ``freeze``/``frozen``/``freeze_encoder``…),
  ``trainable: false``/``requires_grad: false``, detectron2
  ``MODEL.BACKBONE.FREEZE_AT`` ≥ 5 (stem + four ResNet stages), MMEngine /
  mmcv ``frozen_stages`` ≥ the backbone's number of stages (4 for the ResNet
  family, Swin and ConvNeXt, or an explicit ``num_stages``);
* otherwise False, with ``state`` saying why: ``trainable`` (explicitly),
  ``partial`` (``FREEZE_AT: 2``, ``frozen_stages: 1``), ``default`` (the
  section says nothing about freezing) or ``unknown`` (a computed value).

Details: ``section`` (dotted path of the section), ``state``, ``via`` (the key
that decided) and the numbers (``freeze_at``, ``frozen_stages``, ``num_stages``).
A section is a mapping whose key says encoder/backbone (``VIDEO_ENCODER``,
``model.backbone``, children of ``encoders:``), or the section a sibling
flag names (``freeze_backbone: true`` next to ``backbone: resnet50``).
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

from modellint.facts import names
from modellint.lazy_re import lazy
from modellint.parsing.tree import Mapping, Node, Scalar, any_search, as_bool, as_number, path_parts, walk
from modellint.provenance import Fact

_SECTION = lazy(r"encoder|backbone", re.I)
_NOT_SECTION = lazy(r"pos(ition)?(al)?_?enc|label_?enc|tokeni[sz]er|one_?hot|ordinal|optim|sched|_lr|lr_|"
                          r"loss|init_cfg|ckpt|checkpoint", re.I)
_CONTAINER = lazy(r"^(encoders|backbones)$", re.I)
# sections under these keys configure something else (``paramwise_cfg.custom_keys.backbone.lr_mult``)
_EXCLUDED_ANCESTOR = lazy(r"optim|paramwise|custom_keys|sched|^lr|_lr$|loss|init_cfg|data", re.I)

# key inside a section → True when setting it to true freezes the section (False: setting it false does)
FREEZE_FLAGS = {
    "freeze": True, "frozen": True, "freeze_backbone": True, "freeze_encoder": True, "freeze_weights": True,
    "freeze_all": True, "is_frozen": True, "freeze_params": True, "freeze_parameters": True,
    "trainable": False, "requires_grad": False, "finetune": False, "fine_tune": False, "train_backbone": False,
    "train_encoder": False, "learnable": False,
}
# a flag outside the section that names it: ``freeze_backbone: true`` next to ``backbone: resnet50``
_NAMED_FLAG = lazy(r"^(?:(freeze|frozen|train|finetune|fine_tune)_)?([a-z0-9_]*?(?:encoder|backbone)[a-z0-9_]*?)"
                         r"(?:_(frozen|trainable))?$")
_STAGES_BY_TYPE = {
    "resnet": 4, "resnetv1c": 4, "resnetv1d": 4, "resnetv1b": 4, "resnext": 4, "seresnet": 4, "seresnext": 4,
    "resnest": 4, "res2net": 4, "resnet_cifar": 4, "regnet": 4, "swintransformer": 4, "swintransformerv2": 4,
    "convnext": 4, "convnextv2": 4,
}

Flag = Tuple[Tuple[str, ...], Scalar, Node]


def extract(root: Node, dialect: str) -> List[Fact]:
    sections: Dict[Tuple[str, ...], Tuple[Scalar, Mapping]] = {}
    flags: List[Flag] = []
    for key_path, key, value, parent in walk(root):
        low = key_path[-1].lower()
        if not isinstance(value, Mapping) and not _SECTION.search(low):
            continue  # only mappings and encoder/backbone-named flags matter
        ancestors = path_parts(key_path)[0]
        if any_search(_EXCLUDED_ANCESTOR, ancestors):
            continue
        if isinstance(value, Mapping):
            if _CONTAINER.match(low):
                continue  # ``encoders: {video: {...}}``: its children are the sections
            if (_SECTION.search(low) and not _NOT_SECTION.search(low)) or (ancestors and _CONTAINER.match(ancestors[-1])):
                sections[key_path] = (key, value)
        elif _named_section(low):
            flags.append((key_path, key, value))
    outer = {p: s for p, s in sections.items() if not any(p[:i] in sections for i in range(1, len(p)))}
    facts: List[Fact] = []
    used = set()
    for path, (key, mapping) in sorted(outer.items(), key=lambda item: (item[1][0].span.line, item[1][0].span.column)):
        fact = _section_fact(path, key, mapping, dialect)
        if fact.get("state") == "default":
            for flag in flags:
                if flag[0][:-1] == path[:-1] and _named_section(flag[0][-1].lower()) == path[-1].lower():
                    fact = _flag_fact(path, flag, dialect)
                    used.add(flag[0])
        facts.append(fact)
    for flag in flags:
        flag_path = flag[0]
        if flag_path in used or any(flag_path[: len(p)] == p for p in outer):
            continue  # inside a section: that section's own key
        facts.append(_flag_fact(flag_path[:-1] + (_named_section(flag_path[-1].lower()),), flag, dialect))
    return facts


def _named_section(flag_key: str) -> str:
    """``freeze_backbone`` → ``backbone``; ``text_encoder_frozen`` → ``text_encoder``; else ""."""
    match = _NAMED_FLAG.match(flag_key)
    if not match or not (match.group(1) or match.group(3)) or _NOT_SECTION.search(match.group(2)):
        return ""
    return match.group(2)


def _freezes(flag_key: str) -> bool:
    """Whether setting the named flag to true freezes (``freeze_x``, ``x_frozen``) or trains (``train_x``)."""
    match = _NAMED_FLAG.match(flag_key)
    return bool(match) and ((match.group(1) or "") in ("freeze", "frozen") or match.group(3) == "frozen")


def _flag_fact(section_path: Tuple[str, ...], flag: Flag, dialect: str) -> Fact:
    key_path, key, value = flag
    freezes = _freezes(key_path[-1].lower())
    flag_value = as_bool(value.value) if isinstance(value, Scalar) else None
    section = ".".join(section_path)
    if flag_value is None:
        return _fact(False, value, key_path, dialect, section, "unknown", key_path[-1])
    frozen = flag_value if freezes else not flag_value
    return _fact(frozen, value, key_path, dialect, section, "frozen" if frozen else "trainable", key_path[-1])


def _fact(frozen: bool, node: Node, key_path: Tuple[str, ...], dialect: str, section: str, state: str, via: str,
          **numbers) -> Fact:
    detail = [("section", section), ("state", state), ("via", via)] + sorted(numbers.items())
    if via and isinstance(node, Scalar) and not numbers:
        detail.append(("raw", node.raw or str(node.value)))
    return Fact(names.FREEZE, frozen, node.span, ".".join(key_path), dialect, tuple(detail))


def _section_fact(path: Tuple[str, ...], key: Scalar, section: Mapping, dialect: str) -> Fact:
    name = ".".join(path)
    for flag_key, node in section.items:
        low = str(flag_key.value).lower()
        if low in FREEZE_FLAGS:
            flag_value = as_bool(node.value) if isinstance(node, Scalar) else None
            if flag_value is None:
                return _fact(False, node, path + (str(flag_key.value),), dialect, name, "unknown", str(flag_key.value))
            frozen = flag_value if FREEZE_FLAGS[low] else not flag_value
            return _fact(frozen, node, path + (str(flag_key.value),), dialect, name, "frozen" if frozen else "trainable",
                         str(flag_key.value))
    freeze_at = section.get_ci("FREEZE_AT")
    if freeze_at is not None:
        number = as_number(freeze_at.value) if isinstance(freeze_at, Scalar) else None
        if number is None:
            return _fact(False, freeze_at, path + ("FREEZE_AT",), dialect, name, "unknown", "FREEZE_AT")
        frozen = number >= 5  # stem + res2..res5
        return _fact(frozen, freeze_at, path + ("FREEZE_AT",), dialect, name,
                     "frozen" if frozen else ("partial" if number > 0 else "trainable"), "FREEZE_AT", freeze_at=number)
    stages_node = section.get("frozen_stages")
    if stages_node is not None:
        frozen_stages = as_number(stages_node.value) if isinstance(stages_node, Scalar) else None
        num_node = section.get("num_stages")
        num_stages = as_number(num_node.value) if isinstance(num_node, Scalar) else None
        if num_stages is None and num_node is None:
            type_node = section.get("type")
            if isinstance(type_node, Scalar) and isinstance(type_node.value, str):
                num_stages = _STAGES_BY_TYPE.get(type_node.value.rsplit(".", 1)[-1].lower())
        if frozen_stages is None or num_stages is None:
            return _fact(False, stages_node, path + ("frozen_stages",), dialect, name, "unknown", "frozen_stages")
        frozen = frozen_stages >= num_stages
        return _fact(frozen, stages_node, path + ("frozen_stages",), dialect, name,
                     "frozen" if frozen else ("partial" if frozen_stages >= 0 else "trainable"), "frozen_stages",
                     frozen_stages=frozen_stages, num_stages=num_stages)
    return _fact(False, key, path, dialect, name, "default", "")
