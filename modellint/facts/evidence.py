"""Which code facts describe a config's run.

A project's code is context for each of its configs, but in a library or
monorepo (accelerate, hydra, DeepSpeedExamples) a BatchNorm in a GAN example
says nothing about a BERT config in the next folder: code evidence counts only
from the folder the recipe lives in (above its configs/ or scripts/ folder, so
``configs/x.yaml`` and ``scripts/train.py`` see the whole project).

Kept apart from ``training_code`` (the code fact visitor) so the recipe stage
and the recipe rules can ask these questions without importing the visitor.
"""

from __future__ import annotations

import os

_SIDE_FOLDERS = frozenset({"config", "configs", "conf", "confs", "cfg", "cfgs", "yaml", "yamls", "hparams",
                           "experiments", "recipes", "scripts", "script", "tools", "launch", "bash_script",
                           "bash_scripts", "shell", "sh", "run", "runs", "jobs"})


def evidence_anchor(fact) -> str:
    """The folder a recipe value belongs to: its file's folder, above any configs/ or scripts/ folder."""
    origin = fact.chain[0] if fact.chain else fact
    parts = os.path.normpath(origin.span.path).split(os.sep)[:-1]
    for index, part in enumerate(parts):
        if part.lower() in _SIDE_FOLDERS:
            return os.sep.join(parts[:index])
    return os.sep.join(parts)


def is_test_file(path: str) -> bool:
    """Unit tests construct optimizers and schedulers with arbitrary values; they are not training recipes."""
    name = os.path.basename(path)
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def attributable(recipe, anchor_fact, evidence) -> list:
    """The ``evidence`` facts (code facts of the recipe's project) that can be said to describe the run of ``anchor_fact``."""
    anchor = evidence_anchor(anchor_fact)
    if anchor in ("", "."):
        return list(evidence)
    prefix = anchor.rstrip(os.sep) + os.sep
    return [f for f in evidence if os.path.normpath(f.span.path).startswith(prefix)]
