"""GitHub Actions workflow commands (annotations on the pull request diff)."""

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(findings, context) -> str:
    lines = []
    for f in findings:
        props = (
            f"file={_prop(f.path)},line={f.line},col={f.column},endLine={f.end_line},"
            f"endColumn={f.end_column},title={_prop(f.code + ' ' + f.name)}"
        )
        lines.append(f"::{_LEVEL[f.severity]} {props}::{_data(f.message)}\n")
    return "".join(lines)
