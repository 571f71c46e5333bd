"""Merging config trees the way the frameworks do, remembering what was overridden.

A leaf config is merged over its bases (deep merge of mappings, sequences and
scalars replaced whole, MMEngine's ``_delete_=True`` replaces a mapping),
then launch-script overrides are set on top. Every replaced scalar is kept
in ``history`` under its dotted key, so a fact can say which value it
overrode and where that value was written.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from modellint.parsing.limits import MAX_DEPTH
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence, Unknown, as_bool, as_number
from modellint.provenance import Span

History = Dict[str, List[Scalar]]


class Merger:
    def __init__(self) -> None:
        self.history: History = {}

    def _record(self, path: Tuple[str, ...], old: Optional[Node]) -> None:
        if isinstance(old, Scalar):
            self.history.setdefault(".".join(path), []).append(old)
        elif isinstance(old, Mapping):
            for key, value in old.items:
                self._record(path + (str(key.value),), value)

    def merge(self, base: Optional[Node], override: Node, path: Tuple[str, ...] = ()) -> Node:
        if not isinstance(base, Mapping) or not isinstance(override, Mapping):
            if base is not None and base is not override:
                self._carry(path, base, override)
            return override
        delete = override.get("_delete_")
        if isinstance(delete, Scalar) and as_bool(delete.value):
            self._record(path, base)
            return Mapping(override.span, [(k, v) for k, v in override.items if k.value != "_delete_"])
        items = list(base.items)
        index = {str(k.value): i for i, (k, _) in enumerate(items)}
        for key, value in override.items:
            name = str(key.value)
            if name in index:
                old_key, old_value = items[index[name]]
                items[index[name]] = (key, self.merge(old_value, value, path + (name,)))
            else:
                index[name] = len(items)
                items.append((key, value))
        return Mapping(override.span, items)

    def _carry(self, path: Tuple[str, ...], old: Node, new: Node) -> None:
        self._record(path, old)

    def set_path(self, root: Node, dotted: str, value: Scalar) -> Node:
        """Set ``A.B.C`` (a launch-script override) on a merged tree."""
        parts = [p for p in dotted.split(".") if p]
        if not parts or len(parts) > MAX_DEPTH:  # deeper than any config may be (limits.py): ignored, not recursed into
            return root
        if not isinstance(root, Mapping):
            root = Mapping(value.span, [])
        return self._set(root, parts, (), value)

    def _set(self, mapping: Mapping, parts: List[str], path: Tuple[str, ...], value: Scalar) -> Mapping:
        head, rest = parts[0], parts[1:]
        items = list(mapping.items)
        for i, (key, old) in enumerate(items):
            if str(key.value) == head:
                if rest:
                    child = old if isinstance(old, Mapping) else Mapping(value.span, [])
                    items[i] = (key, self._set(child, rest, path + (head,), value))
                else:
                    self._record(path + (head,), old)
                    items[i] = (key, value)
                return Mapping(mapping.span, items)
        key = Scalar(value.span, head, head)
        if rest:
            items.append((key, self._set(Mapping(value.span, []), rest, path + (head,), value)))
        else:
            items.append((key, value))
        return Mapping(mapping.span, items)


def scalar_from_text(text: str, span: Span) -> Scalar:
    """A command-line value as yacs/argparse would read it."""
    stripped = text.strip()
    number = as_number(stripped)
    if number is not None:
        return Scalar(span, number, text)
    low = stripped.lower()
    if low in ("true", "false"):
        return Scalar(span, low == "true", text)
    if low in ("none", "null", "~"):
        return Scalar(span, None, text)
    return Scalar(span, stripped.strip("'\""), text)


def nest(package: str, node: Node) -> Node:
    """Put a Hydra group's content under its package key path (``model.encoder``)."""
    if not package:
        return node
    for part in reversed(package.split(".")):
        node = Mapping(node.span, [(Scalar(node.span, part, part), node)])
    return node


def resolve_base_templates(root: Node, merged_base: Optional[Node]) -> Node:
    """Replace MMEngine ``{{_base_.x}}`` / ``_base_.x`` references by the base's value."""
    if merged_base is None or not isinstance(root, Mapping):
        return root

    def lookup(text: str) -> Optional[Node]:
        node: Optional[Node] = merged_base
        for part in text.split(".")[1:]:
            node = node.get(part) if isinstance(node, Mapping) else None
            if node is None:
                return None
        return node

    def visit(node: Node, depth: int = 0) -> Node:
        if depth > 50:
            return node
        if isinstance(node, Unknown) and node.text.startswith("_base_."):
            found = lookup(node.text)
            return found if found is not None else node
        if isinstance(node, Mapping):
            return Mapping(node.span, [(k, visit(v, depth + 1)) for k, v in node.items])
        if isinstance(node, Sequence):
            return Sequence(node.span, [visit(v, depth + 1) for v in node.items])
        return node

    return visit(root)
