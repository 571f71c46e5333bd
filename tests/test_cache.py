"""The content-hash cache: warm runs are identical, edits and option changes miss, corruption is rebuilt."""

import os

from click.testing import CliRunner

from modellint import cache as cache_module
from modellint.cache import SHARDS, Cache, _read_shard, _write_atomic, salt
from modellint.cli import main
from tests.helpers import write_files


def run(root, *args):
    cwd = os.getcwd()
    os.chdir(str(root))
    try:
        return CliRunner().invoke(main, ["--format", "json", "--no-config", *args, "."], env={"NO_COLOR": "1"})
    finally:
        os.chdir(cwd)


def shards(root):
    out = []
    for folder, _, names in os.walk(os.path.join(str(root), ".modellint_cache")):
        out.extend(os.path.join(folder, n) for n in names if n.endswith(".pickle"))
    return sorted(out)


def entries(root, values=False):
    """Keys of the per-file entries, or (``values``) of the recipe facts stored beside them."""
    prefix = "v:" if values else "f:"
    return sorted(key for path in shards(root) for key in _read_shard(path) if key.startswith(prefix))


def test_warm_run_is_identical_and_edits_are_seen(tmp_path):
    write_files(tmp_path, [("configs/a.yaml", "trainer:\n  gradient_clip_val: 0.2\n"), ("train.py", "import torch\n")])
    cold = run(tmp_path)
    assert entries(tmp_path) == ["f:configs/a.yaml", "f:train.py"]
    warm = run(tmp_path)
    assert cold.output == warm.output and '"ML104"' in cold.output
    write_files(tmp_path, [("configs/a.yaml", "trainer:\n  gradient_clip_val: 1.0\n")])
    assert run(tmp_path).output.strip() == "[]"
    assert entries(tmp_path) == ["f:configs/a.yaml", "f:train.py"], "a changed file's entry replaces its old one"
    assert run(tmp_path).output.strip() == "[]"


def test_entries_are_written_to_shards_not_a_file_each(tmp_path):
    write_files(tmp_path, [(f"configs/c{i}.yaml", f"trainer:\n  gradient_clip_val: 0.{i + 1}\n") for i in range(200)])
    run(tmp_path, "--jobs", "2")
    assert len(entries(tmp_path)) == 200
    assert len(shards(tmp_path)) <= SHARDS


def test_corrupt_shards_are_rebuilt(tmp_path):
    write_files(tmp_path, [("configs/a.yaml", "trainer:\n  gradient_clip_val: 0.2\n")])
    first = run(tmp_path).output
    for path in shards(tmp_path):
        with open(path, "wb") as handle:
            handle.write(b"not a pickle")
    assert run(tmp_path).output == first
    assert entries(tmp_path) == ["f:configs/a.yaml"], "rewritten whole"
    assert run(tmp_path).output == first


def test_a_corrupt_entry_in_a_sound_shard_is_recomputed(tmp_path):
    write_files(tmp_path, [("configs/a.yaml", "trainer:\n  gradient_clip_val: 0.2\n"), ("train.py", "import torch\n")])
    first = run(tmp_path).output
    for path in shards(tmp_path):
        stored = _read_shard(path)
        damaged = {key: (day, check, b"\x80\x04 truncated") for key, (day, check, _) in stored.items()}
        _write_atomic(path, ("modellint-cache", cache_module._FORMAT, damaged))
    assert run(tmp_path).output == first
    assert run(tmp_path).output == first


def _on_day(monkeypatch, tmp_path, day, stores=(), loads=()):
    """A run on ``day`` (counted from the month limit) that loads ``loads``, stores ``stores``
    and writes its shard; every key is in one shard. Returns what it loaded."""
    monkeypatch.setattr(cache_module, "_shard_of", lambda key: 0)
    monkeypatch.setattr(cache_module, "_today", lambda: 1000 + day)
    cache = Cache(str(tmp_path), "salt")
    found = [cache.load_value(key) for key in loads]
    for key, value in stores:
        cache.store_value(key, value)
    cache.flush()
    return found


