"""``path:line:col: severity CODE message`` — one line per finding, for grep and problem matchers."""


def line_for(finding) -> str:
    message = " ".join(finding.message.split())
    return f"{finding.path}:{finding.line}:{finding.column}: {finding.severity} {finding.code} {message}"


def render(findings, context) -> str:
    return "".join(line_for(f) + "\n" for f in findings)
