"""Reading a file from disk: size limit, binary and encoding checks.

Everything that can go wrong before parsing ends here as one problem for
the file (ML901 for Python, ML902 for configs), never as an exception.
"""

from __future__ import annotations

import io
import os
import tokenize
from typing import List, Optional, Tuple

from modellint.lazy_re import lazy
from modellint.parsing.problems import ParseProblem

KINDS = {
    ".py": "python",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".sh": "shell",
    ".bash": "shell",
}
MAX_BYTES = 5 * 1024 * 1024
# where each kind's parser starts a new line, so that line N of a split is the line findings
# carry: Python's \r\n, \r and \n; the YAML reader's, which adds NEL, LS and PS; \n elsewhere
# (shell, TOML, JSON's own table handles its exotic breaks). ``str.splitlines`` also splits at
# form feeds and other separators no parser here counts.
_LINE_BREAKS = {"python": lazy(r"\r\n|\r|\n"), "yaml": lazy("\r\n|[\r\n\x85\u2028\u2029]")}


def split_lines(text: str, kind: Optional[str]) -> List[str]:
    """The lines of ``text`` numbered as the parser of ``kind`` numbers them (from index 0)."""
    breaks = _LINE_BREAKS.get(kind or "")
    return breaks.split(text) if breaks is not None else text.split("\n")


_NOT_TEXT_HELP = "Save the file as UTF-8 text, or exclude it (`--exclude`) if it is not source or config."


def kind_of(path: str) -> Optional[str]:
    return KINDS.get(os.path.splitext(path)[1].lower())


def problem_code(kind: str) -> str:
    return "ML901" if kind == "python" else "ML902"


def decode(data: bytes, kind: str) -> Tuple[Optional[str], Optional[ParseProblem]]:
    code = problem_code(kind)
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, ParseProblem(code, "binary file (contains NUL bytes); not a text file, not linted", help=_NOT_TEXT_HELP)
    encoding = "utf-8"
    if kind == "python":
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            # bytes that are not UTF-8 in the first two lines read as a bad declaration:
            # decode as UTF-8 below, which says which byte is wrong
            if "invalid or missing encoding declaration" not in str(exc):
                return None, ParseProblem(code, f"cannot read the file's encoding: {exc}")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        line = data[: getattr(exc, "start", 0)].count(b"\n") + 1
        return None, ParseProblem(code, f"not valid {encoding} text (byte {getattr(exc, 'start', 0)}): not linted", line, 1, help=_NOT_TEXT_HELP)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, None


def read_bytes(path: str, kind: str) -> Tuple[Optional[bytes], Optional[ParseProblem]]:
    code = problem_code(kind)
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            return None, ParseProblem(
                code, f"file is {size / 1e6:.1f} MB, above the {MAX_BYTES // (1024 * 1024)} MB limit; not linted", severity="info",
                help="Exclude generated or data files with `--exclude` or `extend-exclude` in [tool.modellint].",
            )
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:  # it grew after the size check
            return None, ParseProblem(code, f"file is above the {MAX_BYTES // (1024 * 1024)} MB limit; not linted", severity="info")
        return data, None
    except OSError as exc:
        return None, ParseProblem(code, f"cannot read the file: {exc.strerror or exc}", help="Check the file's permissions, or exclude it.")


def read_source(path: str, kind: str) -> Tuple[Optional[str], Optional[ParseProblem]]:
    data, problem = read_bytes(path, kind)
    if problem is not None:
        return None, problem
    return decode(data, kind)
