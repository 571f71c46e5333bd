"""YAML → positioned tree, safely.

``yaml.compose`` builds nodes without constructing Python objects, so
``!!python/object/apply:os.system`` stays an inert tagged scalar and unknown
tags such as ``!include`` are tolerated. Scalars are resolved with YAML 1.1
rules exactly as PyYAML's SafeLoader would (so ``1e-4`` stays a string and
rules read it with ``as_number``).
"""

from __future__ import annotations

import itertools
import re
from typing import List, Tuple

import yaml

from modellint.lazy_re import lazy
from modellint.parsing.problems import ParseProblem
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence
from modellint.provenance import Span

try:  # libyaml is ~17x faster and still gives marks
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

# libyaml's composer (the C loader) recurses once per nesting level without any
# limit and overflows the C stack -- a segfault that kills the whole process --
# somewhere between 20,000 and 40,000 levels (``[[[[...`` or ``- - - -``). Text
# that might nest 1,000 levels deep is reported (one ML902) and not composed; the
# estimate counts brackets inside quotes too, so it errs on the side of not
# reading, and no real config comes near it (the tree limit is 100 levels anyway,
# see limits.py). The pure-Python loader would be safe but reads such a file at
# ~30 KB/s.
_DEEP = 1000
_DEEP_BLOCK = lazy(r"^[ \t?:-]{%d}" % _DEEP, re.M)  # indentation and ``- ``/``? `` indicators
_BRACKETS = lazy(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _may_nest_deeply(text: str) -> bool:
    if _DEEP_BLOCK.search(text):
        return True
    if text.count("[") + text.count("{") < _DEEP:
        return False
    brackets = _BRACKETS.sub("", text)  # quotes are ignored: this over-estimates, never under-
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) >= _DEEP


_BOOL_TRUE = {"yes", "true", "on", "y"}
_STR = "tag:yaml.org,2002:str"
_MAX_NODES = 1_000_000


def _typed(node: yaml.ScalarNode):
    tag = node.tag or ""
    text = node.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return text.lower() in _BOOL_TRUE
    if tag.endswith(":int"):
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            return text
    if tag.endswith(":float"):
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    return text


class _Converter:
    def __init__(self, path: str):
        self.path = path
        self.memo = {}
        self.count = 0
        self.duplicates: List[ParseProblem] = []

    def span(self, node: yaml.Node) -> Span:
        start, end = node.start_mark, node.end_mark
        return Span(self.path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def convert(self, node: yaml.Node) -> Node:
        # aliases are the same yaml.Node object: convert once, share the result
        cached = self.memo.get(id(node))
        if cached is not None:
            return cached
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooLarge()
        if isinstance(node, yaml.ScalarNode):
            result: Node = Scalar(self.span(node), _typed(node), node.value, node.tag or "")
        elif isinstance(node, yaml.SequenceNode):
            result = Sequence(self.span(node), [])
            self.memo[id(node)] = result
            result.items = [self.convert(child) for child in node.value]
        else:
            result = Mapping(self.span(node), [])
            self.memo[id(node)] = result
            seen = {}
            for key_node, value_node in node.value:
                key = self.convert(key_node)
                if not isinstance(key, Scalar):
                    key = Scalar(key.span, "<complex key>", "", "")
                if key.value == "<<" :
                    merged = self.convert(value_node)
                    sources = merged.items if isinstance(merged, Sequence) else [merged]
                    for source in sources:
                        if isinstance(source, Mapping):
                            result.items.extend(source.items)
                    continue
                value = self.convert(value_node)
                hashable = key.value if isinstance(key.value, (str, int, float, bool, type(None))) else repr(key.value)
                if hashable in seen:
                    first = seen[hashable]
                    self.duplicates.append(
                        ParseProblem(
                            "ML902",
                            f"duplicate key {key.raw or key.value!r} (first set at line {first}); "
                            "PyYAML silently keeps the last value",
                            key.span.line,
                            key.span.column,
                        )
                    )
                seen[hashable] = key.span.line
                result.items.append((key, value))
        self.memo[id(node)] = result
        return result


class _TooLarge(Exception):
    pass


def parse_yaml(text: str, path: str) -> Tuple[List[Node], List[ParseProblem]]:
    """All documents of a YAML stream, or one ML902 problem saying where it broke."""
    if _may_nest_deeply(text):
        return [], [ParseProblem("ML902", f"the YAML document nests too deeply to read safely ({_DEEP:,} or more open brackets or indentation columns); not read")]
    try:
        roots = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        return [], [ParseProblem("ML902", f"invalid YAML: {problem} (line {line}, column {column})", line, column)]
    except yaml.YAMLError as exc:
        return [], [ParseProblem("ML902", f"invalid YAML: {str(exc).splitlines()[0]}")]
    except RecursionError:
        return [], [ParseProblem("ML902", "invalid YAML: nesting is too deep to read")]
    converter = _Converter(path)
    docs: List[Node] = []
    try:
        for root in roots:
            if root is not None:
                docs.append(converter.convert(root))
    except _TooLarge:
        return [], [ParseProblem("ML902", f"YAML document has more than {_MAX_NODES} nodes; not read")]
    except RecursionError:
        return [], [ParseProblem("ML902", "invalid YAML: nesting is too deep to read")]
    return docs, converter.duplicates
