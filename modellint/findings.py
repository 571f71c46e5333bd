"""What a rule reports: a finding at one location, with related locations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Related:
    path: str
    line: int
    column: int
    message: str

    def to_json(self) -> dict:
        return {"path": self.path, "line": self.line, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: str
    message: str
    help: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    related: Tuple[Related, ...] = ()
    confirmed_by_instantiation: Optional[bool] = None
    # {"applicability": "safe"|"unsafe", "message": str, "edits": [{"path", "line", "column", "end_line",
    # "end_column", "content"}]} (plain values: cached, pickled, JSON); see modellint/fixes.py
    fix: Optional[Any] = field(default=None, hash=False)

    @property
    def sort_key(self):
        return (self.path, self.line, self.column, self.code, self.message)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "help": self.help,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "related": [r.to_json() for r in self.related],
            "confirmed_by_instantiation": self.confirmed_by_instantiation,
            "fix": self.fix,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Finding":
        data = dict(data)
        data["related"] = tuple(Related(**r) for r in data.get("related", ()))
        return cls(**data)
