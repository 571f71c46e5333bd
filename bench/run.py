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
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

DEFAULT_PACKAGES = ("torch", "sympy", "networkx", "numpy", "pip", "hypothesis", "libcst", "click", "yaml", "jsonschema",
                    "pygments", "setuptools")


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


def _parse_all(files: List[str]) -> int:
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            ast.parse(data)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return len(files)


def floor_ast(files: List[str], processes: int = 1) -> float:
    """Wall time of reading and ``ast.parse``-ing every file, in 1 or N processes."""
    start = time.perf_counter()
    if processes == 1:
        _parse_all(files)
    else:
        import multiprocessing

        chunks = [files[i::processes * 8] for i in range(processes * 8)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.map(_parse_all, chunks)
    return time.perf_counter() - start


def flake8_command(corpus: str, jobs: int) -> Optional[List[str]]:
    """flake8 with its default plugins only. When this environment registers extra flake8
    plugins (TorchFix registers itself as one and makes flake8 many times slower), a
    private venv with plain flake8 is made from the package registry."""
    probe = subprocess.run([sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True)
    if probe.returncode == 0:
        extra = [p for p in ("TorchFix", "flake8-") if p in probe.stdout]
        if not extra:
            return [sys.executable, "-m", "flake8", "-j", str(jobs), "--exit-zero", "."]
    venv = os.path.join(tempfile.gettempdir(), "modellint-bench-flake8")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        made = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True)
        if made.returncode != 0:
            return None
        subprocess.run([python, "-m", "pip", "install", "-q", "flake8"], capture_output=True)
    check = subprocess.run([python, "-m", "flake8", "--version"], capture_output=True, text=True)
    if check.returncode != 0:
        return None
    return [python, "-m", "flake8", "-j", str(jobs), "--exit-zero", "."]


def latency(cmd: List[str], cwd: str, env: dict, runs: int = 5) -> float:
    """Median wall time of a whole process (start-up included)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000, help="Python files to copy into the corpus")
    parser.add_argument("--configs", type=int, default=600, help="generated config/launch files")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--slow-subset", type=int, default=200, help="files (an even sample) given to TorchFix and Fixit")
    parser.add_argument("--packages", default=",".join(DEFAULT_PACKAGES))
    parser.add_argument("--corpus", help="lint this existing directory instead of building a corpus")
    parser.add_argument("--keep", help="build the corpus in this directory and keep it")
    parser.add_argument("--skip", default="", help="comma-separated peers not to run (flake8,ruff,torchfix,fixit)")
    parser.add_argument("--paired", type=int, default=3,
                        help="times to run modellint cold between two ast.parse floors, for a ratio that a "
                             "shared machine's changing speed affects less (0: skip)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every measurement this many times and keep the fastest, for every tool alike "
                             "(a shared machine's slowdowns only ever add time)")
    args = parser.parse_args()

    if args.corpus:
        corpus = os.path.abspath(args.corpus)
        total = sum(len([n for n in names if n.endswith((".py", ".yaml", ".yml", ".json", ".toml", ".sh"))])
                    for _, _, names in os.walk(corpus))
    else:
        corpus = args.keep or tempfile.mkdtemp(prefix="modellint-bench-")
        if args.keep and os.path.exists(corpus):
            shutil.rmtree(corpus)
        os.makedirs(corpus, exist_ok=True)
        total = build_corpus(corpus, args.files, args.configs, args.packages.split(","))
    py = python_files(corpus)
    # an even sample across the corpus, not its first files (those are one package's top level)
    step = max(1, len(py) // max(1, args.slow_subset))
    subset = py[::step][: args.slow_subset]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; corpus: {total} files "
          f"({len(py)} Python) in {corpus}; fastest of {max(1, args.repeat)} run(s) each")

    rows = []
    print(f"{'tool':34} {'files':>6} {'wall s':>8} {'files/s':>9} {'peak MB':>8}", flush=True)

    def show(row):
        name, count, wall, rss = row
        rate = count / wall if wall else float("inf")
        print(f"{name:34} {count:6d} {wall:8.2f} {rate:9.0f} {(f'{rss:.0f}' if rss else '-'):>8}", flush=True)
        rows.append(row)

    repeat = max(1, args.repeat)

    def best(measure, before=None):
        runs = []
        for _ in range(repeat):
            if before is not None:
                before()
            runs.append(measure())
        return min(runs, key=lambda run: run[0] if isinstance(run, tuple) else run)

    floor = best(lambda: floor_ast(py))
    show(("ast.parse (1 process, floor)", len(py), floor, None))
    floor_n = best(lambda: floor_ast(py, args.jobs)) if args.jobs > 1 else floor
    if args.jobs > 1:
        show((f"ast.parse ({args.jobs} processes)", len(py), floor_n, None))
    work = tempfile.mkdtemp(prefix="modellint-bench-out-")
    cache = os.path.join(work, "cache")
    env = dict(os.environ, MODELLINT_CACHE_DIR=cache, NO_COLOR="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users run with bytecode cached

    def modellint(jobs: int, output: str, *extra: str) -> List[str]:
        return [sys.executable, "-m", "modellint", "check", "--no-config", "--exit-zero", "--format", "json",
                "--jobs", str(jobs), "--output-file", os.path.join(work, output), *extra, "."]

    subprocess.run([sys.executable, "-m", "modellint", "--version"], env=env, capture_output=True)  # bytecode
    cold = best(lambda: timed(modellint(args.jobs, "cold.json"), corpus, env),
                before=lambda: shutil.rmtree(cache, ignore_errors=True))
    show((f"modellint cold (-j{args.jobs})", total, cold[0], cold[1]))
    warm = best(lambda: timed(modellint(args.jobs, "warm.json"), corpus, env))
    show((f"modellint warm (-j{args.jobs})", total, warm[0], warm[1]))
    one = best(lambda: timed(modellint(1, "one.json", "--no-cache"), corpus, env))
    show(("modellint cold (-j1)", total, one[0], one[1]))
    outputs = [open(os.path.join(work, name), "rb").read() for name in ("cold.json", "one.json", "warm.json")]
    identical = outputs[0] == outputs[1] == outputs[2]
    paired = []
    for _ in range(max(0, args.paired)):
        before = floor_ast(py)
        shutil.rmtree(cache, ignore_errors=True)
        middle = timed(modellint(args.jobs, "paired.json"), corpus, env)[0]
        paired.append(middle / ((before + floor_ast(py)) / 2))

    skip = set(filter(None, args.skip.split(",")))
    slow_root = os.path.join(work, "slow_subset")
    os.makedirs(slow_root)
    for index, path in enumerate(subset):
        shutil.copyfile(path, os.path.join(slow_root, f"{index:05d}_{os.path.basename(path)}"))
    peers = [
        ("flake8", lambda: flake8_command(corpus, args.jobs), corpus, len(py)),
        ("ruff", lambda: ["ruff", "check", "--no-cache", "--exit-zero", "--isolated", "."], corpus, len(py)),
        # TorchFix's --jobs defaults to the CPUs and Fixit always lints in a process pool of
        # them: both get the cores modellint gets, and are compared with modellint -jN
        ("torchfix", lambda: ["torchfix", "--jobs", str(args.jobs), "."], slow_root, len(subset)),
        ("fixit", lambda: ["fixit", "lint", "."], slow_root, len(subset)),
    ]
    slow_modellint = None
    for name, make, cwd, count in peers:
        if name in skip:
            print(f"{name}: skipped (--skip)")
            continue
        cmd = make()
        if cmd is None or (shutil.which(cmd[0]) is None and not os.path.exists(cmd[0])):
            print(f"{name}: not installed, skipped")
            continue
        try:
            wall, rss, code = best(lambda: timed(cmd, cwd))
        except Exception as exc:  # a peer that breaks must not break the benchmark
            print(f"{name}: failed ({exc}), skipped")
            continue
        label = f"{name} (-j{args.jobs})" if name == "flake8" else name
        if cwd == slow_root:
            label += f" [{count} sampled Python files]"
            if slow_modellint is None:
                def sampled(jobs: int):
                    return best(lambda: timed([sys.executable, "-m", "modellint", "check", "--no-config", "--no-cache",
                                               "--exit-zero", "--jobs", str(jobs), "."], slow_root, env))
                slow_modellint = sampled(args.jobs)
                show((f"modellint cold (-j{args.jobs}) [{count} sampled Python files]", count, slow_modellint[0],
                      slow_modellint[1]))
                if args.jobs > 1:  # shown for comparison with one-process tools
                    slow_one = sampled(1)
                    show((f"modellint cold (-j1) [{count} sampled Python files]", count, slow_one[0], slow_one[1]))
        show((label, count, wall, rss))

    cold_rate = total / cold[0]
    print(f"\n{'tool':44} {'files':>6} {'wall s':>8} {'files/s':>9} {'peak MB':>8} {'modellint is':>24}")
    for name, count, wall, rss in rows:
        rate = count / wall if wall else float("inf")
        reference = cold_rate
        if "sampled Python files]" in name and slow_modellint is not None:  # the slow peers ran on a subset: compare on it
            reference = len(subset) / slow_modellint[0]
        ratio = reference / rate if not name.startswith("modellint cold (-j%d)" % args.jobs) else 1.0
        speed = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
        print(f"{name:44} {count:6d} {wall:8.2f} {rate:9.0f} {(f'{rss:.0f}' if rss else '-'):>8} {speed:>24}")
    print("(rows marked [N sampled Python files] compare with modellint -j%d on those files, as TorchFix and Fixit use "
          "every CPU; the others with modellint cold -j%d)" % (args.jobs, args.jobs))
    per_file = cold[0] / total
    print(f"\nwarm / cold: {cold[0] / warm[0]:.1f}x faster")
    print(f"modellint cold -j{args.jobs} per file vs ast.parse in 1 process: {per_file / (floor / len(py)):.1f}x; "
          f"vs ast.parse in {args.jobs} processes: {per_file / (floor_n / len(py)):.1f}x")
    # by wall time alone, modellint's extra (non-Python) files counting against it
    flake8_wall = next((wall for name, _, wall, _ in rows if name.startswith("flake8")), None)
    print(f"by wall time: modellint cold -j{args.jobs} takes {cold[0] / floor:.1f}x a 1-process ast.parse of the Python files"
          + (f"; flake8 -j{args.jobs} takes {flake8_wall / cold[0]:.1f}x modellint's time" if flake8_wall else ""))
    if paired:
        print(f"paired (each cold -j{args.jobs} run between two 1-process ast.parse floors, by wall time): median "
              f"{sorted(paired)[len(paired) // 2]:.1f}x the floor (runs: {', '.join(f'{r:.1f}x' for r in paired)})")
    print(f"outputs of -j{args.jobs} cold, -j1 cold and warm byte-identical: {'yes' if identical else 'NO'}")
    version = [sys.executable, "-m", "modellint", "--version"]
    probe_dir = os.path.join(work, "one")
    os.makedirs(probe_dir)
    with open(os.path.join(probe_dir, "train.yaml"), "w") as handle:
        handle.write("SOLVER:\n  BASE_LR: 0.02\n  IMS_PER_BATCH: 16\n")
    with open(os.path.join(probe_dir, "train.py"), "w") as handle:
        handle.write("import torch\n\nfor x, y in loader:\n    loss = criterion(model(x), y)\n    loss.backward()\n"
                     "    optimizer.step()\n    optimizer.zero_grad()\n")
    entry = shutil.which("modellint")
    launcher = [entry] if entry and not entry.startswith(os.path.expanduser("~/.pyenv/shims")) else version[:3]
    # the interpreter's own start, measured alongside: the part of the latency no code of ours can remove
    print("single-file latency (whole process, median of 5, bytecode cached): "
          f"bare interpreter ({os.path.basename(sys.executable)} -c pass) "
          f"{latency([sys.executable, '-c', 'pass'], probe_dir, env):.2f} s; "
          f"--version {latency(launcher + ['--version'], probe_dir, env):.2f} s; "
          f"one YAML file {latency(launcher + ['check', '--no-cache', 'train.yaml'], probe_dir, env):.2f} s; "
          f"one Python file {latency(launcher + ['check', '--no-cache', 'train.py'], probe_dir, env):.2f} s")
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep and not args.corpus:
        shutil.rmtree(corpus, ignore_errors=True)


if __name__ == "__main__":
    main()
