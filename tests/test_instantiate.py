"""Model instantiation (`modellint inspect`, `check --instantiate`, ML601–ML603).

Real small models live in fixtures/instantiate/; each is built in the child
process exactly as users run it, and the counts are compared with torch's
own ``sum(p.numel() ...)`` computed here. Tests that need torch skip cleanly
without it (CI installs the CPU wheel)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from modellint import registry
from modellint.engine import RunResult
from modellint.findings import Finding
from modellint.instantiate.request import build_request, load_kwargs_from
from modellint.settings import Settings, UsageError
from tests.helpers import write_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "fixtures", "instantiate")
QUAD = os.path.join(FIXTURES, "quadmodal")
BLOCKS = os.path.join(FIXTURES, "listblocks")
HEALTHY = os.path.join(FIXTURES, "healthy")
LARGE = os.path.join(FIXTURES, "large")
FAILURES = os.path.join(FIXTURES, "failures")
ONE_LINE = re.compile(r"^modellint: error: [^\n]+\n$")


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def modellint(*args, cwd=REPO, env=None, timeout=300):
    """Run the real CLI in a fresh process (as users and CI do)."""
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "modellint", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def inspect_json(*args, cwd=REPO):
    result = modellint("inspect", *args, "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # nothing leaks: no torch warnings, no model prints
    return json.loads(result.stdout)


def load_module(root, relative, name, extra_paths=()):
    """Import a fixture module in this process (for torch's own counts)."""
    import importlib.util

    for entry in (root, os.path.join(root, "src"), *extra_paths):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the fixtures
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


@contextlib.contextmanager
def project_imports(root):
    """Import a fixture project's packages here without leaking them into other tests."""
    saved_path, saved_modules, saved_flag = list(sys.path), dict(sys.modules), sys.dont_write_bytecode
    sys.path[:0] = [root, os.path.join(root, "src")]
    sys.dont_write_bytecode = True  # no __pycache__ in the fixtures
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved_flag
        sys.path[:] = saved_path
        for name in set(sys.modules) - set(saved_modules):
            del sys.modules[name]
        sys.modules.update(saved_modules)


def torch_counts(model):
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def finding(code, path, line, message="static finding", column=1):
    name = registry.get(code).name
    return Finding(code, name, registry.get(code).severity, message, "help", path, line, column, line, column + 1)


def line_of(path, text):
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if text in line:
                return number
    raise AssertionError(f"{text!r} not in {path}")


# -- seed 001: four encoders frozen by flags from the project's own config module ------------
def test_quadmodal_frozen_encoders_counts_and_ml602(torch):
    data = inspect_json(cwd=QUAD)  # target from [tool.modellint.instantiate]
    assert data["status"] == "ok" and data["built"] == "meta" and data["class"] == "ActivityNet"
    assert data["definition"] == {"path": "src/models/activity_net.py", "line": line_of(
        os.path.join(QUAD, "src/models/activity_net.py"), "class ActivityNet")}

    with project_imports(QUAD):  # the project's way: root and src/ on sys.path, `models` a package
        import importlib

        model = importlib.import_module("models.activity_net").ActivityNet()
    total, trainable = torch_counts(model)
    assert (data["totals"]["parameters"], data["totals"]["trainable"]) == (total, trainable)
    assert data["totals"]["frozen"] == total - trainable
    rows = {row["name"]: row for row in data["modules"]}
    for name in ("rgb_encoder", "audio_encoder", "imu_encoder", "text_encoder"):
        child = getattr(model, name)
        assert rows[name]["parameters"] == sum(p.numel() for p in child.parameters())
        assert rows[name]["trainable"] == 0 and rows[name]["frozen_percent"] == 100.0
    assert rows["fusion"]["trainable"] == sum(p.numel() for p in model.fusion.parameters()) > 0
    assert data["own"]["parameters"] == sum(p.numel() for p in model.parameters(recurse=False))
    assert rows["rgb_encoder"]["buffers"] == sum(b.numel() for b in model.rgb_encoder.buffers())
    expected_mb = (total + sum(b.numel() for b in model.buffers() if b.is_floating_point())) * 4 / 1e6
    assert data["totals"]["size_mb"]["fp32"] == pytest.approx(expected_mb, abs=1e-3)

    [ml602] = [f for f in data["findings"] if f["code"] == "ML602"]
    assert ml602["line"] == data["definition"]["line"] and ml602["path"] == "src/models/activity_net.py"
    assert "imu_encoder 0 / 28.4K trainable" in ml602["message"]
    assert {r["path"] for r in ml602["related"]} == {"src/models/activity_net.py"}
    assert not [f for f in data["findings"] if f["code"] == "ML601"]


def test_quadmodal_kwargs_from_python_dict_config_and_yaml(torch):
    data = inspect_json("src/models/activity_net.py:ActivityNet", "--kwargs-from", "configs/model_cfg.py:MODEL", cwd=QUAD)
    assert data["kwargs"] == {"embed_dim": 128, "num_classes": 6}
    assert data["kwargs_source"] == "configs/model_cfg.py:MODEL"
    small = inspect_json("src/models/activity_net.py:ActivityNet", "--kwargs-from", "configs/train.yaml:model",
                         "--depth", "2", cwd=QUAD)
    assert small["kwargs"] == {"embed_dim": 64, "num_classes": 6}
    assert small["totals"]["parameters"] < data["totals"]["parameters"]
    depths = {row["depth"] for row in small["modules"]}
    assert depths == {1, 2}
    nested = [row for row in small["modules"] if row["depth"] == 2]
    assert all(row["name"].split(".")[0] in {r["name"] for r in small["modules"] if r["depth"] == 1} for row in nested)


def test_text_table(torch):
    result = modellint("inspect", "--kwargs", '{"unfreeze": ["imu", "text"]}', cwd=QUAD)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ActivityNet  src/models/activity_net.py:")
    header = next(line for line in lines if line.startswith("module"))
    assert header.split() == ["module", "class", "parameters", "trainable", "frozen", "%", "buffers"]
    imu = next(line for line in lines if line.startswith("imu_encoder"))
    assert imu.split()[1:5] == ["MotionEncoder", "28,448", "28,448", "0.0%"]
    assert any(line.startswith("total ") for line in lines)
    assert any(line.startswith("size: ") and "fp32" in line and "bf16" in line for line in lines)
    assert "ML602" not in result.stdout  # two encoders learn


# -- plain containers: ML603, ML601, verdicts on ML303 --------------------------------------------
def test_list_blocks_ml603_in_check(torch):
    result = modellint("check", "--no-cache", "--instantiate", "models/tower.py:Tower", "--format", "json", "--select", "ML3,ML6", cwd=BLOCKS)
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    ml603 = {f["line"]: f for f in findings if f["code"] == "ML603"}
    tower = os.path.join(BLOCKS, "models/tower.py")
    assert set(ml603) == {line_of(tower, "self.blocks = ["), line_of(tower, "self.heads = {}"),
                          line_of(tower, "self.task_scale = (")}  # not the list of references (self.skip)
    blocks = ml603[line_of(tower, "self.blocks = [")]
    module = load_module(BLOCKS, "models/tower.py", "tower_for_test")
    model = module.Tower()
    hidden = sum(p.numel() for block in model.blocks for p in block.parameters())
    assert "6 ResidualBlock" in blocks["message"] and "199K parameters" in blocks["message"]
    assert hidden == 199_296
    assert blocks["severity"] == "error" and blocks["path"] == "models/tower.py"
    if "ML303" in registry.all_rules():  # the static rule's verdicts
        static = {f["line"]: f for f in findings if f["code"] == "ML303"}
        for line in (line_of(tower, "self.blocks = ["), line_of(tower, "self.heads = {}")):
            if line in static:
                assert static[line]["confirmed_by_instantiation"] is True
        bare = line_of(tower, "self.layers = [nn.Linear(dim, dim), nn.Linear(dim, dim)]")
        if bare in static:  # class Bare is not part of Tower: no verdict
            assert static[bare]["confirmed_by_instantiation"] is None


def test_everything_in_a_list_is_ml601(torch):
    data = inspect_json("models/tower.py:Bare", cwd=BLOCKS)
    assert data["totals"]["parameters"] == 0
    codes = sorted(f["code"] for f in data["findings"])
    assert codes == ["ML601", "ML603"]
    [entry] = data["unregistered"]
    assert entry["attribute"] == "layers" and entry["parameters"] == 2 * (16 * 16 + 16) and entry["modules"] == 2


def test_ml303_verdicts_confirm_and_refute(torch):
    tower = os.path.join(BLOCKS, "models/tower.py")
    static = [
        finding("ML303", tower, line_of(tower, "self.layers = [nn.Linear(dim, dim) for _ in range(depth)]")),
        finding("ML303", tower, line_of(tower, "self.taps = [self.layers[0]")),
        finding("ML303", tower, line_of(tower, "self.blocks = [")),  # class Tower is not built here
    ]
    result = RunResult(list(static), 1)
    settings = Settings()
    request = build_request(tower + ":Rewrapped", settings)
    from modellint.instantiate import stage

    stage.apply(result, request, settings)
    assert result.errors == []
    by_line = {f.line: f for f in result.findings if f.code == "ML303"}
    rewrapped = by_line[static[0].line]
    assert rewrapped.confirmed_by_instantiation is False and rewrapped.severity == "info"
    assert "registered ModuleList" in rewrapped.message and "dropped" in rewrapped.message
    taps = by_line[static[1].line]
    assert taps.confirmed_by_instantiation is False and "registered elsewhere" in taps.message
    assert by_line[static[2].line].confirmed_by_instantiation is None
    assert by_line[static[2].line].severity == "error"
    assert not [f for f in result.findings if f.code == "ML603"]


def test_ml302_verdicts_from_config_flags_and_code(torch):
    from modellint.instantiate import stage

    config = os.path.join(QUAD, "configs/model_cfg.py")
    model_file = os.path.join(QUAD, "src/models/activity_net.py")
    train = os.path.join(QUAD, "src/train.py")
    static = [
        finding("ML302", config, line_of(config, "IMU_ENCODER = "), column=71),  # the `freeze` flag the constructor reads
        finding("ML302", model_file, line_of(model_file, "_freeze(getattr(self")),  # freezing code that ran
        finding("ML302", train, line_of(train, "encoder.requires_grad_(False)")),  # never runs while building
    ]
    settings = Settings()

    frozen = RunResult(list(static), 3)
    stage.apply(frozen, build_request(model_file + ":ActivityNet", settings), settings)
    verdicts = {(os.path.basename(f.path), f.line): f for f in frozen.findings if f.code == "ML302"}
    assert verdicts[("model_cfg.py", static[0].line)].confirmed_by_instantiation is True
    assert verdicts[("activity_net.py", static[1].line)].confirmed_by_instantiation is True
    assert verdicts[("train.py", static[2].line)].confirmed_by_instantiation is None
    assert [f.code for f in frozen.findings if f.code.startswith("ML6")] == ["ML602"]

    unfrozen = RunResult(list(static), 3)
    request = build_request(model_file + ":ActivityNet", settings, kwargs_json='{"unfreeze": ["imu"]}')
    stage.apply(unfrozen, request, settings)
    verdicts = {(os.path.basename(f.path), f.line): f for f in unfrozen.findings if f.code == "ML302"}
    for key in (("model_cfg.py", static[0].line), ("activity_net.py", static[1].line)):
        note = verdicts[key]
        assert note.confirmed_by_instantiation is False and note.severity == "info"
        assert "imu_encoder 28.4K / 28.4K trainable" in note.message
    assert verdicts[("train.py", static[2].line)].confirmed_by_instantiation is None
    assert not [f for f in unfrozen.findings if f.code.startswith("ML6")]


def test_check_instantiate_with_the_static_rules(torch):
    result = modellint("check", "--no-cache", "--instantiate", "src/models/activity_net.py:ActivityNet", "--format", "json",
                       "--select", "ML3,ML6", ".", cwd=QUAD)
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    assert [f["code"] for f in findings if f["code"].startswith("ML6")] == ["ML602"]
    static = [f for f in findings if f["code"] == "ML302"]
    if "ML302" in registry.all_rules():
        assert static, "the static rule sees the four freeze flags of configs/model_cfg.py"
    for item in static:
        assert item["path"] == "configs/model_cfg.py" and item["confirmed_by_instantiation"] is True


def test_import_like_the_project(torch, tmp_path):
    # no pyproject.toml, .git or setup.py anywhere: a package under src/ of a directory that is no identifier
    write_files(tmp_path, [
        ("my-proj/src/pkgx/__init__.py", ""),
        ("my-proj/src/pkgx/layers.py", "import torch.nn as nn\n\n\ndef mlp(dim):\n    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU())\n"),
        ("my-proj/src/pkgx/net.py", "import torch.nn as nn\n\nfrom .layers import mlp\n\n\nclass Net(nn.Module):\n"
                                    "    def __init__(self, dim=8):\n        super().__init__()\n        self.body = mlp(dim)\n"),
    ])
    by_file = inspect_json("my-proj/src/pkgx/net.py:Net", "--kwargs", '{"dim": 4}', cwd=str(tmp_path))
    assert by_file["qualified_class"] == "pkgx.net.Net" and by_file["totals"]["parameters"] == 4 * 4 + 4
    by_module = inspect_json("pkgx.net:Net", cwd=str(tmp_path / "my-proj"))  # src/ is on sys.path
    assert by_module["totals"]["parameters"] == 8 * 8 + 8
    assert by_module["definition"] == {"path": "src/pkgx/net.py", "line": 6}


# -- healthy and large models -----------------------------------------------------------------------
def test_healthy_model_no_findings_and_quiet(torch):
    data = inspect_json("--depth", "2", cwd=HEALTHY)  # target, kwargs-from and kwargs from pyproject
    assert data["kwargs"] == {"vocab": 512, "dim": 64, "depth": 3, "heads": 4, "dropout": 0.0}
    assert data["kwargs_source"] == "config.yaml:model + [tool.modellint.instantiate] kwargs"
    assert data["findings"] == []
    module = load_module(HEALTHY, "net.py", "healthy_net_for_test")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = module.build_model(**data["kwargs"])
    total, trainable = torch_counts(model)  # the tied embedding counts once
    assert (data["totals"]["parameters"], data["totals"]["trainable"]) == (total, trainable)
    assert data["totals"]["buffers"] == sum(b.numel() for b in model.buffers())
    assert data["own"]["buffers"] == model.positions.numel()
    [refs] = data["unregistered"]
    assert refs["attribute"] == "first_and_last" and refs["parameters"] == 0 and refs["registered_elsewhere"] > 0
    blocks = next(row for row in data["modules"] if row["name"] == "blocks")
    assert [m["name"] for m in blocks["members"]] == ["blocks.0", "blocks.1", "blocks.2"]


def test_large_model_on_meta_uses_no_memory(torch):
    target = os.path.join(LARGE, "big_mlp.py") + ":BigMLP"
    probe = textwrap.dedent(f"""
        import json, resource, subprocess, sys
        run = subprocess.run([sys.executable, "-m", "modellint", "inspect", {target!r}, "--format", "json"],
                             capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(json.dumps({{"rc": run.returncode, "out": run.stdout, "err": run.stderr, "peak": peak}}))
        """)
    resource = pytest.importorskip("resource")
    assert resource
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    outcome = json.loads(done.stdout)
    assert outcome["rc"] == 0, outcome["err"]
    data = json.loads(outcome["out"])
    peak_mb = outcome["peak"] / (1024 * 1024 if sys.platform == "darwin" else 1024)
    assert peak_mb < 1024, f"peak RSS {peak_mb:.0f} MB"
    assert data["peak_rss_mb"] < 1024

    module = load_module(LARGE, "big_mlp.py", "big_mlp_for_test")
    with torch.device("meta"):
        model = module.BigMLP()
    total, trainable = torch_counts(model)
    assert total > 1_000_000_000
    assert (data["totals"]["parameters"], data["totals"]["trainable"]) == (total, trainable)
    assert data["totals"]["size_mb"]["fp32"] == pytest.approx(total * 4 / 1e6, abs=1e-3)


# -- failures: one clear line, exit 2 -------------------------------------------------------------
@pytest.mark.parametrize("target, args, expected", [
    ("missing_dep.py:Net", (), r"cannot import missing_dep\.py:Net: ModuleNotFoundError: No module named "
                               r"'definitely_not_an_installed_package_xyz' \(missing_dep\.py:3: `import definitely"),
    ("raising.py:Net", (), r"building raising\.py:Net raised at raising\.py:7 in hidden_size `raise ValueError\(.*\)`: "
                           r"ValueError: dim 100 is not divisible by heads 8$"),
    ("slow.py:Net", ("--timeout", "2"), r"building slow\.py:Net did not finish within 2 s \(timeout"),
    ("not_module.py:Config", (), r"Config is a class that is not a torch\.nn\.Module subclass"),
    ("not_module.py:build_layers", (), r"build_layers\(\.\.\.\) returned a list, not a torch\.nn\.Module"),
    ("not_module.py:Confg", (), r"not_module\.py has no attribute 'Confg' \(did you mean 'Config'\?\)"),
    ("raising.py:Net", ("--kwargs", '{"width": 3}'), r"calling raising\.py:Net failed: TypeError: .*'width'"),
    ("needs_values.py:Net", (), r"Tensor\.item\(\) cannot be called on meta tensors; .*--device cpu"),
])
def test_failures_are_one_line_exit_2(torch, target, args, expected):
    as_json = target == "not_module.py:Config"  # the JSON report says it too
    result = modellint("inspect", target, *args, *(("--format", "json") if as_json else ()), cwd=FAILURES)
    assert result.returncode == 2
    if as_json:
        report = json.loads(result.stdout)
        assert report["status"] == "error" and report["error"]["kind"] == "not-a-module"
        assert report["error"]["message"] in result.stderr
    else:
        assert result.stdout == ""
    assert ONE_LINE.match(result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(expected, result.stderr.strip()[len("modellint: error: "):]), result.stderr


def test_failure_in_check(torch):
    result = modellint("check", "--no-cache", "--instantiate", "raising.py:Net", "--format", "concise", cwd=FAILURES)
    assert result.returncode == 2
    assert ONE_LINE.match(result.stderr) and "ValueError: dim 100" in result.stderr


def test_device_cpu_builds_real_tensors(torch):
    data = inspect_json("needs_values.py:Net", "--device", "cpu", cwd=FAILURES)
    assert data["built"] == "cpu" and data["totals"]["parameters"] == 4 * 4 + 4


NO_TORCH = """
import sys


class _HideTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None


sys.meta_path.insert(0, _HideTorch())
"""


@pytest.mark.parametrize("args", [("inspect", "raising.py:Net"), ("check", "--no-cache", ".", "--instantiate", "raising.py:Net")])
def test_without_torch_prints_install_hint(tmp_path, args):
    (tmp_path / "sitecustomize.py").write_text(NO_TORCH)
    path = os.pathsep.join([str(tmp_path)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    result = modellint(*args, "--format", "json" if args[0] == "inspect" else "concise", cwd=FAILURES,
                       env={"PYTHONPATH": path})
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert "pip install 'modellint[torch]'" in errors[0] and "Traceback" not in result.stderr


def test_modellint_itself_never_imports_torch():
    code = textwrap.dedent("""
        import sys
        from modellint import cli, registry
        from modellint.instantiate import inspection, request, runner, stage, report
        registry.all_rules()
        assert "torch" not in sys.modules, "torch imported"
        print("ok")
        """)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


# -- the rules' own examples, built for real --------------------------------------------------------
EXAMPLES = [
    pytest.param(code, example, id=f"{code}-{index}")
    for code in ("ML601", "ML602", "ML603")
    for index, example in enumerate(registry.get(code).examples)
]


@pytest.mark.parametrize("code, example", EXAMPLES)
def test_rule_examples_when_instantiated(torch, tmp_path, code, example):
    write_files(tmp_path, example.files)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'example'\nversion = '0'\n")
    path, text = example.files[0]
    name = re.search(r"^class (\w+)", text, re.M).group(1)
    # an `ok` example (a plain lint run reports nothing) whose title says what --instantiate reports, or a `flag` example
    flagged = re.search(r"--instantiate (\S+)` reports %s at line (\d+)" % code, example.title)
    expected_line = int(flagged.group(2)) if flagged else (example.line if example.flags else None)
    result = modellint("check", "--no-cache", "--instantiate", f"{path}:{name}", "--select", "ML6", "--format", "json",
                       "--no-config", cwd=str(tmp_path))
    assert result.returncode in (0, 1), result.stderr
    mine = [f for f in json.loads(result.stdout) if f["code"] == code]
    if flagged:
        assert flagged.group(1) == f"{path}:{name}"
    if flagged or example.flags:
        assert mine and all(f["path"] == example.target for f in mine), mine
        if expected_line is not None:
            assert [f["line"] for f in mine] == [expected_line], mine
    else:
        assert mine == []


# -- requests: targets and kwargs (no torch needed) -------------------------------------------------
def test_kwargs_from_sections(tmp_path):
    write_files(tmp_path, [
        ("configs/model.yaml", "model:\n  encoder:\n    dim: 64\n    lr: 1e-4\n  heads: [2, 4]\n"),
        ("configs/model.json", '{"net": {"dim": 8}}'),
        ("configs/model.toml", "[net]\ndim = 8\n"),
        ("configs/model_cfg.py", "WIDTH = 32\nMODEL = dict(dim=WIDTH * 2, blocks=[WIDTH, WIDTH])\n"
                                 "BAD = dict(act=make_act())\n"),
    ])
    base = str(tmp_path)
    kwargs, path, source = load_kwargs_from("configs/model.yaml:model.encoder", base)
    assert kwargs == {"dim": 64, "lr": "1e-4"}  # YAML 1.1, as PyYAML reads it
    assert path == os.path.join(base, "configs/model.yaml")
    assert load_kwargs_from("configs/model.json:net", base)[0] == {"dim": 8}
    assert load_kwargs_from("configs/model.toml:net", base)[0] == {"dim": 8}
    assert load_kwargs_from("configs/model_cfg.py:MODEL", base)[0] == {"dim": 64, "blocks": [32, 32]}
    with pytest.raises(UsageError, match=r"model_cfg\.py:3: act = `make_act\(\)` cannot be read as data"):
        load_kwargs_from("configs/model_cfg.py:BAD", base)
    with pytest.raises(UsageError, match=r"no key 'decoder' at model of .*\(keys: encoder, heads\)"):
        load_kwargs_from("configs/model.yaml:model.decoder", base)
    with pytest.raises(UsageError, match="not a mapping"):
        load_kwargs_from("configs/model.yaml:model.heads", base)
    with pytest.raises(UsageError, match="config file not found"):
        load_kwargs_from("configs/nope.yaml:model", base)


def test_request_errors(tmp_path, monkeypatch):
    write_files(tmp_path, [("net.py", "X = 1\n")])
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    for target, message in [("net.py", "TARGET must be"), ("missing.py:Net", "TARGET file not found"),
                            ("net.py:9x", "not a Python name"), ("my-pkg.mod:Net", "neither a .py file")]:
        with pytest.raises(UsageError, match=message):
            build_request(target, settings)
    with pytest.raises(UsageError, match="not valid JSON"):
        build_request("net.py:Net", settings, kwargs_json="{dim: 3}")
    with pytest.raises(UsageError, match="JSON object"):
        build_request("net.py:Net", settings, kwargs_json="[1, 2]")
    with pytest.raises(UsageError, match="not both"):
        build_request("net.py:Net", settings, kwargs_json="{}", kwargs_from="x.yaml")
    with pytest.raises(UsageError, match="no TARGET"):
        build_request(None, settings)
    with pytest.raises(UsageError, match="positive number"):
        build_request("net.py:Net", settings, timeout=0)
    request = build_request("pkg.models:build", settings)
    assert (request.module, request.name, request.target_file) == ("pkg.models", "build", None)
    assert request.timeout == 60.0 and request.device == "meta"


def test_config_section_and_cli_usage_errors(tmp_path):
    write_files(tmp_path, [
        ("pyproject.toml", '[tool.modellint.instantiate]\ntarget = "src/net.py:Net"\ntimeout = 5\ndevice = "cpu"\n'
                           'kwargs-from = "configs/m.yaml:model"\nkwargs = {depth = 2}\n'),
        ("src/net.py", "X = 1\n"),
        ("configs/m.yaml", "model:\n  dim: 8\n  depth: 1\n"),
    ])
    from modellint.settings import load_settings

    settings = load_settings(str(tmp_path / "pyproject.toml"))
    request = build_request(None, settings)
    assert request.target_file == str(tmp_path / "src/net.py")
    assert request.kwargs == {"dim": 8, "depth": 2} and request.timeout == 5.0 and request.device == "cpu"
    assert request.project_root == str(tmp_path)
    overridden = build_request(None, settings, kwargs_json='{"dim": 3}', timeout=9, device="meta")
    assert overridden.kwargs == {"dim": 3} and overridden.timeout == 9.0 and overridden.device == "meta"
    result = modellint("inspect", "--kwargs", "{oops", cwd=str(tmp_path))
    assert result.returncode == 2 and ONE_LINE.match(result.stderr) and "not valid JSON" in result.stderr
