"""The JSON scanner (json_doc._scan) builds exactly the tree the YAML composer builds.

parse_json used to read every JSON file with the YAML composer (JSON is YAML flow
syntax) to get positions; the scanner does the same ~several times faster. Every
test here reads a document both ways -- ``reference`` is parse_json with the
scanner switched off, i.e. the composer path -- and compares the results node by
node: type, typed value, raw text, tag, span, key spans, order, and the
duplicate-key problems. Some documents must be left to the composer (YAML line
breaks, surrogate escapes, keys split from their colon, ``<<``, deep nesting);
for those the test checks that the scanner did step aside.
"""

from __future__ import annotations

import json
import math
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modellint.parsing import json_doc
from modellint.parsing.json_doc import parse_json
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence


def reference(text: str, path: str = "c.json"):
    with mock.patch.object(json_doc, "_scan", lambda text, path: None):
        return parse_json(text, path)


def scanned(text: str) -> bool:
    """Did the scanner read this text itself (rather than leave it to the composer)?"""
    try:
        json.loads(text)
    except ValueError:
        return json_doc._scan(json_doc._without_comments(text), "c.json") is not None
    return json_doc._scan(text, "c.json") is not None


def _value_key(value):
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__, repr(value))


def flatten(node: Node) -> list:
    """Every node in document order with everything the tree says about it (no recursion)."""
    out = []
    stack = [(node, "root")]
    while stack:
        current, role = stack.pop()
        span = current.span
        where = (span.path, span.line, span.column, span.end_line, span.end_column)
        if isinstance(current, Mapping):
            out.append((role, "Mapping", where, len(current.items)))
            for key, value in reversed(current.items):
                stack.append((value, "value"))
                stack.append((key, "key"))
        elif isinstance(current, Sequence):
            out.append((role, "Sequence", where, len(current.items)))
            stack.extend((item, "item") for item in reversed(current.items))
        else:
            assert isinstance(current, Scalar), type(current)
            out.append((role, type(current).__name__, where, _value_key(current.value), current.raw, current.tag))
    return out


def assert_same(text: str, path: str = "c.json") -> None:
    old_docs, old_problems = reference(text, path)
    new_docs, new_problems = parse_json(text, path)
    assert new_problems == old_problems
    assert [flatten(doc) for doc in new_docs] == [flatten(doc) for doc in old_docs]


# -- generated documents: json.dumps with every layout --------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats()  # NaN and ±Infinity: json.dumps writes NaN, Infinity, -Infinity
    | st.text(max_size=12)
    | st.sampled_from(["", "lr", "1e-4", "yes", "null", "<<x", "a:b", "# c", "[x]", "{", "é", "中文", "😀", "\\", '"', "\t", "\n"])
)
keys = st.text(max_size=8) | st.sampled_from(["lr", "a", "b", "a b", "é", "😀", "", "1", "true", "null", "x:y", "#"])
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)
layouts = st.fixed_dictionaries({
    "indent": st.sampled_from([None, 0, 1, 2, 4, "\t", " \t"]),
    "separators": st.sampled_from([None, (",", ":"), (", ", ": "), (",", ": "), (" , ", " : "), (",\t", ":\t")]),
    "ensure_ascii": st.booleans(),
    "sort_keys": st.booleans(),
})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, layouts, st.sampled_from(["", "\n", "\r\n", "  \n\n"]), st.booleans())
def test_dumped_documents_read_the_same(value, layout, tail, crlf):
    text = json.dumps(value, **layout) + tail
    if crlf:
        text = text.replace("\n", "\r\n")
    assert_same(text)


# -- generated documents: token by token, with odd numbers, escapes, duplicates, JSONC ----

numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,8})?([eE][+-]?[0-9]{1,3})?\Z")
escapes = st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\u4e2d", "\\u0000", "\\u001f",
                           "\\u007f", "\\u0085", "\\u2028", "\\ufeff", "\\uFFFF", "\\ud83d\\ude00", "\\uD800"])
raw_chars = st.sampled_from(list("ab :,#[]{}'-?!&*|>%@`") + ["é", "中", "😀", "\u00a0", "\ufeff", "\x7f", "\u2028", "\x85"])
strings = st.lists(raw_chars | escapes, max_size=6).map(lambda parts: '"' + "".join(parts) + '"')
spaces = st.sampled_from(["", " ", "  ", "\n", "\r\n", "\r", "\t", " \n\t", "\n\n  "])
comments = st.sampled_from(["", "", "", " // note\n", "/* c */", "/* a\n b */ ", "// x\r\n"])
key_names = st.sampled_from(['"a"', '"b"', '"lr"', '"a"', '"<<"', '""', '"\\u0061"', '"é"']) | strings


