"""Command-line behaviour editors and scripts rely on: linting an unsaved buffer from stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TIGHT_CLIP_YAML = """\
trainer:
  max_epochs: 100
  gradient_clip_val: 0.2
"""
TINY_LR_PY = """\
import torch

def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=1e-10, momentum=0.9)
"""


def _modellint(args, stdin_text=None, cwd=None):
    env = dict(os.environ, NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "modellint", *args], input=stdin_text, cwd=str(cwd) if cwd else None,
                          env=env, capture_output=True, text=True, timeout=120)


def test_stdin_yaml_reports_at_the_given_name(tmp_path):
    run = _modellint(["check", "--format", "concise", "--stdin-filename", "configs/vae.yaml", "-"], TIGHT_CLIP_YAML, tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("configs/vae.yaml:3:22: warning ML104 gradient clipping max-norm 0.2"), run.stdout
    assert len(run.stdout.splitlines()) == 1


def test_stdin_buffer_wins_over_the_file_on_disk(tmp_path):
    """Editors lint the unsaved buffer: the file on disk (here clean) must not be read instead."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "vae.yaml").write_text("trainer:\n  gradient_clip_val: 1.0\n")
    run = _modellint(["check", "--format", "json", "--stdin-filename", "configs/vae.yaml", "-"], TIGHT_CLIP_YAML, tmp_path)
    assert run.returncode == 1, run.stderr
    (finding,) = json.loads(run.stdout)
    assert (finding["code"], finding["path"], finding["line"], finding["column"]) == ("ML104", "configs/vae.yaml", 3, 22)


def test_stdin_text_format_shows_the_buffer_line(tmp_path):
    run = _modellint(["check", "--stdin-filename", "configs/vae.yaml", "-"], TIGHT_CLIP_YAML, tmp_path)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[0].startswith("configs/vae.yaml:3:22: warning ML104")
    assert lines[2] == "3 |   gradient_clip_val: 0.2"
    assert lines[3] == "  |                      ^^^"
    assert "checked 1 files" in lines[-1]


def test_stdin_python(tmp_path):
    run = _modellint(["check", "--format", "concise", "--stdin-filename", "src/optim.py", "-"], TINY_LR_PY, tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("src/optim.py:4:") and " error ML102 learning rate 1e-10" in run.stdout, run.stdout


def test_stdin_respects_suppression_comments(tmp_path):
    text = TIGHT_CLIP_YAML.replace("0.2\n", "0.2  # modellint: ignore[ML104]\n")
    run = _modellint(["check", "--format", "concise", "--stdin-filename", "configs/vae.yaml", "-"], text, tmp_path)
    assert run.returncode == 0 and run.stdout == "", run.stdout


def test_stdin_syntax_error_is_a_finding_not_a_crash(tmp_path):
    run = _modellint(["check", "--format", "concise", "--stdin-filename", "train.py", "-"], "def broken(:\n", tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("train.py:1:") and "ML901" in run.stdout


def test_stdin_without_stdin_filename_is_a_usage_error(tmp_path):
    run = _modellint(["check", "-"], TIGHT_CLIP_YAML, tmp_path)
    assert run.returncode == 2
    assert "--stdin-filename" in run.stderr
    assert run.stdout == ""


def test_stdin_combined_with_paths_is_a_usage_error(tmp_path):
    run = _modellint(["check", "--stdin-filename", "a.yaml", "-", "."], TIGHT_CLIP_YAML, tmp_path)
    assert run.returncode == 2
    assert "stdin" in run.stderr


def test_default_command_reads_stdin_too(tmp_path):
    """``modellint - --stdin-filename X`` (no ``check``) is what most editor plugins call."""
    run = _modellint(["--format", "concise", "--stdin-filename", "configs/vae.yaml", "-"], TIGHT_CLIP_YAML, tmp_path)
    assert run.returncode == 1
    assert "ML104" in run.stdout
