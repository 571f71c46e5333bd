"""The default human format: header, source line with a caret, help and notes, summary."""

from __future__ import annotations

from typing import Dict, List, Optional

import click

from modellint.parsing.source import kind_of, split_lines
from modellint.reporters.concise_format import line_for

_COLORS = {"error": "red", "warning": "yellow", "info": "cyan"}


class _Lines:
    def __init__(self, texts: Dict[str, str]):
        self.texts = texts
        self.cache: Dict[str, List[str]] = {}

    def get(self, path: str, line: int) -> Optional[str]:
        if path not in self.cache:
            text = self.texts.get(path)
            if text is None:
                try:
                    with open(path, encoding="utf-8", errors="replace") as handle:
                        text = handle.read(6 * 1024 * 1024)
                except OSError:
                    text = ""
            self.cache[path] = split_lines(text, kind_of(path))  # numbered as findings number them
        lines = self.cache[path]
        return lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else None


def _style(text: str, color: bool, **kw) -> str:
    return click.style(text, **kw) if color else text


def render(findings, context) -> str:
    lines = _Lines(context.texts)
    out: List[str] = []
    color = context.color
    for f in findings:
        header = line_for(f, context.unsafe_fixes)
        if color:
            head, rest = header.split(f" {f.severity} {f.code} ", 1)
            header = f"{_style(head, True, bold=True)} {_style(f.severity, True, fg=_COLORS[f.severity], bold=True)} {_style(f.code, True, bold=True)} {rest}"
        out.append(header)
        if context.show_source:
            source = lines.get(f.path, f.line)
            if source is not None and "\x00" not in source and len(source) < 400:
                gutter = str(f.line)
                pad = " " * len(gutter)
                expanded = source.replace("\t", "    ")
                prefix = source[: f.column - 1].replace("\t", "    ")
                width = max(1, (f.end_column - f.column) if f.end_line == f.line and f.end_column > f.column else 1)
                width = min(width, max(1, len(expanded) - len(prefix)))
                out.append(f"{pad} |")
                out.append(f"{gutter} | {expanded}")
                out.append(f"{pad} | {' ' * len(prefix)}{_style('^' * width, color, fg=_COLORS[f.severity])}")
        if f.help:
            out.append(f"  = {_style('help', color, bold=True)}: {f.help}")
        for r in f.related:
            out.append(f"  = {_style('note', color, bold=True)}: {r.path}:{r.line}:{r.column}: {r.message}")
        out.append("")
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    files = len({f.path for f in findings})
    noun = "finding" if len(findings) == 1 else "findings"
    extra = f"; fixed {context.fixed}" if context.fixed else ""  # only after --fix
    out.append(
        f"{len(findings)} {noun} ({counts['error']} errors, {counts['warning']} warnings, {counts['info']} info) "
        f"in {files} files; checked {context.files_checked} files in {context.seconds:.2f} s{extra}"
    )
    return "\n".join(out) + "\n"
