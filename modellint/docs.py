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


if __name__ == "__main__":  # pragma: no cover
    print(rules_markdown(), end="")
