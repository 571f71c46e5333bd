"""A run imports only what its files need.

A one-file YAML check is mostly start-up: importing the traversal, the code
fact visitors and every code rule (with the loop, module and dataflow
analyses behind them) would cost more than the check. These tests run the
CLI in a fresh interpreter and list which of modellint's modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from modellint import registry
from tests.helpers import write_files

PROBE = textwrap.dedent("""
    import json, sys
    from modellint.cli import main
    try:
        main(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
    sys.stderr.write("PROBE" + json.dumps(sorted(m for m in sys.modules if m.startswith("modellint"))) + "\\n")
""")

# what only Python files need
PYTHON_ONLY = ["modellint.code.traversal", "modellint.facts.training_code", "modellint.facts.code_literals",
               "modellint.parsing.python_doc"] + [
    registry.module_name(code) for code in sorted(registry.CODE_RULE_CODES - registry.RECIPE_RULE_CODES)]

CONFIG = """\
SOLVER:
  BASE_LR: 0.02
  IMS_PER_BATCH: 2
  MAX_ITER: 1000
  WARMUP_ITERS: 5000
"""

TRAIN = """\
import torch

for x, y in loader:
    loss = model(x).sum()
    loss.backward()
    opt.step()
"""


def _loaded(tmp_path, *paths):
    proc = subprocess.run([sys.executable, "-c", PROBE, "--format", "json", "--no-cache", "--jobs", "1", *paths],
                          cwd=str(tmp_path), capture_output=True, timeout=120)
    err = proc.stderr.decode(errors="replace")
    assert "PROBE" in err, err[-3000:]
    return json.loads(proc.stdout), set(json.loads(err.split("PROBE", 1)[1].splitlines()[0]))


def test_a_config_only_run_loads_no_python_machinery(tmp_path):
    write_files(tmp_path, [("configs/run.yaml", CONFIG)])
    findings, loaded = _loaded(tmp_path, "configs/run.yaml")
    assert "ML105" in {f["code"] for f in findings}, "the recipe rules ran"
    assert loaded.isdisjoint(PYTHON_ONLY), sorted(loaded & set(PYTHON_ONLY))


def test_a_python_file_loads_the_code_rules(tmp_path):
    """The probe can see them: the same listing holds them once a Python file is read."""
    write_files(tmp_path, [("train.py", TRAIN)])
    findings, loaded = _loaded(tmp_path, "train.py")
    assert "ML401" in {f["code"] for f in findings}
    assert set(PYTHON_ONLY) <= loaded, sorted(set(PYTHON_ONLY) - loaded)


POOL_PROBE = textwrap.dedent("""
    import json, os, sys
    from modellint import engine
    from modellint.settings import Settings
    os.chdir(sys.argv[1])
    engine.run(["."], Settings(), jobs=2)
    sys.stdout.write(json.dumps(sorted(m for m in sys.modules if m.startswith("modellint"))))
""")


def test_the_parent_imports_the_python_machinery_before_forking_workers(tmp_path):
    """Forked workers share the parent's modules; imported after the fork, each worker
    would import its own copy of the code rules and analyses."""
    from modellint.engine import PARALLEL_THRESHOLD

    write_files(tmp_path, [(f"pkg/mod_{i}.py", f"X = {i}\n") for i in range(PARALLEL_THRESHOLD + 2)])
    proc = subprocess.run([sys.executable, "-c", POOL_PROBE, str(tmp_path)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    loaded = set(json.loads(proc.stdout))
    assert set(PYTHON_ONLY) <= loaded, sorted(set(PYTHON_ONLY) - loaded)
