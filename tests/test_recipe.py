"""Recipes across files: inheritance, launch-script overrides, provenance chains."""

import os

from modellint.facts import names
from modellint.filecheck import Checker
from modellint.recipe import build_recipes
from modellint.discovery import discover
from tests.helpers import lint, write_files


def recipes_of(root, paths=("."),):
    cwd = os.getcwd()
    os.chdir(str(root))
    try:
        sources, _ = discover(list(paths) if not isinstance(paths, str) else [paths])
        checker = Checker([], {})
        results = [checker.check_path(s.path, s.display, s.kind) for s in sources]
        absolute = {s.display: s.path for s in sources}
        load = lambda p: checker.check_path(p, os.path.relpath(p), "yaml" if p.endswith((".yaml", ".yml")) else "python")
        recipes, problems = build_recipes(results, absolute, load, [str(root)])
        return {r.name: r for r in recipes}, problems
    finally:
        os.chdir(cwd)


def test_detectron2_multi_level_base_chain(tmp_path):
    write_files(tmp_path, [
        ("configs/Base-RCNN.yaml", "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n  MAX_ITER: 90000\n"),
        ("configs/COCO/mid.yaml", "_BASE_: ../Base-RCNN.yaml\nSOLVER:\n  BASE_LR: 0.01\n"),
        ("configs/COCO/leaf.yaml", "_BASE_: mid.yaml\nSOLVER:\n  IMS_PER_BATCH: 8\n"),
    ])
    recipes, problems = recipes_of(tmp_path)
    assert not problems
    assert set(recipes) == {"configs/COCO/leaf.yaml"}, "bases are not recipes of their own"
    leaf = recipes["configs/COCO/leaf.yaml"]
    assert leaf.files == ["configs/Base-RCNN.yaml", "configs/COCO/mid.yaml", "configs/COCO/leaf.yaml"]
    lr = leaf.get(names.LR)
    assert (lr.value, lr.span.path, lr.span.line) == (0.01, "configs/COCO/mid.yaml", 3)
    assert [(f.value, f.span.path) for f in lr.chain] == [(0.02, "configs/Base-RCNN.yaml")]
    batch = leaf.get(names.BATCH_GLOBAL)
    assert (batch.value, batch.chain[0].value) == (8, 16)
    assert leaf.get(names.TOTAL_ITERS).value == 90000


def test_launch_script_overrides_with_and_without_opts(tmp_path):
    write_files(tmp_path, [
        ("README.md", "x\n"),
        ("configs/base.yaml", "SOLVER:\n  IMS_PER_BATCH: 8\n  BASE_LR: 0.0001\n"),
        ("scripts/a.sh", "python tools/train_net.py --config-file configs/base.yaml --num-gpus 2 SOLVER.IMS_PER_BATCH 2\n"),
        ("scripts/b.sh", "python tools/train_net.py --num-gpus 4 --config-file configs/base.yaml --opts solver.x 1 SOLVER.BASE_LR 0.00005\n"),
    ])
    recipes, _ = recipes_of(tmp_path)
    a = recipes["scripts/a.sh:1"]
    assert a.get(names.BATCH_GLOBAL).value == 2 and a.get(names.BATCH_GLOBAL).span.path == "scripts/a.sh"
    assert a.get(names.DEVICES).value == 2
    b = recipes["scripts/b.sh:1"]
    assert b.get(names.LR).value == 0.00005 and b.get(names.LR).chain[0].value == 0.0001


def test_mmengine_python_bases_delete_and_layout(tmp_path):
    write_files(tmp_path, [
        ("configs/_base_/schedules/sgd.py", "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9), clip_grad=None)\n"
                                            "param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500)]\n"
                                            "train_cfg = dict(max_epochs=12)\n"),
        ("configs/_base_/data.py", "train_dataloader = dict(batch_size=2, num_workers=2)\nauto_scale_lr = dict(enable=False, base_batch_size=16)\n"),
        ("configs/det/retina_r50_8xb2_coco.py", "_base_ = ['../_base_/schedules/sgd.py', '../_base_/data.py']\n"
                                                "optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=0.0001))\n"),
    ])
    recipes, problems = recipes_of(tmp_path)
    assert not problems
    leaf = recipes["configs/det/retina_r50_8xb2_coco.py"]
    assert leaf.optimizer_family() == "adaptive"
    assert leaf.get(names.LR).value == 0.0001
    assert leaf.get(names.BATCH_PER_DEVICE).value == 2
    assert leaf.get(names.BATCH_REFERENCE).value == 16
    assert leaf.get(names.DEVICES).value == 8
    warmup = leaf.get(names.WARMUP)
    assert (warmup.value, warmup.get("unit"), warmup.get("start_factor")) == (500, "iters", 0.001)
    assert leaf.get(names.TOTAL_EPOCHS).value == 12


