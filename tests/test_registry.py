"""Every rule is registered once, matches the fixed catalogue, and documents itself."""

from modellint import registry
from modellint.catalogue import CATALOGUE
from modellint.rule import EngineRule

# A crash cannot be written as an input file, and instantiation findings need a
# model built with torch; these rules prove themselves in their own tests.
NO_FLAG_EXAMPLE = {"ML999"} | {
    code for code, cls in registry.all_rules().items() if getattr(cls, "requires_instantiation", False)}


def test_catalogue_codes_and_names_are_unique():
    names = [name for name, _ in CATALOGUE.values()]
    assert len(names) == len(set(names))


def test_registered_rules_match_the_catalogue():
    for code, cls in registry.all_rules().items():
        assert code in CATALOGUE, f"{code} is not in the catalogue"
        name, severity = CATALOGUE[code]
        assert cls.name == name, (code, cls.name, name)
        assert cls.severity == severity, (code, cls.severity, severity)


def test_every_rule_documents_itself():
    for code, cls in registry.all_rules().items():
        assert cls.summary and cls.rationale and cls.fix, code
        assert len(cls.summary.splitlines()) == 1, code
        kinds = {example.flags for example in cls.examples}
        assert False in kinds, f"{code} has no must-not-flag example"
        if code not in NO_FLAG_EXAMPLE:
            assert True in kinds, f"{code} has no must-flag example"
        for option in cls.options:
            assert option.description, (code, option.name)


def test_engine_codes_are_registered():
    for code in registry.ENGINE_CODES:
        assert issubclass(registry.get(code), EngineRule)


def test_every_subpackage_is_installed():
    """A non-editable install (pre-commit, pip install .) only has the packages pyproject lists."""
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as handle:
        listed = set(re.findall(r'"(modellint(?:\.\w+)*)"', handle.read()))
    for folder, _, files in os.walk(os.path.join(root, "modellint")):
        if "__init__.py" in files:
            package = os.path.relpath(folder, root).replace(os.sep, ".")
            assert package in listed, f"{package} is missing from [tool.setuptools] packages"
    assert "modellint.rules" in listed


def test_every_rule_module_is_a_catalogue_code():
    """The registry finds modules through the catalogue: a module under rules/ that no
    catalogue entry names would never be loaded."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    modules = {name[:-3] for name in os.listdir(os.path.join(root, "rules"))
               if name.endswith(".py") and not name.startswith("_")}
    named = {registry.module_name(code).rsplit(".", 1)[1] for code in CATALOGUE}
    assert modules == named
    assert registry.codes() == sorted(CATALOGUE)


def test_rule_kind_tables_match_the_classes():
    """A run imports code rules and recipe rules from these tables alone; a rule left out
    of its table would silently never run."""
    from modellint.rule import CodeRule, RecipeRule

    rules = registry.all_rules()
    assert registry.CODE_RULE_CODES == {c for c, cls in rules.items() if issubclass(cls, CodeRule)}
    assert registry.RECIPE_RULE_CODES == {c for c, cls in rules.items() if issubclass(cls, RecipeRule)}
    enabled = list(rules)
    assert [cls.code for cls in registry.code_rules(enabled)] == sorted(registry.CODE_RULE_CODES)
    assert [cls.code for cls in registry.recipe_rules(enabled)] == sorted(registry.RECIPE_RULE_CODES)
    assert registry.code_rules(["ML101", "ML301", "ML999"]) == [rules["ML301"]]
    assert registry.recipe_rules(["ML101", "ML301", "ML999"]) == [rules["ML101"]]


def test_get_is_case_insensitive_and_rejects_unknown_codes():
    import pytest

    assert registry.get("ml101") is registry.get("ML101")
    with pytest.raises(KeyError):
        registry.get("ML100")
