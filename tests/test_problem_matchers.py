"""The shipped problem matchers, applied exactly as written to real ``--format concise`` output,
and the ``--format github`` workflow commands, both checked finding by finding against ``--format json``.

GitHub's runner compiles matcher regexes with .NET ``RegexOptions.ECMAScript`` (``\\d`` is ``[0-9]``)
and VS Code with JavaScript ``RegExp``; the patterns use only syntax that means the same in Python's
``re`` with ``re.ASCII`` (anchors, lazy ``+?``, groups, alternation, ``\\d``, ``{3}``), which the test
asserts, so the strings from the JSON files are compiled unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

MATCHER_FILE = os.path.join(REPO, ".github", "modellint-problem-matcher.json")
TASKS_FILE = os.path.join(REPO, "editors", "vscode", "tasks.json")
# The concise-format regex of the interface contract.
CONTRACT_REGEX = r"^(.+?):(\d+):(\d+): (error|warning|info) (ML\d{3}) (.*)$"
# The shipped matchers are the contract regex with ruff's "[*] fix available" marker
# kept out of the message group (the contract regex itself still matches such lines).
MATCHER_REGEX = CONTRACT_REGEX.replace(" (.*)$", r" (?:\[\*\] )?(.*)$")
# GitHub's runner accepts these severities (anything else is dropped); modellint's info is a notice.
GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
# the regex syntax both engines read alike (escaped brackets and (?:…) groups included)
PORTABLE = re.compile(r"^[\^$().+?:|\\dML{}0-9* a-z\[\]]*$")

# A small project of our own next to the fixtures: every severity, a cross-file note, and (off
# Windows) a directory name with the characters GitHub's property escaping must handle.
ODD_DIR = "run 100%, v2:final" if os.name != "nt" else "run 100% v2"
PROJECT = {
    "configs/vae.yaml": "trainer:\n  max_epochs: 100\n  gradient_clip_val: 0.2\n",
    "configs/tiny_lr.yaml": "optimizer:\n  type: SGD\n  lr: 1.0e-10\n",
    f"{ODD_DIR}/detr.yaml": "optimizer: {type: AdamW, lr: 1.0e-4}\ngrad_clip: 0.1\n",
    "train.py": "import pytorch_lightning as pl\ntrainer = pl.Trainer(max_epochs=10, gradient_clip_val=0.05)\n",
}


def _run(cwd, fmt, *paths):
    env = dict(os.environ, NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([sys.executable, "-m", "modellint", "check", "--no-cache", "--format", fmt, *paths],
                          cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


@pytest.fixture(scope="module", params=["fixtures", "own-project"])
def outputs(request, tmp_path_factory):
    """(cwd, concise, github, json findings) of one real run over the fixtures or our own project."""
    if request.param == "fixtures":
        cwd, paths = REPO, ["fixtures"]
    else:
        cwd = tmp_path_factory.mktemp("matchers")
        for rel, text in PROJECT.items():
            os.makedirs(os.path.dirname(os.path.join(str(cwd), rel)), exist_ok=True)
            with open(os.path.join(str(cwd), rel), "w", encoding="utf-8") as handle:
                handle.write(text)
        paths = ["."]
    findings = json.loads(_run(cwd, "json", *paths))
    assert findings, "the run produced no findings to check the matchers against"
    return str(cwd), _run(cwd, "concise", *paths), _run(cwd, "github", *paths), findings


def _github_matchers():
    with open(MATCHER_FILE, encoding="utf-8") as handle:
        return json.load(handle)["problemMatcher"]


def _vscode_matchers():
    with open(TASKS_FILE, encoding="utf-8") as handle:
        tasks = json.load(handle)["tasks"]
    return [task["problemMatcher"] for task in tasks]


# -- the matcher files themselves -------------------------------------------------------------
def test_github_matcher_file_is_valid_for_the_runner():
    """The checks GitHub's runner makes when ``::add-matcher::`` loads the file."""
    matchers = _github_matchers()
    owners = [m["owner"].lower() for m in matchers]
    assert all(owners) and len(set(owners)) == len(owners), "owners must be non-empty and distinct"
    for matcher in matchers:
        assert matcher.get("severity", "").lower() in ("", "error", "warning", "notice")
        (pattern,) = matcher["pattern"]
        assert PORTABLE.match(pattern["regexp"]), pattern["regexp"]
        groups = re.compile(pattern["regexp"]).groups
        for key in ("file", "line", "column", "severity", "code", "message"):
            if key in pattern:
                assert 0 < pattern[key] <= groups, key
        assert "message" in pattern and "file" in pattern and "line" in pattern


