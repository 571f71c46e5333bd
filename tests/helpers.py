"""Running modellint in-process on a mini project written to a temp dir."""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional

from modellint import engine
from modellint.settings import Settings


def write_files(root, files: Iterable) -> None:
    for path, text in files:
        full = os.path.join(str(root), path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(text)


def lint(root, select: Optional[List[str]] = None, options: Optional[Dict] = None, paths=None, jobs: int = 1):
    settings = Settings()
    if select:
        settings.select = select
    if options:
        settings.rule_options = options
    cwd = os.getcwd()
    os.chdir(str(root))
    try:
        return engine.run(paths or ["."], settings, jobs=jobs).findings
    finally:
        os.chdir(cwd)
