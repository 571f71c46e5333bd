"""Benchmark modellint against its peers on the same files, in one run.

Builds a corpus without network: Python sources of installed packages
(torch's own sources by default, several thousand files) plus generated
training configs (detectron2 YAML chains, MMEngine Python configs, launch
scripts). Then times, on exactly those files:

* a bare ``ast.parse`` of every Python file (the floor for this design),
* modellint cold (empty cache) and warm (same cache, nothing changed),
* flake8 (-j N), ruff, and on a subset (they are slow) TorchFix and Fixit,

and prints files/s, wall time, peak RSS and each peer's ratio to modellint.
A peer that is not installed is reported as skipped.

    python bench/run.py                       # default corpus
    python bench/run.py --files 5000 --jobs 2 --slow-subset 300
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

DEFAULT_PACKAGES = ("torch", "hypothesis", "libcst", "click", "yaml", "jsonschema", "pygments", "setuptools")


def package_sources(packages, limit: int) -> List[str]:
    import importlib.util

    files: List[str] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for folder, dirs, names in os.walk(root):
                dirs.sort()
                for file in sorted(names):
                    if file.endswith(".py"):
                        files.append(os.path.join(folder, file))
    return files[:limit]


def generate_configs(target: str, count: int) -> int:
    """Realistic config trees: detectron2 bases and leaves, MMEngine configs, launch scripts."""
    written = 0
    d2 = os.path.join(target, "configs", "detectron2")
    mm = os.path.join(target, "configs", "mmengine")
    scripts = os.path.join(target, "scripts")
    for folder in (d2, mm, scripts):
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(d2, "Base-RCNN.yaml"), "w") as handle:
        handle.write("MODEL:\n  META_ARCHITECTURE: GeneralizedRCNN\n  RESNETS:\n    NORM: FrozenBN\n"
                     "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.02\n  MAX_ITER: 90000\n  WARMUP_ITERS: 1000\n")
    with open(os.path.join(mm, "base_schedule.py"), "w") as handle:
        handle.write("optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))\n"
                     "param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500)]\n"
                     "train_cfg = dict(max_epochs=12)\nauto_scale_lr = dict(enable=False, base_batch_size=16)\n")
    written += 2
    for index in range(count):
        kind = index % 3
        if kind == 0:
            path = os.path.join(d2, f"leaf_{index:05d}.yaml")
            text = (f"_BASE_: Base-RCNN.yaml\nSOLVER:\n  IMS_PER_BATCH: {8 * (1 + index % 4)}\n"
                    f"  BASE_LR: {0.01 * (1 + index % 4)}\n  CLIP_GRADIENTS:\n    ENABLED: {str(index % 5 == 0).lower()}\n"
                    f"    CLIP_VALUE: {0.1 + index % 3}\n")
        elif kind == 1:
            path = os.path.join(mm, f"retina_r50_{1 + index % 8}xb2_{index:05d}.py")
            text = ("_base_ = ['./base_schedule.py']\n"
                    f"train_dataloader = dict(batch_size=2, num_workers=2)\n"
                    f"optim_wrapper = dict(optimizer=dict(lr={0.005 * (1 + index % 4)}))\n")
        else:
            path = os.path.join(scripts, f"train_{index:05d}.sh")
            text = ("#!/bin/bash\nset -e\n"
                    f"python tools/train_net.py --config-file configs/detectron2/leaf_{index - 2:05d}.yaml --num-gpus 2 \\\n"
                    f"    SOLVER.IMS_PER_BATCH {4 * (1 + index % 3)} OUTPUT_DIR ./output/{index}\n")
        with open(path, "w") as handle:
            handle.write(text)
        written += 1
    return written


def build_corpus(target: str, files: int, configs: int, packages) -> int:
    sources = package_sources(packages, files)
    code = os.path.join(target, "src")
    for index, path in enumerate(sources):
        dest = os.path.join(code, f"{index // 500:03d}", f"{index:05d}_{os.path.basename(path)}")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(path, dest)
    with open(os.path.join(target, "README.md"), "w") as handle:
        handle.write("benchmark corpus\n")
    return len(sources) + generate_configs(target, configs)


def python_files(root: str) -> List[str]:
    out = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        out.extend(os.path.join(folder, n) for n in sorted(names) if n.endswith(".py"))
    return out


def timed(cmd: List[str], cwd: str, env: Optional[dict] = None):
    """Wall time and peak RSS (MB) of a command run in a fresh child."""
    runner = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, p.returncode)\n"
    )
    out = subprocess.run([sys.executable, "-c", runner] + cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall, rss, code = out.stdout.split()
    return float(wall), float(rss), int(code)


def floor_ast(files: List[str]) -> float:
    start = time.perf_counter()
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            ast.parse(data)
        except (SyntaxError, ValueError):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000, help="Python files to copy into the corpus")
    parser.add_argument("--configs", type=int, default=600, help="generated config/launch files")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--slow-subset", type=int, default=200, help="files given to TorchFix and Fixit")
    parser.add_argument("--packages", default=",".join(DEFAULT_PACKAGES))
    parser.add_argument("--keep", help="build the corpus in this directory and keep it")
    args = parser.parse_args()

    corpus = args.keep or tempfile.mkdtemp(prefix="modellint-bench-")
    if args.keep and os.path.exists(corpus):
        shutil.rmtree(corpus)
    os.makedirs(corpus, exist_ok=True)
    total = build_corpus(corpus, args.files, args.configs, args.packages.split(","))
    py = python_files(corpus)
    subset_root = os.path.join(corpus, "src", "000")
    subset = python_files(subset_root)[: args.slow_subset]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; corpus: {total} files "
          f"({len(py)} Python) in {corpus}")

    rows = []
    header = f"{'tool':34} {'files':>6} {'wall s':>8} {'files/s':>9} {'peak MB':>8}"
    print(header, flush=True)

    def show(row):
        name, count, wall, rss = row
        rate = count / wall if wall else float("inf")
        print(f"{name:34} {count:6d} {wall:8.2f} {rate:9.0f} {(f'{rss:.0f}' if rss else '-'):>8}", flush=True)
        rows.append(row)

    floor = floor_ast(py)
    show(("ast.parse (1 process, floor)", len(py), floor, None))
    cache = os.path.join(corpus, ".bench_cache")
    env = dict(os.environ, MODELLINT_CACHE_DIR=cache, NO_COLOR="1")
    modellint = [sys.executable, "-m", "modellint", "check", "--no-config", "--exit-zero", "--format", "concise", "--jobs", str(args.jobs), "."]
    cold = timed(modellint, corpus, env)
    warm = timed(modellint, corpus, env)
    show((f"modellint cold (-j{args.jobs})", total, cold[0], cold[1]))
    show((f"modellint warm (-j{args.jobs})", total, warm[0], warm[1]))
    peers = [
        ("flake8", [sys.executable, "-m", "flake8", "-j", str(args.jobs), "--exit-zero", "."], corpus, len(py)),
        ("ruff", ["ruff", "check", "--no-cache", "--exit-zero", "--isolated", "."], corpus, len(py)),
        ("torchfix", ["torchfix", "."], subset_root, len(subset)),
        ("fixit", ["fixit", "lint", "."], subset_root, len(subset)),
    ]
    results = {}
    for name, cmd, cwd, count in peers:
        if name in ("torchfix", "fixit") and len(subset) < len(python_files(subset_root)):
            # give the slow peers only the subset: copy it aside
            cwd = os.path.join(corpus, "slow_subset")
            if not os.path.exists(cwd):
                os.makedirs(cwd)
                for path in subset:
                    shutil.copyfile(path, os.path.join(cwd, os.path.basename(path)))
        if shutil.which(cmd[0]) is None and cmd[0] != sys.executable:
            print(f"{name}: not installed, skipped")
            continue
        try:
            wall, rss, code = timed(cmd, cwd)
        except Exception as exc:  # a peer that breaks must not break the benchmark
            print(f"{name}: failed ({exc}), skipped")
            continue
        show((name, count, wall, rss))
        results[name] = (count, wall)

    cold_rate = total / cold[0]
    print(f"\n{'tool':34} {'files':>6} {'wall s':>8} {'files/s':>9} {'peak MB':>8} {'modellint cold is':>20}")
    for name, count, wall, rss in rows:
        rate = count / wall if wall else float("inf")
        ratio = cold_rate / rate if not name.startswith("modellint cold") else 1.0
        speed = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
        print(f"{name:34} {count:6d} {wall:8.2f} {rate:9.0f} {(f'{rss:.0f}' if rss else '-'):>8} {speed:>20}")
    print(f"\nwarm / cold: {cold[0] / warm[0]:.1f}x faster; cold vs the ast.parse floor: "
          f"{(cold[0] / total) / (floor / len(py)):.1f}x the per-file cost")
    if not args.keep:
        shutil.rmtree(corpus, ignore_errors=True)


if __name__ == "__main__":
    main()
