"""The run: discover → per-file checks (parallel) → recipes → recipe rules →
suppression and selection → sorted findings."""

from __future__ import annotations

import fnmatch
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from modellint import registry
from modellint.discovery import SourcePath, discover, display_path
from modellint.filecheck import Checker, FileResult, engine_finding, finding_from
from modellint.findings import SEVERITY_RANK, Finding, Related
from modellint.parsing.source import kind_of
from modellint.provenance import Fact, Span
from modellint.recipe import ProjectIndex, Recipe, build_recipes
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


def _init_worker(enabled: Sequence[str], options: Dict[str, Dict], cache_dir: Optional[str] = None) -> None:
    global _WORKER, _CACHE
    _WORKER = Checker(enabled, options)
    _CACHE = None
    if cache_dir is not None:
        from modellint.cache import Cache, salt

        _CACHE = Cache(cache_dir, salt(enabled, options))


def _check_one(source: SourcePath) -> FileResult:
    try:
        return _WORKER.check_path(source.path, source.display, source.kind, _CACHE)
    except Exception as exc:  # never lose the run to one file
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"modellint crashed on this file: {type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:{frame.lineno})"
        return FileResult(source.display, source.kind, [engine_finding("ML999", source.display, message)])


def _check_files(sources: List[SourcePath], enabled: Sequence[str], options: Dict[str, Dict], jobs: int,
                 cache_dir: Optional[str] = None) -> Tuple[List[FileResult], List[str]]:
    errors: List[str] = []
    _init_worker(enabled, options, cache_dir)
    if jobs <= 1 or len(sources) < PARALLEL_THRESHOLD:
        return [_check_one(source) for source in sources], errors
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    results: Dict[str, FileResult] = {}
    chunk = max(1, min(64, len(sources) // (jobs * 8) or 1))
    try:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(list(enabled), options, cache_dir)) as pool:
            for source, result in zip(sources, pool.map(_check_one, sources, chunksize=chunk)):
                results[source.path] = result
    except BrokenProcessPool:
        errors.append("a worker process died; the files it held were re-checked in the main process")
    missing = [s for s in sources if s.path not in results]
    if missing:
        for source in missing:
            results[source.path] = _check_one(source)
    return [results[s.path] for s in sources], errors


# -- recipe stage ------------------------------------------------------------
class _Reporter:
    def __init__(self, rule):
        self.rule = rule
        self.findings: List[Finding] = []

    def __call__(self, where, message: str, *, help: Optional[str] = None, severity: Optional[str] = None, related=()) -> None:
        span = where.span if isinstance(where, Fact) else where
        pairs = [((r.span if isinstance(r, Fact) else r), m) for r, m in related]
        self.findings.append(finding_from(self.rule, span, message, help, severity, pairs))


def _run_recipe_rules(recipes: List[Recipe], enabled: Sequence[str], settings: Settings) -> List[Finding]:
    findings: List[Finding] = []
    for cls in registry.recipe_rules(enabled):
        rule = cls(settings.options_for(cls.code))
        for recipe in recipes:
            report = _Reporter(rule)
            try:
                rule.check(recipe, report)
            except Exception as exc:
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                findings.append(engine_finding(
                    "ML999", recipe.files[0] if recipe.files else recipe.name,
                    f"{cls.code} crashed on this recipe: {type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:{frame.lineno})"))
                continue
            findings.extend(report.findings)
    return findings


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
        _init_worker(enabled, options)
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
            _init_worker(enabled, options)
        result = _WORKER.check_path(path, display_path(path), kind, _CACHE)
        loaded[result.path] = result
        return result

    roots = {os.getcwd()}
    projects = ProjectIndex()
    for given in paths:
        if given != "-":
            roots.add(projects.root(os.path.join(os.path.abspath(given), "x")) if os.path.isdir(given) else projects.root(given))
    recipes, problems = build_recipes(results, absolute, load, sorted(roots))
    for problem in problems:
        findings.append(finding_from(registry.get("ML903"), problem.span, problem.message, None, None))
    findings.extend(_run_recipe_rules(recipes, enabled, settings))
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
