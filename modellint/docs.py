"""Rule documentation, rendered from the registry (the rules' own fields and examples)."""

from __future__ import annotations

from typing import List

from modellint import registry


def _example_block(example) -> List[str]:
    out = []
    for path, text in example.files:
        lang = {"py": "python", "yaml": "yaml", "yml": "yaml", "json": "json", "sh": "bash", "toml": "toml"}.get(path.rsplit(".", 1)[-1], "")
        out.append(f"`{path}`" + (f" — {example.title}" if example.title and path == example.files[0][0] else ""))
        out.append("")
        out.append(f"```{lang}")
        out.extend(text.rstrip("\n").splitlines())
        out.append("```")
        out.append("")
    return out


def rule_markdown(cls) -> str:
    out = [f"## {cls.code} {cls.name}", "", f"Default severity: **{cls.severity}**", "", "### What it does", "", cls.summary, "",
           "### Why is this bad?", "", cls.rationale, ""]
    flags = [e for e in cls.examples if e.flags]
    passes = [e for e in cls.examples if not e.flags]
    if flags:
        out += ["### Example (flagged)", ""]
        for example in flags:
            out += _example_block(example)
    if passes:
        out += ["### Not flagged", ""]
        for example in passes:
            out += _example_block(example)
    out += ["### Fix", "", cls.fix, ""]
    out += ["### Options", ""]
    if cls.options:
        out += [f"- `{o.name}` (default `{o.default!r}`): {o.description}" for o in cls.options]
        out += ["", f"Set them in `pyproject.toml` under `[tool.modellint.rules.{cls.code}]`."]
    else:
        out.append("None.")
    out.append("")
    return "\n".join(out)


def rules_markdown() -> str:
    rules = registry.all_rules()
    out = ["# modellint rules", "", "Generated from the rule registry by `python -m modellint.docs > docs/rules.md`; "
           "a test fails when this file is stale.", "", "| code | name | severity | what |", "|---|---|---|---|"]
    for code, cls in rules.items():
        out.append(f"| [{code}](#{code.lower()}-{cls.name}) | {cls.name} | {cls.severity} | {cls.summary} |")
    out.append("")
    for cls in rules.values():
        out.append(rule_markdown(cls))
    return "\n".join(out)


def rules_table(link_prefix: str = "docs/rules.md") -> str:
    rules = registry.all_rules()
    out = ["| code | name | severity | what |", "|---|---|---|---|"]
    for code, cls in rules.items():
        out.append(f"| [{code}]({link_prefix}#{code.lower()}-{cls.name}) | {cls.name} | {cls.severity} | {cls.summary} |")
    return "\n".join(out)


README_START = "<!-- rules-table:start -->"
README_END = "<!-- rules-table:end -->"


def readme_with_table(readme: str) -> str:
    """The README with its rule table regenerated between the markers."""
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{rules_table()}\n{README_END}{tail}"


def write_docs(root: str) -> None:
    import os

    with open(os.path.join(root, "docs", "rules.md"), "w", encoding="utf-8") as handle:
        handle.write(rules_markdown())
    path = os.path.join(root, "README.md")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(readme_with_table(text))


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "--write" in sys.argv:
        write_docs(sys.argv[sys.argv.index("--write") + 1] if len(sys.argv) > sys.argv.index("--write") + 1 else ".")
    else:
        print(rules_markdown(), end="")
