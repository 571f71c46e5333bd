"""Regular expressions compiled on first use.

Compiling is the largest single cost of importing the fact and rule modules:
41 module-level patterns took 17 ms of a one-file YAML check, which used 9 of
them. ``lazy(pattern, flags)`` stands for ``re.compile(pattern, flags)``. The
first call of one of its methods compiles the pattern and puts the compiled
pattern's own bound methods on the instance, where they shadow the class's
stand-ins: later calls cost what they cost on a compiled pattern.
"""

from __future__ import annotations

import re

_METHODS = ("search", "match", "fullmatch", "sub", "subn", "findall", "finditer", "split")


class LazyPattern:
    def __init__(self, pattern: str, flags: int = 0):
        self.pattern = pattern
        self._flags = flags

    def compiled(self) -> re.Pattern:
        compiled = re.compile(self.pattern, self._flags)
        for name in _METHODS:
            setattr(self, name, getattr(compiled, name))
        return compiled

    def search(self, *args, **kwargs):
        return self.compiled().search(*args, **kwargs)

    def match(self, *args, **kwargs):
        return self.compiled().match(*args, **kwargs)

    def fullmatch(self, *args, **kwargs):
        return self.compiled().fullmatch(*args, **kwargs)

    def sub(self, *args, **kwargs):
        return self.compiled().sub(*args, **kwargs)

    def subn(self, *args, **kwargs):
        return self.compiled().subn(*args, **kwargs)

    def findall(self, *args, **kwargs):
        return self.compiled().findall(*args, **kwargs)

    def finditer(self, *args, **kwargs):
        return self.compiled().finditer(*args, **kwargs)

    def split(self, *args, **kwargs):
        return self.compiled().split(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self.pattern!r}, {self._flags!r})"


def lazy(pattern: str, flags: int = 0) -> LazyPattern:
    return LazyPattern(pattern, flags)
