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


def parse_json(text: str, path: str) -> Tuple[List[Node], List[ParseProblem]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
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
