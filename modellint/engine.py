"""The run: discover → per-file checks (parallel) → recipes → recipe rules →
suppression and selection → sorted findings."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from modellint import registry
from modellint.discovery import SourcePath, discover, display_path
from modellint.filecheck import Checker, FileResult, engine_finding, finding_from
from modellint.findings import SEVERITY_RANK, Finding
from modellint.parsing.source import kind_of
from modellint.provenance import Fact
from modellint.recipe import ProjectIndex, Recipe, build_recipes
from modellint.scheduling import guided_chunks
from modellint.settings import Settings

PARALLEL_THRESHOLD = 48  # below this many files a process pool costs more than it saves


@dataclass
class RunResult:
    findings: List[Finding]
    files_checked: int
    errors: List[str] = field(default_factory=list)  # usage-level problems (exit 2)

    @property
    def crashed(self) -> bool:
        return any(f.code == "ML999" for f in self.findings)


@dataclass
class StdinInput:
    data: bytes
    filename: str


# -- per-file stage (runs in workers) ---------------------------------------
_WORKER: Optional[Checker] = None
_CACHE = None
_PROGRESS_FD: Optional[int] = None  # in a pool worker: a file holding the index of the file being checked


def _init_worker(enabled: Sequence[str], options: Dict[str, Dict], cache_dir: Optional[str] = None,
                 progress_dir: Optional[str] = None, tune_gc: bool = True, collect: bool = False) -> None:
    """``collect``: a pool worker of a cached run, which sends its results pickled for the
    parent to store (cache.Collector)."""
    global _WORKER, _CACHE, _PROGRESS_FD
    _WORKER = Checker(enabled, options)
    _PROGRESS_FD = None
    if progress_dir is not None:
        _PROGRESS_FD = os.open(os.path.join(progress_dir, str(os.getpid())), os.O_WRONLY | os.O_CREAT, 0o600)
    _CACHE = None
    if collect:
        from modellint.cache import Collector

        _CACHE = Collector()
    elif cache_dir is not None:
        from modellint.cache import Cache, salt

        _CACHE = Cache(cache_dir, salt(enabled, options))
    if tune_gc:
        _tune_gc()


_GC_TUNED = False


def _tune_gc() -> None:
    """Syntax trees are freed by reference counting as each file is done (the per-file
    analyses break their cycles), so the collector's frequent young-generation passes
    would mostly re-walk live tree nodes: run it rarely, and never over the modules
    loaded at start-up. Once per process: a long-lived one (the language server) must
    not freeze what later runs leave behind."""
    global _GC_TUNED
    if _GC_TUNED:
        return
    _GC_TUNED = True
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _check_one(source: SourcePath) -> FileResult:
    try:
        return _WORKER.check_path(source.path, source.display, source.kind, _CACHE)
    except Exception as exc:  # never lose the run to one file
        import traceback  # only for a crash

        frame = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"modellint crashed on this file: {type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:{frame.lineno})"
        return FileResult(source.display, source.kind, [engine_finding("ML999", source.display, message)])


def _check_files(sources: List[SourcePath], enabled: Sequence[str], options: Dict[str, Dict], jobs: int,
                 cache_dir: Optional[str] = None) -> Tuple[List[FileResult], List[str]]:
    errors: List[str] = []
    # a few files leave the collector little to do: its start-up pass would cost more
    _init_worker(enabled, options, cache_dir, tune_gc=len(sources) >= PARALLEL_THRESHOLD)
    if jobs <= 1 or len(sources) < PARALLEL_THRESHOLD:
        return [_check_one(source) for source in sources], errors
    known: Dict[int, FileResult] = {}
    if _CACHE is not None and os.path.isdir(_CACHE.root):
        # cache hits are read here: sending them through worker processes would only
        # unpickle, pickle and unpickle them again (a cache not yet made for this
        # version and these settings has none: the first run skips the look)
        for index, source in enumerate(sources):
            try:
                hit = _WORKER.cached(source.path, source.display, source.kind, _CACHE)
            except Exception:  # the normal path will report whatever is wrong with the file
                hit = None
            if hit is not None:
                known[index] = hit
    missing = [index for index in range(len(sources)) if index not in known]
    if len(missing) < PARALLEL_THRESHOLD:
        for index in missing:
            known[index] = _check_one(sources[index])
    else:
        checked = _check_in_pool([sources[index] for index in missing], enabled, options, jobs, cache_dir, errors)
        for position, index in enumerate(missing):
            known[index] = checked[position]
    return [known[index] for index in range(len(sources))], errors


# A worker process can die without an exception (a segfault in a C extension, the
# OOM killer, os._exit): the pool then fails every file it had not returned yet,
# and nothing says which file was the cause. Each worker writes the index of the
# file it starts into its own progress file; after a breakage the files in
# progress are checked again one by one, each in a fresh process of its own. The
# one that kills that process too is reported (ML999, exit 2), never re-checked
# in the main process (it would take the run down) and never retried forever;
# the others keep their results, and the files not checked yet go to a new pool.
def _mark_progress(index: int) -> None:
    if _PROGRESS_FD is not None:
        os.lseek(_PROGRESS_FD, 0, os.SEEK_SET)
        os.write(_PROGRESS_FD, b"%12d" % index)  # fixed width: no stale digits


def _check_chunk(items: List[Tuple[int, SourcePath]]) -> List[Tuple[int, object]]:
    """Each file's result, or (digest, pickled result) when the run is cached: the parent
    unpickles it and stores the same bytes."""
    out: List[Tuple[int, object]] = []
    collector = _CACHE if _CACHE is not None and hasattr(_CACHE, "take") else None
    for index, source in items:
        _mark_progress(index)
        result = _check_one(source)
        stored = collector.take() if collector is not None else None
        out.append((index, (stored[1], stored[2]) if stored is not None and stored[0] == source.display else result))
    return out


def _in_progress(progress_dir: str) -> List[int]:
    indices = set()
    for name in os.listdir(progress_dir):
        path = os.path.join(progress_dir, name)
        try:
            with open(path, "rb") as handle:
                text = handle.read().strip()
            os.unlink(path)
        except OSError:
            continue
        if text.isdigit():
            indices.add(int(text))
    return sorted(indices)


def _isolated_main(connection, source: SourcePath, enabled: Sequence[str], options: Dict[str, Dict],
                   cache_dir: Optional[str]) -> None:
    _init_worker(enabled, options, cache_dir, tune_gc=False)  # one file
    result = _check_one(source)
    try:
        connection.send(result)
    except Exception as exc:  # a result that cannot be pickled is still one finding
        connection.send(FileResult(source.display, source.kind, [engine_finding(
            "ML999", source.display, f"modellint could not return this file's result: {type(exc).__name__}: {exc}")]))
    connection.close()


def _check_isolated(source: SourcePath, enabled: Sequence[str], options: Dict[str, Dict],
                    cache_dir: Optional[str]) -> Tuple[Optional[FileResult], Optional[int]]:
    """The file's result from a process of its own, or None and that process's exit code."""
    import multiprocessing

    context = multiprocessing.get_context()  # the pool's own start method
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_isolated_main, args=(writer, source, list(enabled), options, cache_dir), daemon=True)
    process.start()
    writer.close()
    try:
        result: Optional[FileResult] = reader.recv()
    except (EOFError, OSError):
        result = None
    process.join()
    reader.close()
    return result, (None if result is not None else process.exitcode)


def _death(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _check_in_pool(sources: List[SourcePath], enabled: Sequence[str], options: Dict[str, Dict], jobs: int,
                   cache_dir: Optional[str], errors: List[str]) -> Dict[int, FileResult]:
    import pickle
    import shutil
    import tempfile
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    _WORKER.prepare({source.kind for source in sources})
    import gc

    gc.freeze()  # the modules just imported join the rest of start-up (see _tune_gc)
    results: Dict[int, FileResult] = {}
    remaining = list(range(len(sources)))
    progress_dir = tempfile.mkdtemp(prefix="modellint-workers-")
    try:
        while remaining:
            broken = False
            chunks = guided_chunks(remaining, jobs)
            try:
                with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                                         initargs=(list(enabled), options, None, progress_dir, True,
                                                   _CACHE is not None)) as pool:
                    futures = {pool.submit(_check_chunk, [(i, sources[i]) for i in chunk]): chunk for chunk in chunks}
                    for future in as_completed(futures):
                        try:
                            for index, result in future.result():
                                if result.__class__ is tuple:  # pickled once, for the transfer and the cache
                                    digest, data = result
                                    result = pickle.loads(data)
                                    _CACHE.store_pickled(sources[index].display, digest, data)
                                results[index] = result
                        except BrokenProcessPool:
                            broken = True
                        except Exception:  # the worker lived but its result did not come back (pickling)
                            for index in futures[future]:
                                results.setdefault(index, _check_one(sources[index]))
            except BrokenProcessPool:
                broken = True
            remaining = [i for i in remaining if i not in results]
            if not broken:
                break
            suspects = [i for i in _in_progress(progress_dir) if i not in results]
            if not suspects:  # no file was being checked: the workers themselves failed
                errors.append("worker processes died before checking any file; the remaining files were checked in the main process")
                for index in remaining:
                    results[index] = _check_one(sources[index])
                break
            for index in suspects:
                result, exitcode = _check_isolated(sources[index], enabled, options, cache_dir)
                if result is None:
                    display = sources[index].display
                    how = _death(exitcode)
                    errors.append(f"a worker process died ({how}) while checking {display}; that file is reported "
                                  "as ML999 and every other file was checked")
                    result = FileResult(display, sources[index].kind, [engine_finding(
                        "ML999", display, f"the process checking this file died ({how}); it was not checked")])
                results[index] = result
            remaining = [i for i in remaining if i not in results]
    finally:
        shutil.rmtree(progress_dir, ignore_errors=True)
    return results


# -- recipe stage ------------------------------------------------------------
class _Reporter:
    def __init__(self, rule):
        self.rule = rule
        self.findings: List[Finding] = []

    def __call__(self, where, message: str, *, help: Optional[str] = None, severity: Optional[str] = None, related=(),
                 fix: Optional[dict] = None) -> None:
        span = where.span if isinstance(where, Fact) else where
        pairs = [((r.span if isinstance(r, Fact) else r), m) for r, m in related]
        self.findings.append(finding_from(self.rule, span, message, help, severity, pairs, fix))


def _run_recipe_rules(recipes: List[Recipe], enabled: Sequence[str], settings: Settings) -> List[Finding]:
    findings: List[Finding] = []
    for cls in registry.recipe_rules(enabled):
        rule = cls(settings.options_for(cls.code))
        for recipe in recipes:
            report = _Reporter(rule)
            try:
                rule.check(recipe, report)
            except Exception as exc:
                import traceback  # only for a crash

                frame = traceback.extract_tb(exc.__traceback__)[-1]
                findings.append(engine_finding(
                    "ML999", recipe.files[0] if recipe.files else recipe.name,
                    f"{cls.code} crashed on this recipe: {type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:{frame.lineno})"))
                continue
            findings.extend(report.findings)
    return findings


def _recipe_stage_key(results: List[FileResult], absolute: Dict[str, str], projects: ProjectIndex, roots) -> Optional[str]:
    """Everything the recipe stage reads: every file by content, the project each belongs
    to, the directories a base may come from. A warm run over an unchanged tree reuses
    the stage's findings; any change (a file's bytes, a new project marker) recomputes it."""
    import hashlib

    parts = []
    for result in results:
        if not result.digest and not result.findings:
            return None  # content unknown
        path = absolute.get(result.path, result.path)
        parts.append((result.path, result.digest, result.kind, projects.root(path)))
    parts.sort()
    text = repr(("recipe-stage", os.getcwd(), sorted(roots), parts))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _dedupe(findings: List[Finding]) -> List[Finding]:
    """One problem, one finding: the same code at the same place is merged."""
    best: Dict[Tuple, Finding] = {}
    for finding in findings:
        key = (finding.code, finding.path, finding.line, finding.column)
        kept = best.get(key)
        if kept is None:
            best[key] = finding
            continue
        if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[kept.severity]:
            finding, kept = kept, finding
            best[key] = kept
        extra = tuple(r for r in finding.related if r not in kept.related)
        if extra:
            from dataclasses import replace

            best[key] = replace(kept, related=kept.related + extra)
    return list(best.values())


def _per_file_ignored(finding: Finding, settings: Settings) -> bool:
    if not settings.per_file_ignores:
        return False
    candidates = {finding.path}
    absolute = os.path.abspath(finding.path)
    rel_root = os.path.relpath(absolute, settings.root).replace(os.sep, "/")
    if not rel_root.startswith(".."):
        candidates.add(rel_root)
    for pattern, codes in settings.per_file_ignores.items():
        if any(fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, f"*/{pattern}") for c in candidates):
            if any(code == "ALL" or finding.code.startswith(code.upper()) for code in codes):
                return True
    return False


def run(paths: Sequence[str], settings: Settings, *, jobs: int = 1, stdin: Optional[StdinInput] = None,
        respect_gitignore: bool = True, cache_dir: Optional[str] = None) -> RunResult:
    enabled = settings.enabled_codes()
    options = settings.rule_options
    errors: List[str] = []
    results: List[FileResult] = []
    if stdin is not None:
        kind = kind_of(stdin.filename) or "python"
        _init_worker(enabled, options, tune_gc=False)  # one file
        display = display_path(stdin.filename)
        results.append(_WORKER.check_bytes(stdin.data, display, kind))
        absolute = {display: os.path.abspath(stdin.filename)}
        sources: List[SourcePath] = []
    else:
        sources, errors = discover(paths, settings.exclude + settings.extend_exclude, respect_gitignore)
        checked, pool_errors = _check_files(sources, enabled, options, jobs, cache_dir)
        errors.extend(pool_errors)
        results.extend(checked)
        absolute = {s.display: s.path for s in sources}
    by_path = {r.path: r for r in results}
    findings: List[Finding] = [f for r in results for f in r.findings]
    loaded: Dict[str, FileResult] = {}

    def load(path: str) -> Optional[FileResult]:
        """A base config outside the given paths (pre-commit passes only changed files)."""
        kind = kind_of(path)
        if kind is None or not os.path.isfile(path):
            return None
        if _WORKER is None:
            _init_worker(enabled, options, tune_gc=False)
        result = _WORKER.check_path(path, display_path(path), kind, _CACHE)
        loaded[result.path] = result
        return result

    roots = {os.getcwd()}
    projects = ProjectIndex()
    for given in paths:
        if given != "-":
            roots.add(projects.root(os.path.join(os.path.abspath(given), "x")) if os.path.isdir(given) else projects.root(given))
    stage_key = _recipe_stage_key(results, absolute, projects, roots) if _CACHE is not None and stdin is None else None
    stage = _CACHE.load_value(stage_key) if stage_key is not None else None
    if stage is None:
        recipes, problems = build_recipes(results, absolute, load, sorted(roots), memo=_CACHE if stdin is None else None, jobs=jobs)
        stage = [finding_from(registry.get("ML903"), problem.span, problem.message, None, None) for problem in problems]
        stage.extend(_run_recipe_rules(recipes, enabled, settings))
        # files read from outside the run are not in the key, nor are missing files a problem
        # names, unless the run covers the whole current directory (then creating one adds it)
        whole = any(os.path.isdir(p) and os.path.abspath(p) == os.getcwd() for p in paths)
        if stage_key is not None and not loaded and (whole or not problems):
            _CACHE.store_value(stage_key, stage)
    findings.extend(stage)
    if _CACHE is not None and stdin is None:
        _CACHE.flush()  # every entry this run made, one write per shard
    for path, result in loaded.items():
        by_path.setdefault(path, result)

    enabled_set = set(enabled)
    kept: List[Finding] = []
    for finding in _dedupe(findings):
        if finding.code not in enabled_set and finding.code != "ML999":
            continue
        result = by_path.get(finding.path)
        if result is not None and (result.suppressions.skip_file or result.suppressions.covers(finding.line, finding.code)):
            continue
        if _per_file_ignored(finding, settings):
            continue
        kept.append(finding)
    kept.sort(key=lambda f: f.sort_key)
    return RunResult(kept, len(results), errors)