def test_entries_unused_for_a_month_are_dropped_when_their_shard_is_written(tmp_path, monkeypatch):
    limit = cache_module.MAX_AGE_DAYS
    _on_day(monkeypatch, tmp_path, 0, stores=[("old", [1])])
    _on_day(monkeypatch, tmp_path, limit, stores=[("new", [2])])
    assert _on_day(monkeypatch, tmp_path, limit, loads=["old"]) == [[1]], "not older than the limit yet"
    _on_day(monkeypatch, tmp_path, limit + 1, stores=[("newer", [3])])
    kept = _read_shard(os.path.join(str(tmp_path), "salt", "shard-00.pickle"))
    assert sorted(kept) == ["v:new", "v:newer"]


def test_a_used_entry_is_renewed_when_its_shard_is_written(tmp_path, monkeypatch):
    limit = cache_module.MAX_AGE_DAYS
    _on_day(monkeypatch, tmp_path, 0, stores=[("kept", [1])])
    assert _on_day(monkeypatch, tmp_path, limit, stores=[("other", [2])], loads=["kept"]) == [[1]]
    _on_day(monkeypatch, tmp_path, limit + 1, stores=[("third", [3])])
    assert _on_day(monkeypatch, tmp_path, limit + 1, loads=["kept"]) == [[1]], "renewed on the day it was used"


def test_no_cache_writes_nothing(tmp_path):
    write_files(tmp_path, [("configs/a.yaml", "lr: 0.1\n")])
    run(tmp_path, "--no-cache")
    assert not os.path.exists(os.path.join(str(tmp_path), ".modellint_cache"))


def test_key_depends_on_rules_and_options():
    base = salt(["ML104"], {})
    assert salt(["ML104"], {}) == base
    assert salt(["ML104", "ML102"], {}) != base
    assert salt(["ML104"], {"ML104": {"min_max_norm": 0.3}}) != base


def test_cache_directory_is_git_ignored(tmp_path):
    Cache.prepare(str(tmp_path / ".modellint_cache"))
    with open(tmp_path / ".modellint_cache" / ".gitignore") as handle:
        assert "*" in handle.read().split()


def test_recipe_facts_are_reused_only_while_every_file_of_the_chain_is_unchanged(tmp_path):
    write_files(tmp_path, [
        ("configs/base.yaml", "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n  CLIP_GRADIENTS:\n    ENABLED: true\n    CLIP_TYPE: norm\n    CLIP_VALUE: 0.1\n"),
        ("configs/leaf.yaml", "_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 1000\n"),
    ])
    cold = run(tmp_path)
    assert '"ML104"' in cold.output and "max-norm 0.1 " in cold.output
    stored = entries(tmp_path, values=True)
    assert stored, "the leaf recipe's merged facts are stored"
    assert run(tmp_path).output == cold.output
    assert entries(tmp_path, values=True) == stored, "a warm run reuses them"
    # the base changes, the leaf does not: the leaf's recipe must see the new base
    write_files(tmp_path, [("configs/base.yaml", "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n  CLIP_GRADIENTS:\n    ENABLED: true\n    CLIP_TYPE: norm\n    CLIP_VALUE: 0.05\n")])
    edited = run(tmp_path).output
    assert "max-norm 0.05" in edited and "max-norm 0.1 " not in edited
    assert len(entries(tmp_path, values=True)) > len(stored)


def test_corrupt_recipe_facts_are_recomputed(tmp_path):
    write_files(tmp_path, [
        ("configs/base.yaml", "SOLVER:\n  CLIP_GRADIENTS:\n    ENABLED: true\n    CLIP_TYPE: norm\n    CLIP_VALUE: 0.1\n"),
        ("configs/leaf.yaml", "_BASE_: base.yaml\n"),
    ])
    first = run(tmp_path).output
    assert entries(tmp_path, values=True)
    for path in shards(tmp_path):
        stored = _read_shard(path)
        damaged = {key: (day, check, b"\x80\x04 truncated" if key.startswith("v:") else data)
                   for key, (day, check, data) in stored.items()}
        _write_atomic(path, ("modellint-cache", cache_module._FORMAT, damaged))
    assert run(tmp_path).output == first
    assert run(tmp_path).output == first


