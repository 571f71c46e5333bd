"""Launch scripts: which config a command trains, on how many GPUs, with which overrides.

Understands ``python train_net.py --config-file X --num-gpus N KEY VALUE …``
(detectron2, with or without ``--opts``), ``tools/dist_train.sh CONFIG N
[--cfg-options k=v …]`` and ``tools/train.py CONFIG`` (MMEngine),
``torchrun --nproc_per_node N``, Hydra ``key=value`` overrides, and
argparse-style ``--lr 1e-4`` flags (timm, DETR, HF scripts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from modellint.lazy_re import lazy
from modellint.parsing.shell_doc import Command, ShellDocument, Word
from modellint.provenance import Span

_YACS_KEY = lazy(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")
_CONFIG_FLAGS = ("--config-file", "--config_file", "--config", "--cfg", "-c", "--config-path", "--cfg-file")
_GPU_FLAGS = ("--num-gpus", "--num_gpus", "--nproc_per_node", "--nproc-per-node", "--gpus", "--ngpus", "--num_processes", "--num-processes")
_CONFIG_EXT = (".yaml", ".yml", ".py", ".json")
_LAUNCHERS = ("python", "python3", "torchrun", "deepspeed", "accelerate", "bash", "sh", "srun", "mpirun")


@dataclass
class Launch:
    line: int
    config: Optional[Word] = None  # the config file the command trains
    gpus: Optional[Word] = None
    overrides: List[Tuple[str, Word]] = field(default_factory=list)  # dotted key → value word
    flags: List[Tuple[str, Word]] = field(default_factory=list)  # --flag → value word (argparse-style)
    script: str = ""


def _is_launch(words: List[Word]) -> bool:
    first = os.path.basename(words[0].text)
    return (
        first in _LAUNCHERS
        or first.startswith("python")
        or any(w.text.endswith((".py", "_train.sh", "train.sh")) for w in words[:4])
    )


def parse_launches(doc: ShellDocument) -> List[Launch]:
    launches = []
    for command in doc.commands:
        if command.words and _is_launch(command.words):
            launch = _parse(command)
            if launch.config or launch.overrides or launch.flags:
                launches.append(launch)
    return launches


def _parse(command: Command) -> Launch:
    words = command.words
    launch = Launch(command.line)
    index = 0
    # the script: the first *.py / *.sh word
    while index < len(words) and not words[index].text.endswith((".py", ".sh")):
        if words[index].text in _GPU_FLAGS and index + 1 < len(words):  # torchrun --nproc_per_node N
            launch.gpus = words[index + 1]
            index += 2
            continue
        if words[index].text.startswith(("--nproc_per_node=", "--nproc-per-node=")):
            launch.gpus = _value_word(words[index])
        index += 1
    if index >= len(words):
        return launch
    launch.script = words[index].text
    index += 1
    positional: List[Word] = []
    in_opts = False
    in_cfg_options = False
    while index < len(words):
        word = words[index]
        text = word.text
        nxt = words[index + 1] if index + 1 < len(words) else None
        if text == "--opts":
            in_opts = True
            index += 1
            continue
        if text == "--cfg-options" or text == "--options":
            in_cfg_options = True
            index += 1
            continue
        if in_cfg_options and "=" in text and not text.startswith("-"):
            key, _, _ = text.partition("=")
            launch.overrides.append((key, _value_word(word)))
            index += 1
            continue
        in_cfg_options = False
        if text in _CONFIG_FLAGS and nxt is not None:
            launch.config = nxt
            index += 2
            continue
        if "=" in text and text.split("=", 1)[0] in _CONFIG_FLAGS:
            launch.config = _value_word(word)
            index += 1
            continue
        if text in _GPU_FLAGS and nxt is not None:
            launch.gpus = nxt
            index += 2
            continue
        if _YACS_KEY.match(text) and nxt is not None:
            launch.overrides.append((text, nxt))
            index += 2
            continue
        if in_opts and nxt is not None and not text.startswith("-"):
            launch.overrides.append((text, nxt))
            index += 2
            continue
        if text.startswith("--"):
            name, eq, value = text.partition("=")
            if eq:
                launch.flags.append((name, _value_word(word)))
                index += 1
                continue
            if nxt is not None and not nxt.text.startswith("--"):
                launch.flags.append((name, nxt))
                index += 2
                continue
            launch.flags.append((name, Word("true", word.span)))
            index += 1
            continue
        if "=" in text and not text.startswith("-"):  # Hydra: key=value, +key=value, ++key=value
            key, _, _ = text.partition("=")
            launch.overrides.append((key.lstrip("+~"), _value_word(word)))
            index += 1
            continue
        positional.append(word)
        index += 1
    if launch.config is None:
        for word in positional:
            if word.text.endswith(_CONFIG_EXT):
                launch.config = word
                break
    if launch.gpus is None and launch.script.endswith(".sh") and launch.config is not None:
        # MMEngine ``dist_train.sh CONFIG GPUS``
        rest = [w for w in positional if w is not launch.config]
        if rest and rest[0].text.isdigit():
            launch.gpus = rest[0]
    return launch


def _value_word(word: Word) -> Word:
    key, _, value = word.text.partition("=")
    span = word.span
    return Word(value, Span(span.path, span.line, span.column + len(key) + 1, span.end_line, span.end_column), word.origin)
