"""JSON → positioned tree.

``json`` validates (its errors carry line and column); positions come from
reading the same text with the YAML composer, since JSON is a subset of the
YAML flow syntax. Where the two disagree (tabs, exotic escapes) the values
are kept with the document's first line as position rather than lost.
"""

from __future__ import annotations

import json
from typing import List, Tuple

from modellint.parsing.problems import ParseProblem
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence
from modellint.parsing.yaml_doc import parse_yaml
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
