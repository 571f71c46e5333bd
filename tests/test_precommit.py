"""The published pre-commit hook, run by the real ``pre-commit`` in a fresh git repository.

How this stays offline: ``pre-commit try-repo`` clones the hook repository and
builds a ``language: python`` environment for it with ``virtualenv`` + ``pip
install .``. Normally pip would fetch setuptools (build isolation) and the
dependencies from the package index. Here the environment is created with
``VIRTUALENV_SYSTEM_SITE_PACKAGES=1`` so it sees the interpreter's installed
packages (setuptools, click, PyYAML, pathspec), pip gets ``PIP_NO_INDEX=1``
(never touch the network) and ``PIP_NO_BUILD_ISOLATION=0`` (pip reads this
variable as ``build_isolation = False``, i.e. "build with what is installed").
That is the real hook definition, the real clone-and-install path and the real
``modellint`` console script, with no network at all. When the tests run inside
a virtualenv, "system site packages" would be the *base* interpreter's, which may
lack the dependencies, so there pip is left to use the package index as usual.

The hook repository is a snapshot of this checkout's package files committed
into a temporary git repository (pre-commit's own try-repo does the same with a
"shadow repo" for uncommitted changes; doing it ourselves also covers new files
that are not tracked yet and checkouts that are not git repositories).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("pre_commit", reason="the `pre-commit` package is not installed (pip install 'modellint[test]')")

from tests.conftest import REPO  # noqa: E402

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")

# Files that make up the installable package plus the hook manifest.
PACKAGE_FILES = ("pyproject.toml", ".pre-commit-hooks.yaml", "README.md", "LICENSE", "setup.py", "setup.cfg", "MANIFEST.in")
PACKAGE_DIRS = ("modellint", "rules")

BAD = """\
trainer:
  max_epochs: 100
  gradient_clip_val: 0.2
"""
FIXED = """\
trainer:
  max_epochs: 100
  gradient_clip_val: 1.0
"""
GOOD = """\
optimizer:
  type: SGD
  lr: 0.1
  momentum: 0.9
"""


def _git_env(home) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and not k.startswith("PRE_COMMIT")}
    env.update({
        "GIT_AUTHOR_NAME": "modellint tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "modellint tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home),
        "PRE_COMMIT_HOME": str(home / "pre-commit-cache"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never",
    })
    env.pop("FORCE_COLOR", None)
    if sys.prefix == sys.base_prefix:  # not inside a virtualenv: build the hook env fully offline
        env.update({"VIRTUALENV_SYSTEM_SITE_PACKAGES": "1", "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"})
    return env


def _git(cwd, env, *args) -> None:
    subprocess.run([GIT, *args], cwd=str(cwd), env=env, check=True, capture_output=True, timeout=60)


def _hook_repo(tmp_path, env):
    """A git repository holding this checkout's package files and hook manifest."""
    repo = tmp_path / "hook-repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PACKAGE_DIRS:
        shutil.copytree(os.path.join(REPO, name), repo / name, ignore=ignore)
    for name in PACKAGE_FILES:
        if os.path.exists(os.path.join(REPO, name)):
            shutil.copy2(os.path.join(REPO, name), repo / name)
    _git(repo, env, "init", "-q")
    _git(repo, env, "add", ".")
    _git(repo, env, "commit", "-q", "-m", "modellint snapshot")
    return repo


@pytest.fixture(scope="module")
def hook(tmp_path_factory):
    """(hook repository, environment); one pre-commit cache for the module, so the hook env is built once."""
    tmp_path = tmp_path_factory.mktemp("precommit")
    env = _git_env(tmp_path)
    return _hook_repo(tmp_path, env), env


def _project(tmp_path, env, files):
    project = tmp_path / "project"
    for rel, text in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    _git(project, env, "init", "-q")
    _git(project, env, "add", ".")
    _git(project, env, "commit", "-q", "-m", "a training project")
    return project


def _try_repo(project, hook_repo, env, *extra):
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "modellint", *extra]
    return subprocess.run(cmd, cwd=str(project), env=env, capture_output=True, text=True, timeout=540)


def test_manifest_is_valid_for_pre_commit():
    from pre_commit.clientlib import load_manifest

    (hook,) = load_manifest(os.path.join(REPO, ".pre-commit-hooks.yaml"))
    assert hook["id"] == "modellint"
    assert hook["language"] == "python"
    assert set(hook["types_or"]) == {"python", "yaml", "json", "shell", "toml"}
    assert hook["require_serial"] is True
    assert hook["pass_filenames"] is True


def test_hook_fails_on_bad_config_then_passes_once_fixed(tmp_path, hook):
    hook_repo, env = hook
    project = _project(tmp_path, env, {"configs/vae.yaml": BAD, "configs/sgd.yaml": GOOD,
                                       "NOTES.txt": "not something modellint reads\n"})

    # 1. --all-files: the tight clip in configs/vae.yaml fails the hook, with the finding in the output.
    run = _try_repo(project, hook_repo, env, "--all-files")
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "modellint" in out and "Failed" in out, out
    assert "configs/vae.yaml:3:22: warning ML104 gradient clipping max-norm 0.2" in out, out
    assert "configs/sgd.yaml" not in out, out  # the good config has no finding

    # 2. A commit that stages only the fixed file: pre-commit passes just that file and the hook passes.
    (project / "configs" / "vae.yaml").write_text(FIXED)
    _git(project, env, "add", "configs/vae.yaml")
    run = _try_repo(project, hook_repo, env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Passed" in out and "ML104" not in out, out

    # 3. The whole repository is clean now.
    _git(project, env, "commit", "-q", "-m", "raise the clip")
    run = _try_repo(project, hook_repo, env, "--all-files")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Passed" in out, out

    # 4. Only a file modellint does not read is staged: pre-commit skips the hook (nothing matched types_or).
    (project / "NOTES.txt").write_text("still not a config\n")
    _git(project, env, "add", "NOTES.txt")
    run = _try_repo(project, hook_repo, env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "no files to check" in out and "Skipped" in out, out


def test_cross_file_rule_sees_a_base_config_that_is_not_staged(tmp_path, hook):
    """Only the child config is staged, so pre-commit passes only it; modellint still reads the base
    it inherits from (``_BASE_``) and reports the batch change without the LR rescale (ML101)."""
    hook_repo, env = hook
    project = _project(tmp_path, env, {"configs/base.yaml": "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n"})
    child = project / "configs" / "small_gpu.yaml"
    child.write_text("_BASE_: base.yaml\nSOLVER:\n  IMS_PER_BATCH: 2\n")
    _git(project, env, "add", "configs/small_gpu.yaml")
    run = _try_repo(project, hook_repo, env)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "configs/small_gpu.yaml:3:18: warning ML101" in out and "16" in out and "0.0025" in out, out

    child.write_text("_BASE_: base.yaml\nSOLVER:\n  IMS_PER_BATCH: 2\n  BASE_LR: 0.0025\n")
    _git(project, env, "add", "configs/small_gpu.yaml")
    run = _try_repo(project, hook_repo, env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Passed" in out, out


def test_only_unlintable_files_exit_zero(tmp_path):
    """Whatever pre-commit (or a shell glob) passes, files modellint cannot read are skipped, not errors."""
    (tmp_path / "NOTES.txt").write_text("hello\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    env = dict(os.environ, NO_COLOR="1")
    run = subprocess.run([sys.executable, "-m", "modellint", "check", "NOTES.txt", "image.png"], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 findings" in run.stdout
    assert run.stderr == ""
