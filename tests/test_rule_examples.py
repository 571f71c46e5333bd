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


# -- fix examples: input → expected output, generated like the examples above --------------
FIX_CASES = [
    pytest.param(cls, example, id=f"{code}-fix-{index}")
    for code, cls in registry.all_rules().items()
    for index, example in enumerate(cls.examples)
    if example.fixed is not None
]


@pytest.mark.parametrize("rule, example", FIX_CASES)
def test_fix_example(rule, example, tmp_path):
    import ast
    import os

    from modellint import engine
    from modellint.fixes import applies, run_fixes, verify
    from modellint.settings import Settings

    write_files(tmp_path, example.files)
    settings = Settings()
    settings.select = [rule.code]
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        if example.unsafe:  # an unsafe fix is never applied without --unsafe-fixes
            assert run_fixes(lambda: engine.run(["."], settings, jobs=1), unsafe=False).applied == 0
        outcome = run_fixes(lambda: engine.run(["."], settings, jobs=1), unsafe=example.unsafe)
        assert not outcome.notes, outcome.notes
        assert outcome.applied, f"{rule.code}: no fix was applied to {example.target}"
        outcome.write()
        expected = dict(example.files)
        expected.update(dict(example.fixed))
        for path, text in expected.items():
            with open(path, encoding="utf-8", newline="") as handle:
                got = handle.read()
            assert got == text, f"{path} after the fix:\n{got}\n--- expected:\n{text}"
            assert verify(path, got) is None
            if path.endswith(".py"):
                ast.parse(got)
        again = engine.run(["."], settings, jobs=1).findings
        left = [f for f in again if f.code == rule.code and applies(f.fix, example.unsafe)]
        assert not left, f"a second run still finds fixable findings: {[(f.path, f.line, f.message) for f in left]}"
        if not example.unsafe:  # a safe example's fix is offered without --unsafe-fixes
            assert outcome.applied
    finally:
        os.chdir(cwd)
