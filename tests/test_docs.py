"""Rule documentation: ``docs/rules.md`` is generated from the registry and must not go stale;
``modellint rule CODE`` prints everything a user needs for every registered rule."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from modellint import registry
from modellint.cli import main
from modellint.docs import rules_markdown, rules_table
from tests.conftest import REPO

RULES_MD = os.path.join(REPO, "docs", "rules.md")
RULES = registry.all_rules()
# ML999 reports a crash inside modellint itself: there is no input that should trigger it.
# ML6xx findings come only from building the model (`--instantiate`); their broken-model
# examples are built and checked in tests/test_instantiate.py.
NO_FLAGGED_EXAMPLE = {"ML999"} | {
    code for code, cls in registry.all_rules().items() if getattr(cls, "requires_instantiation", False)}


def _github_anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, punctuation other than '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_rules_md_is_up_to_date():
    with open(RULES_MD, encoding="utf-8") as handle:
        on_disk = handle.read()
    assert on_disk == rules_markdown(), (
        "docs/rules.md is stale: regenerate it with `python -m modellint.docs > docs/rules.md`")


def test_generator_command_prints_the_same():
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    run = subprocess.run([sys.executable, "-m", "modellint.docs"], cwd=REPO, env=env, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode("utf-8") == rules_markdown()


def test_every_rule_has_a_section_and_every_link_resolves():
    text = rules_markdown()
    anchors = {_github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}
    for code, cls in RULES.items():
        assert f"\n## {code} {cls.name}\n" in text
    links = re.findall(r"\]\(#([^)]+)\)", text) + re.findall(r"\]\(docs/rules\.md#([^)]+)\)", rules_table())
    assert len(links) == 2 * len(RULES)
    missing = [link for link in links if link not in anchors]
    assert not missing, missing


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_command_prints_the_full_doc(code):
    cls = RULES[code]
    result = CliRunner().invoke(main, ["rule", code])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"## {code} {cls.name}\n")
    assert f"Default severity: **{cls.severity}**" in out
    for field in ("summary", "rationale", "fix"):
        value = getattr(cls, field)
        assert value and value.strip(), f"{code} has no {field}"
        assert value in out, f"{field} missing from `modellint rule {code}`"
    flagged = [e for e in cls.examples if e.flags]
    passing = [e for e in cls.examples if not e.flags]
    if code not in NO_FLAGGED_EXAMPLE:
        assert flagged, f"{code} has no flagged example"
        assert "### Example (flagged)" in out
    assert passing, f"{code} has no not-flagged example"
    assert "### Not flagged" in out
    for example in cls.examples:
        for path, text in example.files:
            assert f"`{path}`" in out
            assert text.strip("\n") in out, f"example {path} of {code} not printed"
    assert "### Options" in out
    for option in cls.options:
        assert f"`{option.name}` (default `{option.default!r}`)" in out
        assert option.description in out
    if not cls.options:
        assert "None." in out.split("### Options", 1)[1]


def test_rule_command_accepts_names_and_lower_case():
    runner = CliRunner()
    for code, cls in RULES.items():
        by_name = runner.invoke(main, ["rule", cls.name])
        by_lower = runner.invoke(main, ["rule", code.lower()])
        assert by_name.exit_code == by_lower.exit_code == 0
        assert by_name.output == by_lower.output == runner.invoke(main, ["rule", code]).output


def test_unknown_rule_is_a_usage_error_with_a_suggestion():
    result = CliRunner().invoke(main, ["rule", "tight-gradient-cliping"])
    assert result.exit_code == 2
    assert "unknown rule" in result.output and "tight-gradient-clipping" in result.output


def test_rules_command_lists_every_rule():
    result = CliRunner().invoke(main, ["rules"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(RULES)
    for line, (code, cls) in zip(lines, RULES.items()):
        assert line.startswith(f"{code}  {cls.name}") and cls.summary in line and cls.severity in line
