"""--fix, --diff, --unsafe-fixes: fixes touch only flagged spans, always parse, converge, and
leave the tree alone when only asked for a diff. libcst is loaded only when a fix is asked for."""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from modellint import engine
from modellint.cli import main
from modellint.findings import Finding
from modellint.fixes import applies, make_fix, run_fixes, edit, verify
from modellint.settings import Settings
from tests.conftest import REPO
from tests.helpers import write_files

pytest.importorskip("libcst")

MODEL = textwrap.dedent('''\
    """Encoder with a plain list of blocks."""
    import torch.nn as nn


    class Encoder(nn.Module):
        def __init__(self, d, n):
            super().__init__()
            # the blocks, in order
            self.blocks = [nn.Linear(d, d) for _ in range(n)]
            self.heads = {}
            for name in ("a", "b"):
                self.heads[name] = nn.Linear(d, 2)

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x
    ''')

TRAIN = textwrap.dedent('''\
    import torch


    def train(model, loader, epochs):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
        for epoch in range(epochs):
            total = 0.0
            for x, y in loader:
                optimizer.zero_grad()
                scheduler.step()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                total += loss  # for the log
            print(epoch, total / len(loader))
    ''')

CONFIG = textwrap.dedent('''\
    # training config
    trainer:
      max_epochs: 100   # long run
      gradient_clip_val: 0.2  # from the paper
    ''')

SAFE_CODES = "ML303,ML403,ML404"


def _project(tmp_path, with_config=True):
    files = [("model.py", MODEL), ("train.py", TRAIN)]
    if with_config:
        files.append(("configs/vae.yaml", CONFIG))
    write_files(tmp_path, files)
    return dict(files)


def _runner():
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2: keep stderr out of stdout
    except TypeError:
        return CliRunner()  # click >= 8.2 always keeps them apart


def _check(tmp_path, *args):
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        return _runner().invoke(main, ["check", "--no-cache", "--no-config", *args, "."])
    finally:
        os.chdir(cwd)


def _json(tmp_path, *args):
    run = _check(tmp_path, "--format", "json", *args)
    assert run.exit_code in (0, 1), run.output
    return json.loads(run.stdout)


def _hashes(root):
    out = {}
    for base, dirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, str(root))] = hashlib.sha256(handle.read()).hexdigest()
    return out


def _read(tmp_path, path):
    with open(os.path.join(str(tmp_path), path), encoding="utf-8", newline="") as handle:
        return handle.read()


def _changed_lines(before: str, after: str):
    """Line numbers (1-based, in ``before``) that the change replaced or deleted, and insertion points."""
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    lines = set()
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            lines.update(range(i1 + 1, i2 + 1) if i2 > i1 else [i1])
    return lines


def test_fix_changes_only_the_flagged_spans_and_reports_what_remains(tmp_path):
    originals = _project(tmp_path)
    before = _json(tmp_path, "--select", SAFE_CODES + ",ML104")
    assert {f["code"] for f in before} == {"ML303", "ML403", "ML404", "ML104"}
    for finding in before:
        assert finding["fix"]["applicability"] == ("unsafe" if finding["code"] == "ML104" else "safe")
        assert finding["fix"]["message"] and finding["fix"]["edits"]
    flagged = {}
    for finding in before:
        for e in finding["fix"]["edits"]:
            flagged.setdefault(e["path"], set()).update(range(e["line"] - 1, e["end_line"] + 1))

    run = _check(tmp_path, "--fix", "--select", SAFE_CODES + ",ML104", "--format", "concise")
    assert run.exit_code == 1, run.output  # the unsafe ML104 finding remains
    assert "ML104" in run.stdout and "ML303" not in run.stdout and "ML404" not in run.stdout
    assert "[*]" not in run.stdout  # the remaining fix is unsafe: not available without --unsafe-fixes

    for path in ("model.py", "train.py"):
        after = _read(tmp_path, path)
        assert after != originals[path]
        ast.parse(after)
        assert verify(path, after) is None
        assert _changed_lines(originals[path], after) <= flagged[path], path
    assert _read(tmp_path, "configs/vae.yaml") == originals["configs/vae.yaml"]
    model = _read(tmp_path, "model.py")
    assert "self.blocks = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])" in model
    assert "self.heads = nn.ModuleDict()" in model and "# the blocks, in order" in model
    train = _read(tmp_path, "train.py")
    assert "total += loss.item()  # for the log" in train
    assert train.index("optimizer.step()") < train.index("scheduler.step()")

    again = _json(tmp_path, "--select", SAFE_CODES + ",ML104")
    assert not [f for f in again if f["fix"] and f["fix"]["applicability"] == "safe"]


