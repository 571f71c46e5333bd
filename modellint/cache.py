"""A persistent per-file cache, keyed by content (ruff's cache is the model).

A file's entry is found by its display path and is valid only for the same
bytes (their digest is kept beside it); everything else that could change a
result (modellint's version and a fingerprint of its own source files, the
Python version, the enabled rules and their options) is in the salt that
names the cache's folder, so an entry is either exactly right or never used.

Entries live in a few shard files, not a file each: creating, renaming and
later reading thousands of small files cost a cold run more than a third of
its time (system time, on ext4). A run keeps what it computes in memory and
writes each shard it changed once, at the end, atomically (temp file + rename,
after re-reading the shard so entries another run wrote meanwhile are kept);
two runs sharing a cache can at worst lose each other's new entries, never
read a wrong one. A shard or entry that fails to load reads as absent and is
rebuilt; entries not used for ``MAX_AGE_DAYS`` are dropped when their shard
is next written.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import time
import zlib
from typing import Any, Dict, List, Optional, Sequence

from modellint import __version__

CACHE_DIR_NAME = ".modellint_cache"
_FORMAT = 2  # 2: shards of entries instead of a file per entry


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


SHARDS = 32  # a one-file run (an editor save) reads and rewrites one shard of 1/32 of the entries
MAX_AGE_DAYS = 30
_MAGIC = "modellint-cache"


def _today() -> int:
    return int(time.time() // 86400)


class Cache:
    """Looked up and stored by the run's main process (and by forked recipe workers, whose
    new values the parent adopts); pool workers use a :class:`Collector` instead."""

    def __init__(self, directory: str, salt_value: str):
        self.root = os.path.join(directory, salt_value)
        self.hits = 0
        self.misses = 0
        self._shards: Dict[int, Dict[str, tuple]] = {}  # shard → key → (day last used, check, pickled value)
        self._new: Dict[str, tuple] = {}  # entries to write at the next flush
        self._used: set = set()  # keys found this run: their day is renewed when their shard is written
        self._pid = os.getpid()

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

    # -- entries ---------------------------------------------------------------------
    def _pending(self) -> Dict[str, tuple]:
        if self._pid != os.getpid():  # a forked child: what the parent has pending is the parent's to write
            # (kept referenced, not freed: freeing would touch, and so copy, every page of it)
            self._inherited = (self._new, self._used)
            self._pid, self._new, self._used = os.getpid(), {}, set()
        return self._new

    def _shard_path(self, shard: int) -> str:
        return os.path.join(self.root, f"shard-{shard:02d}.pickle")

    def _entry(self, key: str, check: str) -> Optional[Any]:
        entry = self._pending().get(key)
        if entry is None:
            shard = _shard_of(key)
            entries = self._shards.get(shard)
            if entries is None:
                entries = self._shards[shard] = _read_shard(self._shard_path(shard))
            entry = entries.get(key)
        if entry is None or entry[1] != check:
            return None
        try:
            value = pickle.loads(entry[2])
        except Exception:  # a damaged entry: computed again, and its new value replaces it
            return None
        self._used.add(key)
        return value

    def _put(self, key: str, check: str, data: bytes) -> None:
        self._pending()[key] = (_today(), check, data)

    def load(self, display: str, digest: str) -> Optional[Any]:
        """``digest``: of the file's bytes (filecheck.content_digest), hashed once per file."""
        result = self._entry("f:" + display, digest)
        if getattr(result, "path", None) != display:  # also None: absent or unreadable
            self.misses += 1
            return None
        self.hits += 1
        return result

    def store(self, display: str, digest: str, result: Any) -> None:
        data = _dumps(result)
        if data is not None:
            self._put("f:" + display, digest, data)

    def store_pickled(self, display: str, digest: str, data: bytes) -> None:
        """A result a pool worker already pickled (to send it here): stored as it came."""
        self._put("f:" + display, digest, data)

    def load_value(self, key: str) -> Optional[Any]:
        """A value stored under ``key`` (a digest of everything it was computed from), or None."""
        return self._entry("v:" + key, "")

    def store_value(self, key: str, value: Any) -> None:
        data = _dumps(value)
        if data is not None:
            self._put("v:" + key, "", data)

    def take_new(self) -> Dict[str, tuple]:
        """This process's entries not yet written (a forked worker sends them to its parent)."""
        new, self._new = self._pending(), {}
        return new

    def adopt(self, entries: Dict[str, tuple]) -> None:
        self._pending().update(entries)

    # -- writing ---------------------------------------------------------------------
    def flush(self) -> None:
        """Write every shard that has new entries: once per run, at its end."""
        new = self._pending()
        if not new:
            return
        self._new = {}
        today = _today()
        by_shard: Dict[int, List[str]] = {}
        for key in new:
            by_shard.setdefault(_shard_of(key), []).append(key)
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError:
            return
        for shard, keys in sorted(by_shard.items()):
            path = self._shard_path(shard)
            entries = _read_shard(path)  # as it is now: another run may have written it since
            for key in self._used:
                if key in entries:  # only this shard's keys are in it
                    entries[key] = (today,) + entries[key][1:]
            for key in keys:
                entries[key] = new[key]
            cutoff = today - MAX_AGE_DAYS
            kept = {key: entry for key, entry in entries.items() if entry[0] >= cutoff}
            _write_atomic(path, (_MAGIC, _FORMAT, kept))
            self._shards[shard] = kept


class Collector:
    """A pool worker's cache: it looks nothing up (the parent looked up every file before
    handing out the misses) and keeps the pickled result it would store, for the worker
    to send instead of the result itself; the parent stores it (``Cache.store_pickled``).
    So a result is pickled once, for the transfer and the cache alike."""

    def __init__(self):
        self.last: Optional[tuple] = None  # (display, digest, pickled result) of the last file stored

    def load(self, display: str, digest: str) -> None:
        return None

    def store(self, display: str, digest: str, result: Any) -> None:
        data = _dumps(result)
        self.last = (display, digest, data) if data is not None else None

    def take(self) -> Optional[tuple]:
        last, self.last = self.last, None
        return last


def _dumps(value: Any) -> Optional[bytes]:
    """The value pickled, or None for one that cannot be (it is simply not cached)."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, RecursionError, TypeError):
        return None


def _shard_of(key: str) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % SHARDS


def _read_shard(path: str) -> Dict[str, tuple]:
    """The entries of one shard; an absent, truncated, corrupt or foreign shard has none."""
    try:
        with open(path, "rb") as handle:
            stored = pickle.load(handle)
    except Exception:
        return {}
    if not (isinstance(stored, tuple) and len(stored) == 3 and stored[0] == _MAGIC and stored[1] == _FORMAT
            and isinstance(stored[2], dict)):
        return {}
    return {key: entry for key, entry in stored[2].items()
            if isinstance(key, str) and isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[0], int)
            and isinstance(entry[2], bytes)}


def _write_atomic(path: str, value: Any) -> None:
    # a unique temporary name per process and write, renamed into place: a reader
    # sees the old shard or the whole new one, and two runs never share a temporary
    global _WRITES
    _WRITES += 1
    temp = f"{path}.{os.getpid()}.{_WRITES}.tmp"
    data = _dumps(value)
    if data is None:
        return
    try:
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view):]
        finally:
            os.close(handle)
        os.replace(temp, path)
    except OSError:
        try:
            os.remove(temp)
        except OSError:
            pass


_WRITES = 0