@st.composite
def tokens(draw, depth=0):
    kind = draw(st.sampled_from(["number", "string", "literal", "list", "object"] if depth < 4 else ["number", "string", "literal"]))
    if kind == "number":
        return draw(numbers)
    if kind == "string":
        return draw(strings)
    if kind == "literal":
        return draw(st.sampled_from(["true", "false", "null", "NaN", "Infinity", "-Infinity"]))
    count = draw(st.integers(0, 4))
    parts = []
    for _ in range(count):
        part = draw(spaces) + draw(comments)
        if kind == "object":
            part += draw(key_names) + draw(st.sampled_from(["", " ", "\t", "\n", " \n "])) + ":" + draw(spaces)
        parts.append(part + draw(tokens(depth=depth + 1)) + draw(spaces))
    trailing = "," + draw(spaces) if parts and draw(st.integers(0, 5)) == 0 else ""  # JSONC
    inner = ",".join(parts) + trailing + draw(spaces)
    return ("[" if kind == "list" else "{") + inner + ("]" if kind == "list" else "}")


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces, tokens(), spaces)
def test_token_level_documents_read_the_same(before, body, after):
    assert_same(before + body + after)


# -- hand-written edge cases ------------------------------------------------------------

EDGE_CASES = [
    '{"a": 1, "b": -1.5e3, "c": 1.5e+3, "d": 1e5, "e": 1E-5, "f": -0.0, "g": 0, "h": -0, "i": 1.0}',
    '{"big": 123456789012345678901234567890, "neg": -98765432109876543210, "huge": 1e400, "inf": 1.0e+400}',
    '{"t": true, "f": false, "n": null, "nan": NaN, "inf": Infinity, "ninf": -Infinity}',
    '{}', '[]', '[{}]', '[[]]', '{"a": {}, "b": [], "c": [{}, [], [[]], {"d": {}}]}', '[ ]', '{ }', '[\n]', '{\r\n}',
    '"just a string"', "42", "-7.25", "true", "null", '  "padded"  \n',
    '{"a":1}', '{"a":-1,"b":[1,2,{"c":"d"}],"e":{"f":null}}', '[1,2,3]',
    '{"lr": 1, "lr": 2, "x": {"lr": 3, "lr": 4}, "lr": 5}',
    '{"a": {"b": 1, "b": 2}, "a": 3}',
    '{\n  "a": 1,\n  "a": {\n    "a": 2,\n    "a": 3\n  }\n}\n',
    '{"": 1, "": 2}',
    '{"\\u0061": 1, "a": 2}',
    '{\r\n  "a": 1,\r\n  "b": [\r\n    1,\r\n    2\r\n  ]\r\n}\r\n',
    '{\r  "a": 1,\r  "b": 2\r}',
    '{\n\t"a": 1,\n\t"b": [\n\t\t1\n\t]\n}',
    '{"é": "ü", "中文": "日本語", "emoji 😀": "😀😀", "x": 1}',
    '{"a": "😀", "b": "😀😀", "c": {"😀": [1, "é", 2]}}',
    '["\\u00e9\\u4e2d", "\\"quoted\\"", "back\\\\slash", "\\/", "\\b\\f\\n\\r\\t", "\\u0000\\u001f\\u007f"]',
    '{"escaped \\"key\\"": 1, "tab\\tkey": 2}',
    '["\\ud83d\\ude00"]', '{"a": "\\uD800"}', '["\\udc00x"]',  # surrogates: json pairs them, YAML refuses
    '["a\\u2028b", "c"]', '["a\u2028b", "c"]', '["a\u2029b"]', '["a\x85b"]', '["a\x7fb"]', '["a\x9fb"]', '["a\ufffeb"]',
    '["\ufeff in a string", 1]', '["\u00a0", "\ud7ff", "\ue000", "\U00010000"]',
    '{"a"\n: 1}', '{"a" : 1, "b"  :  2}', '{"a"\t: 1}',
    '{"<<": {"a": 1}, "b": 2}', '{"<<": 5}', '{"x": {"<<": [{"a": 1}]}}',
    '{"' + "k" * 990 + '": 1}', '{"' + "k" * 1019 + '": 1}', '{"' + "k" * 1022 + '": 1}', '{"' + "k" * 1023 + '": 1}',
    '{"' + "k" * 1019 + '"   : 1}', '{"' + "é" * 1030 + '": 1}',
    '{"a": "' + "v" * 5000 + '"}',
    "[" * 99 + "]" * 99, "[" * 100 + "]" * 100, "[" * 101 + "]" * 101, "[" * 150 + "]" * 150,
    '{"a": ' * 120 + "1" + "}" * 120,
    '{"s": "' + "[" * 1000 + '", "t": 1}', '{"s": "' + "{" * 999 + '", "t": [1]}',
    " " * 1000 + "[1]", "[\n" + " " * 1000 + "1\n]", "[\n" + " " * 999 + "1\n]", "[\n" + "\t" * 1000 + "1\n]",
    # JSONC: comments and trailing commas become spaces, columns stay
    '{\n  // a comment\n  "a": 1, /* inline */ "b": [1, 2,],\n}\n',
    '/* head */ {"a": "http://x.y/z", "b": "/* not a comment */"} // tail',
    '{\r\n  // c\r\n  "a": 1,\r\n}',
    '{"a": 1, // x\n "a": 2}',
    # invalid: both sides report the same problem
    '\ufeff{"a": 1}', '{"a": }', '[1, 2', '', '   ', '{"a": 1} x', "{'a': 1}", '{"a": 1,}', '[1] // c\n[2]',
    "[" * 100_000 + "]" * 100_000,
]


