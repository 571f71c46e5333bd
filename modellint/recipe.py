"""The training recipe: which facts belong together, and which value wins.

A recipe is what one training run sees:

* a leaf config (one no other config inherits) merged over its bases
  (``_BASE_``, ``_base_``, Hydra ``defaults``), with every overridden value
  kept in the fact's ``chain``;
* or such a config as a launch script runs it (``--num-gpus 1
  SOLVER.IMS_PER_BATCH 1 SOLVER.BASE_LR 0.00007``), the overrides set on top;
* or a project's training code, with argparse defaults replaced by the flags
  a launch script passes;
* plus, as ``context``, the facts found in the same project's code
  (optimizer constructors, schedulers, freeze loops).

Rules ask a recipe questions (``recipe.all("lr")``,
``recipe.optimizer_family()``) and never care which file or dialect answered.
When something cannot be known, the fact is absent and rules stay silent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from modellint.facts import names
from modellint.facts.extractors import extract_all
from modellint.facts.launch import Launch, parse_launches
from modellint.facts.references import BaseRef
from modellint.facts.evidence import is_test_file
from modellint.lazy_re import lazy
from modellint.merge import Merger, nest, resolve_base_templates, scalar_from_text
from modellint.parsing.tree import Mapping, Node, Scalar, as_number
from modellint.provenance import Fact, Span

PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "README.md", "README.rst")
CONFIG_KINDS = ("yaml", "json", "toml")
MAX_DEPTH = 32
_LAYOUT = lazy(r"_(\d+)xb(\d+)[_\-.]")


class FactPool(list):
    """A project's code facts, shared by every recipe of the project: looked up by name
    once per run rather than scanned again for every recipe."""

    def by_name(self, name: str) -> List[Fact]:
        index = self.__dict__.get("_index")
        if index is None or self.__dict__.get("_size") != len(self):
            index = {}
            for fact in self:
                index.setdefault(fact.name, []).append(fact)
            self.__dict__["_index"], self.__dict__["_size"] = index, len(self)
        return list(index.get(name, ()))


@dataclass
class Recipe:
    name: str  # the leaf file, launch line or project this recipe is named after
    facts: List[Fact]
    context: List[Fact] = field(default_factory=list)
    files: Sequence[str] = ()  # display paths, bases first, launch script last
    complete: bool = True  # False for fragments (a Hydra group file on its own)
    is_config: bool = False  # a config (merged, or as a launch line runs it), not a project's code

    def all(self, name: str) -> List[Fact]:
        return [fact for fact in self.facts if fact.name == name]

    def context_all(self, name: str) -> List[Fact]:
        if isinstance(self.context, FactPool):
            return self.context.by_name(name)
        return [fact for fact in self.context if fact.name == name]

    def get(self, name: str) -> Optional[Fact]:
        """The one value of ``name``; None when absent or when sources disagree."""
        for pool in (self.all(name), self.context_all(name)):
            values = {repr(f.value) for f in pool}
            if len(values) == 1:
                return pool[-1]
            if len(values) > 1:
                return None
        return None

    def optimizer_family(self) -> Optional[str]:
        for pool in (self.all(names.OPTIMIZER), self.context_all(names.OPTIMIZER)):
            families = {f.get("family") for f in pool}
            if len(families) == 1:
                return families.pop()
            if len(families) > 1:
                return None
        return None

    def optimizer_fact(self) -> Optional[Fact]:
        pool = self.all(names.OPTIMIZER) or self.context_all(names.OPTIMIZER)
        return pool[-1] if pool else None

    def layer(self, fact: Fact) -> int:
        """Position of the file that set ``fact`` in this recipe (bases first)."""
        try:
            return list(self.files).index(fact.span.path)
        except ValueError:
            return -1


class ProjectIndex:
    """Maps files to their project root (nearest directory with a marker)."""

    def __init__(self) -> None:
        self._cache: Dict[str, str] = {}

    def root(self, path: str) -> str:
        directory = os.path.dirname(os.path.abspath(path))
        trail = []
        while True:
            if directory in self._cache:
                found = self._cache[directory]
                break
            trail.append(directory)
            if any(os.path.exists(os.path.join(directory, marker)) for marker in PROJECT_MARKERS):
                found = directory
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                found = os.path.dirname(os.path.abspath(path))
                break
            directory = parent
        for visited in trail:
            self._cache[visited] = found
        return found


@dataclass
class Problem:
    """An ML903 for the engine to report."""

    span: Span
    message: str


def _is_config(result) -> bool:
    return result.kind in CONFIG_KINDS or (result.kind == "python" and result.is_config_module)


class RecipeBuilder:
    def __init__(self, results: Iterable, absolute: Dict[str, str], load: Callable[[str], Optional[object]],
                 allowed_roots: Sequence[str], memo=None, jobs: int = 1):
        self.memo = memo  # a Cache: facts of merged trees whose files are unchanged are reused
        self.jobs = jobs
        self.results = list(results)
        self.absolute = absolute  # display → absolute path
        self.by_abs = {absolute[r.path]: r for r in self.results if r.path in absolute}
        self.load = load
        self.allowed = [os.path.abspath(root) for root in allowed_roots]
        self.projects = ProjectIndex()
        self.problems: List[Problem] = []
        self._resolved: Dict[str, List[Tuple[BaseRef, Optional[str]]]] = {}
        self._reported: set = set()
        self._fragment_dirs: Dict[str, bool] = {}

    # -- files -------------------------------------------------------------
    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.allowed)

    def _result(self, path: str):
        if path in self.by_abs:
            return self.by_abs[path]
        loaded = self.load(path)
        if loaded is not None:
            self.by_abs[path] = loaded
            self.absolute[loaded.path] = path
        return loaded

    def _problem(self, span: Span, message: str) -> None:
        key = (span.path, span.line, span.column)
        if key not in self._reported:
            self._reported.add(key)
            self.problems.append(Problem(span, message))

    def _candidates(self, ref: BaseRef, directory: str) -> List[str]:
        if ref.style == "hydra":
            name = ref.ref if ref.ref.endswith((".yaml", ".yml")) else ref.ref + ".yaml"
            rel = os.path.join(ref.group, name) if ref.group else name
            rel = rel.lstrip("/")  # absolute within the config root, searched below
            out, current = [], directory
            for _ in range(4):  # the group may live beside this file or beside the primary config
                out.append(os.path.join(current, rel))
                current = os.path.dirname(current)
            return out
        # a config written on Windows (``_BASE_: ..\\Base.yaml``) names the same file
        ref_path = ref.ref.replace("\\", "/") if os.sep == "/" else ref.ref
        return [os.path.join(directory, os.path.expanduser(ref_path))]

    def bases_of(self, path: str) -> List[Tuple[BaseRef, Optional[str]]]:
        if path in self._resolved:
            return self._resolved[path]
        result = self._result(path)
        resolved: List[Tuple[BaseRef, Optional[str]]] = []
        self._resolved[path] = resolved
        if result is None:
            return resolved
        refs = result.bases or []  # read by the per-file stage (None: the file has no config tree)
        if not refs:
            return resolved
        directory = os.path.dirname(path)
        for ref in refs:
            target = None
            outside = None
            for candidate in self._candidates(ref, directory):
                candidate = os.path.normpath(candidate)
                if os.path.isfile(candidate):
                    if self._inside(candidate):
                        target = candidate
                    else:
                        outside = candidate
                    break
            if target is None:
                if outside is not None:
                    self._problem(ref.span, f"base config '{ref.ref}' resolves outside the linted tree ({outside}); not read")
                # a Hydra default that is no file may be a Structured Config registered in
                # Python (ConfigStore) or come from a plugin's search path: not reported
                elif ref.style != "hydra":
                    what = {"yacs": "_BASE_", "mmengine": "_base_", "hydra": "Hydra default"}[ref.style]
                    self._problem(ref.span, f"{what} '{ref.ref}' cannot be found (looked in {os.path.relpath(self._candidates(ref, directory)[0])})")
            resolved.append((ref, target))
        return resolved

    def chain(self, path: str, stack: Tuple[str, ...] = ()) -> List[Tuple[str, str]]:
        """Files of a recipe in merge order as (absolute path, package), bases first."""
        if path in stack:
            cycle = " → ".join(os.path.basename(p) for p in stack + (path,))
            for ref, target in self._resolved.get(stack[-1], []):
                if target == path:
                    self._problem(ref.span, f"config inheritance cycle: {cycle}")
            return []
        if len(stack) > MAX_DEPTH:
            return []
        out: List[Tuple[str, str]] = []
        for ref, target in self.bases_of(path):
            if target is None:
                continue
            for base, package in self.chain(target, stack + (path,)):
                out.append((base, _join(ref.package, package)))
        out.append((path, ""))
        seen, unique = set(), []
        for item in out:
            if item not in seen:
                seen.add(item)
                unique.append(item)
        return unique

    # -- merging -----------------------------------------------------------
    def merged(self, path: str) -> Tuple[Optional[Node], Merger, List[str], Optional[list]]:
        """The merged tree of ``path`` and its chain, the files it came from, and its
        signature: each of those files by content (None when a content is unknown), which
        keys the facts memo."""
        merger = Merger()
        root: Optional[Node] = None
        files: List[str] = []
        signature: Optional[list] = []
        for file_path, package in self.chain(path):
            result = self._result(file_path)
            if result is None or not result.roots:
                continue
            if signature is not None:
                signature = signature + [(result.path, result.digest, package, result.hydra_package, result.kind)] \
                    if result.digest else None
            package = "" if result.hydra_package == "_global_" else package
            tree = resolve_base_templates(result.roots[0], root) if result.kind == "python" else result.roots[0]
            tree = nest(package, tree)
            root = tree if root is None else merger.merge(root, tree)
            files.append(result.path)
        return root, merger, files, signature

    def memo_facts(self, signature, compute: Callable[[], List[Fact]]) -> List[Fact]:
        """``compute()``, or its stored value when the same files were merged the same way before."""
        if self.memo is None or signature is None:
            return compute()
        import hashlib

        key = hashlib.sha256(repr(signature).encode("utf-8", "surrogateescape")).hexdigest()
        facts = self.memo.load_value(key)
        if facts is None:
            facts = compute()
            self.memo.store_value(key, facts)
        return list(facts)

    # -- recipes -----------------------------------------------------------
    def build(self) -> List[Recipe]:
        code_pool: Dict[str, FactPool] = {}
        configs, shells = [], []
        for result in self.results:
            if result.kind == "shell" and result.shell is not None:
                shells.append(result)
            elif _is_config(result):
                configs.append(result)
            # unit tests build optimizers and clips with arbitrary values: not a training run
            if result.facts and not is_test_file(result.path):
                code_pool.setdefault(self.projects.root(self.absolute[result.path]), FactPool()).extend(result.facts)
        inherited = set()
        for result in configs:
            for _, target in self.bases_of(self.absolute[result.path]):
                if target:
                    inherited.add(target)
        for result in configs:
            if self.absolute[result.path] in inherited:
                self.chain(self.absolute[result.path])  # reports cycles no leaf reaches
        recipes: List[Recipe] = []
        for project, facts in sorted(code_pool.items()):
            recipes.append(Recipe(project, facts, [], sorted({f.span.path for f in facts})))
        leaves = [(self.absolute[r.path], r) for r in configs if self.absolute[r.path] not in inherited]
        chains = [self.chain(path) for path, _ in leaves]  # every file read and problem reported here, in leaf order
        # a chain of the file alone needs no merge: the per-file stage read its facts
        merging = [(path, result) for (path, result), chain in zip(leaves, chains)
                   if result.solo_facts is None or chain != [(path, "")]]
        merged = dict(zip((path for path, _ in merging), self._merge_all(merging)))
        for path, result in leaves:
            context = code_pool.get(self.projects.root(path), [])
            complete = not self._hydra_fragment(path)
            if path in merged:
                if merged[path] is None:
                    continue
                facts, files = merged[path]
            else:
                facts, files = list(result.solo_facts), [result.path]  # done by the per-file stage
            facts.extend(result.facts)  # literals in a config module's own code
            recipes.append(Recipe(result.path, facts, context, files, complete=complete, is_config=True))
        for result in shells:
            for launch in parse_launches(result.shell):
                recipe = self._launch_recipe(result, launch, code_pool)
                if recipe is not None:
                    recipes.append(recipe)
        return recipes

    def _merged_facts(self, path: str, result) -> Optional[Tuple[List[Fact], List[str]]]:
        root, merger, files, signature = self.merged(path)
        if root is None:
            return None
        dialect = config_dialect(result.kind)
        if signature is not None:
            signature = ["config", dialect, result.path, signature]
        return self.memo_facts(signature, lambda: config_facts(root, merger, dialect, result.path)), files

    def _merge_all(self, leaves: List[Tuple[str, object]]) -> List[Optional[Tuple[List[Fact], List[str]]]]:
        if self.jobs > 1 and len(leaves) >= PARALLEL_MERGES:
            done = _merge_in_forks(self, leaves)
            if done is not None:
                return done
        return [self._merged_facts(path, result) for path, result in leaves]

    def _hydra_fragment(self, path: str) -> bool:
        directory = os.path.dirname(path)  # the answer is the same for every file of a folder
        known = self._fragment_dirs.get(directory)
        if known is None:
            known = self._fragment_dirs[directory] = _is_hydra_fragment(path, self._inside)
        return known

    def _launch_recipe(self, script, launch: Launch, code_pool) -> Optional[Recipe]:
        script_path = self.absolute[script.path]
        project = self.projects.root(script_path)
        name = f"{script.path}:{launch.line}"
        if launch.config is not None:
            if "$" in launch.config.text:
                return None  # a path only the shell knows
            config_path = self._find_launched(launch.config.text, script_path, project)
            if config_path is None:
                self._problem(launch.config.span, f"the config '{launch.config.text}' this command trains cannot be found")
                return None
            result = self._result(config_path)
            if result is None or not result.roots:
                return None
            root, merger, files, signature = self.merged(config_path)
            if root is None:
                return None
            for key, word in launch.overrides:
                root = merger.set_path(root, key, scalar_from_text(word.text, word.span))
            for flag, word in launch.flags:
                if "." in flag:  # LightningCLI: --trainer.gradient_clip_val 0.2
                    root = merger.set_path(root, flag.lstrip("-"), scalar_from_text(word.text, word.span))
            if signature is not None:
                signature = ["launch", result.kind, result.path, signature, script.path, script.digest, launch.line,
                             repr(launch.overrides), repr(launch.flags)] if script.digest else None
            facts = self.memo_facts(signature, lambda: config_facts(root, merger, result.kind, result.path))
            facts.extend(self._launch_devices(launch))
            facts.extend(self._flag_facts(launch, []))
            return Recipe(name, facts, code_pool.get(project, []), files + [script.path], is_config=True)
        if not launch.flags:
            return None
        code = code_pool.get(project, [])
        overridden, flag_facts = self._flag_overrides(launch, code)
        if not flag_facts:
            return None
        facts = [f for f in code if id(f) not in overridden] + flag_facts + self._launch_devices(launch)
        return Recipe(name, facts, [], sorted({f.span.path for f in code}) + [script.path])

    def _find_launched(self, text: str, script_path: str, project: str) -> Optional[str]:
        bases = [os.getcwd(), project, os.path.dirname(script_path)]
        parent = os.path.dirname(project)
        bases.append(parent)
        for base in bases:
            candidate = os.path.normpath(os.path.join(base, os.path.expanduser(text)))
            if os.path.isfile(candidate) and self._inside(candidate):
                return candidate
        return None

    def _launch_devices(self, launch: Launch) -> List[Fact]:
        if launch.gpus is None:
            return []
        number = as_number(launch.gpus.text)
        if number is None or number < 1:
            return []
        return [Fact(names.DEVICES, int(number), launch.gpus.span, "GPUs on the command line", "shell")]

    def _flag_facts(self, launch: Launch, code: List[Fact]) -> List[Fact]:
        items = []
        for flag, word in launch.flags:
            if "." in flag:
                continue
            key = flag.lstrip("-").replace("-", "_")
            items.append((Scalar(word.span, key, flag), scalar_from_text(word.text, word.span)))
        if not items:
            return []
        return extract_all(Mapping(items[0][0].span, items), "shell")

    def _flag_overrides(self, launch: Launch, code: List[Fact]) -> Tuple[set, List[Fact]]:
        """Flags a script passes replace the argparse defaults of the same option."""
        flag_facts = self._flag_facts(launch, code)
        overridden = set()
        out = []
        for fact in flag_facts:
            option = fact.key.lstrip("-").replace("-", "_").lower()
            defaults = [f for f in code if f.dialect == "argparse" and f.name == fact.name
                        and f.key.lstrip("-").replace("-", "_").lower() == option]
            for default in defaults:
                overridden.add(id(default))
            out.append(replace(fact, key="--" + option, chain=tuple(defaults)))
        return overridden, out


def config_facts(root: Node, merger: Merger, dialect: str, leaf_display: str) -> List[Fact]:
    """The facts of a merged config tree; each overridden value keeps what it replaced."""
    facts = []
    for fact in extract_all(root, dialect):
        older = [_fact_from_scalar(fact, s) for s in merger.history.get(fact.key, [])]
        facts.append(replace(fact, chain=tuple(f for f in older if f is not None)) if older else fact)
    match = _LAYOUT.search(os.path.basename(leaf_display))
    if match and isinstance(root, Mapping) and (root.get("_base_") is not None or root.get("train_dataloader") is not None):
        span = Span(leaf_display, 1, 1, 1, 1)
        facts.append(Fact(names.DEVICES, int(match.group(1)), span, f"file name '{match.group(0).strip('_.-')}'", "mmengine",
                          (("implied", True), ("per_device", int(match.group(2))))))
    return facts


def config_dialect(kind: str) -> str:
    return "pyconfig" if kind == "python" else kind


def solo_facts(root: Node, kind: str, display: str) -> List[Fact]:
    """What ``RecipeBuilder`` would find in a config that names no base and is merged over
    nothing: computed by the per-file stage, in parallel, so the recipe stage of a config
    nobody inherits needs neither its tree nor the work (``RecipeBuilder.build`` uses it
    only when the chain is that file alone)."""
    return config_facts(root, Merger(), config_dialect(kind), display)


def _join(outer: str, inner: str) -> str:
    return ".".join(part for part in (outer, inner) if part)


def _fact_from_scalar(fact: Fact, scalar: Scalar) -> Optional[Fact]:
    value = scalar.value
    number = as_number(value)
    if isinstance(fact.value, (int, float)) and not isinstance(fact.value, bool):
        if number is None:
            return None
        value = number
    return Fact(fact.name, value, scalar.span, fact.key, fact.dialect, fact.detail)


def _is_hydra_fragment(path: str, inside: Callable[[str], bool]) -> bool:
    """A YAML in a folder that a sibling config's Hydra ``defaults`` names as a group."""
    directory = os.path.dirname(path)
    group = os.path.basename(directory)
    parent = os.path.dirname(directory)
    if not inside(parent):
        return False  # never read outside the roots modellint was given
    try:
        siblings = [n for n in os.listdir(parent) if n.endswith((".yaml", ".yml"))]
    except OSError:
        return False
    for name in siblings[:50]:
        try:
            with open(os.path.join(parent, name), encoding="utf-8", errors="replace") as handle:
                head = handle.read(4096)
        except OSError:
            continue
        if "defaults" in head and re.search(r"^\s*-\s*(override\s+)?/?%s\s*:" % re.escape(group), head, re.M):
            return True
    return False


