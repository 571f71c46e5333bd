"""Hostile and broken inputs, one test each: every run ends in bounded time and
memory with valid output, the right exit code and one finding for the bad file.

Most cases run the real CLI in a subprocess with a timeout and an address-space
limit, so a hang, a memory blow-up or a segfault fails the test instead of the
test run. A few need to reach inside (an unreadable file as root, a file that
vanishes mid-run, a worker killed mid-run) and run in-process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from modellint import engine, filecheck
from modellint.parsing.source import kind_of
from modellint.settings import Settings
from tests.helpers import lint, write_files

TIMEOUT = 90  # seconds; each case takes a few on a loaded 2-core machine
MEMORY = 1536 * 1024 * 1024  # address space of the child: a blow-up fails fast
BAD_CLIP = "trainer:\n  gradient_clip_val: 0.2\n"


def _limit_memory():  # pragma: no cover - runs in the child
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    except (ImportError, ValueError, OSError):
        pass


def cli(cwd, *args, timeout=TIMEOUT, env=None):
    """Run ``modellint --format json`` in a subprocess: (exit code, findings, stderr)."""
    cmd = [sys.executable, "-m", "modellint", "--format", "json", "--no-cache", "--no-config", *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=str(cwd), capture_output=True, timeout=timeout,
                          preexec_fn=_limit_memory if os.name == "posix" else None,
                          env=dict(os.environ, NO_COLOR="1", **(env or {})))
    assert proc.returncode in (0, 1, 2), (proc.returncode, proc.stderr.decode(errors="replace")[-2000:])
    findings = json.loads(proc.stdout)
    assert isinstance(findings, list)
    proc.seconds = time.monotonic() - started
    return proc.returncode, findings, proc.stderr.decode(errors="replace")


def codes(findings, path=None):
    return [f["code"] for f in findings if path is None or f["path"] == path]


def only(findings, path):
    found = [f for f in findings if f["path"] == path]
    assert len(found) == 1, found
    return found[0]


# -- bombs and depth -------------------------------------------------------------
def test_yaml_alias_bomb_is_one_finding(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\noptimizer:\n  lr: 0.1\n")
    write_files(tmp_path, [("good.yaml", BAD_CLIP)])
    rc, findings, _ = cli(tmp_path, ".")
    finding = only(findings, "bomb.yaml")
    assert finding["code"] == "ML902" and "alias bomb" in finding["message"]
    assert codes(findings, "good.yaml") == ["ML104"] and rc == 1


def test_mapping_alias_bomb_merged_by_a_child_config(tmp_path):
    """The merge of a base config used to expand every shared subtree it replaced."""
    lines = ["l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    lines += [f"l{i}: &l{i} {{" + ", ".join(f"k{j}: *l{i - 1}" for j in range(9)) + "}" for i in range(1, 10)]
    write_files(tmp_path, [
        ("configs/base.yaml", "\n".join(lines) + "\nmodel: *l9\n"),
        ("configs/child.yaml", "_BASE_: base.yaml\nmodel: 1\nl9: 2\n"),
    ])
    rc, findings, _ = cli(tmp_path, ".")
    assert codes(findings) == ["ML902"] and findings[0]["path"] == "configs/base.yaml"
    rc, findings, _ = cli(tmp_path, "configs/child.yaml")  # the base is read as a base only
    assert rc in (0, 1) and "ML999" not in codes(findings)


def test_python_config_name_bomb(tmp_path):
    """``a1 = dict(k0=a0, k1=a0, …)``: names share values the way YAML aliases do."""
    lines = ["a0 = dict(a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i=9)"]
    lines += [f"a{i} = dict(" + ", ".join(f"k{j}=a{i - 1}" for j in range(9)) + ")" for i in range(1, 10)]
    write_files(tmp_path, [
        ("configs/base_config.py", "\n".join(lines) + "\nmodel = a9\n"),
        ("configs/child_config.py", "_base_ = ['base_config.py']\nmodel = dict(k0=dict(k0=1))\n"),
        ("configs/chain_config.py", "a0 = dict(lr=0.1)\n" + "".join(f"a{i} = dict(x=a{i - 1})\n" for i in range(1, 3000))),
        ("configs/squares_config.py", "a0 = 9**63\n" + "".join(f"a{i} = a{i - 1} * a{i - 1}\n" for i in range(1, 40))),
    ])
    rc, findings, _ = cli(tmp_path, "--jobs", "2", ".")
    assert rc == 0 and findings == []


def test_recursive_yaml_alias(tmp_path):
    write_files(tmp_path, [
        ("configs/base.yaml", "a: &a {b: *a, lr: 0.1}\nmodel: &m [*m]\n"),
        ("configs/child.yaml", "_BASE_: base.yaml\na: {b: {b: 1}}\nmodel: 3\n"),
    ])
    rc, findings, _ = cli(tmp_path, ".")
    finding = only(findings, "configs/base.yaml")
    assert finding["code"] == "ML902" and "recursive alias" in finding["message"]
    assert codes(findings) == ["ML902"] and rc == 1


@pytest.mark.parametrize("name, text, code", [
    ("flow.yaml", "x: " + "[" * 100_000 + "]" * 100_000 + "\n", "ML902"),  # segfaulted libyaml's composer
    ("dashes.yaml", "- " * 50_000 + "x\n", "ML902"),
    ("indent.yaml", "".join(" " * i + "k:\n" for i in range(1200)) + " " * 1200 + "v\n", "ML902"),
    ("mid.yaml", "x: " + "{a: " * 300 + "1" + "}" * 300 + "\n", "ML902"),  # parses; too deep to merge or pickle
    ("deep.json", "[" * 100_000 + "]" * 100_000, "ML902"),
    ("mid.json", "[" * 300 + "]" * 300, "ML902"),
    ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000 + "\n", "ML902"),
    ("mid.toml", "a = " + "[" * 300 + "]" * 300 + "\n", "ML902"),
    ("parens.py", "x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\n", "ML901"),
    ("sum.py", "x = 1" + " + 1" * 100_000 + "\n", "ML901"),
    ("lists_config.py", "x = " + "[" * 190 + "]" * 190 + "\n", None),  # valid Python, read as far as it is sane
], ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "")
def test_deep_nesting_is_one_finding(tmp_path, name, text, code):
    (tmp_path / name).write_text(text)
    write_files(tmp_path, [("good.yaml", BAD_CLIP)])
    rc, findings, _ = cli(tmp_path, "--jobs", "2", ".")
    assert codes(findings, name) == ([code] if code else [])
    assert codes(findings, "good.yaml") == ["ML104"]
    assert rc == 1


def test_deep_config_trees_survive_the_process_pool(tmp_path, monkeypatch):
    """Results travel between processes by pickle, which has a recursion limit of its own."""
    monkeypatch.setattr(engine, "PARALLEL_THRESHOLD", 2)
    write_files(tmp_path, [
        ("a.yaml", "x: " + "{a: " * 150 + "1" + "}" * 150 + "\n"),
        ("b.json", "[" * 150 + "]" * 150),
        ("c_config.py", "a0 = dict(lr=0.1)\n" + "".join(f"a{i} = dict(x=a{i - 1})\n" for i in range(1, 400))),
        ("d.yaml", BAD_CLIP),
    ])
    serial = lint(tmp_path, jobs=1)
    parallel = lint(tmp_path, jobs=2)
    assert serial == parallel
    assert [(f.path, f.code) for f in serial] == [("a.yaml", "ML902"), ("b.json", "ML902"), ("d.yaml", "ML104")]


def test_shell_variable_doubling(tmp_path):
    write_files(tmp_path, [("train.sh", "X=ab\n" + "X=$X$X$X$X\n" * 40 + "python train.py --lr $X\n"),
                           ("tools/train.sh", "python train_net.py " + ".".join(["A"] * 5000) + " 1 --a." + ".".join(["b"] * 5000) + " 3\n")])
    rc, findings, _ = cli(tmp_path, ".")
    assert rc == 0 and findings == []


# -- size ------------------------------------------------------------------------
def test_50_mb_file_is_a_note_and_not_read(tmp_path):
    with open(tmp_path / "huge.yaml", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: costs no disk, and would cost memory if read
    with open(tmp_path / "huge.py", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    write_files(tmp_path, [("good.yaml", BAD_CLIP)])
    rc, findings, _ = cli(tmp_path, ".", timeout=30)
    for name, code in (("huge.yaml", "ML902"), ("huge.py", "ML901")):
        finding = only(findings, name)
        assert finding["code"] == code and finding["severity"] == "info" and "not linted" in finding["message"]
    assert rc == 1  # the ML104 in good.yaml; info notes alone exit 0
    rc, findings, _ = cli(tmp_path, "huge.yaml", "huge.py", timeout=30)
    assert rc == 0 and len(findings) == 2


def test_100000_line_files(tmp_path):
    write_files(tmp_path, [
        ("big.py", "import torch\n" + "x = 1\n" * 100_000 + "opt = torch.optim.SGD(model.parameters(), lr=50.0)\n"),
        ("configs/big.yaml", "".join(f"k{i}: {i}\n" for i in range(100_000)) + BAD_CLIP),
    ])
    rc, findings, _ = cli(tmp_path, ".", timeout=240)
    assert "ML999" not in codes(findings)
    assert only(findings, "configs/big.yaml")["line"] == 100_002
    assert rc == 1


# -- bytes -----------------------------------------------------------------------
def test_binary_nul_and_invalid_utf8(tmp_path):
    (tmp_path / "weights.py").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "blob.yaml").write_bytes(os.urandom(3000) + b"\x00")
    (tmp_path / "late_nul.py").write_bytes(b"x = 1\n" * 3000 + b"y = '\x00'\n")  # NUL past the 8 KB sniff
    (tmp_path / "late_nul.yaml").write_bytes(b"a: 1\n" * 3000 + b"b: \x00\n")
    (tmp_path / "late_nul.json").write_bytes(b'{"a": "' + b"x" * 9000 + b'\x00"}')
    (tmp_path / "late_nul.toml").write_bytes(b"a = 1\n" * 3000 + b'b = "\x00"\n')
    (tmp_path / "late_nul.sh").write_bytes(b"echo hi\n" * 3000 + b"python train.py --lr \x00\n")
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "latin1_late.py").write_bytes(b"x = 1\n" * 5 + "y = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "latin1.yaml").write_bytes("lr: 0.1 # caf\xe9\n".encode("latin-1"))
    (tmp_path / "surrogate.json").write_bytes(b'{"a": "\xed\xa0\x80"}')
    (tmp_path / "coding.py").write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    write_files(tmp_path, [("good.yaml", BAD_CLIP)])
    rc, findings, _ = cli(tmp_path, ".")
    expected = {
        "weights.py": "ML901", "blob.yaml": "ML902", "late_nul.py": "ML901", "late_nul.yaml": "ML902",
        "late_nul.json": "ML902", "late_nul.toml": "ML902", "latin1.py": "ML901", "latin1_late.py": "ML901",
        "latin1.yaml": "ML902", "surrogate.json": "ML902", "coding.py": "ML901", "good.yaml": "ML104",
    }
    for path, code in expected.items():
        assert codes(findings, path) == [code], (path, [f for f in findings if f["path"] == path])
    assert "ML999" not in codes(findings) and rc == 1
    assert only(findings, "latin1_late.py")["line"] == 6
    assert "byte" in only(findings, "latin1.py")["message"]


def test_compiler_warnings_are_not_syntax_errors(tmp_path):
    """Valid code the compiler warns about, linted with warnings turned into errors."""
    write_files(tmp_path, [("a.py", 'import re\nx = re.compile("\\d+")\ny = x is 1\nassert (x, "msg")\nz = 1()\n')])
    rc, findings, err = cli(tmp_path, ".", env={"PYTHONWARNINGS": "error"})
    assert (rc, findings) == (0, []) and "Warning" not in err


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_bom_and_crlf_keep_lines_and_columns(tmp_path, bom, newline):
    files = {
        "a.yaml": b"trainer:\n  gradient_clip_val: 0.2\n",
        "b.py": b"import pytorch_lightning as pl\ntrainer = pl.Trainer(gradient_clip_val=0.1)\n",
        "c.json": b'{\n  "trainer": {"gradient_clip_val": 0.2}\n}\n',
        "d.toml": b"[trainer]\ngradient_clip_val = 0.2\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(bom + data.replace(b"\n", newline))
    rc, findings, _ = cli(tmp_path, ".")
    where = {f["path"]: (f["code"], f["line"], f["column"], f["end_line"], f["end_column"]) for f in findings}
    assert where["a.yaml"] == ("ML104", 2, 22, 2, 25)
    assert where["b.py"] == ("ML104", 2, 40, 2, 43)
    assert where["c.json"][:3] == ("ML104", 2, 36)
    assert where["d.toml"][:2] == ("ML104", 2)
    assert len(findings) == 4


def test_utf16_yaml(tmp_path):
    (tmp_path / "a.yaml").write_bytes(BAD_CLIP.encode("utf-16"))
    rc, findings, _ = cli(tmp_path, ".")
    assert [(f["code"], f["line"], f["column"]) for f in findings] == [("ML104", 2, 22)]


# -- the file system -------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlink_loops_dangling_links_and_links_out_of_the_tree(tmp_path):
    repo = tmp_path / "repo"
    write_files(repo, [("configs/good.yaml", BAD_CLIP)])
    write_files(tmp_path, [("outside/secret.yaml", BAD_CLIP)])
    os.symlink("loop", repo / "loop")
    os.symlink("loop_b", repo / "loop_a")
    os.symlink("loop_a", repo / "loop_b")
    os.symlink("missing.yaml", repo / "dangling.yaml")
    os.symlink("..", repo / "configs" / "up")  # a directory loop
    os.symlink(str(tmp_path / "outside"), repo / "outside_dir")  # out of the walked tree: not followed
    os.symlink(str(tmp_path / "outside" / "secret.yaml"), repo / "secret.yaml")
    os.symlink("/", repo / "root")  # would walk the whole disk
    rc, findings, err = cli(repo, ".", timeout=60)
    assert [(f["path"], f["code"]) for f in findings] == [("configs/good.yaml", "ML104")] and rc == 1
    rc, findings, err = cli(repo, "loop", "dangling.yaml", "configs")
    assert rc == 2 and "loop: symbolic link loop" in err and "dangling.yaml: dangling symbolic link" in err
    assert codes(findings) == ["ML104"], "the good paths are still linted"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_like_a_config_is_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")  # opening it would block forever
    write_files(tmp_path, [("good.yaml", BAD_CLIP)])
    rc, findings, _ = cli(tmp_path, ".", timeout=30)
    assert codes(findings) == ["ML104"] and rc == 1
    rc, findings, err = cli(tmp_path, "pipe.yaml", timeout=30)
    assert rc == 2 and "not a regular file" in err


def test_unreadable_file(tmp_path, monkeypatch):
    """Tests run as root, where chmod 000 still reads: the PermissionError is simulated."""
    from modellint.parsing import source

    write_files(tmp_path, [("secret.yaml", BAD_CLIP), ("secret.py", "x = 1\n"), ("good.yaml", BAD_CLIP)])
    real_open = open

    def guarded(path, *args, **kwargs):
        if os.path.basename(str(path)).startswith("secret"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(source, "open", guarded, raising=False)
    findings = lint(tmp_path)
    got = {(f.path, f.code) for f in findings}
    assert got == {("secret.yaml", "ML902"), ("secret.py", "ML901"), ("good.yaml", "ML104")}
    assert all("Permission denied" in f.message for f in findings if f.path.startswith("secret"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_for_real(tmp_path):
    write_files(tmp_path, [("secret.yaml", BAD_CLIP), ("good.yaml", BAD_CLIP)])
    os.chmod(tmp_path / "secret.yaml", 0)
    try:
        rc, findings, _ = cli(tmp_path, ".")
    finally:
        os.chmod(tmp_path / "secret.yaml", 0o644)
    assert sorted((f["path"], f["code"]) for f in findings) == [("good.yaml", "ML104"), ("secret.yaml", "ML902")]


def test_unreadable_directory_is_skipped(tmp_path, monkeypatch):
    from modellint import discovery

    write_files(tmp_path, [("locked/a.yaml", BAD_CLIP), ("good.yaml", BAD_CLIP)])
    real_scandir = os.scandir

    def guarded(path="."):
        if os.path.basename(str(path)) == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(discovery.os, "scandir", guarded)
    assert [(f.path, f.code) for f in lint(tmp_path)] == [("good.yaml", "ML104")]


def test_files_that_disappear_during_the_run(tmp_path, monkeypatch):
    write_files(tmp_path, [
        ("configs/base.yaml", "trainer:\n  max_epochs: 3\n"),
        ("configs/leaf.yaml", "_BASE_: base.yaml\n" + BAD_CLIP),
        ("gone.yaml", BAD_CLIP), ("gone.py", "x = 1\n"), ("good.yaml", BAD_CLIP),
    ])
    real_discover = engine.discover

    def discover_then_delete(*args, **kwargs):
        found = real_discover(*args, **kwargs)
        for name in ("gone.yaml", "gone.py", "configs/base.yaml"):
            os.unlink(tmp_path / name)
        return found

    monkeypatch.setattr(engine, "discover", discover_then_delete)
    findings = lint(tmp_path)
    got = sorted((f.path, f.code) for f in findings)
    assert ("gone.yaml", "ML902") in got and ("gone.py", "ML901") in got and ("good.yaml", "ML104") in got
    assert "ML999" not in {code for _, code in got}
    assert all("No such file" in f.message for f in findings if f.path.startswith("gone"))


# -- config references -----------------------------------------------------------
def test_base_cycles(tmp_path):
    write_files(tmp_path, [
        ("configs/a.yaml", "_BASE_: b.yaml\nSOLVER:\n  BASE_LR: 0.02\n"),
        ("configs/b.yaml", "_BASE_: a.yaml\n"),
        ("configs/self.yaml", "_BASE_: self.yaml\n"),
        ("mm/a_config.py", "_base_ = ['b_config.py']\nlr = 0.1\n"),
        ("mm/b_config.py", "_base_ = ['./a_config.py']\n"),
        ("hydra/config.yaml", "defaults:\n  - config\n  - _self_\n"),
    ])
    rc, findings, _ = cli(tmp_path, ".", timeout=60)
    assert "ML999" not in codes(findings)
    cycles = sorted(f["path"] for f in findings if "cycle" in f["message"])
    assert set(cycles) >= {"configs/a.yaml", "configs/b.yaml", "configs/self.yaml", "mm/a_config.py", "mm/b_config.py"}
    assert set(codes(findings)) == {"ML903"} and rc == 1


def test_base_outside_the_repository_is_never_read(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_files(tmp_path, [("outside/secret.yaml", "trainer:\n  gradient_clip_val: 0.01\n")])
    write_files(repo, [
        ("configs/passwd.yaml", "_BASE_: ../../../../../../../../../../etc/passwd\n"),
        ("configs/abs.yaml", "_BASE_: /etc/passwd\n"),
        ("configs/sibling.yaml", "_BASE_: ../../outside/secret.yaml\n"),
        ("configs/mm_config.py", "_base_ = ['../../outside/secret.yaml']\n"),
        ("configs/home.yaml", "_BASE_: ~/.bashrc.yaml\n"),
        ("train.sh", "python tools/train_net.py --config-file ../outside/secret.yaml SOLVER.BASE_LR 0.1\n"),
    ])
    if hasattr(os, "symlink"):
        os.symlink(str(tmp_path / "outside" / "secret.yaml"), repo / "configs" / "link.yaml")
        write_files(repo, [("configs/via_link.yaml", "_BASE_: link.yaml\n")])
    import builtins

    opened = []
    real_open = builtins.open

    def spy(path, *args, **kwargs):
        opened.append(os.path.realpath(str(path)) if isinstance(path, (str, os.PathLike)) else path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    findings = lint(repo)
    monkeypatch.undo()
    secret = os.path.realpath(str(tmp_path / "outside" / "secret.yaml"))
    assert secret not in opened and "/etc/passwd" not in opened
    by_path = {f.path: f for f in findings}
    for name in ("configs/passwd.yaml", "configs/abs.yaml", "configs/sibling.yaml", "configs/mm_config.py"):
        assert by_path[name].code == "ML903" and "outside" in by_path[name].message, name
    assert "ML104" not in {f.code for f in findings}, "nothing from the secret file may show"
    assert "ML999" not in {f.code for f in findings}


def test_windows_style_base_paths(tmp_path):
    write_files(tmp_path, [
        ("configs/Base/Base-RCNN.yaml", "trainer:\n  gradient_clip_val: 0.2\n"),
        ("configs/task/model.yaml", "_BASE_: ..\\Base\\Base-RCNN.yaml\ntrainer:\n  gradient_clip_val: 1.0\n"),
        ("configs/task/tight.yaml", "_BASE_: '..\\Base\\Base-RCNN.yaml'\n"),
    ])
    rc, findings, _ = cli(tmp_path, ".")
    assert "ML903" not in codes(findings), findings
    # the base is inherited, so only the leaf that keeps 0.2 reports it, at the base's line
    assert [(f["code"], f["path"], f["line"]) for f in findings] == [("ML104", "configs/Base/Base-RCNN.yaml", 2)]


# -- isolation -------------------------------------------------------------------
def test_crashing_parser_and_recipe_rule_are_isolated(tmp_path, monkeypatch):
    """tests/test_engine.py covers a crashing code rule; a parser and a recipe rule too."""
    from click.testing import CliRunner

    from modellint import registry
    from modellint.cli import main
    from modellint.rule import RecipeRule

    class Boom(RecipeRule):
        code = "ML105"
        name = "warmup-exceeds-training"

        def check(self, recipe, report):
            if "bad" in recipe.name:
                raise ZeroDivisionError("boom")

    original_rules = registry.recipe_rules
    monkeypatch.setattr(registry, "recipe_rules", lambda codes: original_rules(codes) + [Boom])
    original_parser = filecheck._config_parser

    def parser(kind):
        real = original_parser(kind)

        def parse(text, path):
            if path.endswith("explode.yaml"):
                raise MemoryError("parser blew up")
            return real(text, path)

        return parse

    monkeypatch.setattr(filecheck, "_config_parser", parser)
    write_files(tmp_path, [("explode.yaml", BAD_CLIP), ("configs/bad.yaml", BAD_CLIP), ("configs/good.yaml", BAD_CLIP)])
    got = sorted((f.path, f.code) for f in lint(tmp_path))
    assert got == [("configs/bad.yaml", "ML104"), ("configs/bad.yaml", "ML999"), ("configs/good.yaml", "ML104"),
                   ("explode.yaml", "ML999")]
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        result = CliRunner().invoke(main, ["--format", "concise", "--no-cache", "--no-config", "."])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2 and "parser blew up" in result.output and "boom" in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_worker_killed_mid_run(tmp_path, monkeypatch):
    """A file that kills its worker is reported once; every other file keeps its findings."""
    files = [(f"configs/c{i:02d}.yaml", f"trainer:\n  gradient_clip_val: 0.{i % 4 + 1}\n") for i in range(60)]
    files += [("configs/killer.yaml", BAD_CLIP), ("configs/oom.yaml", BAD_CLIP)]
    write_files(tmp_path, files)
    expected = [(f.path, f.code, f.line) for f in lint(tmp_path)]
    assert len(expected) == 62

    original = filecheck.Checker.check_path
    calls = multiprocessing.Value("i", 0)

    def dies_on_some_files(self, path, display, kind, *args, **kwargs):
        if display.endswith("killer.yaml"):
            with calls.get_lock():
                calls.value += 1
            os._exit(3)
        if display.endswith("oom.yaml"):
            import signal

            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does
        return original(self, path, display, kind, *args, **kwargs)

    monkeypatch.setattr(filecheck.Checker, "check_path", dies_on_some_files)
    monkeypatch.setattr(engine, "PARALLEL_THRESHOLD", 8)
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("fork", force=True)  # the patched method must reach the workers
    try:
        cwd = os.getcwd()
        os.chdir(str(tmp_path))
        try:
            result = engine.run(["."], Settings(), jobs=2)
        finally:
            os.chdir(cwd)
    finally:
        multiprocessing.set_start_method(method, force=True)
    got = [(f.path, f.code, f.line) for f in result.findings]
    crashed = [f for f in result.findings if f.code == "ML999"]
    assert sorted(f.path for f in crashed) == ["configs/killer.yaml", "configs/oom.yaml"]
    assert [g for g in got if g[1] != "ML999"] == [e for e in expected if "killer" not in e[0] and "oom" not in e[0]]
    assert calls.value <= 2, "the killer is tried in the pool once and alone once, never again"
    assert len(result.errors) == 2 and any("SIGKILL" in e and "oom.yaml" in e for e in result.errors)
    assert any("killer.yaml" in e and "exit code 3" in e for e in result.errors)


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_result_that_cannot_come_back_from_a_worker(tmp_path, monkeypatch):
    """A worker that lives but cannot send its chunk back (say, a result pickle cannot
    encode): that chunk is checked again in the main process, nothing is lost."""
    write_files(tmp_path, [(f"c{i:02d}.yaml", BAD_CLIP) for i in range(20)])
    original = engine._check_chunk

    def refuses(items):
        if any(source.display == "c07.yaml" for _, source in items):
            raise RuntimeError("cannot pickle this result")
        return original(items)

    monkeypatch.setattr(engine, "_check_chunk", refuses)
    monkeypatch.setattr(engine, "PARALLEL_THRESHOLD", 4)
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("fork", force=True)
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        result = engine.run(["."], Settings(), jobs=2)
    finally:
        os.chdir(cwd)
        multiprocessing.set_start_method(method, force=True)
    assert [(f.path, f.code) for f in result.findings] == [(f"c{i:02d}.yaml", "ML104") for i in range(20)]
    assert result.errors == []


def test_worker_killed_exit_code_through_the_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from modellint.cli import main

    write_files(tmp_path, [(f"c{i:02d}.yaml", BAD_CLIP) for i in range(12)] + [("killer.yaml", BAD_CLIP)])
    original = filecheck.Checker.check_path

    def dies(self, path, display, kind, *args, **kwargs):
        if display == "killer.yaml":
            os._exit(9)
        return original(self, path, display, kind, *args, **kwargs)

    monkeypatch.setattr(filecheck.Checker, "check_path", dies)
    monkeypatch.setattr(engine, "PARALLEL_THRESHOLD", 4)
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("fork", force=True)
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        try:
            runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into the output by default
        except TypeError:
            runner = CliRunner()
        result = runner.invoke(main, ["--format", "json", "--no-cache", "--no-config", "--jobs", "2", "."])
    finally:
        os.chdir(cwd)
        multiprocessing.set_start_method(method, force=True)
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert sorted((f["path"], f["code"]) for f in data) == sorted([(f"c{i:02d}.yaml", "ML104") for i in range(12)] + [("killer.yaml", "ML999")])
    assert "a worker process died (exit code 9) while checking killer.yaml" in result.stderr


# -- determinism -----------------------------------------------------------------
def _fixture_copy(tmp_path):
    import shutil

    from tests.conftest import REPO

    target = tmp_path / "fixtures"
    shutil.copytree(os.path.join(REPO, "fixtures"), target)
    return target


def test_output_is_identical_across_jobs_order_runs_and_cache(tmp_path):
    root = _fixture_copy(tmp_path)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and kind_of(p.name))
    assert len(files) >= engine.PARALLEL_THRESHOLD, "enough files for the pool to be used"
    base = subprocess.run([sys.executable, "-m", "modellint", "--format", "json", "--no-cache", "--jobs", "1", "."],
                          cwd=str(root), capture_output=True, timeout=300)
    assert base.returncode in (0, 1) and json.loads(base.stdout)
    runs = {
        "jobs 2": ["--no-cache", "--jobs", "2", "."],
        "jobs 2 again": ["--no-cache", "--jobs", "2", "."],
        "files in order": ["--no-cache", "--jobs", "2", *files],
        "files reversed": ["--no-cache", "--jobs", "1", *reversed(files)],
        "cold cache": ["--jobs", "2", "."],
        "warm cache": ["--jobs", "2", "."],
        "warm cache, one job": ["--jobs", "1", "."],
    }
    env = dict(os.environ, NO_COLOR="1", MODELLINT_CACHE_DIR=str(tmp_path / "cache"))
    for label, args in runs.items():
        proc = subprocess.run([sys.executable, "-m", "modellint", "--format", "json", *args], cwd=str(root),
                              capture_output=True, timeout=300, env=env)
        assert proc.returncode == base.returncode, label
        assert proc.stdout == base.stdout, label


def test_numbers_beyond_a_float_are_not_settings(tmp_path):
    """A 400-digit integer (a symbolic-math test, a checksum) in any config dialect or in code
    is read as no value; two in-range weights whose product is beyond a float are unreadable.
    Before, float() of them crashed fact extractors and rules (ML999)."""
    huge, large = "7" * 400, "3" * 200
    yaml_keys = ["SOLVER:", f"  BASE_LR: {huge}", f"  IMS_PER_BATCH: {huge}", f"  MAX_ITER: {huge}",
                 f"  WARMUP_ITERS: {huge}", "  CLIP_GRADIENTS:", "    ENABLED: true", f"    CLIP_VALUE: {huge}",
                 "loss_weights:", f"  cls: {huge}", "  box: 1.0", "optimizer:", f"  lr: -{huge}", "  type: AdamW"]
    write_files(tmp_path, [
        ("configs/base.yaml", "\n".join(yaml_keys) + "\n"),
        ("configs/mm_cfg.py", f"optim_wrapper = dict(optimizer=dict(type='SGD', lr={huge}), clip_grad=dict(max_norm={huge}))\n"
                              f"train_dataloader = dict(batch_size={huge})\n"
                              f"param_scheduler = [dict(type='LinearLR', start_factor={huge}, end={huge})]\n"),
        ("ds_config.json", f'{{"train_batch_size": {huge}, "gradient_clipping": {huge}, '
                           f'"optimizer": {{"type": "Adam", "params": {{"lr": {huge}}}}}}}\n'),
        ("launch.sh", f"python train.py --lr {huge} --batch_size {huge}\n"),
        ("train.py", "import argparse\nimport torch\nimport torch.nn.functional as F\n\n"
                     "parser = argparse.ArgumentParser()\n"
                     f"parser.add_argument('--lr', type=float, default={huge})\n"
                     f"parser.add_argument('--batch_size', type=int, default={huge})\n"
                     f"parser.add_argument('--clip', type=float, default={huge})\n"
                     "args = parser.parse_args()\n"
                     f"opt = torch.optim.AdamW(model.parameters(), lr={huge})\n"
                     f"sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr={huge}, total_steps={huge})\n"
                     "for x, y in loader:\n"
                     "    opt.zero_grad()\n"
                     f"    loss = {huge} * F.cross_entropy(x, y) + F.mse_loss(x, y) / {huge}\n"
                     f"    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())\n"
                     f"    loss = loss + {huge} * kl\n"
                     "    loss.backward()\n"
                     f"    torch.nn.utils.clip_grad_norm_(model.parameters(), {huge})\n"
                     "    opt.step()\n"
                     "    sched.step()\n\n\n"
                     "def weighted(x, y):\n"
                     f"    return {large} * ({large} * F.l1_loss(x, y)) + F.mse_loss(x, y)\n"),
    ])
    findings = lint(tmp_path)
    assert [f for f in findings if f.code == "ML999"] == []
    # the product of the two 200-digit weights is beyond a float: that term is unreadable, not "× inf"
    assert [f.message for f in findings if f.code == "ML201" and "inf" in f.message] == []
