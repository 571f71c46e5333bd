"""Which other configs a config inherits: ``_BASE_`` (detectron2/yacs),
``_base_`` (MMEngine, str or list), and Hydra ``defaults`` lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from modellint.parsing.tree import Mapping, Node, Scalar, Sequence
from modellint.provenance import Span


@dataclass(frozen=True)
class BaseRef:
    ref: str  # as written
    span: Span
    style: str  # "yacs" | "mmengine" | "hydra"
    package: str = ""  # Hydra: key path the group's content is merged under ("" = root)
    group: str = ""  # Hydra group directory ("" for a plain config reference)


def _strings(node: Optional[Node]) -> List[Scalar]:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return [node]
    if isinstance(node, Sequence):
        return [item for item in node.items if isinstance(item, Scalar) and isinstance(item.value, str)]
    return []


def base_refs(root: Node) -> List[BaseRef]:
    if not isinstance(root, Mapping):
        return []
    refs: List[BaseRef] = []
    for scalar in _strings(root.get("_BASE_")):
        refs.append(BaseRef(scalar.value, scalar.span, "yacs"))
    for scalar in _strings(root.get("_base_")):
        if "::" not in scalar.value:  # ``mmdet::`` names an installed package's config
            refs.append(BaseRef(scalar.value, scalar.span, "mmengine"))
    defaults = root.get("defaults")
    if isinstance(defaults, Sequence):
        refs.extend(_hydra_defaults(defaults))
    return refs


def _hydra_defaults(defaults: Sequence) -> List[BaseRef]:
    refs: List[BaseRef] = []
    for item in defaults.items:
        if isinstance(item, Scalar) and isinstance(item.value, str):
            name, _, package = item.value.strip().partition("@")
            if name in ("_self_",) or not name or "${" in name:
                continue
            refs.append(BaseRef(name, item.span, "hydra", "" if package in ("", "_here_", "_global_") else package))
        elif isinstance(item, Mapping):
            for key, value in item.items:
                group = str(key.value).strip()
                if group.startswith("override "):
                    group = group[len("override "):].strip()
                if group.startswith("optional "):
                    group = group[len("optional "):].strip()
                if group.startswith("hydra/") or group == "hydra":
                    continue  # Hydra's own launcher/sweeper settings
                if not isinstance(value, Scalar) or not isinstance(value.value, str) or value.value in ("null", "???"):
                    continue
                if "${" in group or "${" in value.value:
                    continue  # chosen at run time
                package = group
                if "@" in group:
                    group, package = group.split("@", 1)
                group = group.lstrip("/")
                refs.append(BaseRef(value.value, value.span, "hydra", package.lstrip("/").replace("/", "."), group))
    return refs
