"""``# modellint: ignore[ML104]`` comments and ``# modellint: skip-file``.

Python comments come from ``tokenize`` (so a ``#`` inside a string is never
taken for a comment); YAML and shell comments from a line scan that skips
quoted text. Files without the word ``modellint:`` are not scanned at all.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

from modellint.lazy_re import lazy
from modellint.parsing.source import split_lines

_DIRECTIVE = lazy(r"#\s*modellint:\s*(ignore|skip-file)\b(?:\[([^\]]*)\])?", re.I)
ALL = frozenset({"*"})
SKIP_FILE_LINES = 10


@dataclass
class Suppressions:
    by_line: Dict[int, FrozenSet[str]] = field(default_factory=dict)
    skip_file: bool = False
    # a directive on the first line of a multi-line construct covers it all
    ranges: Dict[int, int] = field(default_factory=dict)

    def covers(self, line: int, code: str) -> bool:
        if self._matches(self.by_line.get(line), code):
            return True
        for start, end in self.ranges.items():
            if start < line <= end and self._matches(self.by_line.get(start), code):
                return True
        return False

    @staticmethod
    def _matches(codes: Optional[FrozenSet[str]], code: str) -> bool:
        if not codes:
            return False
        return "*" in codes or any(code.startswith(prefix) for prefix in codes)

    def add_range(self, start: int, end: int) -> None:
        if end > start and start in self.by_line:
            self.ranges[start] = max(end, self.ranges.get(start, end))

    def to_json(self) -> dict:
        return {
            "by_line": {str(k): sorted(v) for k, v in self.by_line.items()},
            "skip_file": self.skip_file,
            "ranges": {str(k): v for k, v in self.ranges.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> "Suppressions":
        return cls(
            {int(k): frozenset(v) for k, v in data["by_line"].items()},
            data["skip_file"],
            {int(k): v for k, v in data.get("ranges", {}).items()},
        )


def _comments_python(text: str) -> Iterable[Tuple[int, str]]:
    try:
        # newline=None reads \r and \r\n as \n, so token lines are the lines ``ast`` counts
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # a file that does not tokenize is reported as ML901 anyway; fall
        # back to the plain scan so its other comments still count
        yield from _comments_plain(text, "python")


def _comments_plain(text: str, kind: str) -> Iterable[Tuple[int, str]]:
    # numbered as the file's parser numbers lines, so a directive is on the line findings carry
    for number, line in enumerate(split_lines(text, kind), 1):
        index = _comment_start(line)
        if index is not None:
            yield number, line[index:]


def _comment_start(line: str) -> Optional[int]:
    quote = None
    for index, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (index == 0 or line[index - 1] in " \t"):
            return index
    return None


def parse_suppressions(text: str, kind: str) -> Suppressions:
    result = Suppressions()
    if "modellint:" not in text:
        return result
    comments = _comments_python(text) if kind == "python" else _comments_plain(text, kind)
    for line, comment in comments:
        for match in _DIRECTIVE.finditer(comment):
            directive, codes = match.group(1).lower(), match.group(2)
            if directive == "skip-file":
                if line <= SKIP_FILE_LINES:
                    result.skip_file = True
                continue
            if codes is None or not codes.strip():
                parsed = ALL
            else:
                parsed = frozenset(code.strip().upper() for code in codes.split(",") if code.strip())
            result.by_line[line] = result.by_line.get(line, frozenset()) | parsed
    return result
