"""``modellint inspect TARGET``: build the model, print its parameter table
(text) or the report (JSON, fields in docs/inspect.md), with the ML6xx
findings. Exit 0 when the model was built, 2 when it could not be (one line
on stderr saying why; with ``--format json`` the report says it too)."""

from __future__ import annotations

import json
import os
from typing import Callable, Optional

from modellint.settings import Settings, UsageError, find_config, load_settings


def run_inspect(target: Optional[str], *, kwargs_json: Optional[str], kwargs_from: Optional[str], depth: int, fmt: str,
                timeout: Optional[float], device: Optional[str], config_file: Optional[str], no_config: bool,
                echo: Callable[..., None]) -> int:
    from modellint.instantiate.request import build_request
    from modellint.instantiate.runner import InstantiationFailed, run
    from modellint.instantiate.stage import rule_findings

    try:
        if no_config:
            settings = Settings()
        else:
            start = _config_start(target)
            settings = load_settings(config_file or find_config([start]))
        request = build_request(target, settings, kwargs_json=kwargs_json, kwargs_from=kwargs_from, depth=depth,
                                timeout=timeout, device=device)
    except UsageError as exc:
        echo(f"modellint: error: {exc}", err=True)
        return 2
    try:
        model = run(request)
    except InstantiationFailed as failure:
        if fmt == "json":
            echo(json.dumps(failure.to_json(request.target), indent=2))
        echo(f"modellint: error: {failure.line}", err=True)
        return 2
    findings = rule_findings(model, settings)
    if fmt == "json":
        data = model.to_json()
        data["findings"] = [f.to_json() for f in findings]
        echo(json.dumps(data, indent=2))
        return 0
    text = model.to_text()
    if findings:
        text += "\n" + "\n".join(f"{f.path}:{f.line}:{f.column}: {f.severity} {f.code} {f.message}" for f in findings) + "\n"
    echo(text, nl=False)
    return 0


def _config_start(target: Optional[str]) -> str:
    """pyproject.toml is looked for from the target file upwards (else from here)."""
    if target:
        left = target.rpartition(":")[0]
        if left.endswith(".py") or "/" in left or "\\" in left:
            directory = os.path.dirname(os.path.abspath(left))
            if os.path.isdir(directory):
                return directory
    return "."
