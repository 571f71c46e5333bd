"""The one-regex matchers for .gitignore files agree with pathspec: alone for a file
without negations, as a guard in front of pathspec for one with them."""

import itertools

import pathspec

from modellint.discovery import _AnyOf, _Guarded, _fast

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


def test_negations_keep_pathspec_for_what_an_ignoring_pattern_matches():
    spec = pathspec.GitIgnoreSpec.from_lines(["*.yaml", "!keep.yaml"])
    fast = _fast(spec)
    assert isinstance(fast, _Guarded)
    assert fast.match_file("a.yaml") and not fast.match_file("keep.yaml") and not fast.match_file("a.py")
    assert isinstance(_fast(pathspec.GitIgnoreSpec.from_lines(["*.yaml"])), _AnyOf)


NEGATED = ["!keep.yaml", "!/dist/keep", "!output_1/", "!**/logs/keep.txt", "!data/raw/x.json", "!a/b"]


def test_guarded_matcher_with_negations_agrees_with_pathspec():
    paths = PATHS + ["keep.yaml", "configs/keep.yaml", "dist/keep", "logs/keep.txt", "a/logs/keep.txt", "output_1/x"]
    for size in (1, 2, 3):
        for ignoring in itertools.islice(itertools.combinations(PATTERNS, size), 120):
            for negations in itertools.combinations(NEGATED, 1 + size % 2):
                for lines in (list(ignoring) + list(negations), list(negations) + list(ignoring)):
                    spec = pathspec.GitIgnoreSpec.from_lines(lines)
                    fast = _fast(spec)
                    for path in paths:
                        assert fast.match_file(path) == spec.match_file(path), (lines, path)


def test_only_negations_ignore_nothing():
    fast = _fast(pathspec.GitIgnoreSpec.from_lines(["!*.yaml"]))
    assert not fast.match_file("a.yaml") and not fast.match_file("b.py")
