"""The rule API.

A rule is one class that carries its identity (code, name, severity), its
documentation (summary, rationale, fix), its options with defaults, and its
proof: examples that must flag and examples that must not. Tests are
generated from the examples and docs are rendered from them, so a rule
without examples cannot hide (the Fixit way).

Two kinds share this base:

* ``CodeRule`` — per Python file: ``visit_<AstNode>(node, ctx)`` methods,
  called during the one traversal of the file that serves every rule.
* ``RecipeRule`` — per training recipe: ``check(recipe, report)`` over
  facts merged from configs, launch scripts and code, with provenance.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    description: str


@dataclass(frozen=True)
class Example:
    """A mini project (path → text). ``flags`` says whether the rule must fire.

    For flagging examples, ``at``/``line`` pin where the finding must be
    (``at`` defaults to the first file). Fix examples (``fixes(...)``) also
    carry ``fixed``: the expected text of every file the fix changes, after
    ``modellint check --fix`` (``--unsafe-fixes`` too when ``unsafe``).
    """

    files: Tuple[Tuple[str, str], ...]
    flags: bool
    title: str = ""
    at: Optional[str] = None
    line: Optional[int] = None
    severity: Optional[str] = None
    fixed: Optional[Tuple[Tuple[str, str], ...]] = None
    unsafe: bool = False

    @property
    def target(self) -> str:
        return self.at or self.files[0][0]


def _files(path_or_files: Union[str, Mapping[str, str]], text: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    if isinstance(path_or_files, str):
        assert text is not None, "an example needs a text"
        return ((path_or_files, textwrap.dedent(text).lstrip("\n")),)
    return tuple((path, textwrap.dedent(body).lstrip("\n")) for path, body in path_or_files.items())


def flag(path_or_files, text: Optional[str] = None, *, title: str = "", at: Optional[str] = None,
         line: Optional[int] = None, severity: Optional[str] = None) -> Example:
    return Example(_files(path_or_files, text), True, title, at, line, severity)


def fixes(path_or_files, before: Optional[str] = None, after: Union[str, Mapping[str, str], None] = None, *,
          unsafe: bool = False, title: str = "", at: Optional[str] = None, line: Optional[int] = None) -> Example:
    """A flagging example with the expected result of its fix: ``fixes(path, before, after)``, or
    ``fixes({path: before, ...}, after={path: after, ...})`` for a multi-file project (files not
    named in ``after`` must stay unchanged). ``unsafe``: the fix needs ``--unsafe-fixes``."""
    assert after is not None, "a fix example needs the expected text after the fix"
    files = _files(path_or_files, before)
    if isinstance(after, str):
        fixed = ((files[0][0], textwrap.dedent(after).lstrip("\n")),)
    else:
        fixed = _files(after, None)
    return Example(files, True, title, at, line, None, fixed, unsafe)


def ok(path_or_files, text: Optional[str] = None, *, title: str = "") -> Example:
    return Example(_files(path_or_files, text), False, title)


class Rule:
    code: str = ""
    name: str = ""
    severity: str = "warning"
    summary: str = ""
    rationale: str = ""
    fix: str = ""
    options: Tuple[Option, ...] = ()
    examples: Tuple[Example, ...] = ()

    def __init__(self, settings: Optional[Dict[str, Any]] = None):
        settings = settings or {}
        self.opts: Dict[str, Any] = {opt.name: settings.get(opt.name, opt.default) for opt in self.options}

    def option(self, name: str) -> Any:
        return self.opts[name]

    @classmethod
    def option_names(cls) -> Sequence[str]:
        return [opt.name for opt in cls.options]


class CodeRule(Rule):
    """Per-file Python rule; define ``visit_<Node>``/``leave_<Node>`` methods."""

    def wants(self, text: str) -> bool:
        """Text pre-filter, asked once per file before the traversal: False only when
        the rule cannot report anything in a file with this text (a word every finding
        needs is absent), so the file is not traversed for it. It must be sound:
        tests/test_prefilter.py checks that it never drops a finding."""
        return True


class RecipeRule(Rule):
    """Per-recipe rule over merged facts."""

    def check(self, recipe, report) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class EngineRule(Rule):
    """Findings the engine emits itself (unreadable files, crashed rules).

    Registered like any rule so they can be documented, selected and ignored.
    """
