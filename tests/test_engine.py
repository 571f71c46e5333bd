"""The pipeline end to end: discovery, bad input, suppression, selection, exit codes, jobs."""

import json
import os

from click.testing import CliRunner

from modellint import engine
from modellint.cli import main
from modellint.settings import Settings
from tests.helpers import lint, write_files

BAD_CLIP = "trainer:\n  gradient_clip_val: 0.2\n"


def run_cli(root, *args, env=None):
    cwd = os.getcwd()
    os.chdir(str(root))
    try:
        return CliRunner().invoke(main, list(args), env=env or {"NO_COLOR": "1"})
    finally:
        os.chdir(cwd)


def test_bad_files_become_one_finding_each_and_good_files_still_report(tmp_path):
    write_files(tmp_path, [
        ("broken.py", "def train(:\n    pass\n"),
        ("configs/broken.yaml", "a: [1, 2\nb: 3\n"),
        ("configs/good.yaml", BAD_CLIP),
        ("train.py", "import torch\n"),
    ])
    (tmp_path / "weights.yaml").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin1.yaml").write_bytes("lr: 0.1 # caf\xe9\n".encode("latin-1"))
    findings = lint(tmp_path)
    by_path = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f.code)
    assert by_path["broken.py"] == ["ML901"]
    assert by_path["configs/broken.yaml"] == ["ML902"]
    assert by_path["weights.yaml"] == ["ML902"]
    assert by_path["latin1.yaml"] == ["ML902"]
    assert by_path["configs/good.yaml"] == ["ML104"]
    syntax = [f for f in findings if f.code == "ML901"][0]
    assert (syntax.line, syntax.column) == (1, 11)


def test_empty_and_large_files(tmp_path, monkeypatch):
    from modellint.parsing import source

    monkeypatch.setattr(source, "MAX_BYTES", 100)
    write_files(tmp_path, [("empty.yaml", ""), ("empty.py", ""), ("big.yaml", "x: 1\n" * 50)])
    findings = lint(tmp_path)
    assert [(f.path, f.code, f.severity) for f in findings] == [("big.yaml", "ML902", "info")]


def test_suppression_comments(tmp_path):
    write_files(tmp_path, [
        ("a.yaml", "trainer:\n  gradient_clip_val: 0.2  # modellint: ignore[ML104]\n"),
        ("b.yaml", "trainer:\n  gradient_clip_val: 0.2  # modellint: ignore\n"),
        ("c.yaml", "trainer:\n  gradient_clip_val: 0.2  # modellint: ignore[ML102]\n"),
        ("d.yaml", "# modellint: skip-file\ntrainer:\n  gradient_clip_val: 0.2\n"),
        ("e.py", "import pytorch_lightning as pl\ntrainer = pl.Trainer(  # modellint: ignore[ML104]\n    gradient_clip_val=0.1,\n)\n"),
        ("f.py", "import pytorch_lightning as pl\ns = '# modellint: ignore'\ntrainer = pl.Trainer(gradient_clip_val=0.1)\n"),
        ("g.yaml", "trainer:  # modellint: ignore[ML1]\n  gradient_clip_val: 0.2\n"),
    ])
    paths = sorted({f.path for f in lint(tmp_path)})
    assert paths == ["c.yaml", "f.py"]


def test_suppressions_are_on_the_lines_findings_carry(tmp_path):
    """A directive counts on the line the file's parser gives the finding: a lone \\r breaks a
    line for Python and YAML, a form feed for neither (``str.splitlines`` breaks at both; YAML
    rejects form feeds), and the YAML reader also breaks lines at NEL, LS and PS."""
    py = "import pytorch_lightning as pl\n# page\x0c two\ntrainer = pl.Trainer(gradient_clip_val=0.1)  # modellint: ignore[ML104]\n"
    yaml = "# note\ntrainer:\n  gradient_clip_val: 0.2  # modellint: ignore[ML104]\n"
    files = [
        ("ff.py", py), ("cr.py", py.replace("\n", "\r")), ("crlf.py", py.replace("\n", "\r\n")),
        ("cr.yaml", yaml.replace("\n", "\r")), ("ls.yaml", "# a\u2028# b\x85# c\n" + yaml),
    ]
    for name, text in files:
        (tmp_path / name).write_bytes(text.encode("utf-8"))
    assert [(f.path, f.code) for f in lint(tmp_path)] == []
    plain = [(n, t.replace("  # modellint: ignore[ML104]", "")) for n, t in files]
    for name, text in plain:
        (tmp_path / name).write_bytes(text.encode("utf-8"))
    assert sorted(f.path for f in lint(tmp_path) if f.code == "ML104") == sorted(n for n, _ in plain)