def test_github_matchers_are_the_contract_regex_split_by_severity():
    """One matcher reads error/warning from the line; info lines (which GitHub would drop as an
    unknown severity) go to a second matcher whose default severity is ``notice``."""
    main, info = _github_matchers()
    assert main["pattern"][0]["regexp"] == MATCHER_REGEX.replace("(error|warning|info)", "(error|warning)")
    assert info["pattern"][0]["regexp"] == MATCHER_REGEX.replace("(error|warning|info)", "info")
    assert info["severity"] == "notice" and "severity" not in info["pattern"][0]


def test_vscode_tasks_use_the_contract_regex():
    for matcher in _vscode_matchers():
        pattern = matcher["pattern"]
        assert pattern["regexp"] == MATCHER_REGEX
        assert (pattern["file"], pattern["line"], pattern["column"], pattern["severity"], pattern["code"],
                pattern["message"]) == (1, 2, 3, 4, 5, 6)
        assert matcher["fileLocation"][0] in ("autoDetect", "relative")
    with open(TASKS_FILE, encoding="utf-8") as handle:
        tasks = json.load(handle)["tasks"]
    for task in tasks:
        assert task["command"] == "modellint"
        assert task["args"][:3] == ["check", "--format", "concise"]


# -- applied to real output -------------------------------------------------------------------
def _github_match(line):
    """What GitHub's runner makes of one output line: first matching matcher wins."""
    hits = []
    for matcher in _github_matchers():
        pattern = matcher["pattern"][0]
        found = re.compile(pattern["regexp"], re.ASCII).match(line)
        if not found:
            continue
        value = lambda key: found.group(pattern[key]) if key in pattern else None  # noqa: E731
        hits.append({
            "file": value("file"), "line": int(value("line")), "column": int(value("column")),
            "severity": (value("severity") or matcher.get("severity") or "error").lower(),
            "code": value("code"), "message": value("message"),
        })
    assert len(hits) == 1, f"{len(hits)} matchers match {line!r}"
    return hits[0]


def _vscode_match(line, matcher):
    pattern = matcher["pattern"]
    found = re.compile(pattern["regexp"], re.ASCII).match(line)
    assert found, line
    return {key: found.group(pattern[key]) for key in ("file", "line", "column", "severity", "code", "message")}


def _concise_message(message):
    return " ".join(message.split())


def test_github_matcher_reads_every_concise_finding(outputs):
    cwd, concise, _, findings = outputs
    lines = concise.splitlines()
    assert len(lines) == len(findings)
    for line, finding in zip(lines, findings):
        hit = _github_match(line)
        assert hit["file"] == finding["path"]
        assert os.path.isfile(os.path.join(cwd, hit["file"]))  # the runner drops files it cannot find
        assert (hit["line"], hit["column"]) == (finding["line"], finding["column"])
        assert hit["severity"] == GITHUB_LEVEL[finding["severity"]]
        assert hit["code"] == finding["code"]
        assert hit["message"] == _concise_message(finding["message"]) and hit["message"].strip()


