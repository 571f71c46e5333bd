"""Parsers: positions for every value, safe YAML, shell words, Python configs as data."""

import pytest

from modellint.parsing.json_doc import parse_json
from modellint.parsing.python_doc import parse_python
from modellint.parsing.shell_doc import parse_shell
from modellint.parsing.source import decode
from modellint.parsing.tree import Mapping, Unknown, as_number, walk
from modellint.parsing.yaml_doc import parse_yaml


def entries(root):
    return {".".join(path): (value, key) for path, key, value, _ in walk(root)}


def test_yaml_positions_and_yaml11_numbers():
    docs, problems = parse_yaml("optimizer:\n  lr: 1e-4\n  momentum: 0.9\nsteps: (60000, 80000)\n", "c.yaml")
    assert not problems
    found = entries(docs[0])
    lr, key = found["optimizer.lr"]
    assert lr.value == "1e-4", "PyYAML (YAML 1.1) reads 1e-4 as a string"
    assert as_number(lr.value) == 1e-4
    assert (lr.span.line, lr.span.column, key.span.column) == (2, 7, 3)
    assert found["optimizer.momentum"][0].value == 0.9
    assert found["steps"][0].value == "(60000, 80000)"


def test_yaml_never_constructs_objects(tmp_path):
    marker = tmp_path / "pwned"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\nb: !include base.yaml\nc: !!python/tuple [1, 2]\n"
    docs, problems = parse_yaml(text, "c.yaml")
    assert not problems and not marker.exists()
    assert isinstance(docs[0], Mapping) and docs[0].get("b").value == "base.yaml"


def test_yaml_errors_and_duplicates():
    _, problems = parse_yaml("a: [1, 2\nb: 3\n", "c.yaml")
    assert problems[0].code == "ML902" and problems[0].line >= 1
    docs, problems = parse_yaml("lr: 1\nx: 2\nlr: 3\n", "c.yaml")
    assert [(p.code, p.line) for p in problems] == [("ML902", 3)]
    assert docs[0].get("lr").value == 3


def test_yaml_alias_bomb_is_cheap():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    docs, problems = parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert not problems
    assert sum(1 for _ in walk(docs[0])) < 100


def test_json_positions_and_errors():
    docs, problems = parse_json('{\n  "optimizer": {"params": {"lr": 3e-5}},\n  "gradient_clipping": 1.0\n}\n', "ds.json")
    assert not problems
    found = entries(docs[0])
    assert found["optimizer.params.lr"][0].span.line == 2
    assert as_number(found["optimizer.params.lr"][0].value) == 3e-5
    _, problems = parse_json('{"a": 1,}\n', "ds.json")
    assert problems[0].code == "ML902" and "line 1" in problems[0].message


def test_decode_bom_crlf_and_binary():
    text, problem = decode("\ufefflr: 0.1\r\n".encode("utf-8"), "yaml")
    assert problem is None and text.startswith("lr")
    docs, _ = parse_yaml(text, "c.yaml")
    assert docs[0].get("lr").span.column == 5
    _, problem = decode(b"\x00\x01", "python")
    assert problem.code == "ML901" and "binary" in problem.message


def test_python_config_module_is_data():
    text = (
        "base_lr = 0.004\n"
        "TRAIN = {'learning_rate': base_lr * 2, 'opt': dict(type='AdamW', lr=base_lr), **{'x': 1}}\n"
        "optimizer = dict(type=AdamW, betas=(0.9, 0.999))\n"
        "lr = {{_base_.lr}}\n"
    )
    doc, problems = parse_python(text, "configs/x.py")
    assert not problems
    view = doc.config_view()
    train = view.get("TRAIN")
    assert train.get("learning_rate").value == pytest.approx(0.008)
    assert train.get("opt").get("lr").value == 0.004
    assert train.get("opt").get("lr").span.line == 1, "a folded name keeps the provenance of its definition"
    assert isinstance(view.get("optimizer").get("type"), Unknown) and view.get("optimizer").get("type").text == "AdamW"
    assert view.get("lr").text == "_base_.lr"


def test_python_syntax_error_position():
    doc, problems = parse_python("x = (1,\n", "a.py")
    assert doc is None and problems[0].code == "ML901" and problems[0].line == 1


def test_shell_words_continuations_and_variables():
    script = (
        "#!/bin/bash\n"
        "LR=0.00007  # reduced\n"
        "CUDA_VISIBLE_DEVICES=0 python train_net.py --config-file 'configs/a b.yaml' \\\n"
        "    --num-gpus 1 SOLVER.IMS_PER_BATCH 1 SOLVER.BASE_LR $LR && echo done\n"
    )
    doc = parse_shell(script, "run.sh")
    assert len(doc.commands) == 2
    words = doc.commands[0].words
    assert [w.text for w in words][:4] == ["python", "train_net.py", "--config-file", "configs/a b.yaml"]
    lr = words[-1]
    assert lr.text == "0.00007" and (lr.span.line, lr.span.column) == (4, 56)
    assert lr.origin.line == 2


def test_python_columns_count_characters_not_bytes():
    doc, _ = parse_python('name = "ééé"; clip = 0.2\n', "a.py")
    value = doc.tree.body[1].value
    span = doc.span(value)
    assert (span.column, span.end_column) == (22, 25)
    assert 'name = "ééé"; clip = 0.2'[span.column - 1:span.end_column - 1] == "0.2"