def build_recipes(results: Iterable, absolute: Dict[str, str], load: Callable[[str], Optional[object]] = lambda p: None,
                  allowed_roots: Sequence[str] = (), memo=None, jobs: int = 1) -> Tuple[List[Recipe], List[Problem]]:
    builder = RecipeBuilder(results, absolute, load, list(allowed_roots) or [os.getcwd()], memo, jobs)
    recipes = builder.build()
    return recipes, builder.problems


# -- merging in parallel -------------------------------------------------------------
# Merging a config over its bases and reading its facts is most of the recipe stage
# (MMPretrain has a thousand leaf configs). Forked workers inherit the builder with
# every file's result already in memory, so nothing is sent to them but leaf numbers,
# and only facts come back. Where fork is not the safe default (macOS, Windows) the
# merges stay in this process.
PARALLEL_MERGES = 64
_FORKED: Optional[Tuple["RecipeBuilder", List[Tuple[str, object]]]] = None


def _merge_chunk(indices: List[int]):
    """The leaves' facts, and the facts memo's new entries (the parent writes the cache)."""
    builder, leaves = _FORKED
    done = [builder._merged_facts(*leaves[i]) for i in indices]
    return done, (builder.memo.take_new() if builder.memo is not None else {})


def _merge_in_forks(builder: "RecipeBuilder", leaves) -> Optional[list]:
    import multiprocessing
    import sys
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    from modellint.scheduling import guided_chunks

    if not sys.platform.startswith("linux"):
        return None
    global _FORKED
    _FORKED = (builder, leaves)
    chunks = guided_chunks(range(len(leaves)), builder.jobs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3.12+: a DeprecationWarning when threads exist
            with ProcessPoolExecutor(max_workers=builder.jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                parts = list(pool.map(_merge_chunk, chunks))
    except Exception:  # a worker that died or could not send its facts back: merge here
        return None
    finally:
        _FORKED = None
    if builder.memo is not None:
        for _, new in parts:
            builder.memo.adopt(new)
    return [item for part, _ in parts for item in part]
