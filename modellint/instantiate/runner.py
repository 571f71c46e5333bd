"""The parent side: start ``python -m modellint.instantiate.child``, give it
the request on stdin, wait (with a timeout), read its JSON report.

The child runs in its own process (and process group): the user's code, its
imports and torch never run in modellint's process, a hung constructor is
killed at the timeout, and whatever the child prints on stderr (torch's
warnings, the model's own prints) is discarded. Every way this can fail ends
as ``InstantiationFailed`` carrying one clear line for the user.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import List, Optional

import modellint
from modellint.discovery import display_path
from modellint.instantiate import INSTALL_HINT
from modellint.instantiate.report import ModelReport
from modellint.instantiate.request import Request

_MAX_LINE = 400


class InstantiationFailed(Exception):
    """Building the model did not give a report: ``line`` says why, in one line."""

    def __init__(self, line: str, kind: str, error: Optional[dict] = None):
        line = " ".join(line.split())
        if len(line) > _MAX_LINE:
            line = line[: _MAX_LINE - 1] + "…"
        super().__init__(line)
        self.line = line
        self.kind = kind
        self.error = error or {}

    def to_json(self, target: str) -> dict:
        error = {"kind": self.kind, "message": self.line, "exception": self.error.get("exception"),
                 "path": display_path(self.error["path"]) if self.error.get("path") else None,
                 "line": self.error.get("line")}
        return {"schema": 1, "target": target, "status": "error", "error": error}


def run(request: Request, probes: List[dict] = ()) -> ModelReport:
    """Build the model in a child process; raise InstantiationFailed on any failure."""
    data = _run_child(request, probes)
    if data.get("status") != "ok":
        error = data.get("error") or {}
        raise InstantiationFailed(failure_line(error, request), error.get("kind", "error"), error)
    return ModelReport(data, request.target, request.kwargs_source, request.kwargs)


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never leave __pycache__ in the user's project
    env["PYTHONWARNINGS"] = "ignore"
    env["PYTHONIOENCODING"] = "utf-8"
    env["CUDA_VISIBLE_DEVICES"] = ""  # a linter never touches a GPU
    # A source checkout run without installing: make modellint importable from
    # the project directory too (an installed modellint needs nothing).
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(modellint.__file__)))
    on_path = {os.path.abspath(p or os.getcwd()) for p in sys.path}
    if package_parent in on_path:
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = package_parent + (os.pathsep + existing if existing else "")
    return env


def _run_child(request: Request, probes: List[dict]) -> dict:
    # -P (3.11+): the project directory is not put first on sys.path, so a
    # project's own modellint/ or yaml.py cannot shadow ours; the child adds
    # the project root and src/ itself once torch is imported.
    command = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "modellint.instantiate.child"]
    options = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   cwd=request.project_root, env=_child_env())
    if os.name == "posix":
        options["start_new_session"] = True  # its own process group: the timeout kills everything it started
    else:  # pragma: no cover - Windows
        options["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    try:
        process = subprocess.Popen(command, **options)
    except OSError as exc:
        raise InstantiationFailed(f"cannot start the instantiation process ({sys.executable}): {exc}", "internal-error") from None
    payload = json.dumps(request.payload(probes)).encode("utf-8")
    try:
        out, err = process.communicate(payload, timeout=request.timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise InstantiationFailed(
            f"building {request.target} did not finish within {request.timeout:g} s (timeout; the time includes starting "
            "Python and importing torch): raise it with --timeout or `timeout` in [tool.modellint.instantiate]",
            "timeout") from None
    text = out.decode("utf-8", errors="replace").strip()
    if text:
        try:
            data = json.loads(text.splitlines()[-1])
            if isinstance(data, dict):
                return data
        except json.JSONDecodeError:
            pass
    last = _last_line(err.decode("utf-8", errors="replace"))
    code = process.returncode
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    raise InstantiationFailed(f"the process building {request.target} {how} without a report" + (f": {last}" if last else ""),
                              "crashed")


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        process.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()
    return ""


def failure_line(error: dict, request: Request) -> str:
    """One line per failure kind: what happened, where in the user's code, what to do."""
    kind = error.get("kind", "")
    target = request.target
    exception = error.get("exception") or error.get("message") or "unknown error"
    where = ""
    if error.get("path"):
        where = f"{display_path(error['path'])}:{error.get('line') or 1}"
    if kind == "torch-missing":
        return f"instantiating a model needs PyTorch, which is not installed for {sys.executable}: {INSTALL_HINT}"
    if kind == "import-error":
        at = f" ({where}: `{error['source_line']}`)" if where and error.get("source_line") else (f" ({where})" if where else "")
        return f"cannot import {target}: {exception}{at}"
    if kind == "bad-target" and error.get("attribute"):
        owner = display_path(error["path"]) if error.get("path") else f"module {error.get('module')}"
        return f"cannot instantiate {target}: {owner} has no attribute '{error['attribute']}'{error.get('hint', '')}"
    if kind == "bad-target":
        return f"cannot instantiate {target}: {error.get('message')}"
    if kind == "not-a-module":
        return f"cannot instantiate {target}: {error.get('message')}" + (f" ({where})" if where else "")
    if kind == "call-error":
        hint = ("pass constructor arguments with --kwargs JSON or --kwargs-from CONFIG[:KEY]" if not request.kwargs
                else f"the kwargs came from {request.kwargs_source}: {', '.join(sorted(request.kwargs))}")
        return f"calling {target} failed: {exception}; {hint}"
    if kind == "constructor-error":
        frame = ""
        if where:
            function = f" in {error['function']}" if error.get("function") else ""
            source = f" `{error['source_line']}`" if error.get("source_line") else ""
            frame = f" at {where}{function}{source}"
        meta = ("; it was built on the meta device (shapes, no values): retry with --device cpu if the constructor "
                "needs real tensor values") if error.get("meta_device") else ""
        return f"building {target} raised{frame}: {exception}{meta}"
    return f"instantiating {target} failed: {error.get('message') or exception}"
