"""Three shortcuts must never change a result.

* Config trees travel (to the parent process, into the cache) as one pickled
  blob, unpickled only when ``roots`` is read.
* A config that names no base has its facts computed by the per-file stage
  (``solo_facts``); the recipe stage uses them when no other config inherits
  the file. Recipes built with and without them must be identical, on every
  rule example and on the bundled fixture projects.
* Leaf configs are merged over their bases in forked worker processes when
  there are many (on Linux, with more than one job).
"""

import copy
import os
import pickle
import sys
from pathlib import Path

import pytest

from modellint import recipe, registry
from modellint.discovery import discover
from modellint.filecheck import Checker, FileResult
from modellint.recipe import build_recipes
from tests.helpers import write_files

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "SOLVER:\n  BASE_LR: 0.02  # lr\n  IMS_PER_BATCH: 16\nMODEL: {A: 1e-3, B: [true, 'x']}\n"


def test_roots_stay_packed_until_read():
    result = Checker([], {}).check_text(CONFIG, "configs/a.yaml", "yaml")
    blob = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    copy_ = pickle.loads(blob)
    assert "roots" not in copy_.__dict__, "unpickling must not build the tree"
    again = pickle.loads(pickle.dumps(copy_, protocol=pickle.HIGHEST_PROTOCOL))
    assert "roots" not in copy_.__dict__ and "roots" not in again.__dict__, "re-pickling passes the blob on"
    assert again.roots[0].get("SOLVER").get("BASE_LR").value == 0.02
    assert pickle.dumps(copy_.roots) == pickle.dumps(result.roots), "the tree survives"
    assert copy_.findings == result.findings and copy_.bases == result.bases and copy_.solo_facts == result.solo_facts


def test_the_tree_is_pickled_once_for_cache_and_transfer():
    result = Checker([], {}).check_text(CONFIG, "configs/a.yaml", "yaml")
    first = result.__getstate__()["_roots_blob"]
    assert result.__getstate__()["_roots_blob"] is first
    result.roots = []  # a new tree must never travel with the old blob
    assert result.__getstate__()["_roots_blob"] == b""
    assert pickle.loads(pickle.dumps(result)).roots == []


def test_a_result_without_trees_round_trips():
    result = FileResult("train.py", "python")
    copy_ = pickle.loads(pickle.dumps(result))
    assert copy_.roots == [] and copy_ == result
    with pytest.raises(AttributeError):
        copy_.no_such_field


def _projects():
    for code in registry.all_rules():
        for index, example in enumerate(registry.get(code).examples):
            if any(not path.endswith(".py") for path, _ in example.files):
                yield f"{code}-{index}", list(example.files)
    for project in sorted((ROOT / "fixtures").iterdir()):
        if project.is_dir():
            yield project.name, project


def _recipes(root, strip_solo: bool, jobs: int = 1):
    cwd = os.getcwd()
    os.chdir(str(root))
    try:
        sources, _ = discover(["."])
        checker = Checker([], {})
        results = [checker.check_path(s.path, s.display, s.kind) for s in sources]
        if strip_solo:
            results = [copy.copy(r) for r in results]
            for result in results:
                result.solo_facts = None
        recipes, problems = build_recipes(results, {s.display: s.path for s in sources}, lambda p: None, ["."], jobs=jobs)
        return [(r.name, repr(r.facts), repr(r.context), list(r.files), r.complete, r.is_config) for r in recipes], \
            [repr(p) for p in problems], sum(r.solo_facts is not None for r in results)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("name,project", list(_projects()), ids=lambda v: v if isinstance(v, str) else "")
def test_solo_facts_give_the_recipes_merging_gives(tmp_path, name, project):
    if isinstance(project, Path):
        root = project
    else:
        write_files(tmp_path, project)
        root = tmp_path
    fast, fast_problems, solo = _recipes(root, strip_solo=False)
    slow, slow_problems, none = _recipes(root, strip_solo=True)
    assert none == 0
    assert fast == slow and fast_problems == slow_problems


def test_solo_facts_are_used():
    _, _, solo = _recipes(ROOT / "fixtures" / "md-fed-tennis", strip_solo=False)
    assert solo > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="merges are forked on Linux only")
@pytest.mark.parametrize("name,project", list(_projects()), ids=lambda v: v if isinstance(v, str) else "")
def test_merging_in_forked_workers_gives_the_same_recipes(tmp_path, monkeypatch, name, project):
    if isinstance(project, Path):
        root = project
    else:
        write_files(tmp_path, project)
        root = tmp_path
    forked = []
    real = recipe._merge_in_forks

    def spy(builder, leaves):
        done = real(builder, leaves)
        forked.append(done is not None)
        return done

    monkeypatch.setattr(recipe, "PARALLEL_MERGES", 1)
    monkeypatch.setattr(recipe, "_merge_in_forks", spy)
    parallel = _recipes(root, strip_solo=True, jobs=2)
    monkeypatch.setattr(recipe, "PARALLEL_MERGES", 10 ** 9)
    assert parallel == _recipes(root, strip_solo=True, jobs=2)
    assert forked in ([], [True]), "a merge that needs no fork makes none; one that does must not fall back"
