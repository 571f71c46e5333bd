"""Fixes: edits as data, computed by rules while linting, applied here.

A finding may carry ``fix = {"applicability": "safe"|"unsafe", "message": ...,
"edits": [{"path", "line", "column", "end_line", "end_column", "content"}]}``
(1-based, end exclusive, columns in characters). Rules build them with the
helpers below while they still hold exact ``ast`` positions and the text;
nothing here is imported by a rule at lint time except those helpers.

Applying (``run_fixes``): lint, pick non-overlapping fixes (a fix's edits go
together), apply them per file (later edits first), check that every changed
file still parses (Python with ``ast`` *and* a lossless libcst round-trip,
configs with the project's own safe readers), drop a fix that breaks its file
with an ``info`` note, re-lint the changed text and repeat until nothing is
left to fix (at most 10 passes). Files are only written at the end, each
atomically (temp file + ``os.replace``); ``--diff`` writes nothing.

libcst is imported only in ``verify_python``: a plain lint never loads it.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from modellint.lazy_re import lazy

SAFE = "safe"
UNSAFE = "unsafe"
MAX_PASSES = 10

_LINE = lazy(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


# -- building fixes (used by rules while linting) ------------------------------
def make_fix(applicability: str, message: str, edits: Sequence[dict]) -> Optional[dict]:
    edits = [e for e in edits if e is not None]
    if not edits:
        return None
    assert applicability in (SAFE, UNSAFE), applicability
    return {"applicability": applicability, "message": message, "edits": [dict(e) for e in edits]}


def edit(path: str, line: int, column: int, end_line: int, end_column: int, content: str) -> dict:
    return {"path": path, "line": line, "column": column, "end_line": end_line, "end_column": end_column,
            "content": content}


def split_lines(text: str) -> List[str]:
    """Lines with their endings, split where Python's tokenizer splits (\\r\\n, \\r, \\n)."""
    return _LINE.findall(text)


