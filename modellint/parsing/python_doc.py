"""Python source → ``ast`` module, plus a data view of module-level settings.

Config modules (``configs/train_config.py`` with ``TRAIN = {...}``, MMEngine
``optim_wrapper = dict(...)``, a ``config.py`` of constants) are read as
data: literals, ``dict(...)`` calls and simple arithmetic over earlier names
are folded; anything else is an ``Unknown``. Nothing is ever imported or run.
"""

from __future__ import annotations

import ast
import unicodedata
import warnings
from itertools import accumulate, count
from operator import add
from typing import Any, Dict, List, Optional, Tuple

from modellint.lazy_re import lazy
from modellint.parsing.problems import ParseProblem
from modellint.parsing.source import split_lines
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence, Unknown, as_number
from modellint.provenance import Span

# MMEngine substitutes ``{{_base_.x}}`` textually before parsing; we do the
# same, keeping every column in place.
_BASE_TEMPLATE = lazy(r"\{\{\s*(_base_\.[A-Za-z0-9_.\[\]'\"]+)\s*\}\}")


def _untemplate(text: str) -> str:
    def repl(match):
        inner = match.group(1)
        width = len(match.group(0))
        return inner.center(width)

    return _BASE_TEMPLATE.sub(repl, text)


def _unix_lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


class PythonDocument:
    def __init__(self, path: str, text: str, tree: ast.Module):
        self.path = path
        self.text = text
        self.tree = tree
        self._config: Optional[Mapping] = None
        self._folder: Optional["_ModuleFolder"] = None
        self._lines: Optional[List[str]] = None
        self._ascii = text.isascii()  # then byte columns are character columns
        self._filter_text: Optional[str] = None
        self._module_names: Optional[set] = None  # names assigned by module-level statements
        self._lowered: Optional[str] = None
        # analyses shared by rules for this file (code/modules.py, code/loops.py); kept on the
        # document so they go when it goes (a weak-keyed table whose values point back at the
        # document would keep every file's tree alive)
        self.memo: Dict[str, Any] = {}

    @property
    def filter_text(self) -> str:
        """The text as the parser reads it, for text pre-filters: identifiers NFKC-normalised
        (PEP 3131: ``ｆｏｒｗａｒｄ`` in the text is ``forward`` in the tree) and every line
        ending a ``\\n`` (``ast`` counts a lone ``\\r`` as one), so a word the tree holds is in
        it and ``mentions`` over it count lines as ``ast`` does."""
        if self._filter_text is None:
            text = self.text if self._ascii else unicodedata.normalize("NFKC", self.text)
            self._filter_text = _unix_lines(text)
        return self._filter_text

    @property
    def lowered(self) -> str:
        """``filter_text`` in lower case, made once for every visitor that asks."""
        if self._lowered is None:
            self._lowered = self.filter_text.lower()
        return self._lowered

    def mentions(self, words: Tuple[str, ...], node: ast.AST, lowered: bool = False) -> bool:
        """Is one of ``words`` on a line ``node`` spans (the whole file for the module), in
        ``filter_text`` or, for lower-case words, in ``lowered``? A per-node text pre-filter
        (``str.find`` over those lines: a regular expression costs as much as the work saved)."""
        text = self.lowered if lowered else self.filter_text
        if not hasattr(node, "lineno"):
            return any(word in text for word in words)
        starts = self._line_starts(text)
        end = getattr(node, "end_lineno", None) or node.lineno
        start, stop = starts[node.lineno - 1], starts[min(end, len(starts) - 1)]
        return any(text.find(word, start, stop) >= 0 for word in words)

    def _line_starts(self, text: str) -> List[int]:
        """Where each line of ``text`` (``filter_text`` or ``lowered``) starts, as ``ast`` counts lines."""
        same = len(text) == len(self.filter_text)  # lowering that changes no length moves no line
        key = "line starts" if same else "lowered line starts"
        starts = self.memo.get(key)
        if starts is None:
            # line i starts after the lengths of the lines before it and their i newlines
            # (map/accumulate/count: no Python-level loop over a 10,000-line file)
            starts = self.memo[key] = list(map(add, accumulate(map(len, text.split("\n")), initial=0), count()))
        return starts

    def span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        offset = getattr(node, "col_offset", 0)
        end_offset = getattr(node, "end_col_offset", None)
        if self._ascii:  # most files; spans are made by the hundred thousand
            return Span(self.path, line, offset + 1, end_line, (offset if end_offset is None else end_offset) + 1)
        col = self._chars(line, offset) + 1
        end_col = (self._chars(end_line, end_offset) if end_offset is not None else col - 1) + 1
        return Span(self.path, line, col, end_line, end_col)

    def _chars(self, line: int, byte_offset: int) -> int:
        """``ast`` columns count UTF-8 bytes; editors and reporters count characters."""
        if self._lines is None:
            self._lines = split_lines(self.text, "python")
        if not 0 < line <= len(self._lines):
            return byte_offset
        text = self._lines[line - 1]
        if text.isascii():
            return byte_offset
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))

    def release(self) -> None:
        """Drop the shared analyses and the folder: they point back at this document, and
        without the cycle the syntax tree is freed as soon as the file is done."""
        self.memo.clear()
        self._folder = None
        self._config = None  # rebuilt on demand, should anything fold again

    def config_view(self) -> Mapping:
        if self._config is None:
            self._folder = _ModuleFolder(self)
            self._config = self._folder.fold_module()
        return self._config

    def fold(self, expr: ast.expr) -> Node:
        """Value of an expression using literals and module-level constants."""
        if self._config is None and not self._names_a_module_value(expr):
            # ``x * 0.5``, ``1e-4``: nothing it names is set at module level, so an empty
            # environment folds it alike, without folding (and unparsing) the whole module
            return _ModuleFolder(self).fold(expr)
        self.config_view()
        return self._folder.fold(expr)

    def _names_a_module_value(self, expr: ast.expr) -> bool:
        names = self._module_names
        if names is None:
            names = self._module_names = {
                target.id for stmt in self.tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                if isinstance(target, ast.Name)}
        if isinstance(expr, ast.Constant):
            return False
        if isinstance(expr, ast.Name):
            return expr.id in names
        return any(isinstance(node, ast.Name) and node.id in names for node in ast.walk(expr))

    def fold_number(self, expr: Optional[ast.expr]) -> Optional[float]:
        if expr is None:
            return None
        node = self.fold(expr)
        return as_number(node.value) if isinstance(node, Scalar) else None


