"""Per-file work: read, parse once, run every code rule and fact extractor in
one traversal. The result is plain data (picklable, cacheable): findings,
facts with provenance, suppression comments and config trees for the
recipe stage."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from modellint import registry
from modellint.facts.references import BaseRef, base_refs
from modellint.findings import Finding, Related
from modellint.lazy_re import lazy
from modellint.parsing.limits import tree_problem
from modellint.parsing.problems import ParseProblem
from modellint.parsing.shell_doc import ShellDocument, parse_shell
from modellint.parsing.source import decode, read_bytes
from modellint.parsing.tree import Node
from modellint.provenance import Fact, Span
from modellint.suppression import Suppressions, parse_suppressions

# Fix runs (modellint/fixes.py) re-lint text changed in memory: absolute path → bytes read instead of the file
OVERLAY: Dict[str, bytes] = {}
# The machinery of Python files (the traversal, the code fact visitors, the code rules and
# the analyses they import) is imported by the first Python file a process reads: a run
# over configs alone never loads it.

# rules' text pre-filters (CodeRule.wants, PyContext.prefilter); tests turn them off to show they never drop a finding
PREFILTER = True

_HYDRA_PACKAGE = lazy(r"^#\s*@package\s+(\S+)", re.M)
_CONFIG_MODULE = lazy(r"config|cfg|settings|hparams|hyperparam|params", re.I)


@dataclass
class FileResult:
    path: str  # display path
    kind: str
    findings: List[Finding] = field(default_factory=list)
    facts: List[Fact] = field(default_factory=list)  # from code; config facts come from merged trees
    suppressions: Suppressions = field(default_factory=Suppressions)
    roots: List[Node] = field(default_factory=list)  # config trees (YAML/JSON/TOML/py config view)
    shell: Optional[ShellDocument] = None
    is_config_module: bool = False
    hydra_package: Optional[str] = None  # ``# @package _global_`` header of a Hydra config
    classes: Dict[str, Any] = field(default_factory=dict)  # code facts shared across files
    digest: str = ""  # of the file's bytes: recipes built from unchanged files reuse their facts
    # a config's ``_BASE_``/``_base_``/defaults references, read from ``roots[0]`` here, so
    # the recipe stage can link configs without unpickling their trees (None: no config tree)
    bases: Optional[List[BaseRef]] = None
    # the facts of a config that names no base, computed here (in parallel) for the recipe
    # stage: when no other config inherits it, its recipe is this file alone
    solo_facts: Optional[List[Fact]] = None

    # Config trees are most of a result's pickled size (a 4 MB JSON label table, LVIS
    # category modules) and most are never read again: a warm run whose recipe stage is
    # cached, or a config nobody inherits. So they travel (to the parent, into the cache)
    # as one pickled blob, unpickled on first access to ``roots``.
    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        roots = state.pop("roots", None)
        packed = state.pop("_packed_roots", None)
        if roots is not None:  # unpacked here: pack it, once for the cache and the transfer alike
            if packed is None or packed[0] is not roots:
                import pickle

                packed = (roots, pickle.dumps(roots, protocol=pickle.HIGHEST_PROTOCOL) if roots else b"")
                self.__dict__["_packed_roots"] = packed
            state["_roots_blob"] = packed[1]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        # only reached for ``roots`` after unpickling (a field with a default factory has
        # no class attribute to find first)
        if name != "roots":
            raise AttributeError(name)
        blob = self.__dict__.pop("_roots_blob", b"")
        import pickle

        roots = pickle.loads(blob) if blob else []
        self.__dict__["roots"] = roots
        return roots


try:  # hashlib would load OpenSSL first (a sixth of a one-file run's start) for a hash it does not provide
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover - a Python built without its own BLAKE2
    from hashlib import blake2b as _blake2b


def content_digest(data: bytes) -> str:
    return _blake2b(data, digest_size=16).hexdigest()


def engine_finding(code: str, path: str, message: str, line: int = 1, column: int = 1, severity: str = "", help: str = "") -> Finding:
    rule = registry.get(code)
    return Finding(code, rule.name, severity or rule.severity, message, help or rule.fix, path, line, column, line, column)


def finding_from(rule, span: Span, message: str, help: Optional[str], severity: Optional[str], related=(),
                 fix: Optional[dict] = None) -> Finding:
    return Finding(
        rule.code,
        rule.name,
        severity or rule.severity,
        message,
        help or rule.fix,
        span.path,
        span.line,
        span.column,
        span.end_line,
        span.end_column,
        tuple(Related(s.path, s.line, s.column, m) for s, m in related),
        fix=fix,
    )


def _problem_finding(path: str, problem: ParseProblem) -> Finding:
    return engine_finding(problem.code, path, problem.message, problem.line, problem.column, problem.severity, problem.help)


def is_config_module(display: str, tree: ast.Module) -> bool:
    name = display.rsplit("/", 1)[-1]
    if _CONFIG_MODULE.search(name) or any(_CONFIG_MODULE.search(part) for part in display.split("/")[:-1]):
        return True
    has_code = any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for s in tree.body)
    return not has_code


class Checker:
    """Rules instantiated once per process and reused for every file."""

    def __init__(self, enabled: Sequence[str], options: Dict[str, Dict[str, Any]]):
        self._enabled = list(enabled)
        self._options = options
        self._code_rules: Optional[list] = None

    @property
    def code_rules(self) -> list:
        """Made for the first Python file, so a run over configs imports no code rule."""
        if self._code_rules is None:
            self._code_rules = [cls(self._options.get(cls.code, {})) for cls in registry.code_rules(self._enabled)]
        return self._code_rules

    def check_path(self, path: str, display: str, kind: str, cache=None) -> FileResult:
        data = OVERLAY.get(os.path.abspath(path)) if OVERLAY else None
        if data is not None:
            return self.check_bytes(data, display, kind)
        data, problem = read_bytes(path, kind)
        if problem is not None:
            return FileResult(display, kind, [_problem_finding(display, problem)])
        digest = content_digest(data)  # one hash of the bytes: the cache key and the recipe memo
        if cache is not None:
            cached = cache.load(display, digest)
            if cached is not None:
                return cached
        result = self.check_bytes(data, display, kind, digest)
        if cache is not None:
            cache.store(display, digest, result)
        return result

    def cached(self, path: str, display: str, kind: str, cache) -> Optional[FileResult]:
        """The cached result of a readable file, or None (then ``check_path`` does the work)."""
        if OVERLAY:
            return None
        data, problem = read_bytes(path, kind)
        return cache.load(display, content_digest(data)) if problem is None else None

    def check_bytes(self, data: bytes, display: str, kind: str, digest: Optional[str] = None) -> FileResult:
        text, problem = decode(data, kind)
        if problem is not None:
            return FileResult(display, kind, [_problem_finding(display, problem)])
        result = self.check_text(text, display, kind)
        result.digest = digest or content_digest(data)
        return result

    def check_text(self, text: str, display: str, kind: str) -> FileResult:
        result = FileResult(display, kind)
        result.suppressions = parse_suppressions(text, kind)
        if result.suppressions.skip_file:
            return result
        if kind == "python":
            self._python(text, result)
        elif kind == "shell":
            result.shell = parse_shell(text, display)
        else:
            roots, problems = _config_parser(kind)(text, display)
            result.findings.extend(_problem_finding(display, p) for p in problems)
            hostile = tree_problem(roots)  # alias bombs, recursive aliases, absurd nesting
            if hostile is not None:
                roots = []
                result.findings.append(engine_finding("ML902", display, f"the {kind.upper()} document {hostile}"))
            result.roots = roots  # facts come from the merged tree at the recipe stage
            if kind == "yaml":
                header = _HYDRA_PACKAGE.search(text[:2048])
                result.hydra_package = header.group(1) if header else None
            _link(result)
            for root in roots:
                _suppression_ranges(root, result.suppressions)
        return result

    def prepare(self, kinds) -> None:
        """Import what files of these kinds need, before a pool forks its workers: they then
        share the parent's modules instead of each importing its own."""
        if "python" in kinds:
            _python_machinery()[3]()  # the code fact visitors' modules
            self.code_rules  # noqa: B018 - imports and makes them
        for kind in set(kinds) & {"yaml", "json", "toml"}:
            _config_parser(kind)

    def _python(self, text: str, result: FileResult) -> None:
        PyContext, traverse, walk, code_fact_visitors, parse_python = _python_machinery()
        doc, problems = parse_python(text, result.path)
        if doc is None:
            result.findings.extend(_problem_finding(result.path, p) for p in problems)
            return
        if result.suppressions.by_line:
            for node in walk(doc.tree):
                end = getattr(node, "end_lineno", None)
                if end and isinstance(node, (ast.stmt, ast.expr)):
                    result.suppressions.add_range(node.lineno, end)
        ctx = PyContext(doc)
        ctx.prefilter = PREFILTER
        rules = [rule for rule in self.code_rules if rule.wants(doc.filter_text)] if PREFILTER else self.code_rules
        visitors = code_fact_visitors() + rules
        traverse(ctx, visitors)
        fixes = getattr(ctx, "fixes", {})  # modellint.fixes.attach: report index → fix
        for index, (rule, span, message, help, severity, related) in enumerate(ctx.reports):
            result.findings.append(finding_from(rule, span, message, help, severity, related, fixes.get(index)))
        for visitor, summary, line in ctx.crashes:
            label = getattr(visitor, "code", type(visitor).__name__)
            result.findings.append(engine_finding("ML999", result.path, f"{label} crashed on this file: {summary}", line))
        result.facts.extend(ctx.facts)
        if is_config_module(result.path, doc.tree):
            result.is_config_module = True
            view = doc.config_view()
            # names can share and nest values without limit (``a2 = dict(x=a1)``): such a
            # module is valid Python, so it is only not read as a config (no finding)
            result.roots = [view] if tree_problem([view]) is None else []
            _link(result)
        doc.release()


def _python_machinery():
    from modellint.code.traversal import PyContext, traverse
    from modellint.code.walk import walk
    from modellint.facts.extractors import code_fact_visitors
    from modellint.parsing.python_doc import parse_python

    return PyContext, traverse, walk, code_fact_visitors, parse_python


def _link(result: FileResult) -> None:
    """The bases a config names, and the facts of its own tree when it names none."""
    if not result.roots:
        result.bases = []
        return
    result.bases = base_refs(result.roots[0])
    if not result.bases:
        from modellint.recipe import solo_facts

        result.solo_facts = solo_facts(result.roots[0], result.kind, result.path)


def _config_parser(kind: str):
    # imported on first use: a run over Python files alone never loads PyYAML
    if kind == "yaml":
        from modellint.parsing.yaml_doc import parse_yaml

        return parse_yaml
    if kind == "json":
        from modellint.parsing.json_doc import parse_json

        return parse_json
    from modellint.parsing.toml_doc import parse_toml

    return parse_toml


def _suppression_ranges(root: Node, suppressions: Suppressions) -> None:
    if not suppressions.by_line:
        return
    from modellint.parsing.tree import walk

    for _, key, value, _ in walk(root):
        suppressions.add_range(key.span.line, value.span.end_line)
