"""JSON → positioned tree.

``json`` validates (its errors carry line and column). The tree is the one the
YAML composer builds from the same text (JSON is a subset of the YAML flow
syntax; scalars are typed with YAML 1.1 rules, so ``1e-4`` stays a string as in
every other config), but it is built by ``_scan``, a scanner over the validated
text, about 3x faster than composing it (tests/test_json_speed.py checks the two
agree node by node). What the scanner cannot be sure to read exactly as the
composer does (line breaks YAML knows and JSON does not, characters YAML
refuses, escaped surrogates, a key split from its colon or longer than a YAML
simple key, a ``<<`` key, deep nesting, huge documents) goes to the composer
itself (``_composed``). Where the composer and ``json`` disagree (tabs, exotic
escapes) the values are kept with the document's first line as position rather
than lost.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import fields
from json.decoder import scanstring
from typing import Any, Dict, List, Optional, Tuple

import yaml

from modellint.lazy_re import lazy
from modellint.parsing.problems import ParseProblem
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence
from modellint.parsing.yaml_doc import (
    _DEEP_BLOCK,
    _MAX_NODES,
    _Loader,
    _may_nest_deeply,
    _typed,
    parse_yaml,
)
from modellint.provenance import Span


def _without_comments(text: str) -> str:
    """JSON with comments (devcontainer.json, tsconfig.json, VS Code settings): the
    comments and trailing commas become spaces, so every column stays in place."""
    out = list(text)
    i, n, in_string = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                if out[j] != "\n":
                    out[j] = " "
            i = end
            continue
        elif ch == ",":
            j = i + 1
            while j < n and out[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "]}":
                out[i] = " "
        i += 1
    return "".join(out)


def parse_json(text: str, path: str) -> Tuple[List[Node], List[ParseProblem]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if "//" in text or "/*" in text:
            stripped = _without_comments(text)
            try:
                json.loads(stripped)
            except (json.JSONDecodeError, RecursionError):
                pass
            else:
                return parse_json(stripped, path)
        return [], [ParseProblem("ML902", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", exc.lineno, exc.colno)]
    except RecursionError:
        return [], [ParseProblem("ML902", "invalid JSON: nesting is too deep to read")]
    scanned = _scan(text, path)
    if scanned is not None:
        return scanned
    return _composed(text, data, path)


def _composed(text: str, data: Any, path: str) -> Tuple[List[Node], List[ParseProblem]]:
    """The reference reading: the YAML composer over the same text (``_scan`` builds the same tree, faster)."""
    docs, problems = parse_yaml(text.replace("\t", " "), path)
    if docs and not [p for p in problems if "duplicate" not in p.message]:
        return docs, problems
    return [_from_plain(data, Span(path, 1, 1, 1, 1))], []


def _from_plain(value, span: Span, depth: int = 0) -> Node:
    if depth > 200:
        return Scalar(span, None)
    if isinstance(value, dict):
        return Mapping(span, [(Scalar(span, str(k), str(k)), _from_plain(v, span, depth + 1)) for k, v in value.items()])
    if isinstance(value, list):
        return Sequence(span, [_from_plain(v, span, depth + 1) for v in value])
    return Scalar(span, value, json.dumps(value))


# -- the scanner -------------------------------------------------------------------
# The text has passed ``json.loads``: split on this pattern it is tokens (strings, a key with
# its colon, brackets, plain scalars) separated by JSON whitespace and commas only.
_TOKEN = lazy(r'("[^"\\]*(?:\\.[^"\\]*)*"(?:[ \t\n\r]*:)?|[\[\]{}]|[^ \t\n\r,:\[\]{}"]+)')
_LINE_BREAK = lazy(r"\r\n?|\n")  # the YAML reader's, less NEL, LS and PS (see _EXOTIC)
# Characters the YAML reader refuses (not printable) or reads as a line break JSON does not know
# (NEL, LS, PS), and escaped surrogates (YAML refuses them, json pairs them): the composer's.
# Tabs are not here: json allows them only between tokens, where both skip them.
_EXOTIC = lazy("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_SURROGATE_ESCAPE = lazy(r"\\u[dD][89a-fA-F]")
_MAX_KEY = 1000  # characters from a key's quote to its colon (YAML drops a simple key past 1024)
_MAX_LEVELS = 100  # deeper goes to the composer (such a tree is refused anyway: limits.MAX_DEPTH)
_STR = "tag:yaml.org,2002:str"
_PLAIN: Dict[str, Tuple[Any, str]] = {}


def _plain(token: str) -> Tuple[Any, str]:
    """A number or literal typed as the composer types the same plain scalar (``1e5`` stays a string)."""
    known = _PLAIN.get(token)
    if known is None:
        table = _Loader.yaml_implicit_resolvers  # what BaseResolver.resolve does for a plain scalar
        tag = _Loader.DEFAULT_SCALAR_TAG
        for candidate, regexp in table.get(token[0], []) + table.get(None, []):
            if regexp.match(token):
                tag = candidate
                break
        known = (_typed(yaml.ScalarNode(tag, token)), tag)
        if len(_PLAIN) < 100_000:
            _PLAIN[token] = known
    return known


# Spans and nodes are made without their __init__ (a frozen dataclass sets each field through
# object.__setattr__; with the node classes' chained __init__ that is ~40% of the time). _FAST
# says the shortcut makes the very same objects; if Span or the nodes change shape it is off
# and JSON goes to the composer (tests/test_json_speed.py fails so that it is noticed).
_new = object.__new__


def _span(path: str, line: int, column: int, end_line: int, end_column: int) -> Span:
    """A Span made as _fast_is_exact checks: fields set in declaration order, no __init__."""
    span = _new(Span)
    state = span.__dict__
    state["path"] = path
    state["line"] = line
    state["column"] = column
    state["end_line"] = end_line
    state["end_column"] = end_column
    return span


def _slots(kind: type) -> set:
    return {name for klass in kind.__mro__ for name in getattr(klass, "__slots__", ())}


def _fast_is_exact() -> bool:
    reference = Span("p", 1, 2, 3, 4)
    span = _span("p", 1, 2, 3, 4)
    return (
        [field.name for field in fields(Span)] == ["path", "line", "column", "end_line", "end_column"]
        and not hasattr(Span, "__post_init__")
        and span == reference
        and list(vars(span).items()) == list(vars(reference).items())
        and _slots(Scalar) == {"span", "value", "raw", "tag"}
        and _slots(Mapping) == _slots(Sequence) == {"span", "items"}
        and not any("__dict__" in vars(klass) for klass in (Node, Scalar, Mapping, Sequence))
    )


_FAST = _fast_is_exact()


def _scan(text: str, path: str) -> Optional[Tuple[List[Node], List[ParseProblem]]]:
    """The composer's tree and duplicate-key problems for valid JSON, or None where only the composer can say."""
    if not _FAST or _EXOTIC.search(text) or ("\\u" in text and _SURROGATE_ESCAPE.search(text)) or _DEEP_BLOCK.search(text):
        return None
    pieces = _TOKEN.split(text)  # separator, token, separator, token, …, separator
    if len(pieces) > 2 * _MAX_NODES and len(pieces) // 2 - pieces.count("]") - pieces.count("}") > _MAX_NODES:
        return None  # the composer's node limit
    if "".join(pieces[0::2]).strip(" \t\n\r,"):
        return None  # not a token stream (cannot happen after json.loads)
    breaks = [match.end() for match in _LINE_BREAK.finditer(text)]  # where lines 2, 3, … start
    next_line = breaks[0] if breaks else len(text) + 1
    line, before = 1, -1  # the current line; the index before its first character (column = index - before)
    new, make_span, str_tag, plain_known, max_key = _new, _span, _STR, _PLAIN, _MAX_KEY
    problems: List[ParseProblem] = []
    roots: List[Node] = []
    # the open container: its items, its keys so far (None: a sequence), its pending key
    items: list = roots
    seen: Optional[dict] = None
    key: Optional[Scalar] = None
    key_line = 0
    stack: List[tuple] = []  # for each open bracket: the enclosing container's state, the node, where it starts
    opened = 0
    position = 0
    pairs = iter(pieces)
    for separator, token in zip(pairs, pairs):
        position += len(separator)
        if position >= next_line:
            lines_before = bisect_right(breaks, position)
            line = lines_before + 1
            before = breaks[lines_before - 1] - 1
            next_line = breaks[lines_before] if lines_before < len(breaks) else len(text) + 1
        column = position - before
        position += len(token)
        head = token[0]
        if head == '"':
            if token[-1] == ":":  # a key and its colon
                if token[-2] == '"':
                    string = token[:-1]
                elif "\n" in token or "\r" in token:
                    return None  # YAML drops a key whose colon is on a later line
                else:
                    string = token.rstrip(": \t")
                if seen is None or key is not None or len(token) > max_key:
                    return None  # a YAML simple key ends at 1024 characters
                value = scanstring(string, 1)[0] if "\\" in string else string[1:-1]
                if value == "<<":
                    return None  # a YAML merge key
                key_line = line
                key = new(Scalar)
                key.span = make_span(path, line, column, line, column + len(string))
                key.value = key.raw = value
                key.tag = str_tag
                continue
            value = scanstring(token, 1)[0] if "\\" in token else token[1:-1]
            node: Any = new(Scalar)
            node.span = make_span(path, line, column, line, position - before)
            node.value = node.raw = value
            node.tag = str_tag
        elif head == "[" or head == "{":
            if len(stack) >= _MAX_LEVELS:
                return None
            opened += 1
            node = new(Sequence if head == "[" else Mapping)
            stack.append((items, seen, key, key_line, node, line, column))
            items = node.items = []
            seen = None if head == "[" else {}
            key = None
            continue
        elif head == "]" or head == "}":
            if key is not None or not stack:
                return None
            end_line = line
            items, seen, key, key_line, node, line, column = stack.pop()
            node.span = make_span(path, line, column, end_line, position - before)
            line = end_line
        else:  # a number, true, false, null, NaN, Infinity
            known = plain_known.get(token)
            if known is None:
                known = _plain(token)
            node = new(Scalar)
            node.span = make_span(path, line, column, line, position - before)
            node.value, node.tag = known
            node.raw = token
        # a finished value joins the open container after its own contents: the composer's
        # order of duplicate-key problems
        if seen is None:
            items.append(node)
            continue
        if key is None:
            return None
        name = key.value
        if name in seen:
            problems.append(ParseProblem(
                "ML902",
                f"duplicate key {name!r} (first set at line {seen[name]}); PyYAML silently keeps the last value",
                key_line,
                key.span.column,
            ))
        seen[name] = key_line
        items.append((key, node))
        key = None
    if stack or len(roots) != 1:
        return None
    if text.count("[") + text.count("{") != opened and _may_nest_deeply(text):
        return None  # brackets inside strings count in the composer's estimate of depth
    return roots, problems