def test_vscode_matcher_reads_every_concise_finding(outputs):
    _, concise, _, findings = outputs
    lines = concise.splitlines()
    assert len(lines) == len(findings)
    for matcher in _vscode_matchers():
        for line, finding in zip(lines, findings):
            hit = _vscode_match(line, matcher)
            assert hit == {
                "file": finding["path"], "line": str(finding["line"]), "column": str(finding["column"]),
                "severity": finding["severity"], "code": finding["code"],
                "message": _concise_message(finding["message"]),
            }


def test_every_severity_is_exercised(outputs):
    cwd, _, _, findings = outputs
    if cwd != REPO:  # our own project is built to contain all three; the fixtures may change
        assert {f["severity"] for f in findings} == {"error", "warning", "info"}
        assert any(f["related"] for f in findings)
        if os.name != "nt":
            assert any(ODD_DIR in f["path"] for f in findings)


# -- GitHub workflow commands ------------------------------------------------------------------
_COMMAND = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")
_UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def _unescape(text, allowed):
    return re.sub("|".join(allowed), lambda m: _UNESCAPE[m.group(0)], text)


def _parse_command(line):
    found = _COMMAND.match(line)
    assert found, line
    level, props, data = found.groups()
    # After escaping, a property value holds no raw ',' or ':' and the data no raw CR/LF.
    properties = {}
    for item in props.split(","):
        key, value = item.split("=", 1)
        properties[key] = _unescape(value, ["%25", "%0D", "%0A", "%3A", "%2C"])
    return level, properties, _unescape(data, ["%25", "%0D", "%0A"])


def test_github_annotations_match_json(outputs):
    _, _, github, findings = outputs
    lines = github.splitlines()
    assert len(lines) == len(findings)
    for line, finding in zip(lines, findings):
        level, props, message = _parse_command(line)
        assert level == GITHUB_LEVEL[finding["severity"]]
        assert props == {
            "file": finding["path"], "line": str(finding["line"]), "col": str(finding["column"]),
            "endLine": str(finding["end_line"]), "endColumn": str(finding["end_column"]),
            "title": f"{finding['code']} {finding['name']}",
        }
        assert message == finding["message"]


def test_github_escaping_round_trips():
    from modellint.findings import Finding
    from modellint.reporters import ReportContext, render

    nasty = Finding("ML104", "tight-gradient-clipping", "warning", "50% of steps:\nclipped, really\r",
                    "raise it", "dir, a:b/100%.yaml", 3, 5, 3, 9)
    (line,) = render("github", [nasty], ReportContext()).splitlines()
    level, props, message = _parse_command(line)
    assert level == "warning"
    assert props["file"] == "dir, a:b/100%.yaml"
    assert message == "50% of steps:\nclipped, really\r"


# -- the example workflow ----------------------------------------------------------------------
def test_example_workflow_runs_real_commands():
    """The shipped example workflow parses, and every modellint command in it is accepted by the CLI."""
    import shlex

    import yaml
    from click.testing import CliRunner

    from modellint.cli import main

    with open(os.path.join(REPO, ".github", "examples", "modellint.yml"), encoding="utf-8") as handle:
        workflow = yaml.safe_load(handle)
    steps = workflow["jobs"]["modellint"]["steps"]
    commands = [step["run"] for step in steps if "run" in step and step["run"].startswith("modellint ")]
    assert any("--format github" in c for c in commands) and any("--format sarif" in c for c in commands)
    sarif_step = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    for command in commands:
        args = shlex.split(command)[1:]
        # same options, on an empty directory: only a usage error (exit 2) would mean a broken example
        runner = CliRunner()
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as empty:
            os.chdir(empty)
            try:
                result = runner.invoke(main, args)
                assert result.exit_code == 0, (command, result.output)
                if "--output-file" in args:
                    assert os.path.isfile(args[args.index("--output-file") + 1]) and \
                        args[args.index("--output-file") + 1] == sarif_step["with"]["sarif_file"]
            finally:
                os.chdir(cwd)
