"""The one registry of rules: CLI, docs, config validation and tests all read it."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Dict, List, Type

from modellint.rule import CodeRule, RecipeRule, Rule

# Findings the engine itself produces; documented like rules, never visitors.
ENGINE_CODES = ("ML901", "ML902", "ML999")

_RULES: Dict[str, Type[Rule]] = {}


def _load() -> Dict[str, Type[Rule]]:
    if _RULES:
        return _RULES
    import modellint.rules as package

    found: Dict[str, Type[Rule]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.code and value.__module__ == module.__name__:
                if value.code in found:
                    raise RuntimeError(f"duplicate rule code {value.code}")
                found[value.code] = value
    _RULES.update(dict(sorted(found.items())))
    return _RULES


def all_rules() -> Dict[str, Type[Rule]]:
    return _load()


def get(code: str) -> Type[Rule]:
    return _load()[code.upper()]


def code_rules(codes) -> List[Type[CodeRule]]:
    rules = _load()
    return [rules[c] for c in sorted(codes) if c in rules and issubclass(rules[c], CodeRule)]


def recipe_rules(codes) -> List[Type[RecipeRule]]:
    rules = _load()
    return [rules[c] for c in sorted(codes) if c in rules and issubclass(rules[c], RecipeRule)]