def test_recipe_facts_merged_in_forked_workers_reach_the_cache(tmp_path):
    """With enough leaf configs the merges run in forked workers: their memo entries are sent
    back and written by the parent, so the warm run merges nothing."""
    from modellint import recipe

    leaves = recipe.PARALLEL_MERGES + 6
    write_files(tmp_path, [(f"configs/leaf{i}.yaml", f"_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: {1000 + i}\n")
                           for i in range(leaves)]
                + [("configs/base.yaml", "SOLVER:\n  BASE_LR: 0.02\n  CLIP_GRADIENTS:\n    ENABLED: true\n    CLIP_VALUE: 0.1\n")])
    cold = run(tmp_path, "--jobs", "2")
    assert len(entries(tmp_path, values=True)) >= leaves
    assert run(tmp_path, "--jobs", "2").output == cold.output


def test_results_round_trip_through_pickle_unchanged():
    """Tree nodes and spans pickle as argument tuples (compact); nothing may be lost."""
    import pickle

    from modellint.filecheck import Checker
    from modellint.parsing.tree import walk

    checker = Checker(["ML101", "ML104"], {})
    text = "SOLVER:\n  BASE_LR: 0.02  # lr\n  STEPS: [1, 2]\n  NAME: !custom x\n  NONE: ~\nMODEL: {A: 1e-3, B: [true, 'x']}\n"
    result = checker.check_text(text, "configs/a.yaml", "yaml")
    copy = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))

    def flat(root):
        return [(tuple(path), key.span, key.value, type(value).__name__, value.span,
                 getattr(value, "value", None), getattr(value, "raw", None), getattr(value, "tag", None),
                 getattr(value, "text", None),
                 [(type(i).__name__, i.span, getattr(i, "value", None)) for i in getattr(value, "items", [])
                  if not isinstance(i, tuple)])
                for path, key, value, _ in walk(root)]

    assert flat(copy.roots[0]) == flat(result.roots[0]) and flat(result.roots[0])
    assert copy.roots[0].span == result.roots[0].span and copy.digest == result.digest


def test_runs_sharing_one_cache_at_the_same_time(tmp_path):
    """Processes writing and reading the same entries at once (pre-commit and an editor):
    every run's output equals an uncached run's, and no temporary file is left behind."""
    import subprocess
    import sys

    files = [(f"configs/c{i}.yaml", f"_BASE_: ../base.yaml\nSOLVER:\n  CLIP_GRADIENTS:\n    CLIP_VALUE: 0.0{i + 1}\n")
             for i in range(60)]
    files += [("base.yaml", "SOLVER:\n  BASE_LR: 0.02\n  IMS_PER_BATCH: 16\n")]
    files += [(f"src/m{i}.py", "import torch\nx = torch.nn.utils.clip_grad_norm_(p, 0.0%d)\n" % (i + 1)) for i in range(60)]
    write_files(tmp_path, files)
    command = [sys.executable, "-m", "modellint", "check", "--no-config", "--format", "json", "--jobs", "2", "."]
    expected = subprocess.run(command + ["--no-cache"], cwd=str(tmp_path), capture_output=True, text=True).stdout
    assert '"ML104"' in expected
    env = dict(os.environ, MODELLINT_CACHE_DIR=str(tmp_path / "shared-cache"))
    for _ in range(2):
        runs = [subprocess.Popen(command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
        assert [run.communicate()[0] for run in runs] == [expected] * 3
    left = [n for _, _, names in os.walk(str(tmp_path / "shared-cache")) for n in names if n.endswith(".tmp")]
    assert not left