def test_fix_exit_code_reflects_the_remaining_findings(tmp_path):
    _project(tmp_path, with_config=False)
    assert _check(tmp_path, "--select", SAFE_CODES).exit_code == 1
    run = _check(tmp_path, "--fix", "--select", SAFE_CODES)
    assert run.exit_code == 0, run.output  # everything was fixed
    assert "fixed 3" in run.stdout or "fixed 4" in run.stdout
    assert _check(tmp_path, "--select", SAFE_CODES).exit_code == 0


def test_diff_changes_nothing(tmp_path):
    _project(tmp_path)
    hashes = _hashes(tmp_path)
    run = _check(tmp_path, "--diff", "--select", SAFE_CODES)
    assert run.exit_code == 1, run.output
    assert "--- a/model.py" in run.stdout and "+++ b/model.py" in run.stdout
    assert "+        self.blocks = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])" in run.stdout
    assert "configs/vae.yaml" not in run.stdout  # ML104 is unsafe
    assert _hashes(tmp_path) == hashes

    unsafe = _check(tmp_path, "--diff", "--unsafe-fixes", "--select", SAFE_CODES + ",ML104")
    assert unsafe.exit_code == 1
    assert "-  gradient_clip_val: 0.2  # from the paper" in unsafe.stdout
    assert "+  gradient_clip_val: 0.5  # from the paper" in unsafe.stdout
    assert _hashes(tmp_path) == hashes

    nothing = _check(tmp_path, "--diff", "--select", "ML501")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert _hashes(tmp_path) == hashes


def test_unsafe_fixes(tmp_path):
    originals = _project(tmp_path)
    shown = _check(tmp_path, "--select", "ML104", "--format", "concise")
    assert "[*]" not in shown.stdout
    shown = _check(tmp_path, "--select", "ML104", "--format", "concise", "--unsafe-fixes")
    assert "ML104 [*] " in shown.stdout
    assert _hashes(tmp_path) == _hashes(tmp_path)  # showing changes nothing
    assert _read(tmp_path, "configs/vae.yaml") == originals["configs/vae.yaml"]

    run = _check(tmp_path, "--fix", "--unsafe-fixes", "--select", SAFE_CODES + ",ML104")
    assert run.exit_code == 0, run.output
    config = _read(tmp_path, "configs/vae.yaml")
    assert config == originals["configs/vae.yaml"].replace("gradient_clip_val: 0.2", "gradient_clip_val: 0.5")


def test_overlapping_fixes_converge(tmp_path):
    write_files(tmp_path, [("train.py", textwrap.dedent('''\
        import torch


        def train(model, loader):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1)
            decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
            for x, y in loader:
                optimizer.zero_grad()
                warmup.step()
                decay.step()
                model(x, y).backward()
                optimizer.step()
        '''))])
    settings = Settings()
    settings.select = ["ML403"]
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        first = engine.run(["."], settings).findings
        assert len([f for f in first if f.fix]) == 2
        # both moves insert after the same line: one per pass, then nothing is left
        outcome = run_fixes(lambda: engine.run(["."], settings), unsafe=False)
        assert outcome.applied == 2 and outcome.passes == 2
        assert not [f for f in outcome.result.findings if applies(f.fix, False)]
        outcome.write()
    finally:
        os.chdir(cwd)
    text = _read(tmp_path, "train.py")
    ast.parse(text)
    body = [line.strip() for line in text.splitlines()[8:]]
    assert body == ["optimizer.zero_grad()", "model(x, y).backward()", "optimizer.step()", "decay.step()", "warmup.step()"]


