"""Provenance as a value: a hyperparameter is a number plus where it came from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Tuple


@dataclass(frozen=True)
class Span:
    """1-based line/column range inside one file."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def describe(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    # results travel between processes and into the cache by the million: a tuple of
    # arguments makes them a fifth smaller than the default state dict (measured: as
    # fast; the same for Fact was slower, its frozen __init__ costs more than it saves)
    def __reduce__(self):
        return (Span, (self.path, self.line, self.column, self.end_line, self.end_column))


@dataclass(frozen=True)
class Fact:
    """One canonical recipe fact (``lr``, ``clip.norm`` …) with its provenance.

    ``key`` is the raw key as the user wrote it (``SOLVER.BASE_LR``,
    ``gradient_clip_val``); ``chain`` lists the earlier spans this value
    overrode, oldest first, so a reporter can say what was replaced.
    ``detail`` carries facts of the fact (a clip's kind, a warmup's unit).
    """

    name: str
    value: Any
    span: Span
    key: str
    dialect: str = "plain"
    detail: Tuple[Tuple[str, Any], ...] = ()
    chain: Tuple["Fact", ...] = ()

    def get(self, item: str, default: Any = None) -> Any:
        for k, v in self.detail:
            if k == item:
                return v
        return default

    def overriding(self, older: "Fact") -> "Fact":
        return replace(self, chain=older.chain + (older,))

    def describe(self) -> str:
        return f"{self.key} = {format_value(self.value)} ({self.span.describe()})"


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)