@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_read_the_same(text):
    assert_same(text)
    assert_same(text, "other/path.json")


def test_the_scanner_reads_ordinary_documents_itself():
    """Equivalence would hold vacuously if the scanner always stepped aside."""
    for text in [
        '{"a": 1, "b": [1.5, "x", true, null, {}], "c": {"d": -2}}',
        '{\r\n  "lr": 3e-4,\r\n  "lr": 1\r\n}',
        '{"é": "😀", "k": "\\u00e9\\n\\"\\\\"}',
        '{\n  // c\n  "a": [1, 2,],\n}',
        "[" * 100 + "]" * 100,
        '{"' + "k" * 990 + '": 1}',
        '[NaN, Infinity, -Infinity, 1e400, 123456789012345678901234567890]',
    ]:
        assert scanned(text), text
    assert json_doc._FAST, "Span or the tree nodes changed shape: update the scanner's fast constructors"


def test_the_scanner_leaves_what_yaml_reads_differently_to_the_composer():
    for text in [
        '["a\u2028b"]', '["a\x85b"]', '["a\x7fb"]', '["\\ud83d\\ude00"]', '{"a"\n: 1}', '{"<<": {"a": 1}}',
        '{"' + "k" * 1023 + '": 1}', "[" * 101 + "]" * 101, '{"s": "' + "[" * 1000 + '"}', " " * 1000 + "[1]",
    ]:
        assert not scanned(text), text


def test_scanned_spans_are_ordinary_spans():
    """The scanner makes spans without Span.__init__: they must be indistinguishable."""
    import pickle

    from modellint.provenance import Span

    docs, _ = parse_json('{"a": [1, "x"]}', "s.json")
    spans = [docs[0].span] + [node.span for pair in docs[0].items for node in pair] + [node.span for node in docs[0].items[0][1].items]
    for span in spans:
        made = Span(span.path, span.line, span.column, span.end_line, span.end_column)
        assert type(span) is Span and span == made and hash(span) == hash(made) and repr(span) == repr(made)
        assert list(vars(span).items()) == list(vars(made).items())
        assert pickle.loads(pickle.dumps(span)) == made
    assert {spans[0]: 1}[Span("s.json", 1, 1, 1, 16)] == 1


def test_positions_are_the_documented_ones():
    docs, problems = parse_json('{\n  "a": [10, "é😀"],\r\n  "b": {"c": 1e-4}, "a": 2\n}', "x.json")
    root = docs[0]
    assert (root.span.line, root.span.column, root.span.end_line, root.span.end_column) == (1, 1, 4, 2)
    (key_a, seq), (_, inner), (key_a2, two) = root.items
    assert (key_a.span.line, key_a.span.column, key_a.span.end_column) == (2, 3, 6)
    assert (seq.span.column, seq.span.end_column) == (8, 18)  # columns count characters, not UTF-8 bytes
    assert [(item.span.column, item.span.end_column, item.value) for item in seq.items] == [(9, 11, 10), (13, 17, "é😀")]
    assert inner.items[0][1].value == "1e-4" and inner.items[0][1].raw == "1e-4"  # YAML 1.1: a string, as everywhere
    assert (key_a2.span.line, key_a2.span.column) == (3, 21) and two.value == 2
    assert [(p.code, p.line, p.column) for p in problems] == [("ML902", 3, 21)]
    assert "first set at line 2" in problems[0].message


def test_deep_json_is_still_one_problem_not_a_crash():
    for depth in (150, 300, 5000, 100_000):
        docs, problems = parse_json("[" * depth + "]" * depth, "deep.json")
        assert docs or problems
