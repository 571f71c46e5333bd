"""Launch scripts: shell text → commands of positioned words.

A small tokenizer in the spirit of ``shlex`` (which keeps no columns):
quotes, backslash escapes, line continuations, comments and command
separators. Simple ``NAME=value`` assignments are remembered and ``$NAME``
/ ``${NAME}`` inside later words are substituted, so
``LR=1e-4 … SOLVER.BASE_LR $LR`` reads as 1e-4 with the value's own position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional

from modellint.lazy_re import lazy
from modellint.provenance import Span

_ASSIGN = lazy(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_VAR = lazy(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SEPARATORS = {";", "&&", "||", "|", "&", "\n"}
_MAX_EXPANSION = 10_000  # characters substituted into one word


@dataclass
class Word:
    text: str
    span: Span
    origin: Optional[Span] = None  # where a substituted variable's value was written


@dataclass
class Command:
    words: List[Word]

    @property
    def line(self) -> int:
        return self.words[0].span.line


class ShellDocument:
    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.commands: List[Command] = []
        self.variables: Dict[str, Word] = {}
        self._tokenize()

    def _tokenize(self) -> None:
        text, path = self.text, self.path
        line, col = 1, 1
        i, n = 0, len(text)
        words: List[Word] = []
        current: List[str] = []
        start = None

        def flush_word():
            nonlocal current, start
            if start is not None:
                words.append(Word("".join(current), Span(path, start[0], start[1], line, col)))
            current, start = [], None

        def flush_command():
            nonlocal words
            flush_word()
            if words:
                self._add_command(words)
            words = []

        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n and text[i + 1] == "\n":
                flush_word()
                i += 2
                line, col = line + 1, 1
                continue
            if ch == "\n":
                flush_command()
                i += 1
                line, col = line + 1, 1
                continue
            if ch in " \t\r":
                flush_word()
                i += 1
                col += 1
                continue
            if ch == "#" and start is None:
                while i < n and text[i] != "\n":
                    i += 1
                continue
            two = text[i : i + 2]
            if two in ("&&", "||") or ch in ";|&":
                flush_command()
                step = 2 if two in ("&&", "||") else 1
                i += step
                col += step
                continue
            if start is None:
                start = (line, col)
            if ch in "'\"":
                quote = ch
                i += 1
                col += 1
                while i < n and text[i] != quote:
                    if quote == '"' and text[i] == "\\" and i + 1 < n:
                        i += 1
                        col += 1
                    if text[i] == "\n":
                        line, col = line + 1, 0
                    current.append(text[i])
                    i += 1
                    col += 1
                i += 1
                col += 1
                continue
            if ch == "\\" and i + 1 < n:
                current.append(text[i + 1])
                i += 2
                col += 2
                continue
            current.append(ch)
            i += 1
            col += 1
        flush_command()

    def _add_command(self, words: List[Word]) -> None:
        # leading NAME=value words are assignments (alone: shell variables)
        index = 0
        while index < len(words):
            match = _ASSIGN.match(words[index].text)
            if not match:
                break
            name, value = match.group(1), self._substitute(match.group(2))
            value_span = words[index].span
            value_span = Span(value_span.path, value_span.line, value_span.column + len(name) + 1, value_span.end_line, value_span.end_column)
            self.variables[name] = Word(value, value_span)
            index += 1
        rest = [self._expand(word) for word in words[index:]]
        if rest:
            self.commands.append(Command(rest))

    def _substitute(self, text: str) -> str:
        # ``X=$X$X`` repeated doubles a value each line: past a budget a variable
        # stays unexpanded, so a word never grows beyond its text plus the budget
        budget = [_MAX_EXPANSION]

        def repl(match):
            name = match.group(1) or match.group(3)
            known = self.variables.get(name)
            if known is not None:
                if len(known.text) > budget[0]:
                    return match.group(0)
                budget[0] -= len(known.text)
                return known.text
            if match.group(2) is not None:
                return match.group(2)
            return match.group(0)

        return _VAR.sub(repl, text)

    def _expand(self, word: Word) -> Word:
        if "$" not in word.text:
            return word
        whole = _VAR.fullmatch(word.text)
        if whole:
            name = whole.group(1) or whole.group(3)
            known = self.variables.get(name)
            if known is not None:
                return Word(known.text, word.span, origin=known.span)
        return Word(self._substitute(word.text), word.span)


def parse_shell(text: str, path: str) -> ShellDocument:
    return ShellDocument(path, text)
