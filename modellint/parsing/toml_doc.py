"""TOML → positioned tree. ``tomllib`` gives no positions, so each key is
located by searching its ``key =`` line after its table header."""

from __future__ import annotations

import re
import sys
from typing import Any, List, Tuple

from modellint.lazy_re import lazy
from modellint.parsing.problems import ParseProblem
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence
from modellint.provenance import Span

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on old Pythons only
    import tomli as tomllib

_ERROR_POS = lazy(r"\(at line (\d+), column (\d+)\)")


def parse_toml(text: str, path: str) -> Tuple[List[Node], List[ParseProblem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _ERROR_POS.search(str(exc))
        line, column = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        return [], [ParseProblem("ML902", f"invalid TOML: {exc}", line, column)]
    except RecursionError:
        return [], [ParseProblem("ML902", "invalid TOML: nesting is too deep to read")]
    lines = text.splitlines()
    return [_build(data, path, lines, 0)], []


def _locate(lines: List[str], key: str, start: int) -> Tuple[int, int]:
    pattern = re.compile(r"^\s*(?:\"?%s\"?)\s*=" % re.escape(key))
    for index in range(start, len(lines)):
        if pattern.match(lines[index]):
            return index + 1, len(lines[index]) - len(lines[index].lstrip()) + 1
    header = re.compile(r"^\s*\[+\s*[^\]]*\b%s\s*\]+" % re.escape(key))
    for index in range(start, len(lines)):
        if header.match(lines[index]):
            return index + 1, 1
    return start + 1 if start < len(lines) else 1, 1


def _build(value: Any, path: str, lines: List[str], start: int, depth: int = 0) -> Node:
    span = Span(path, start + 1, 1, start + 1, 1)
    if depth > 100:
        return Scalar(span, None)
    if isinstance(value, dict):
        items = []
        for key, child in value.items():
            line, column = _locate(lines, str(key), start)
            key_span = Span(path, line, column, line, column + len(str(key)))
            items.append((Scalar(key_span, str(key), str(key)), _build(child, path, lines, line - 1, depth + 1)))
        return Mapping(span, items)
    if isinstance(value, list):
        return Sequence(span, [_build(v, path, lines, start, depth + 1) for v in value])
    return Scalar(span, value, str(value))