def test_a_fix_that_would_not_parse_is_dropped_with_an_info_note(tmp_path):
    write_files(tmp_path, [("train.py", "x = [1, 2]\ny = 3\n")])
    good = make_fix("safe", "rename", [edit("train.py", 2, 1, 2, 2, "z")])
    bad = make_fix("safe", "break", [edit("train.py", 1, 5, 1, 6, "(")])
    findings = [
        Finding("ML404", "loss-accumulated-with-graph", "warning", "bad", "help", "train.py", 1, 1, 1, 2, fix=bad),
        Finding("ML404", "loss-accumulated-with-graph", "warning", "good", "help", "train.py", 2, 1, 2, 2, fix=good),
    ]
    runs = []

    def lint():
        from modellint import filecheck

        text = filecheck.OVERLAY.get(os.path.abspath("train.py"), b"x = [1, 2]\ny = 3\n").decode()
        runs.append(text)
        left = [f for f in findings if not (f.message == "good" and "z = 3" in text)]
        return engine.RunResult(list(left), 1)

    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        outcome = run_fixes(lint, unsafe=False)
        outcome.write()
    finally:
        os.chdir(cwd)
    assert outcome.applied == 1
    assert len(outcome.notes) == 1 and "info" in outcome.notes[0] and "would not parse" in outcome.notes[0]
    assert _read(tmp_path, "train.py") == "x = [1, 2]\nz = 3\n"
    (left,) = outcome.result.findings
    assert left.message == "bad" and left.fix is None
    assert "fix was dropped" in left.related[-1].message


def test_fix_preserves_crlf_and_file_mode(tmp_path):
    text = TRAIN.replace("\n", "\r\n")
    path = os.path.join(str(tmp_path), "train.py")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(path, 0o640)
    run = _check(tmp_path, "--fix", "--select", "ML404")
    assert run.exit_code == 0, run.output
    after = _read(tmp_path, "train.py")
    assert after == text.replace("total += loss  #", "total += loss.item()  #")
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(str(tmp_path))) == ["train.py"]  # no temp file left behind


def test_json_sarif_and_text_show_the_fix(tmp_path):
    _project(tmp_path)
    findings = _json(tmp_path, "--select", "ML303")
    assert findings and all(f["fix"]["applicability"] == "safe" for f in findings)
    edits = findings[0]["fix"]["edits"]
    assert {"path", "line", "column", "end_line", "end_column", "content"} == set(edits[0])
    sarif = json.loads(_check(tmp_path, "--select", "ML303", "--format", "sarif").stdout)
    result = sarif["runs"][0]["results"][0]
    assert result["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"].startswith("nn.Module")
    text = _check(tmp_path, "--select", "ML303,ML104", "--no-show-source").stdout
    assert "ML303 [*] " in text and "ML104 [*]" not in text
    text = _check(tmp_path, "--select", "ML303,ML104", "--no-show-source", "--unsafe-fixes").stdout
    assert "ML303 [*] " in text and "ML104 [*] " in text


def test_plain_lint_does_not_import_libcst(tmp_path):
    _project(tmp_path)
    probe = textwrap.dedent('''\
        import sys
        from modellint.cli import main
        try:
            main(["check", "--no-cache", "--no-config", "-q", "--format", "concise", "."] + sys.argv[1:], standalone_mode=False)
        except SystemExit:
            pass
        print("LIBCST" if "libcst" in sys.modules else "NO-LIBCST", file=sys.stderr)
        ''')
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONDONTWRITEBYTECODE="1")
    plain = subprocess.run([sys.executable, "-c", probe], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                           timeout=120)
    assert "NO-LIBCST" in plain.stderr, plain.stderr
    diff = subprocess.run([sys.executable, "-c", probe, "--diff"], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=120)
    assert "\nLIBCST" in "\n" + diff.stderr, diff.stderr
