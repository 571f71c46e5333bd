"""The one registry of rules: CLI, docs, config validation and tests all read it.

Rule modules are imported on first use, one code at a time: their examples,
regexes and the analyses they lean on (loops, modules, dataflow) cost more to
import than a one-file YAML check costs to run. The catalogue names every code
and, with it, every module (``ML101`` + ``lr-not-scaled-with-batch`` is
``modellint.rules.ml101_lr_not_scaled_with_batch``); the two tables below say
which codes are code rules and which are recipe rules, so a run imports only
the kinds it uses. tests/test_registry.py checks both against the classes.
"""

from __future__ import annotations

import importlib
from typing import Dict, List, Type

from modellint.catalogue import CATALOGUE
from modellint.rule import CodeRule, RecipeRule, Rule

# Findings the engine itself produces; documented like rules, never visitors.
ENGINE_CODES = ("ML901", "ML902", "ML999")

# per Python file, in the one traversal (ML201 and ML302 are both kinds)
CODE_RULE_CODES = frozenset({"ML201", "ML202", "ML301", "ML302", "ML303", "ML304", "ML401", "ML402", "ML403",
                             "ML404", "ML501", "ML502"})
# per training recipe, over merged facts
RECIPE_RULE_CODES = frozenset({"ML101", "ML102", "ML103", "ML104", "ML105", "ML106", "ML201", "ML203", "ML302"})

_RULES: Dict[str, Type[Rule]] = {}


def codes() -> List[str]:
    """Every rule code, sorted, without importing a rule."""
    return sorted(CATALOGUE)


def module_name(code: str) -> str:
    return f"modellint.rules.{code.lower()}_{CATALOGUE[code][0].replace('-', '_')}"


def get(code: str) -> Type[Rule]:
    code = code.upper()
    found = _RULES.get(code)
    if found is not None:
        return found
    module = importlib.import_module(module_name(code))  # KeyError for a code not in the catalogue
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, Rule) and value.__module__ == module.__name__
               and value.code]
    if [cls.code for cls in classes] != [code]:
        raise RuntimeError(f"{module.__name__} must define one rule, {code}; it defines {[c.code for c in classes]}")
    _RULES[code] = classes[0]
    return classes[0]


def all_rules() -> Dict[str, Type[Rule]]:
    return {code: get(code) for code in codes()}


def code_rules(enabled) -> List[Type[CodeRule]]:
    return [get(c) for c in sorted(enabled) if c in CODE_RULE_CODES]  # type: ignore[misc]


def recipe_rules(enabled) -> List[Type[RecipeRule]]:
    return [get(c) for c in sorted(enabled) if c in RECIPE_RULE_CODES]  # type: ignore[misc]