def parse_python(text: str, path: str) -> Tuple[Optional[PythonDocument], List[ParseProblem]]:
    source = _untemplate(text) if "{{" in text else text
    try:
        # the compiler warns about valid code (``"\d"``, ``x is 1``); under -W error or
        # PYTHONWARNINGS=error a warning would become a false ML901, otherwise stderr noise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 1
        column = exc.offset or 1
        return None, [ParseProblem("ML901", f"syntax error: {exc.msg} (line {line}, column {column})", line, column)]
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = "nesting is too deep to parse" if isinstance(exc, (RecursionError, MemoryError)) else str(exc)
        return None, [ParseProblem("ML901", f"cannot parse: {reason}")]
    return PythonDocument(path, text, tree), []


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Pow: lambda a, b: a**b if abs(b) < 64 else None,
    ast.Mod: lambda a, b: a % b,
}


class _ModuleFolder:
    def __init__(self, doc: PythonDocument):
        self.doc = doc
        self.env: Dict[str, Node] = {}

    def fold_module(self) -> Mapping:
        items: List[Tuple[Scalar, Node]] = []
        for stmt in self.doc.tree.body:
            targets: List[ast.expr] = []
            value = None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            for target in targets:
                if isinstance(target, ast.Name):
                    node = self.fold(value)
                    self.env[target.id] = node
                    items.append((Scalar(self.doc.span(target), target.id, target.id), node))
                elif isinstance(target, ast.Attribute):
                    # detectron2 LazyConfig: ``train.max_iter = 90000``
                    path = _attribute_path(target)
                    if path and path[0] in self.env and isinstance(self.env[path[0]], Mapping):
                        self._set(self.env[path[0]], path[1:], Scalar(self.doc.span(target), path[-1], path[-1]), self.fold(value))
        return Mapping(self.doc.span(self.doc.tree) if self.doc.tree.body else Span(self.doc.path, 1, 1, 1, 1), items)

    def _set(self, mapping: Mapping, path: List[str], key: Scalar, value: Node) -> None:
        for index, (existing, child) in enumerate(mapping.items):
            if existing.value == path[0]:
                if len(path) == 1:
                    mapping.items[index] = (existing, value)
                elif isinstance(child, Mapping):
                    self._set(child, path[1:], key, value)
                return
        if len(path) == 1:
            mapping.items.append((key, value))
        else:
            child = Mapping(value.span, [])
            mapping.items.append((Scalar(key.span, path[0], path[0]), child))
            self._set(child, path[1:], key, value)

    def fold(self, expr: ast.expr, depth: int = 0) -> Node:
        span = self.doc.span(expr)
        if depth > 60:
            return Unknown(span)
        if isinstance(expr, ast.Constant):
            return Scalar(span, expr.value, repr(expr.value))
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.USub, ast.UAdd)):
            inner = self.fold(expr.operand, depth + 1)
            number = inner.number() if isinstance(inner, Scalar) else None
            if number is not None:
                return Scalar(span, -number if isinstance(expr.op, ast.USub) else number, ast.unparse(expr) if hasattr(ast, "unparse") else "")
            return Unknown(span)
        if isinstance(expr, ast.BinOp) and type(expr.op) in _BINOPS:
            left = self.fold(expr.left, depth + 1)
            right = self.fold(expr.right, depth + 1)
            a = left.number() if isinstance(left, Scalar) else None
            b = right.number() if isinstance(right, Scalar) else None
            if a is not None and b is not None:
                try:
                    result = _BINOPS[type(expr.op)](a, b)
                except (ZeroDivisionError, OverflowError, ValueError):
                    result = None
                # ``a1 = a0 * a0`` on each line squares an integer's size: past float
                # range a value is of no use to any rule, and folding on would not end
                if isinstance(result, int) and result.bit_length() > 1024:
                    result = None
                if result is not None:
                    return Scalar(span, result, _text(expr))
            return Unknown(span, _text(expr))
        if isinstance(expr, ast.Name):
            known = self.env.get(expr.id)
            # the value's provenance is where it was written, not where it is used
            if known is not None:
                return known
            return Unknown(span, expr.id)
        if isinstance(expr, ast.Dict):
            items = []
            for key, value in zip(expr.keys, expr.values):
                if key is None:  # ``**other``: merge a known mapping
                    merged = self.fold(value, depth + 1)
                    if isinstance(merged, Mapping):
                        items.extend(merged.items)
                    continue
                key_node = self.fold(key, depth + 1)
                if isinstance(key_node, Scalar):
                    items.append((Scalar(key_node.span, key_node.value if isinstance(key_node.value, str) else str(key_node.value), key_node.raw), self.fold(value, depth + 1)))
            return Mapping(span, items)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict" and not expr.args:
            items = []
            for keyword in expr.keywords:
                if keyword.arg is None:
                    merged = self.fold(keyword.value, depth + 1)
                    if isinstance(merged, Mapping):
                        items.extend(merged.items)
                    continue
                key_span = Span(self.doc.path, keyword.lineno, keyword.col_offset + 1, keyword.lineno, keyword.col_offset + 1 + len(keyword.arg)) if hasattr(keyword, "lineno") else span
                items.append((Scalar(key_span, keyword.arg, keyword.arg), self.fold(keyword.value, depth + 1)))
            return Mapping(span, items)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Call) and _text(expr.func.func) in ("L", "LazyCall") and expr.func.args:
            # detectron2 LazyConfig: ``L(torch.optim.SGD)(lr=0.02)`` is data with a target
            target = Scalar(self.doc.span(expr.func.args[0]), _text(expr.func.args[0]), "")
            items = [(Scalar(target.span, "_target_", "_target_"), target)]
            for keyword in expr.keywords:
                if keyword.arg:
                    items.append((Scalar(self.doc.span(keyword.value), keyword.arg, keyword.arg), self.fold(keyword.value, depth + 1)))
            return Mapping(span, items)
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            return Sequence(span, [self.fold(element, depth + 1) for element in expr.elts])
        return Unknown(span, _text(expr))


def _attribute_path(target: ast.Attribute) -> List[str]:
    parts = []
    node: ast.expr = target
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    parts.append(node.id)
    return list(reversed(parts))


def _text(expr: ast.expr) -> str:
    try:
        return ast.unparse(expr)[:200]
    except Exception:  # pragma: no cover - ast.unparse is total on parsed trees
        return ""
