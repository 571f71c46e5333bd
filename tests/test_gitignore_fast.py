"""The one-regex matcher for negation-free .gitignore files agrees with pathspec."""

import itertools

import pathspec

from modellint.discovery import _AnyOf, _fast

PATTERNS = ["*.pyc", "build/", "/dist", "**/logs/*.txt", "output*", "data/raw/", "*.ckpt", "wandb", "/configs/local_*.yaml",
            "# a comment", "", "docs/_build", "a/**/b", "[Tt]emp*", "*.egg-info/", "\\#notes"]
PATHS = ["x.pyc", "src/x.pyc", "build/", "build/a.py", "src/build/x.py", "dist", "dist/x", "src/dist/x", "logs/a.txt",
         "a/logs/b.txt", "a/logs/c/b.txt", "output", "output_1/run.yaml", "src/output.py", "data/raw/", "data/raw/x.json",
         "data/rawx", "model.ckpt", "wandb/", "wandb/run/files.yaml", "configs/local_a.yaml", "x/configs/local_a.yaml",
         "docs/_build/", "docs/_build/index.html", "a/b", "a/x/y/b", "Temp1/", "temp.py", "pkg.egg-info/", "#notes", "train.py"]


def test_combined_matcher_agrees_with_pathspec():
    for size in (1, 2, 4, len(PATTERNS)):
        for chosen in itertools.islice(itertools.combinations(PATTERNS, size), 200):
            spec = pathspec.GitIgnoreSpec.from_lines(chosen)
            fast = _fast(spec)
            for path in PATHS:
                assert fast.match_file(path) == spec.match_file(path), (chosen, path)


def test_negations_keep_pathspec():
    spec = pathspec.GitIgnoreSpec.from_lines(["*.yaml", "!keep.yaml"])
    assert not isinstance(_fast(spec), _AnyOf)
    assert isinstance(_fast(pathspec.GitIgnoreSpec.from_lines(["*.yaml"])), _AnyOf)
