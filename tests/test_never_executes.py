"""modellint reads code and configs; it never runs them.

Every payload below would write a marker file if anything executed it: YAML
tags that PyYAML's unsafe loaders turn into calls, Python configs and modules
whose import has side effects, launch scripts, build files. The CLI runs in a
subprocess over each project (without ``--instantiate``) and no marker may
appear. A plain lint run must not even import torch or libcst.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO
from tests.helpers import write_files

TIMEOUT = 120
# ``python -m`` puts the working directory first on sys.path, where a hostile
# project's yaml.py would shadow PyYAML; the ``modellint`` console script does
# not, and neither does -P (3.11+) or -I.
PYTHON = [sys.executable, "-P" if sys.version_info >= (3, 11) else "-I"]


def run_cli(cwd, *args, env=None):
    proc = subprocess.run([*PYTHON, "-m", "modellint", "--format", "json", "--no-cache", *args], cwd=str(cwd),
                          capture_output=True, timeout=TIMEOUT, env=dict(os.environ, NO_COLOR="1", **(env or {})))
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")[-3000:]
    return json.loads(proc.stdout)


def markers(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("MARKER*"))


def _payload(marker) -> str:
    """Python that writes ``marker`` (an absolute path) when run."""
    return f"open({str(marker)!r}, 'w').write('executed')"


def test_yaml_python_tags_stay_inert_strings(tmp_path):
    m = tmp_path / "MARKER_yaml"
    shell = f"touch {m}"
    write_files(tmp_path, [
        ("configs/apply.yaml", f"x: !!python/object/apply:os.system [{json.dumps(shell)}]\nlr: 0.1\n"),
        ("configs/new.yaml", f"x: !!python/object/new:subprocess.Popen [[sh, -c, {json.dumps(shell)}]]\n"),
        ("configs/name.yaml", "x: !!python/name:os.system\ny: !!python/module:os\n"),
        ("configs/eval.yaml", f"x: !!python/object/apply:builtins.exec [{json.dumps(_payload(m))}]\n"),
        ("configs/merge.yaml", f"base: &b !!python/object/apply:os.system [{json.dumps(shell)}]\nother:\n  <<: *b\n"),
        ("configs/hydra.yaml", "defaults:\n  - _self_\nmodel:\n  _target_: os.system\n  _args_: [" + json.dumps(shell) + "]\n"),
        ("configs/detectron2.yaml", f"_BASE_: apply.yaml\nSOLVER:\n  BASE_LR: !!python/object/apply:os.system [{json.dumps(shell)}]\n"),
        ("ds_config.json", json.dumps({"train_batch_size": 8, "optimizer": {"type": "Adam", "params": {"lr": shell}}})),
        ("pyproject.toml", "[tool.poetry.scripts]\nx = 'os:system'\n"),
    ])
    findings = run_cli(tmp_path, ".")
    assert markers(tmp_path) == []
    assert "ML999" not in {f["code"] for f in findings}


def test_the_yaml_payload_would_really_run(tmp_path):
    """Control: the same document does write the marker under PyYAML's unsafe loader."""
    import yaml

    m = tmp_path / "MARKER_control"
    yaml.load(f"x: !!python/object/apply:os.system [{json.dumps(f'touch {m}')}]\n", Loader=yaml.UnsafeLoader)
    assert m.exists()


def test_python_configs_and_modules_are_parsed_not_imported(tmp_path):
    def marker(name):
        return _payload(tmp_path / f"MARKER_{name}")

    write_files(tmp_path, [
        ("pyproject.toml", "[project]\nname = 'victim'\n"),
        ("setup.py", marker("setup") + "\n"),
        ("conftest.py", marker("conftest") + "\n"),
        ("configs/train_config.py", marker("config") + "\nlr = 0.1\noptimizer = dict(type='SGD', lr=lr)\n"),
        ("configs/mm_child_config.py", "_base_ = ['./train_config.py']\n" + marker("mm_child") + "\noptimizer = dict(lr=0.2)\n"),
        ("configs/lazy.py", textwrap.dedent(f"""\
            from detectron2.config import LazyCall as L
            import torch
            {marker("lazy")}
            optimizer = L(torch.optim.SGD)(lr=0.02, momentum=0.9)
        """)),
        ("victim/__init__.py", marker("package") + "\n"),
        ("victim/model.py", "import torch\nfrom torch import nn\n" + marker("model") + textwrap.dedent("""
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    """ + marker("init") + """
                    self.fc = nn.Linear(4, 2)

                def forward(self, x):
                    return self.fc(x)
        """)),
        ("train.py", textwrap.dedent(f"""\
            import argparse
            import torch
            from victim.model import Net
            import victim
            {marker("train")}
            p = argparse.ArgumentParser()
            p.add_argument('--lr', type=float, default=0.1)
            if __name__ == '__main__':
                {marker("main")}
                model = Net()
                opt = torch.optim.SGD(model.parameters(), lr=p.parse_args().lr)
        """)),
        ("yaml.py", marker("yaml_shadow") + "\n"),  # same names as modellint's own dependencies
        ("click.py", marker("click_shadow") + "\n"),
        ("pathspec.py", marker("pathspec_shadow") + "\n"),
        ("scripts/train.sh", f"touch {tmp_path / 'MARKER_shell'}\npython train.py --lr 0.5 $(touch {tmp_path / 'MARKER_subst'})\n"),
        ("configs/hydra.yaml", "defaults:\n  - _self_\nmodel:\n  _target_: victim.model.Net\n"),
    ])
    findings = run_cli(tmp_path, ".", "--jobs", "2")
    run_cli(tmp_path, "train.py", "configs/mm_child_config.py", "victim/model.py")  # explicit files too
    assert markers(tmp_path) == []
    assert "ML999" not in {f["code"] for f in findings}
    # the config was read as data all the same
    listing = run_cli(tmp_path, "--select", "ML9", ".")
    assert "ML999" not in {f["code"] for f in listing}


def test_stdin_python_is_not_run(tmp_path):
    m = tmp_path / "MARKER_stdin"
    proc = subprocess.run([*PYTHON, "-m", "modellint", "--format", "json", "-", "--stdin-filename", "train.py"],
                          cwd=str(tmp_path), input=_payload(m).encode(), capture_output=True, timeout=TIMEOUT)
    assert proc.returncode in (0, 1) and json.loads(proc.stdout) == []
    assert not m.exists()


PROBE = textwrap.dedent("""
    import json, sys
    from modellint.cli import main
    try:
        main(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "libcst", "numpy", "victim", "train", "pygls"))
    sys.stderr.write("PROBE" + json.dumps(heavy) + "\\n")
""")


@pytest.mark.parametrize("fixture", ["avss-swin-detectron2", "quadmodal-frozen", "md-fed-tennis"])
def test_plain_run_imports_no_torch_and_no_libcst(tmp_path, fixture):
    target = os.path.join(REPO, "fixtures", fixture)
    proc = subprocess.run([*PYTHON, "-c", PROBE, "--format", "json", "--no-cache", "--jobs", "1", target],
                          cwd=str(tmp_path), capture_output=True, timeout=TIMEOUT)
    err = proc.stderr.decode(errors="replace")
    assert "PROBE" in err, err[-3000:]
    heavy = json.loads(err.split("PROBE", 1)[1].splitlines()[0])
    assert heavy == [], heavy
    assert json.loads(proc.stdout), "the fixture has findings, so the run really linted it"
