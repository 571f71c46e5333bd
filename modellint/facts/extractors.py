"""Every config-tree fact extractor, in one list.

Each is a function ``(root: Node, dialect: str) -> List[Fact]`` over a
positioned config tree (a YAML/JSON/TOML document, the data view of a Python
config module, or a recipe's merged tree). Add a dialect by appending here.
"""

from __future__ import annotations

from typing import List

from modellint.facts import plain_config
from modellint.parsing.tree import Node
from modellint.provenance import Fact

CONFIG_EXTRACTORS = [
    plain_config.extract,
]


def extract_all(root: Node, dialect: str) -> List[Fact]:
    facts: List[Fact] = []
    for extractor in CONFIG_EXTRACTORS:
        facts.extend(extractor(root, dialect))
    return facts