def test_select_ignore_and_per_file_ignores(tmp_path):
    write_files(tmp_path, [("legacy/a.yaml", BAD_CLIP + "lr: 1.0e-10\n"), ("new/b.yaml", BAD_CLIP)])
    settings = Settings(per_file_ignores={"legacy/*.yaml": ["ML104"]})
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        codes = sorted((f.path, f.code) for f in engine.run(["."], settings).findings)
        assert codes == [("legacy/a.yaml", "ML102"), ("new/b.yaml", "ML104")]
        narrow = Settings(select=["ML104"], ignore=["ML1"])
        assert {f.code for f in engine.run(["."], narrow).findings} == {"ML104"}, "the more specific selector wins"
        assert not engine.run(["."], Settings(ignore=["ML10"])).findings
    finally:
        os.chdir(cwd)


def test_discovery_respects_gitignore_and_skips_venvs(tmp_path):
    write_files(tmp_path, [
        (".gitignore", "outputs/\n*.tmp.yaml\n"),
        ("outputs/run1/config.yaml", BAD_CLIP),
        ("configs/x.tmp.yaml", BAD_CLIP),
        ("node_modules/pkg/a.yaml", BAD_CLIP),
        ("env/pyvenv.cfg", "home = /usr\n"),
        ("env/lib/a.yaml", BAD_CLIP),
        ("configs/real.yaml", BAD_CLIP),
    ])
    assert [f.path for f in lint(tmp_path)] == ["configs/real.yaml"]
    assert [f.path for f in lint(tmp_path, paths=["outputs/run1/config.yaml"])] == ["outputs/run1/config.yaml"], \
        "a file named explicitly is always linted"


def test_discovered_display_paths_from_any_working_directory(tmp_path):
    """Display paths are built by extending the parent's on the way down; they must equal
    what ``display_path`` gives each file wherever the run starts, including from inside
    the walked tree (files below the cwd relative, the others absolute), and nested
    .gitignore files with negations apply relative to their own folder."""
    from modellint.discovery import discover, display_path

    write_files(tmp_path, [
        ("repo/.gitignore", "*.tmp.yaml\nlogs/\n!keep.tmp.yaml\n"),
        ("repo/a.yaml", "a: 1\n"),
        ("repo/x.tmp.yaml", "a: 1\n"),
        ("repo/keep.tmp.yaml", "a: 1\n"),
        ("repo/logs/run.yaml", "a: 1\n"),
        ("repo/src/.gitignore", "/local.yaml\n"),
        ("repo/src/local.yaml", "a: 1\n"),
        ("repo/src/deep/local.yaml", "a: 1\n"),
        ("repo/src/deep/train.py", "x = 1\n"),
    ])
    expected = {"repo/a.yaml", "repo/keep.tmp.yaml", "repo/src/deep/local.yaml", "repo/src/deep/train.py"}
    cwd = os.getcwd()
    try:
        for where, given in [("", "repo"), ("repo", "."), ("repo/src", str(tmp_path / "repo")), ("repo/src/deep", "../.."),
                             ("repo/logs", "../src")]:
            os.chdir(str(tmp_path / where))
            found, errors = discover([given])
            assert not errors
            assert [s.display for s in found] == [display_path(s.path) for s in found], where
            got = {os.path.relpath(s.path, str(tmp_path)).replace(os.sep, "/") for s in found}
            wanted = expected if given != "../src" else {p for p in expected if p.startswith("repo/src/")}
            assert got == wanted, (where, given)
    finally:
        os.chdir(cwd)


def test_exit_codes_and_formats(tmp_path):
    write_files(tmp_path, [("configs/a.yaml", BAD_CLIP)])
    result = run_cli(tmp_path, "--format", "concise", ".")
    assert result.exit_code == 1
    assert result.output.startswith("configs/a.yaml:2:22: warning ML104 ")
    assert run_cli(tmp_path, "--exit-zero", ".").exit_code == 0
    assert run_cli(tmp_path, "--fail-on", "error", ".").exit_code == 0
    data = json.loads(run_cli(tmp_path, "--format", "json", ".").output)
    assert data[0]["code"] == "ML104" and data[0]["line"] == 2 and data[0]["column"] == 22
    assert set(data[0]) >= {"code", "name", "severity", "message", "help", "path", "line", "column", "end_line",
                            "end_column", "related", "confirmed_by_instantiation"}
    missing = run_cli(tmp_path, "nope/", "configs/")
    assert missing.exit_code == 2 and "nope/" in missing.output
    stats = run_cli(tmp_path, "--statistics", ".")
    assert "ML104" in stats.output and "tight-gradient-clipping" in stats.output


