"""The bundled fixture projects report exactly what their post-mortems describe.

Each project under fixtures/ has an ``expected-findings.txt`` (``path:LINE CODE``).
Only codes that are registered are compared, so the file can list what a later
rule will find; the fixed twins expect nothing at all.
"""

import os
import re

import pytest

from modellint import registry
from tests.helpers import lint

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
PROJECTS = sorted(
    name for name in os.listdir(FIXTURES)
    if os.path.isfile(os.path.join(FIXTURES, name, "expected-findings.txt"))
)
_LINE = re.compile(r"^(\S+):(\d+)\s+(ML\d{3})\b")


def expected(project):
    out = set()
    with open(os.path.join(FIXTURES, project, "expected-findings.txt"), encoding="utf-8") as handle:
        for raw in handle:
            match = _LINE.match(raw.strip())
            if match:
                out.add((match.group(1), int(match.group(2)), match.group(3)))
    return out


def test_every_seed_has_a_fixed_twin():
    broken = [p for p in PROJECTS if not p.endswith("-fixed")]
    assert len(broken) >= 5
    for project in broken:
        assert project + "-fixed" in PROJECTS
        assert expected(project), f"{project} expects no finding at all"
    for project in PROJECTS:
        if project.endswith("-fixed"):
            assert expected(project) == set()


@pytest.mark.parametrize("project", PROJECTS)
def test_fixture_reports_exactly_what_is_expected(project):
    implemented = set(registry.all_rules())
    want = {e for e in expected(project) if e[2] in implemented}
    findings = lint(os.path.join(FIXTURES, project))
    got = {(f.path, f.line, f.code) for f in findings}
    assert got == want, f"missing: {sorted(want - got)}; unexpected: {sorted((f.path, f.line, f.code, f.message) for f in findings if (f.path, f.line, f.code) not in want)}"
