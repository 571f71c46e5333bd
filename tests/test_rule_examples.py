"""One generated test per embedded rule example (the Fixit way): a rule's
examples are its contract and its documentation."""

import pytest

from modellint import registry
from tests.helpers import lint, write_files

CASES = [
    pytest.param(cls, example, id=f"{code}-{'flag' if example.flags else 'ok'}-{index}")
    for code, cls in registry.all_rules().items()
    for index, example in enumerate(cls.examples)
]


@pytest.mark.parametrize("rule, example", CASES)
def test_example(rule, example, tmp_path):
    write_files(tmp_path, example.files)
    findings = lint(tmp_path, select=[rule.code])
    mine = [f for f in findings if f.code == rule.code]
    others = [f for f in findings if f.code in ("ML999",)]
    assert not others, others
    if example.flags:
        assert mine, f"{rule.code} must flag: {example.title or example.files[0][0]}"
        at = [f for f in mine if f.path == example.target]
        assert at, f"expected a finding in {example.target}, got {[(f.path, f.line) for f in mine]}"
        if example.line is not None:
            assert example.line in [f.line for f in at], f"expected line {example.line}, got {[f.line for f in at]}: {[f.message for f in at]}"
        if example.severity is not None:
            assert example.severity in [f.severity for f in at if example.line in (None, f.line)]
        for finding in mine:
            assert finding.message and finding.help
    else:
        assert not mine, f"{rule.code} must NOT flag ({example.title}): {[(f.path, f.line, f.message) for f in mine]}"