class PySource:
    """Character positions and exact source of ``ast`` nodes of one Python document."""

    def __init__(self, doc):
        self.doc = doc
        self.path = doc.path
        self.lines = split_lines(doc.text)

    @classmethod
    def of(cls, ctx) -> "PySource":
        found = ctx.doc.memo.get("fix_source")
        if found is None:
            found = ctx.doc.memo["fix_source"] = cls(ctx.doc)
        return found

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""

    def char_col(self, line: int, byte_offset: int) -> int:
        """1-based character column of an ``ast`` (UTF-8 byte) offset."""
        text = self.line(line)
        if text.isascii():
            return byte_offset + 1
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="replace")) + 1

    def start(self, node) -> Tuple[int, int]:
        return node.lineno, self.char_col(node.lineno, node.col_offset)

    def end(self, node) -> Tuple[int, int]:
        return node.end_lineno, self.char_col(node.end_lineno, node.end_col_offset)

    def text(self, node) -> str:
        (line, col), (end_line, end_col) = self.start(node), self.end(node)
        return self.between(line, col, end_line, end_col)

    def between(self, line: int, col: int, end_line: int, end_col: int) -> str:
        if line == end_line:
            return self.line(line)[col - 1:end_col - 1]
        parts = [self.line(line)[col - 1:]]
        parts.extend(self.line(n) for n in range(line + 1, end_line))
        parts.append(self.line(end_line)[:end_col - 1])
        return "".join(parts)

    def replace(self, node, content: str) -> dict:
        (line, col), (end_line, end_col) = self.start(node), self.end(node)
        return edit(self.path, line, col, end_line, end_col, content)

    def insert(self, line: int, col: int, content: str) -> dict:
        return edit(self.path, line, col, line, col, content)

    def alone_on_lines(self, stmt) -> bool:
        """Nothing but blanks before ``stmt`` on its first line, nothing but blanks or a comment after it."""
        (line, col), (end_line, end_col) = self.start(stmt), self.end(stmt)
        before = self.line(line)[:col - 1]
        after = self.line(end_line)[end_col - 1:].strip()
        return not before.strip() and (not after or after.startswith("#"))

    def import_name(self, ctx, module: str, name: str) -> Tuple[Optional[str], Optional[dict]]:
        """How to spell ``module.name`` here: (prefix, import edit or None); (None, None) when unsure.

        ``torch.nn`` bound as ``nn`` → ``"nn"``; ``torch`` imported → ``"torch.nn"``; else
        ``from torch import nn`` is inserted after the module's leading imports."""
        aliases = ctx.imports.aliases
        for alias, target in aliases.items():
            if target == module and "." not in alias:
                return alias, None
        top = module.split(".")[0]
        if aliases.get(top) == top:
            return module, None
        parent, _, leaf = module.rpartition(".")
        used = {n.id for n in ast.walk(self.doc.tree) if isinstance(n, ast.Name)} | set(aliases)
        used |= {n.name for n in ast.walk(self.doc.tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}
        used |= {a.arg for n in ast.walk(self.doc.tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
        if leaf in used or not parent:
            return None, None
        return leaf, self._import_edit(f"from {parent} import {leaf}\n")

    def _import_edit(self, statement: str) -> Optional[dict]:
        body = self.doc.tree.body
        anchor = None
        index = 0
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            anchor = body[0]
            index = 1
        while index < len(body) and isinstance(body[index], (ast.Import, ast.ImportFrom)):
            anchor = body[index]
            index += 1
        if anchor is None:
            line = 1
            while line <= len(self.lines) and self.line(line).lstrip().startswith("#"):
                line += 1  # shebang, encoding and licence comments stay first
            return self.insert(line, 1, statement)
        if not self.alone_on_lines(anchor):
            return None
        end = anchor.end_lineno
        if end >= len(self.lines):
            last = self.line(end)
            if last.endswith(("\n", "\r")):
                return self.insert(end + 1, 1, statement)
            return edit(self.path, end, len(last) + 1, end, len(last) + 1, "\n" + statement.rstrip("\n"))
        return self.insert(end + 1, 1, statement)


def attach(ctx, fix: Optional[dict]) -> None:
    """Attach ``fix`` to the finding the rule reported last (``ctx.report`` just before)."""
    if fix is None or not ctx.reports:
        return
    fixes = ctx.__dict__.setdefault("fixes", {})
    fixes[len(ctx.reports) - 1] = fix


def number_text(value: float, kind: str) -> str:
    """A literal for ``value`` that the file kind reads back as the same number."""
    value = float(f"{value:.6g}")
    if value == int(value) and abs(value) < 1e15:
        text = f"{int(value)}.0"
    else:
        text = repr(value)
    if kind == "yaml" and "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        text = f"{mantissa}e{exponent}"
    return text


def literal_at(span, value: float, read: Callable[[str], Optional[str]]) -> bool:
    """Is the text at ``span`` a plain number literal equal to ``value``?"""
    if span.line != span.end_line or span.end_column <= span.column:
        return False
    text = read(span.path)
    if text is None:
        return False
    lines = split_lines(text)
    if not 0 < span.line <= len(lines):
        return False
    token = lines[span.line - 1][span.column - 1:span.end_column - 1]
    if not re.fullmatch(r"[+-]?(\d[\d_]*\.?\d*|\.\d+)([eE][+-]?\d+)?", token.strip()) or token != token.strip():
        return False
    try:
        return float(token.replace("_", "")) == float(value)
    except ValueError:
        return False


def value_fix(span, old: float, new: float, applicability: str, message: str) -> Optional[dict]:
    """A minimal text edit replacing the number literal at ``span`` (YAML/JSON/TOML/shell/Python)."""
    from modellint.parsing.source import kind_of

    if not literal_at(span, old, _read_text):
        return None
    kind = kind_of(span.path) or "python"
    return make_fix(applicability, message, [edit(span.path, span.line, span.column, span.end_line, span.end_column,
                                                  number_text(new, kind))])


def _read_text(path: str) -> Optional[str]:
    data = OVERLAY_TEXTS.get(os.path.abspath(path))
    if data is not None:
        return data
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# The text of files changed by earlier passes (absolute path → text) while fixes run
OVERLAY_TEXTS: Dict[str, str] = {}


# -- which fixes apply ----------------------------------------------------------
def applies(fix: Optional[dict], unsafe: bool) -> bool:
    if not fix:
        return False
    return fix.get("applicability") == SAFE or (unsafe and fix.get("applicability") == UNSAFE)


def marker(finding, unsafe: bool) -> str:
    """``[*] `` before the message of a finding a fix run would fix with the current flags (like ruff)."""
    return "[*] " if applies(getattr(finding, "fix", None), unsafe) else ""


# -- applying -------------------------------------------------------------------
def offsets(text: str) -> List[int]:
    starts = [0]
    for line in split_lines(text):
        starts.append(starts[-1] + len(line))
    return starts


def _position(starts: List[int], text: str, line: int, column: int) -> Optional[int]:
    if line < 1 or line > len(starts) or column < 1:
        return None
    if line == len(starts):  # one past the last line: only its start is a position
        return starts[-1] if column == 1 else None
    offset = starts[line - 1] + column - 1
    return offset if offset <= starts[line] else None


def apply_edits(text: str, edits: Iterable[Tuple[int, int, str]]) -> str:
    """Apply (start, end, content) edits, later ones first (they must not overlap)."""
    out = text
    for start, end, content in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + content + out[end:]
    return out


def verify(path: str, text: str) -> Optional[str]:
    """None when ``text`` still parses as the file's kind; else why not."""
    from modellint.parsing.source import kind_of

    kind = kind_of(path) or ("python" if path.endswith(".py") else None)
    if kind == "python":
        return verify_python(text)
    if kind == "yaml":
        from modellint.parsing.yaml_doc import parse_yaml

        _, problems = parse_yaml(text, path)
    elif kind == "json":
        from modellint.parsing.json_doc import parse_json

        _, problems = parse_json(text, path)
    elif kind == "toml":
        from modellint.parsing.toml_doc import parse_toml

        _, problems = parse_toml(text, path)
    else:
        return None
    bad = [p for p in problems if p.severity == "error" or p.code in ("ML901", "ML902")]
    return bad[0].message if bad else None


def verify_python(text: str) -> Optional[str]:
    from modellint.parsing.python_doc import _untemplate, parse_python

    doc, problems = parse_python(text, "<fixed>")
    if doc is None:
        return problems[0].message if problems else "does not parse"
    import libcst  # only here: reading uses ast, writing is checked with a lossless round-trip

    source = _untemplate(text) if "{{" in text else text
    try:
        if libcst.parse_module(source).code != source:
            return "libcst does not round-trip the result"
    except Exception as exc:  # libcst.ParserSyntaxError and friends
        return f"libcst cannot parse the result: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def write_atomic(path: str, text: str) -> None:
    import tempfile  # only a fix writes: rules that offer fixes import this module on every run

    directory = os.path.dirname(os.path.abspath(path))
    mode = None
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    fd, temp = tempfile.mkstemp(prefix=".modellint-fix-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


@dataclass
class FixOutcome:
    result: Any  # the engine's RunResult after the fixes (what remains)
    originals: Dict[str, str] = field(default_factory=dict)  # display path → text before
    texts: Dict[str, str] = field(default_factory=dict)  # display path → text after (changed files only)
    applied: int = 0  # fixes applied over all passes
    notes: List[str] = field(default_factory=list)  # info notes: dropped fixes
    passes: int = 0

    @property
    def changed(self) -> List[str]:
        return sorted(p for p, t in self.texts.items() if t != self.originals.get(p))

    def diff(self) -> str:
        import difflib  # rules import this module for their fix helpers; only --diff needs difflib

        out = []
        for path in self.changed:
            before = self.originals[path].splitlines(keepends=True)
            after = self.texts[path].splitlines(keepends=True)
            for line in difflib.unified_diff(before, after, fromfile=f"a/{path}", tofile=f"b/{path}"):
                out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def write(self) -> None:
        for path in self.changed:
            write_atomic(path, self.texts[path])


def _key(finding) -> Tuple:
    return (finding.code, finding.path, finding.message)


def run_fixes(lint: Callable[[], Any], unsafe: bool, read: Optional[Callable[[str], Optional[str]]] = None) -> FixOutcome:
    """Lint, apply the fixes that apply, re-lint the changed text, until stable (max 10 passes).

    ``lint()`` runs the engine and returns its RunResult; while this runs, files changed by
    earlier passes are read from the in-memory overlay (``filecheck.OVERLAY``), so nothing on
    disk changes here. The caller writes ``outcome.texts`` (``--fix``) or prints the diff.
    """
    from modellint import filecheck

    read = read or _read_disk
    outcome = FixOutcome(result=None)
    dropped: Dict[Tuple, str] = {}
    filecheck.OVERLAY.clear()
    OVERLAY_TEXTS.clear()
    try:
        for number in range(1, MAX_PASSES + 2):
            result = lint()
            outcome.result = result
            if number > MAX_PASSES:
                break
            fixable = [f for f in result.findings if applies(f.fix, unsafe) and _key(f) not in dropped]
            if not fixable:
                break
            outcome.passes = number
            texts = outcome.texts
            for finding in fixable:
                for e in finding.fix["edits"]:
                    path = e["path"]
                    if path not in texts:
                        original = read(path)
                        if original is not None:
                            outcome.originals[path] = original
                            texts[path] = original
            chosen = _choose(fixable, texts)
            if not chosen:
                break
            applied = _apply_verified(chosen, texts, dropped, outcome.notes)
            if not applied:
                if not any(_key(f) not in dropped for f, _ in chosen):
                    continue  # every chosen fix was dropped: the rest may still apply
                break
            outcome.applied += applied
            for path, text in texts.items():
                if text != outcome.originals.get(path):
                    absolute = os.path.abspath(path)
                    filecheck.OVERLAY[absolute] = text.encode("utf-8")
                    OVERLAY_TEXTS[absolute] = text
    finally:
        filecheck.OVERLAY.clear()
        OVERLAY_TEXTS.clear()
    if dropped and outcome.result is not None:
        from modellint.findings import Related

        findings = []
        for f in outcome.result.findings:
            why = dropped.get(_key(f))
            if why is not None and f.fix:
                f = replace(f, fix=None, related=f.related + (Related(f.path, f.line, f.column, f"the automatic fix was dropped: {why}"),))
            findings.append(f)
        outcome.result.findings = findings
    for path in list(outcome.texts):
        if outcome.texts[path] == outcome.originals.get(path):
            del outcome.texts[path]
    return outcome


def _read_disk(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _choose(fixable, texts: Dict[str, str]) -> List[Tuple[Any, List[Tuple[str, int, int, str]]]]:
    """Fixes whose edits overlap none chosen before (identical edits are shared), in finding order."""
    taken: Dict[str, List[Tuple[int, int, str]]] = {}
    starts_of: Dict[str, List[int]] = {}
    chosen = []
    for finding in fixable:
        resolved = []
        for e in finding.fix["edits"]:
            path = e["path"]
            text = texts.get(path)
            if text is None:
                resolved = None
                break
            starts = starts_of.get(path) or starts_of.setdefault(path, offsets(text))
            start = _position(starts, text, e["line"], e["column"])
            end = _position(starts, text, e["end_line"], e["end_column"])
            if start is None or end is None or end < start:
                resolved = None
                break
            resolved.append((path, start, end, e["content"]))
        if not resolved:
            continue
        if any(_conflicts(taken.get(path, ()), start, end, content) for path, start, end, content in resolved):
            continue
        for path, start, end, content in resolved:
            if (start, end, content) not in taken.setdefault(path, []):
                taken[path].append((start, end, content))
        chosen.append((finding, resolved))
    return chosen


def _conflicts(existing, start: int, end: int, content: str) -> bool:
    for s, e, c in existing:
        if (s, e, c) == (start, end, content):
            continue  # the same edit (an import two fixes both need)
        if start < e and s < end:
            return True
        if start == end and s <= start <= e or s == e and start <= s <= end:
            return True  # an insertion touching another edit: order would be ambiguous
    return False


def _apply_verified(chosen, texts: Dict[str, str], dropped: Dict[Tuple, str], notes: List[str]) -> int:
    """Apply the chosen fixes to ``texts``; a fix whose file would not parse is dropped with a note."""
    alive = list(chosen)
    while alive:
        by_path: Dict[str, set] = {}
        for _, resolved in alive:
            for path, start, end, content in resolved:
                by_path.setdefault(path, set()).add((start, end, content))
        new = {path: apply_edits(texts[path], edits) for path, edits in by_path.items()}
        broken = {path: why for path, text in new.items() if (why := verify(path, text)) is not None}
        if not broken:
            texts.update(new)
            return len(alive)
        # find the culprits: a fix that breaks its file on its own
        keep = []
        for finding, resolved in alive:
            paths = {p for p, _, _, _ in resolved}
            if not paths & set(broken):
                keep.append((finding, resolved))
                continue
            why = None
            for path in paths:
                alone = apply_edits(texts[path], [(s, e, c) for p, s, e, c in resolved if p == path])
                why = verify(path, alone)
                if why is not None:
                    break
            if why is None:
                keep.append((finding, resolved))
            else:
                _drop(finding, why, dropped, notes)
        if len(keep) == len(alive):  # each fine alone, broken together: drop the later ones of that file
            for finding, resolved in alive[1:]:
                if {p for p, _, _, _ in resolved} & set(broken):
                    _drop(finding, "it conflicts with another fix in the same file", dropped, notes)
            keep = [alive[0]] + [(f, r) for f, r in alive[1:] if _key(f) not in dropped]
        alive = keep
    return 0


def _drop(finding, why: str, dropped: Dict[Tuple, str], notes: List[str]) -> None:
    reason = f"the result would not parse ({why})" if "conflicts" not in why else why
    if _key(finding) not in dropped:
        dropped[_key(finding)] = reason
        notes.append(f"{finding.path}:{finding.line}:{finding.column}: info: the fix for {finding.code} was not "
                      f"applied: {reason}")
