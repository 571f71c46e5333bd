"""Reporters turn sorted findings into text for people, editors and CI.

Each format is one module with ``render(findings, context) -> str``; none of
them reaches back into parsers or rules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Dict, List

FORMATS = ("text", "concise", "json", "sarif", "github")


@dataclass
class ReportContext:
    files_checked: int = 0
    seconds: float = 0.0
    color: bool = False
    show_source: bool = True
    enabled_codes: List[str] = field(default_factory=list)
    texts: Dict[str, str] = field(default_factory=dict)  # display path → text, for stdin buffers
    unsafe_fixes: bool = False  # --unsafe-fixes: unsafe fixes count as available ([*])
    fixed: int = 0  # fixes applied by --fix before this report


def render(fmt: str, findings, context: ReportContext) -> str:
    module = importlib.import_module(f"modellint.reporters.{fmt}_format")
    return module.render(findings, context)
