"""A file that cannot be read or parsed becomes one problem, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParseProblem:
    code: str  # ML901 (Python) or ML902 (configs)
    message: str
    line: int = 1
    column: int = 1
    severity: str = ""  # empty: the rule's default
    help: str = ""  # empty: the rule's fix text
