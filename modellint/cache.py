"""A persistent per-file cache, keyed by content (ruff's cache is the model).

The key of a file's entry hashes its display path and bytes together with a
salt: modellint's version and a fingerprint of its own source files, the
Python version, the enabled rules and their options. Anything that could
change a result changes the key, so an entry is either exactly right or
never found. Entries are written atomically (temp file + rename), so two
runs can share a cache; an entry that fails to load is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from typing import Any, Dict, Optional, Sequence

from modellint import __version__

CACHE_DIR_NAME = ".modellint_cache"
_FORMAT = 1


def _code_fingerprint() -> str:
    """Size and mtime of modellint's own modules: a development edit invalidates the cache."""
    import modellint
    import modellint.rules

    digest = hashlib.sha256()
    for package_dir in sorted({os.path.dirname(modellint.__file__), os.path.dirname(modellint.rules.__file__)}):
        for folder, _, files in sorted(os.walk(package_dir)):
            for name in sorted(files):
                if name.endswith(".py"):
                    stat = os.stat(os.path.join(folder, name))
                    digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def salt(enabled: Sequence[str], options: Dict[str, Dict[str, Any]]) -> str:
    parts = {
        "format": _FORMAT,
        "version": __version__,
        "code": _code_fingerprint(),
        "python": sys.version_info[:2],
        "rules": sorted(enabled),
        "options": options,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class Cache:
    def __init__(self, directory: str, salt_value: str):
        self.root = os.path.join(directory, salt_value)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def prepare(directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        ignore = os.path.join(directory, ".gitignore")
        if not os.path.exists(ignore):
            try:
                with open(ignore, "w", encoding="utf-8") as handle:
                    handle.write("# Created by modellint automatically.\n*\n")
            except OSError:
                pass

    def _path(self, display: str, digest: str) -> str:
        """``digest``: of the file's bytes (filecheck.content_digest), hashed once per file."""
        key = hashlib.sha256(display.encode("utf-8", "surrogateescape") + b"\0" + digest.encode()).hexdigest()
        return os.path.join(self.root, key[:2], key[2:] + ".pickle")

    def load(self, display: str, digest: str) -> Optional[Any]:
        result = _read(self._path(display, digest))
        if getattr(result, "path", None) != display:  # also None: absent or unreadable
            self.misses += 1
            return None
        self.hits += 1
        return result

    def _value_path(self, key: str) -> str:
        return os.path.join(self.root, "values", key[:2], key[2:] + ".pickle")

    def load_value(self, key: str) -> Optional[Any]:
        """A value stored under ``key`` (a digest of everything it was computed from), or None."""
        stored = _read(self._value_path(key))
        if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key):
            return None
        return stored[1]

    def store_value(self, key: str, value: Any) -> None:
        self._write(self._value_path(key), (key, value))

    def store(self, display: str, digest: str, result: Any) -> None:
        self._write(self._path(display, digest), result)

    def _write(self, path: str, result: Any) -> None:
        # a unique temporary name per process and write, renamed into place: a reader
        # sees the old entry or the whole new one, and two runs never share a temporary
        global _WRITES
        directory = os.path.dirname(path)
        _WRITES += 1
        temp = f"{path}.{os.getpid()}.{_WRITES}.tmp"
        try:
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            os.makedirs(directory, exist_ok=True)
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(handle, view):]
            finally:
                os.close(handle)
            os.replace(temp, path)
        except (OSError, pickle.PicklingError, RecursionError, TypeError):
            try:
                os.remove(temp)
            except OSError:
                pass


_WRITES = 0


def _read(path: str) -> Optional[Any]:
    """The unpickled entry at ``path``; None when absent. A truncated, corrupt or
    incompatible entry is deleted (it will be rebuilt) and reads as absent."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:
        try:
            os.remove(path)
        except OSError:
            pass
        return None
