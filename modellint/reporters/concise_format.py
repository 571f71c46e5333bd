"""``path:line:col: severity CODE message`` — one line per finding, for grep and problem matchers."""


def line_for(finding, unsafe_fixes: bool = False) -> str:
    message = " ".join(finding.message.split())
    mark = "[*] " if _fixable(finding, unsafe_fixes) else ""
    return f"{finding.path}:{finding.line}:{finding.column}: {finding.severity} {finding.code} {mark}{message}"


def _fixable(finding, unsafe_fixes: bool) -> bool:
    fix = getattr(finding, "fix", None)
    return bool(fix) and (fix.get("applicability") == "safe" or (unsafe_fixes and fix.get("applicability") == "unsafe"))


def render(findings, context) -> str:
    unsafe = getattr(context, "unsafe_fixes", False)
    return "".join(line_for(f, unsafe) + "\n" for f in findings)
