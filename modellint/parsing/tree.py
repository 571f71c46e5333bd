"""One positioned tree for every config format (YAML, JSON, TOML, Python dicts).

Rules and fact extractors walk this tree and never care which syntax it
came from. Every node carries a span, so any value can be reported at its
own line and column.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Iterator, List, Optional, Tuple

from modellint.lazy_re import lazy
from modellint.provenance import Span

_NUMBER = lazy(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class Node:
    __slots__ = ("span",)

    def __init__(self, span: Span):
        self.span = span


class Scalar(Node):
    """A leaf. ``value`` is the typed value (YAML 1.1 resolution), ``raw`` the text."""

    __slots__ = ("value", "raw", "tag")

    def __reduce__(self):  # a tuple of arguments: compact and fast to pickle (see Span.__reduce__)
        return (self.__class__, (self.span, self.value, self.raw, self.tag))

    def __init__(self, span: Span, value: Any, raw: str = "", tag: str = ""):
        super().__init__(span)
        self.value = value
        self.raw = raw
        self.tag = tag

    def number(self) -> Optional[float]:
        return as_number(self.value)

    def __repr__(self) -> str:
        return f"Scalar({self.value!r})"


class Mapping(Node):
    __slots__ = ("items",)

    def __reduce__(self):
        return (self.__class__, (self.span, self.items))

    def __init__(self, span: Span, items: List[Tuple[Scalar, Node]]):
        super().__init__(span)
        self.items = items

    def get(self, key: str, default: Optional[Node] = None) -> Optional[Node]:
        found = default
        for k, v in self.items:
            if k.value == key:
                found = v  # last wins, as PyYAML and json do
        return found

    def get_ci(self, key: str) -> Optional[Node]:
        low = key.lower()
        found = None
        for k, v in self.items:
            if isinstance(k.value, str) and k.value.lower() == low:
                found = v
        return found

    def keys(self) -> List[str]:
        return [str(k.value) for k, _ in self.items]

    def __repr__(self) -> str:
        return f"Mapping({self.keys()})"


class Sequence(Node):
    __slots__ = ("items",)

    def __reduce__(self):
        return (self.__class__, (self.span, self.items))

    def __init__(self, span: Span, items: List[Node]):
        super().__init__(span)
        self.items = items


class Unknown(Node):
    """A value the reader cannot know statically (a call, an interpolation)."""

    __slots__ = ("text",)

    def __reduce__(self):
        return (self.__class__, (self.span, self.text))

    def __init__(self, span: Span, text: str = ""):
        super().__init__(span)
        self.text = text


def as_number(value: Any) -> Optional[float]:
    """Numbers, and numeric-looking strings (PyYAML reads ``1e-4`` as a string)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        # nan, infinities and integers beyond a float (a 400-digit literal) are no setting;
        # every reader after this one may do float arithmetic
        if not -1e308 < value < 1e308:
            return None
        return value
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            try:
                number = float(text)
            except ValueError:
                return None
            if math.isinf(number):
                return None
            return int(number) if re.fullmatch(r"[+-]?\d+", text) else number
    return None


def as_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "on"):
            return True
        if low in ("false", "no", "off", "none", "null"):
            return False
    if isinstance(value, (int, float)):
        return bool(value)
    return None


_MEMO: dict = {}


class memo_walks:
    """Within this block, walking the same tree again reuses the first walk
    (every fact extractor walks the same merged tree)."""

    def __enter__(self):
        _MEMO.clear()
        _MEMO["on"] = True

    def __exit__(self, *exc):
        _MEMO.clear()


@lru_cache(maxsize=1 << 16)  # key paths repeat across the configs of a run (shared bases)
def path_parts(key_path: Tuple[str, ...]) -> Tuple[Tuple[str, ...], str, str]:
    """(the keys above the last one, lowered; the dotted path; the dotted path above it)."""
    return tuple(part.lower() for part in key_path[:-1]), ".".join(key_path), ".".join(key_path[:-1])


@lru_cache(maxsize=1 << 14)
def any_search(pattern: "re.Pattern", parts: Tuple[str, ...]) -> bool:
    """Does ``pattern`` occur in any of ``parts`` (the lowered section names of ``path_parts``)?"""
    return any(pattern.search(part) for part in parts)


def walk(node: Node, path: Tuple[str, ...] = (), *, limit: int = 200_000) -> Iterator[Tuple[Tuple[str, ...], Scalar, Node, Optional[Mapping]]]:
    """Yield ``(key_path, key_node, value_node, parent_mapping)`` for every mapping entry.

    Shared subtrees (YAML aliases) are visited once, so an alias bomb cannot
    make a walk explode.
    """
    if _MEMO.get("on"):
        key = (id(node), path, limit)
        if key not in _MEMO:
            _MEMO[key] = (node, list(_walk(node, path, limit)))  # keep node alive: ids stay unique
        return iter(_MEMO[key][1])
    return _walk(node, path, limit)


def _walk(node: Node, path: Tuple[str, ...], limit: int) -> Iterator[Tuple[Tuple[str, ...], Scalar, Node, Optional[Mapping]]]:
    seen = set()
    stack: List[Tuple[Node, Tuple[str, ...]]] = [(node, path)]
    budget = limit
    out = []
    while stack:
        current, prefix = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        budget -= 1
        if budget < 0:
            break
        if isinstance(current, Mapping):
            for key, value in current.items:
                key_path = prefix + (str(key.value),)
                out.append((key_path, key, value, current))
                stack.append((value, key_path))
        elif isinstance(current, Sequence):
            for index, value in enumerate(current.items):
                stack.append((value, prefix + (f"[{index}]",)))
    # source order makes findings and facts deterministic and readable
    out.sort(key=lambda entry: (entry[1].span.line, entry[1].span.column))
    return iter(out)


def to_plain(node: Optional[Node], depth: int = 0) -> Any:
    if node is None or depth > 100:
        return None
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Mapping):
        return {str(k.value): to_plain(v, depth + 1) for k, v in node.items}
    if isinstance(node, Sequence):
        return [to_plain(v, depth + 1) for v in node.items]
    return None