def test_spans_of_ascii_files_skip_the_character_count_and_agree_with_it():
    """An all-ASCII file takes byte offsets as columns; every span equals the per-line
    character count, on real sources and on a file mixing ASCII and non-ASCII lines."""
    import ast
    from pathlib import Path

    from modellint.parsing.python_doc import PythonDocument

    root = Path(__file__).resolve().parent.parent
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "modellint").rglob("*.py"))[:40]]
    texts.append('a = 1\ns = "ééé"; clip = 0.2\nb = {"k": [1, 2]}\n')
    for text in texts:
        doc = PythonDocument("x.py", text, ast.parse(text))
        lines = text.split("\n")

        def chars(line, offset):
            return len(lines[line - 1].encode("utf-8")[:offset].decode("utf-8", errors="ignore"))

        for node in ast.walk(doc.tree):
            if not hasattr(node, "lineno"):
                continue
            span = doc.span(node)
            assert (span.line, span.column, span.end_line, span.end_column) == (
                node.lineno, chars(node.lineno, node.col_offset) + 1, node.end_lineno,
                chars(node.end_lineno, node.end_col_offset) + 1)


def test_mentions_counts_crlf_lines_as_ast_does():
    from modellint.parsing.python_doc import parse_python

    text = "a = 1\r\nfor x in y:\r\n    t += x + 1\n\n    z.append(t)\nb = 2\n"
    doc, _ = parse_python(text, "a.py")
    first, loop, last = doc.tree.body
    assert (loop.lineno, loop.end_lineno) == (2, 5)
    assert doc.mentions(("+",), loop) and doc.mentions(("append",), loop)
    assert not doc.mentions(("+", "append"), last) and not doc.mentions(("+", "append"), first)
    empty, _ = parse_python("", "b.py")
    assert not empty.mentions(("kl",), empty.tree)


def test_mentions_searches_the_lines_a_node_spans():
    from modellint.parsing.python_doc import parse_python

    # line 1 lowers to a longer text (İ → i̇), a lone \r and a form feed are in between;
    # ``ast`` numbers lines by \n, \r\n and \r only
    text = "name = '" + "İ" * 40 + "'\r\rdef f(x):\n    return x.step()\n\x0c\ndef g(ｘ):\r\n    return ｘ + 1\n"
    doc, problems = parse_python(text, "a.py")
    assert not problems
    f, g = doc.tree.body[1], doc.tree.body[2]
    assert (f.lineno, f.end_lineno, g.lineno, g.end_lineno) == (3, 4, 6, 7)
    for lowered in (False, True):
        assert doc.mentions(("step",), f, lowered) and not doc.mentions(("step",), g, lowered)
        assert doc.mentions(("+",), g, lowered) and not doc.mentions(("+",), f, lowered)
        assert doc.mentions(("x +",), g, lowered)  # identifiers as the parser reads them (NFKC)
        assert doc.mentions(("step",), doc.tree, lowered) and not doc.mentions(("zero_grad",), doc.tree, lowered)
    assert doc.mentions(("İİ",), doc.tree) and not doc.mentions(("name",), f, True)
    assert len(doc.lowered) == len(doc.filter_text) + 40  # the case the lowered line table is for


def _shape(node):
    """Everything a folded value carries, for comparing two folds."""
    from modellint.parsing.tree import Mapping, Scalar, Sequence, Unknown

    if isinstance(node, Scalar):
        return ("scalar", node.span, node.value, node.raw, node.tag)
    if isinstance(node, Mapping):
        return ("mapping", node.span, [(_shape(k), _shape(v)) for k, v in node.items])
    if isinstance(node, Sequence):
        return ("sequence", node.span, [_shape(v) for v in node.items])
    assert isinstance(node, Unknown)
    return ("unknown", node.span, node.text)


def test_folding_an_expression_without_the_module_gives_the_same_value():
    """``fold`` skips folding the module when the expression names no module-level value:
    every expression of these files folds the same either way."""
    import ast
    from pathlib import Path

    from modellint.parsing.python_doc import parse_python

    root = Path(__file__).resolve().parent.parent
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "fixtures").rglob("*.py"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((root / "modellint" / "parsing").glob("*.py"))]
    texts.append("LR = 0.1\nWD: float = LR / 10\nA, B = 1, 2\nC = dict(lr=LR)\nif True:\n    D = 3\n"
                 "def f(x):\n    return x * LR + WD * 2 - B + D + C['lr'] + -(3 * 4) + [LR, 1][0]\n"
                 "LR = 0.2\ny = f(LR) * 0.5 + {**C, 'm': 0.9}['m']\n")
    compared = skipped = 0
    for text in texts:
        lazy_doc, _ = parse_python(text, "m.py")
        full_doc, _ = parse_python(text, "m.py")
        full_doc.config_view()
        for node, twin in zip(ast.walk(lazy_doc.tree), ast.walk(full_doc.tree)):  # the same tree, twice
            if isinstance(node, ast.expr):
                lazy_doc.release()  # as if this were the file's first fold
                assert _shape(lazy_doc.fold(node)) == _shape(full_doc.fold(twin)), ast.unparse(node)
                compared += 1
                skipped += lazy_doc._config is None
    assert compared > 5000 and 0 < skipped < compared

