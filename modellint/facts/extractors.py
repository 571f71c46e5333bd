"""Every fact extractor, in two lists: config trees and Python code.

Each is a function ``(root: Node, dialect: str) -> List[Fact]`` over a
positioned config tree (a YAML/JSON/TOML document, the data view of a Python
config module, or a recipe's merged tree). Add a dialect by appending here.
"""

from __future__ import annotations

from typing import List

from modellint.facts import detectron2, loss_weights, mmengine, plain_config
from modellint.parsing.tree import Node, memo_walks
from modellint.provenance import Fact

CONFIG_EXTRACTORS = [
    plain_config.extract,
    detectron2.extract,
    mmengine.extract,
    loss_weights.extract,
]

# framework dialects (HF args files, DeepSpeed JSON, LightningCLI), then common keys
from modellint.facts import common_keys, deepspeed, hf, lightning  # noqa: E402

CONFIG_EXTRACTORS += [hf.extract, deepspeed.extract, lightning.extract, common_keys.extract]

from modellint.facts import freezing  # noqa: E402  (ML302: which encoder/backbone sections are frozen)

CONFIG_EXTRACTORS.append(freezing.extract)


def code_fact_visitors() -> list:
    """Fresh visitors (``visit_<Node>(node, ctx)`` calling ``ctx.fact``) for one
    Python file's single traversal; each is a class with a no-argument constructor."""
    from modellint.facts.code_literals import CodeLiterals
    from modellint.facts.training_code import TrainingCode

    return [CodeLiterals(), TrainingCode()]


def extract_all(root: Node, dialect: str) -> List[Fact]:
    facts: List[Fact] = []
    seen = set()
    with memo_walks():
        _run_extractors(root, dialect, facts, seen)
    return facts


def _run_extractors(root: Node, dialect: str, facts: List[Fact], seen: set) -> None:
    for extractor in CONFIG_EXTRACTORS:
        for fact in extractor(root, dialect):
            # two dialects may both understand one key; one fact per value
            key = (fact.name, fact.span, fact.get("term"), fact.get("section"))
            if key not in seen:
                seen.add(key)
                facts.append(fact)
