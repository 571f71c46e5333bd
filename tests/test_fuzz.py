"""Property-based tests: whatever a repository holds, modellint answers.

Generated Python modules (hypothesmith), mutated and truncated versions of
realistic configs and sources (every fixture project and every rule example),
random YAML/JSON/TOML/shell text and random config trees written as YAML,
JSON and TOML. The properties: the engine never raises and never reports
ML999 (a rule or parser crash), and the CLI always exits 0, 1 or 2 with
valid JSON.

The CI budget is small; a long run is one environment variable away:

    MODELLINT_FUZZ_EXAMPLES=5000 python -m pytest -q -p no:cacheprovider tests/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Dict, List, Tuple

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modellint import engine, registry
from modellint.cli import main
from modellint.parsing.source import kind_of
from modellint.settings import Settings
from tests.conftest import REPO
from tests.helpers import write_files

hypothesmith = pytest.importorskip("hypothesmith")
# hypothesmith compiles what it generates; ``1()`` makes the compiler warn, which is not ours
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

EXAMPLES = int(os.environ.get("MODELLINT_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FEW = settings(FUZZ, max_examples=max(5, EXAMPLES // 8))  # the CLI path costs more per example
RARE = settings(FUZZ, max_examples=max(3, EXAMPLES // 20))  # libcst-based generation: ~1 s an example


# -- the corpus: realistic texts to mutate -----------------------------------
def _fixture_texts() -> List[Tuple[str, str]]:
    out = []
    root = os.path.join(REPO, "fixtures")
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if kind_of(name) is None or os.path.getsize(path) > 200_000:
                continue
            with open(path, encoding="utf-8", errors="replace") as handle:
                out.append((os.path.relpath(path, root).replace(os.sep, "/"), handle.read()))
    return out


def _example_projects() -> List[Tuple[Tuple[str, str], ...]]:
    projects = []
    for code, cls in sorted(registry.all_rules().items()):
        for example in getattr(cls, "examples", ()):
            projects.append(tuple(example.files))
    return projects


CORPUS: List[Tuple[str, str]] = _fixture_texts() + [file for project in _example_projects() for file in project]
PROJECTS = _example_projects()

# fragments that steer mutations toward what the parsers and rules care about
TOKENS = [
    ":", ": ", "-", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a", "!!python/object/apply:os.system ['true']",
    "!include x.yaml", "_BASE_: ", "_base_ = ", "defaults:\n  - ", "\t", "\r\n", "\r", "\n", "\x00", "\ufeff", '"', "'",
    "\\", "$X", "${X:-1}", "X=", "#", "# modellint: ignore", "# modellint: skip-file", "lr", "1e-4", "0.", "-1",
    "nan", ".inf", "1e999", "10**400", "None", "null", "~", "true", "()", "(", ")", "=", "==", "lambda", "def f(", "class A(",
    "import torch", "torch.optim.SGD(", "nn.Linear(", "optimizer", "gradient_clip_val", "SOLVER.BASE_LR", "--lr", " \\\n",
    "&&", "|", ";", "python train.py ", "torchrun --nproc_per_node ", "\u00e9", "\U0001f600", "\u2028",
]


NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")
WORD = re.compile(r"\b(SGD|Adam|AdamW|RMSprop|Adagrad|LAMB|Lion|norm|value|full_model|true|false|True|False|None|null|"
                  r"sum|mean|train|eval|zero_grad|step|backward|detach|item|requires_grad|no_grad|sigmoid|softmax)\b")
NEW_NUMBERS = ["0", "0.0", "-1", "1", "2", "1e-12", "1e-4", "5e3", "0.5", "1.0", "8", "100000", "1e308", "1e999", "-0.0",
               "nan", ".nan", "inf", "-inf", "10**400", "3.0e-05", "(1, 2)", "[]", "{}", "''", "-5"]
NEW_WORDS = ["SGD", "Adam", "AdamW", "LAMB", "Lion", "norm", "value", "True", "False", "None", "null", "sum", "mean",
             "zero_grad", "step", "detach", "sigmoid", "softmax", "x", "_", "self"]


@st.composite
def mutated(draw, text: str) -> str:
    """Value swaps that keep the syntax (numbers, optimizer names, keywords), and truncations,
    deletions, duplications, insertions and line swaps that break it."""
    gentle = draw(st.booleans())  # half the examples stay parseable and reach the rules
    for _ in range(draw(st.integers(1, 6 if gentle else 4))):
        n = len(text)
        op = draw(st.sampled_from(["number", "word"] if gentle else
                                  ["number", "word", "truncate", "delete", "duplicate", "insert", "swap", "indent"]))
        if op in ("number", "word"):
            spots = list((NUMBER if op == "number" else WORD).finditer(text))
            if spots:
                spot = draw(st.sampled_from(spots))
                piece = draw(st.sampled_from(NEW_NUMBERS if op == "number" else NEW_WORDS))
                text = text[:spot.start()] + piece + text[spot.end():]
            continue
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 200)))
        if op == "truncate":
            text = text[:i]
        elif op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] * draw(st.integers(1, 3)) + text[j:]
        elif op == "insert":
            piece = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)))
            text = text[:i] + piece + text[i:]
        elif op == "swap":
            lines = text.split("\n")
            if len(lines) > 1:
                a = draw(st.integers(0, len(lines) - 1))
                b = draw(st.integers(0, len(lines) - 1))
                lines[a], lines[b] = lines[b], lines[a]
                text = "\n".join(lines)
        else:
            lines = text.split("\n")
            k = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[k] = draw(st.sampled_from(["", " ", "  ", "\t", "- "])) + lines[k]
            text = "\n".join(lines)
    return text


# -- running -------------------------------------------------------------------
def lint_files(files: Dict[str, str], paths=(".",)) -> list:
    """Full pipeline in-process over a throwaway directory; raises if the engine does."""
    with tempfile.TemporaryDirectory() as root:
        write_files(root, files.items())
        cwd = os.getcwd()
        os.chdir(root)
        try:
            return engine.run(list(paths), Settings()).findings
        finally:
            os.chdir(cwd)


def lint_bytes(files: Dict[str, bytes]) -> list:
    with tempfile.TemporaryDirectory() as root:
        for name, data in files.items():
            full = os.path.join(root, name)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as handle:
                handle.write(data)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            return engine.run(["."], Settings()).findings
        finally:
            os.chdir(cwd)


def assert_no_crash(findings) -> None:
    crashes = [f"{f.path}:{f.line}: {f.message}" for f in findings if f.code == "ML999"]
    assert not crashes, crashes


def cli_json(files: Dict[str, str], *extra: str) -> list:
    with tempfile.TemporaryDirectory() as root:
        write_files(root, files.items())
        cwd = os.getcwd()
        os.chdir(root)
        try:
            result = CliRunner().invoke(main, ["--format", "json", "--no-cache", "--no-config", *extra, "."],
                                        env={"NO_COLOR": "1"})
        finally:
            os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    for item in data:
        assert item["line"] >= 1 and item["column"] >= 1, item
    return data


# -- generated Python ----------------------------------------------------------
PY_NAMES = st.sampled_from(["train.py", "model.py", "configs/train_config.py", "configs/mm_cfg.py", "tools/x.py"])


@FUZZ
@given(source=hypothesmith.from_grammar(), name=PY_NAMES)
def test_generated_python_from_grammar(source, name):
    assert_no_crash(lint_files({name: source}))


@RARE
@given(source=hypothesmith.from_node(), name=PY_NAMES)
def test_generated_python_from_libcst_nodes(source, name):
    assert_no_crash(lint_files({name: source}))


# -- mutated realistic files -------------------------------------------------
@FUZZ
@given(data=st.data())
def test_mutated_fixture_and_example_files(data):
    name, text = data.draw(st.sampled_from(CORPUS), label="original")
    text = data.draw(mutated(text), label="mutated")
    assert_no_crash(lint_files({name: text}))


@FUZZ
@given(data=st.data())
def test_mutated_example_projects(data):
    """Multi-file projects (configs inheriting, launch scripts) with one file damaged."""
    project = dict(data.draw(st.sampled_from(PROJECTS), label="project"))
    victim = data.draw(st.sampled_from(sorted(project)), label="file")
    project[victim] = data.draw(mutated(project[victim]), label="mutated")
    assert_no_crash(lint_files(project))


@FUZZ
@given(data=st.data())
def test_mutated_bytes(data):
    """Byte-level damage: invalid UTF-8, NULs, BOMs, stray CRs."""
    name, text = data.draw(st.sampled_from(CORPUS), label="original")
    raw = bytearray(text.encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw)))
        piece = data.draw(st.one_of(st.binary(max_size=6), st.sampled_from(
            [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b"\r", b"\r\n", b"\xc3", b"\xed\xa0\x80", b"\x1b[31m"])))
        raw[i:i] = piece
    assert_no_crash(lint_bytes({name: bytes(raw)}))


# -- random text in each syntax ------------------------------------------------
SYNTAX = st.text(alphabet=st.sampled_from(list(" \n\t-:[]{},'\"#&*!|>%@`\\$=.;()0123456789eE+_abclrxyzSOLVER")), max_size=300)


@FUZZ
@given(text=st.one_of(SYNTAX, st.text(max_size=200), st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)),
       name=st.sampled_from(["a.yaml", "configs/b.yml", "c.json", "d.toml", "train.sh", "e.py", "configs/f_config.py"]))
def test_random_text(text, name):
    assert_no_crash(lint_files({name: text}))


KEYS = st.one_of(
    st.sampled_from(["lr", "base_lr", "BASE_LR", "SOLVER", "optimizer", "type", "momentum", "weight_decay", "trainer",
                     "gradient_clip_val", "max_norm", "batch_size", "IMS_PER_BATCH", "_BASE_", "_base_", "defaults",
                     "_target_", "model", "loss_weight", "warmup", "WARMUP_ITERS", "MAX_ITER", "epochs", "betas", "eps",
                     "train_batch_size", "gradient_accumulation_steps", "zero_optimization", "CLIP_GRADIENTS", "ENABLED",
                     "CLIP_VALUE", "CLIP_TYPE", "kl_weight", "beta", "num_gpus", "devices", "freeze", "requires_grad"]),
    st.text(min_size=1, max_size=10),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e-4", "5e3", "SGD", "AdamW", "norm", "value", "full_model", "${lr}", "(60000, 80000)", "../base.yaml",
                     "base.yaml", "..\\base.yaml", "/etc/passwd", "~/x.yaml", "???", ""]),
    st.text(max_size=12),
)
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=6)),
                     max_leaves=40)


def _toml_value(value, depth=0):
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v, depth + 1) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        return repr(value) if abs(value) != float("inf") else ("inf" if value > 0 else "-inf")
    return json.dumps("" if value is None else str(value))


@FUZZ
@given(tree=st.dictionaries(KEYS, TREES, max_size=8), base=st.dictionaries(KEYS, TREES, max_size=4))
def test_random_config_trees(tree, base):
    """Structured configs (valid syntax, random content) in YAML, JSON, TOML and a Python config, with a base."""
    import yaml

    files = {
        "configs/base.yaml": yaml.safe_dump(base, allow_unicode=True),
        "configs/leaf.yaml": yaml.safe_dump(dict(tree, _BASE_="base.yaml"), allow_unicode=True),
        "configs/x.json": json.dumps(tree, default=str),
        "configs/y.toml": "\n".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in tree.items()) + "\n",
        "configs/z_config.py": "_base_ = ['../configs/base.yaml']\n" + "".join(
            f"{k} = {v!r}\n" for k, v in tree.items() if k.isidentifier()),
    }
    assert_no_crash(lint_files(files))


@FUZZ
@given(words=st.lists(st.one_of(st.sampled_from(["python", "train.py", "tools/train_net.py", "torchrun", "--nproc_per_node",
                                                   "--num-gpus", "--config-file", "configs/leaf.yaml", "--lr", "SOLVER.BASE_LR",
                                                   "SOLVER.IMS_PER_BATCH", "--trainer.gradient_clip_val", "LR=1e-4", "$LR",
                                                   "${LR}", "\\\n", "&&", ";", "|", "#", '"', "'", "\n"]),
                                  st.text(max_size=6)), max_size=30))
def test_random_launch_scripts(words):
    files = {
        "configs/leaf.yaml": "SOLVER:\n  BASE_LR: 0.02\n  IMS_PER_BATCH: 16\n",
        "train.py": "import argparse\np = argparse.ArgumentParser()\np.add_argument('--lr', type=float, default=0.1)\n",
        "scripts/train.sh": " ".join(words) + "\n",
    }
    assert_no_crash(lint_files(files))


# -- the CLI ---------------------------------------------------------------------
@FEW
@given(data=st.data(), fmt=st.sampled_from(["json"]))
def test_cli_exit_code_and_json(data, fmt):
    project = dict(data.draw(st.sampled_from(PROJECTS), label="project"))
    victim = data.draw(st.sampled_from(sorted(project)), label="file")
    project[victim] = data.draw(mutated(project[victim]), label="mutated")
    findings = cli_json(project)
    assert not [f for f in findings if f["code"] == "ML999"], findings


@FEW
@given(source=hypothesmith.from_grammar())
def test_cli_on_generated_python(source):
    findings = cli_json({"configs/train_config.py": source, "model.py": source})
    assert not [f for f in findings if f["code"] == "ML999"], findings
