"""The default ``text`` format: what a person reads in a terminal.

A small project written here (not ``fixtures/``, which keeps changing) is linted by the real CLI
and the output is compared with the reviewed snapshot ``tests/snapshots/text_output.txt``. When a
rule's wording changes on purpose, regenerate it with

    MODELLINT_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_text_output.py

and review the diff before committing it. Colours: only on a TTY or with ``FORCE_COLOR``, never
with ``NO_COLOR``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import HERE

SNAPSHOT = os.path.join(HERE, "snapshots", "text_output.txt")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMING = re.compile(r"checked (\d+) files in \d+\.\d\d s$", re.M)

PROJECT = {
    "pyproject.toml": "[project]\nname = \"vae-run\"\n",
    "configs/vae.yaml": (
        "# VAE run after the post-mortem\n"
        "trainer:\n"
        "  max_epochs: 100\n"
        "  gradient_clip_val: 0.2\n"
        "model:\n"
        "  latent_dim: 32\n"
    ),
    "configs/detr.yaml": "optimizer: {type: AdamW, lr: 1.0e-4, weight_decay: 1.0e-4}\ngrad_clip: 0.1\n",
    "configs/legacy.yaml": "optimizer:\n  lr: 1.0e-10  # modellint: ignore[ML102]\n",
    # tab-indented on purpose: the caret must line up under the expanded tab
    "src/train.py": (
        "import torch\n"
        "from torch.nn.utils import clip_grad_norm_\n"
        "\n"
        "\n"
        "def train_step(model, batch, opt):\n"
        "\tloss = model(batch).mean()\n"
        "\tloss.backward()\n"
        "\tclip_grad_norm_(model.parameters(), 0.2)\n"
        "\topt.step()\n"
        "\n"
        "\n"
        "def make_optimizer(model):\n"
        "    return torch.optim.SGD(model.parameters(), lr=1e-10, momentum=0.9)\n"
    ),
    "src/model.py": (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class Encoder(nn.Module):\n"
        "    def __init__(self, latent_dim=32):\n"
        "        super().__init__()\n"
        "        self.proj = nn.Linear(128, latent_dim)\n"
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("textout")
    for rel, text in PROJECT.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE")}
    env.update(extra)
    return env


def _run(project, *args, **env):
    proc = subprocess.run([sys.executable, "-m", "modellint", "check", "--no-cache", *args], cwd=str(project),
                          env=_env(**env), capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def _normalise(text):
    return TIMING.sub(r"checked \1 files in <TIME> s", text)


def test_text_output_matches_reviewed_snapshot(project):
    out = _normalise(_run(project, NO_COLOR="1"))
    if os.environ.get("MODELLINT_UPDATE_SNAPSHOTS"):
        os.makedirs(os.path.dirname(SNAPSHOT), exist_ok=True)
        with open(SNAPSHOT, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(out)
    with open(SNAPSHOT, encoding="utf-8") as handle:
        expected = handle.read()
    assert out == expected, (
        "text output differs from tests/snapshots/text_output.txt; if the change is intended, regenerate with "
        "MODELLINT_UPDATE_SNAPSHOTS=1 and review the diff")


def test_text_output_shape(project):
    """What the snapshot must show, independent of rule wording."""
    out = _run(project, NO_COLOR="1")
    blocks = out.split("\n\n")
    summary = blocks[-1].strip()
    assert re.fullmatch(r"4 findings \(1 errors, 2 warnings, 1 info\) in 3 files; checked 6 files in \d+\.\d\d s", summary)
    for block in blocks[:-1]:
        lines = block.splitlines()
        assert re.match(r"^\S+:\d+:\d+: (error|warning|info) ML\d{3} ", lines[0])
        gutter, source, caret = lines[1:4]
        path, line, col = lines[0].split(":")[:3]
        raw = PROJECT[path].splitlines()[int(line) - 1]
        assert gutter == " " * len(line) + " |"
        assert source == f"{line} | {raw.expandtabs(4) if raw.startswith(chr(9)) else raw}"
        assert caret.index("^") == len(line) + 3 + len(raw[: int(col) - 1].replace("\t", "    "))
        assert any(line.startswith("  = help: ") for line in lines)
    assert "legacy.yaml" not in out  # suppressed
    # the tab-indented line is expanded and the caret sits under the 0.2
    (tab_block,) = [b for b in blocks if b.startswith("src/train.py:8:")]
    source, caret = tab_block.splitlines()[2:4]
    assert "\t" not in source
    assert source[caret.index("^"):caret.index("^") + 3] == "0.2"
    # notes: a same-file and a cross-file related location
    assert "  = note: configs/detr.yaml:1:" in out
    assert "  = note: src/train.py:13:" in out


def test_quiet_drops_the_summary(project):
    out = _run(project, "--quiet", NO_COLOR="1")
    assert "findings (" not in out
    assert out.rstrip("\n").splitlines()[0].startswith("configs/detr.yaml:2:")


def test_statistics_counts_per_rule(project):
    out = _run(project, "--statistics", NO_COLOR="1")
    assert out.splitlines() == ["    3  ML104  tight-gradient-clipping", "    1  ML102  implausible-learning-rate"]


# -- colours ----------------------------------------------------------------------------------
def test_no_colour_when_piped(project):
    assert not ANSI.search(_run(project))


def test_force_color_colours_a_pipe(project):
    coloured = _run(project, FORCE_COLOR="1")
    assert ANSI.search(coloured)
    # the same text once the escape codes are removed
    assert _normalise(ANSI.sub("", coloured)) == _normalise(_run(project, NO_COLOR="1"))


def test_no_color_beats_force_color(project):
    assert not ANSI.search(_run(project, FORCE_COLOR="1", NO_COLOR="1"))


def test_colour_only_in_the_text_format(project):
    for fmt in ("concise", "json", "github", "sarif"):
        assert not ANSI.search(_run(project, "--format", fmt, FORCE_COLOR="1")), fmt


def _run_on_tty(project, **env):
    pty = pytest.importorskip("pty", reason="needs a POSIX pseudo-terminal")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "modellint", "check", "--no-cache"], cwd=str(project),
                                env=_env(TERM="xterm", **env), stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=300) in (0, 1)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_colour_on_a_tty(project):
    out = _run_on_tty(project)
    assert ANSI.search(out)
    assert "ML104" in ANSI.sub("", out)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_no_color_on_a_tty(project):
    out = _run_on_tty(project, NO_COLOR="1")
    assert "ML104" in out and not ANSI.search(out)


def test_source_lines_are_numbered_as_findings_are():
    """The line under a finding's header is the finding's line: a form feed is no line break to
    Python (``str.splitlines`` makes it one), a lone ``\\r`` is, and a CRLF line shows no ``\\r``."""
    from modellint.reporters.text_format import _Lines

    text = "import x\n# page\x0c two\ntrainer = Trainer(gradient_clip_val=0.1)\n"
    lines = _Lines({"a.py": text, "b.py": text.replace("\n", "\r"), "c.sh": "a\r\nb=1\r\n"})
    assert lines.get("a.py", 3) == lines.get("b.py", 3) == "trainer = Trainer(gradient_clip_val=0.1)"
    assert lines.get("c.sh", 2) == "b=1"