def test_hydra_defaults_place_groups_under_their_package(tmp_path):
    write_files(tmp_path, [
        ("conf/config.yaml", "defaults:\n  - optimizer: adam\n  - trainer: default\n  - _self_\nseed: 1\n"),
        ("conf/optimizer/adam.yaml", "_target_: torch.optim.Adam\nlr: 1.0e-10\n"),
        ("conf/trainer/default.yaml", "gradient_clip_val: 0.2\n"),
        ("conf/experiment/big.yaml", "# @package _global_\ntrainer:\n  gradient_clip_val: 1.0\n"),
    ])
    recipes, problems = recipes_of(tmp_path)
    assert not problems
    primary = recipes["conf/config.yaml"]
    lr = primary.get(names.LR)
    assert lr.key == "optimizer.lr" and lr.span.path == "conf/optimizer/adam.yaml"
    assert primary.optimizer_family() == "adaptive"
    assert primary.get(names.CLIP_NORM).key == "trainer.gradient_clip_val"
    assert "conf/optimizer/adam.yaml" not in recipes


def test_argparse_defaults_overridden_by_launch_flags(tmp_path):
    write_files(tmp_path, [
        ("README.md", "x\n"),
        ("main.py", "import argparse\nimport torch\n\ndef get_args():\n    p = argparse.ArgumentParser()\n"
                    "    p.add_argument('--lr', type=float, default=1e-4)\n    p.add_argument('--clip_max_norm', type=float, default=0.1)\n"
                    "    return p\n\ndef build(model, args):\n    return torch.optim.AdamW(model.parameters(), lr=args.lr)\n"),
        ("run.sh", "python main.py --lr 1e-10 --epochs 3\n"),
    ])
    recipes, _ = recipes_of(tmp_path)
    launch = recipes["run.sh:1"]
    lr = launch.all(names.LR)
    assert [(f.value, f.span.path) for f in lr] == [(1e-10, "run.sh")]
    assert lr[0].chain[0].span.path == "main.py"
    assert launch.get(names.CLIP_NORM).value == 0.1
    findings = lint(tmp_path, select=["ML102"])
    assert [(f.path, f.line) for f in findings] == [("run.sh", 1)]


def test_missing_outside_and_cyclic_bases(tmp_path):
    inner = tmp_path / "repo"
    write_files(tmp_path, [("secret.yaml", "SOLVER:\n  BASE_LR: 0.1\n")])
    write_files(inner, [
        ("configs/a.yaml", "_BASE_: ../../secret.yaml\n"),
        ("configs/b.yaml", "_BASE_: nothere.yaml\n"),
        ("configs/c.yaml", "_BASE_: d.yaml\n"),
        ("configs/d.yaml", "_BASE_: c.yaml\n"),
    ])
    findings = lint(inner, select=["ML903"])
    messages = {f.path: f.message for f in findings}
    assert "outside the linted tree" in messages["configs/a.yaml"]
    assert "cannot be found" in messages["configs/b.yaml"]
    assert any("cycle" in m for m in messages.values())


def test_pre_commit_style_single_leaf_still_sees_its_base(tmp_path):
    write_files(tmp_path, [
        ("configs/base.yaml", "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n  CLIP_GRADIENTS:\n    ENABLED: true\n    CLIP_VALUE: 0.05\n"),
        ("configs/leaf.yaml", "_BASE_: base.yaml\nSOLVER:\n  IMS_PER_BATCH: 4\n"),
    ])
    findings = lint(tmp_path, paths=["configs/leaf.yaml"])
    assert sorted((f.path, f.line, f.code) for f in findings) == [
        ("configs/base.yaml", 6, "ML104"), ("configs/leaf.yaml", 3, "ML101")]


def test_unit_test_files_are_not_training_recipes(tmp_path):
    write_files(tmp_path, [
        ("README.md", "x\n"),
        ("tests/test_optim.py", "import torch\n\ndef test_step():\n    torch.optim.Adam([torch.zeros(1)], lr=0.5)\n"),
        ("train.py", "import torch\n\ndef build(m):\n    return torch.optim.Adam(m.parameters(), lr=0.5)\n"),
    ])
    assert [(f.path, f.code) for f in lint(tmp_path, select=["ML102"])] == [("train.py", "ML102")]
