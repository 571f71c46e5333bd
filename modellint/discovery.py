"""Which files to lint: walk directories, honour excludes and ``.gitignore``.

A file named on the command line is always linted. Directories skip VCS
folders, virtualenvs, caches and build output, and whatever the
``.gitignore`` files above and inside them ignore (matched by ``pathspec``,
which implements git's own wildmatch semantics).
"""

from __future__ import annotations

import errno
import fnmatch
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple

from modellint.parsing.source import kind_of

if TYPE_CHECKING:  # pragma: no cover
    import pathspec

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".modellint_cache", "build", "dist", "site-packages",
    ".eggs", ".ipynb_checkpoints",
})


@dataclass(frozen=True)
class SourcePath:
    path: str  # absolute, for reading
    display: str  # relative to the cwd when below it, POSIX separators
    kind: str


def display_path(path: str, cwd: Optional[str] = None) -> str:
    cwd = cwd or os.getcwd()
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive on Windows
        rel = absolute
    if rel.startswith(".."):
        rel = absolute
    return rel.replace(os.sep, "/")


def _excluded(display: str, patterns: Sequence[str]) -> bool:
    if not patterns:
        return False
    parts = display.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(display, pattern) or fnmatch.fnmatch(display, f"*/{pattern}"):
            return True
        if any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def _is_virtualenv(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "pyvenv.cfg"))


def _gitignore_spec(directory: str) -> Optional["pathspec.PathSpec"]:
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    import pathspec  # only when there is a .gitignore to match

    return _fast(pathspec.GitIgnoreSpec.from_lines(lines))


class _AnyOf:
    """A ``.gitignore`` without ``!`` negations ignores a path when any of its patterns
    matches, so its patterns can be tried as one regular expression (pathspec tries
    them one by one, which dominated warm runs on large trees)."""

    def __init__(self, regex):
        self._match = regex.match

    def match_file(self, path: str) -> bool:
        return self._match(path) is not None


class _Guarded:
    """With ``!`` negations the last matching pattern decides (pathspec's work), but a
    path no ignoring pattern matches is never ignored: one regular expression of those
    patterns answers for most paths, and pathspec is asked only about the rest."""

    def __init__(self, regex, spec):
        self._match = regex.match
        self._spec = spec

    def match_file(self, path: str) -> bool:
        return self._match(path) is not None and self._spec.match_file(path)


def _fast(spec):
    import re

    patterns = [p for p in spec.patterns if p.include is not None]
    if not patterns or any(getattr(p, "regex", None) is None for p in patterns):
        return spec
    ignoring = [p for p in patterns if p.include]
    if not ignoring:
        return _AnyOf(re.compile(r"(?!)"))  # only negations: nothing is ignored
    try:
        combined = re.compile("|".join(f"(?:{p.regex.pattern.replace('(?P<ps_d>', '(?:')})" for p in ignoring))
    except re.error:
        return spec
    return _AnyOf(combined) if len(ignoring) == len(patterns) else _Guarded(combined, spec)


def _ancestor_specs(directory: str) -> List[Tuple[str, "pathspec.PathSpec"]]:
    """``.gitignore`` files above a walked root, up to the repository top."""
    specs = []
    current = os.path.dirname(directory)
    while True:
        spec = _gitignore_spec(current)
        if spec:
            specs.append((current, spec))
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return specs


def discover(paths: Sequence[str], exclude: Sequence[str] = (), respect_gitignore: bool = True) -> Tuple[List[SourcePath], List[str]]:
    """Files to lint, and error messages for explicit paths that do not exist."""
    found: Dict[str, SourcePath] = {}
    errors: List[str] = []
    for given in paths:
        absolute = os.path.abspath(given)
        if os.path.isfile(absolute):
            kind = kind_of(absolute)
            if kind is None:
                continue  # pre-commit and shells pass whatever matched; not ours
            found[absolute] = SourcePath(absolute, display_path(absolute), kind)
            continue
        if not os.path.isdir(absolute):
            if os.path.islink(absolute) and not os.path.exists(absolute):
                errors.append(f"{given}: {_broken_link(absolute)}")
            elif os.path.exists(absolute):  # reading a FIFO or a device could block or never end
                errors.append(f"{given}: not a regular file or directory; not read")
            else:
                errors.append(f"{given}: no such file or directory")
            continue
        for source in _walk(absolute, exclude, respect_gitignore):
            found.setdefault(source.path, source)
    return sorted(found.values(), key=lambda s: s.display), errors


def _broken_link(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
    return "dangling symbolic link"


def _outside(path: str, real_root: str) -> bool:
    real = os.path.realpath(path)
    return real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep)


def _walk(root: str, exclude: Sequence[str], respect_gitignore: bool) -> Iterator[SourcePath]:
    # each active .gitignore comes with the path of the current directory relative to
    # its own, and each directory with its display path, both extended by string
    # concatenation on the way down (relpath per entry dominated warm runs)
    specs = [(spec, os.path.relpath(root, base).replace(os.sep, "/") + "/")
             for base, spec in _ancestor_specs(root)] if respect_gitignore else []
    # a symbolic link found while walking is followed only when it stays below the
    # walked root: a link to ``/`` or ``../..`` would read the whole disk
    real_root = os.path.realpath(root)
    cwd = os.getcwd()
    root_display = display_path(root, cwd)
    # when the current directory lies strictly inside the root, files below it display
    # relative and the others absolute: no common prefix to extend
    concatenate = not (cwd != root and cwd.startswith(root.rstrip(os.sep) + os.sep))
    visited = set()
    stack: List[Tuple[str, str, List[Tuple["pathspec.PathSpec", str]]]] = [(root, root_display, specs)]
    while stack:
        directory, shown, inherited = stack.pop()
        try:
            real = os.path.realpath(directory)
            if real in visited:  # symlink loops
                continue
            visited.add(real)
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        own = _gitignore_spec(directory) if respect_gitignore else None
        active = inherited + [(own, "")] if own else inherited
        prefix = "" if shown == "." else shown + "/"
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows symlinks; loops are caught above
                is_file = entry.is_file()
                if entry.is_symlink() and _outside(entry.path, real_root):
                    continue
            except OSError:
                continue
            name = entry.name
            display = prefix + name if concatenate else display_path(entry.path, cwd)
            if is_dir:
                if name in SKIP_DIRS or name.endswith(".egg-info") or _is_virtualenv(entry.path):
                    continue
                if _excluded(display, exclude) or any(spec.match_file(rel + name + "/") for spec, rel in active):
                    continue
                subdirs.append((entry.path, display, name))
            elif is_file:
                kind = kind_of(name)
                if kind is None:
                    continue
                if _excluded(display, exclude) or any(spec.match_file(rel + name) for spec, rel in active):
                    continue
                yield SourcePath(os.path.abspath(entry.path), display, kind)
        for sub, display, name in reversed(subdirs):
            stack.append((sub, display, [(spec, rel + name + "/") for spec, rel in active]))
