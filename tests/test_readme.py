"""The README is part of the product: its commands and rule table must stay true."""

import os
import re

from modellint import registry
from modellint.docs import readme_with_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def _first_screen_commands():
    readme = _read("README.md")
    first_screen = readme.split("## Contents")[0]
    return re.findall(r"```bash\n(.*?)\n```", first_screen, re.S)


def test_first_screen_has_exactly_two_commands():
    commands = _first_screen_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)
    assert "fixtures/" in commands[0] and "modellint" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    test_command = _first_screen_commands()[1]
    assert test_command in _read(".ci", "run").splitlines()


def test_rule_table_matches_registry():
    readme = _read("README.md")
    assert readme == readme_with_table(readme), "README rule table is stale: run `python -m modellint.docs --write .`"
    for code, cls in registry.all_rules().items():
        assert f"[{code}](docs/rules.md#{code.lower()}-{cls.name})" in readme


def test_every_dependency_is_explained():
    readme = _read("README.md")
    pyproject = _read("pyproject.toml")
    deps = re.search(r"dependencies = \[(.*?)\]", pyproject, re.S).group(1)
    for name in re.findall(r'"([A-Za-z0-9_\-]+)', deps):
        assert f"`{name}`" in readme, f"README does not say why {name} is a dependency"