def test_usage_errors_suggest_the_closest_name(tmp_path):
    write_files(tmp_path, [("pyproject.toml", "[tool.modellint]\nselct = ['ML1']\n"), ("a.yaml", BAD_CLIP)])
    result = run_cli(tmp_path, ".")
    assert result.exit_code == 2 and "did you mean 'select'" in result.output
    write_files(tmp_path, [("pyproject.toml", "[tool.modellint.rules.ML104]\nmin_max_nrom = 0.3\n")])
    result = run_cli(tmp_path, ".")
    assert result.exit_code == 2 and "min_max_norm" in result.output
    write_files(tmp_path, [("pyproject.toml", "[tool.modellint]\nignore = ['ML1044']\n")])
    assert run_cli(tmp_path, ".").exit_code == 2
    assert run_cli(tmp_path, "--no-config", "--select", "XX9", ".").exit_code == 2


def test_rule_options_from_pyproject(tmp_path):
    write_files(tmp_path, [("pyproject.toml", "[tool.modellint.rules.ML104]\nmin_max_norm = 0.1\n"), ("a.yaml", BAD_CLIP)])
    assert run_cli(tmp_path, ".").exit_code == 0


def test_the_nearest_pyproject_that_configures_modellint_is_used(tmp_path):
    """Only a file naming modellint is parsed; files that do not, or cannot be read as
    TOML at all, are passed over on the way up."""
    from modellint.settings import find_config

    outer = "[tool.modellint]\nselect = ['ML104']\n"
    write_files(tmp_path, [("pyproject.toml", outer), ("a/pyproject.toml", "[tool.black]\nline-length = 99\n"),
                           ("a/b/pyproject.toml", "# modellint is mentioned, but this is [not TOML\n"),
                           ("a/b/c/run.yaml", "x: 1\n")])
    (tmp_path / "a" / "b" / "c" / "pyproject.toml").write_bytes(b"[tool.other]\nname = '\xff\xfe'\n")  # not UTF-8
    assert find_config([str(tmp_path / "a" / "b" / "c" / "run.yaml")]) == str(tmp_path / "pyproject.toml")
    write_files(tmp_path, [("a/pyproject.toml", "[tool.modellint]\nignore = ['ML1']\n")])
    assert find_config([str(tmp_path / "a" / "b" / "c")]) == str(tmp_path / "a" / "pyproject.toml")


def test_crashing_rule_is_isolated(tmp_path, monkeypatch):
    from modellint import registry
    from modellint.rule import CodeRule

    class Boom(CodeRule):
        code = "ML304"
        name = "module-created-in-forward"

        def visit_Call(self, node, ctx):
            raise ValueError("boom")

    original = registry.code_rules
    monkeypatch.setattr(registry, "code_rules", lambda codes: original(codes) + [Boom])
    write_files(tmp_path, [("a.py", "import torch\nx = torch.zeros(3)\n"), ("b.yaml", BAD_CLIP)])
    findings = lint(tmp_path)
    codes = sorted((f.path, f.code) for f in findings)
    assert ("a.py", "ML999") in codes and ("b.yaml", "ML104") in codes
    crash = [f for f in findings if f.code == "ML999"][0]
    assert "ML304" in crash.message and "boom" in crash.message


def test_jobs_give_identical_results(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "PARALLEL_THRESHOLD", 4)
    files = []
    for i in range(30):
        files.append((f"configs/c{i:02d}.yaml", f"trainer:\n  gradient_clip_val: 0.{i % 9 + 1}\n"))
        files.append((f"src/m{i:02d}.py", f"import torch\nopt = torch.optim.SGD([], lr={i + 20})\n"))
    write_files(tmp_path, files)
    one = lint(tmp_path, jobs=1)
    two = lint(tmp_path, jobs=2)
    assert one and one == two


def test_stdin(tmp_path):
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        result = CliRunner().invoke(main, ["--format", "concise", "-", "--stdin-filename", "configs/x.yaml"], input=BAD_CLIP)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 1
    assert result.output.startswith("configs/x.yaml:2:22: warning ML104")


def test_pool_work_is_cut_big_first_and_small_at_the_end():
    from modellint.scheduling import guided_chunks

    for count in (0, 1, 7, 30, 500, 2710):
        chunks = guided_chunks(list(range(count)), 2)
        assert [i for chunk in chunks for i in chunk] == list(range(count))
        sizes = [len(chunk) for chunk in chunks]
        assert all(0 < size <= 64 for size in sizes)
        assert sizes == sorted(sizes, reverse=True)  # a long piece never comes last
    sizes = [len(chunk) for chunk in guided_chunks(list(range(2710)), 2)]
    assert sizes[0] == 64 and sizes[-1] == 1 and len(sizes) < 100
