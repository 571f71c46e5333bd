"""The training recipe: which facts belong together, and which value wins.

A recipe is the set of facts one training run sees: a leaf config with its
bases and overrides, plus the facts found in the same project's code
(optimizer constructors, schedulers, freeze loops) as context. Rules ask a
recipe questions (``recipe.all("lr")``, ``recipe.optimizer_family()``) and
never care which file or dialect answered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from modellint.facts import names
from modellint.provenance import Fact

PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "README.md", "README.rst")


@dataclass
class Recipe:
    name: str  # the leaf file (or project directory) this recipe is named after
    facts: List[Fact]
    context: List[Fact] = field(default_factory=list)
    files: Sequence[str] = ()

    def all(self, name: str) -> List[Fact]:
        return [fact for fact in self.facts if fact.name == name]

    def context_all(self, name: str) -> List[Fact]:
        return [fact for fact in self.context if fact.name == name]

    def get(self, name: str) -> Optional[Fact]:
        """The one value of ``name``; None when absent or when sources disagree."""
        for pool in (self.all(name), self.context_all(name)):
            values = {repr(f.value) for f in pool}
            if len(values) == 1:
                return pool[0]
            if len(values) > 1:
                return None
        return None

    def optimizer_family(self) -> Optional[str]:
        for pool in (self.all(names.OPTIMIZER), self.context_all(names.OPTIMIZER)):
            families = {f.get("family") for f in pool}
            if len(families) == 1:
                return families.pop()
            if len(families) > 1:
                return None
        return None

    def optimizer_fact(self) -> Optional[Fact]:
        pool = self.all(names.OPTIMIZER) or self.context_all(names.OPTIMIZER)
        return pool[0] if pool else None


class ProjectIndex:
    """Maps files to their project root (nearest directory with a marker)."""

    def __init__(self) -> None:
        self._cache: Dict[str, str] = {}

    def root(self, path: str) -> str:
        directory = os.path.dirname(os.path.abspath(path))
        trail = []
        found = None
        while True:
            if directory in self._cache:
                found = self._cache[directory]
                break
            trail.append(directory)
            if any(os.path.exists(os.path.join(directory, marker)) for marker in PROJECT_MARKERS):
                found = directory
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                found = os.path.dirname(os.path.abspath(path))
                break
            directory = parent
        for visited in trail:
            self._cache[visited] = found
        return found


def build_recipes(results: Iterable, absolute: Dict[str, str]) -> List[Recipe]:
    """One recipe per config file, one per project's code; code facts are context."""
    projects = ProjectIndex()
    code_pool: Dict[str, List[Fact]] = {}
    config_results = []
    for result in results:
        if not result.facts:
            continue
        if result.kind == "python" and not result.is_config_module:
            code_pool.setdefault(projects.root(absolute[result.path]), []).extend(result.facts)
        else:
            config_results.append(result)
    recipes = []
    for project, facts in sorted(code_pool.items()):
        recipes.append(Recipe(project, facts, [], sorted({f.span.path for f in facts})))
    for result in config_results:
        context = code_pool.get(projects.root(absolute[result.path]), [])
        recipes.append(Recipe(result.path, list(result.facts), context, [result.path]))
    return recipes
