"""What to build and how: TARGET, constructor kwargs and options, resolved
from the command line and ``[tool.modellint.instantiate]``.

Precedence: command line, then ``[tool.modellint.instantiate]``, then
defaults (timeout 60 s, device ``meta``, depth 1). Constructor kwargs come
from ``--kwargs JSON`` or ``--kwargs-from CONFIG[:KEY]`` when given (they
replace the config's), else from the config's ``kwargs-from`` with its
``kwargs`` table merged on top. Paths in the config are relative to the
directory of the pyproject.toml; paths on the command line to the current
directory. Config files are read as data with modellint's own readers
(YAML 1.1 like PyYAML, JSON, TOML, Python dict-config modules): nothing is
imported or run in this process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from modellint.discovery import display_path
from modellint.settings import Settings, UsageError

DEFAULT_TIMEOUT = 60.0
DEVICES = ("meta", "cpu")
_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@dataclass
class Request:
    target: str  # as the user wrote it
    name: str  # attribute path inside the module: ``Net`` or ``build.model``
    target_file: Optional[str] = None  # absolute, for ``path/to/file.py:Name``
    module: Optional[str] = None  # for ``package.module:Name``
    kwargs: Dict[str, Any] = field(default_factory=dict)
    kwargs_source: Optional[str] = None  # ``configs/model.yaml:model``, ``--kwargs``
    kwargs_file: Optional[str] = None  # absolute
    depth: int = 1
    timeout: float = DEFAULT_TIMEOUT
    device: str = "meta"
    project_root: str = field(default_factory=os.getcwd)

    def payload(self, probes: List[dict] = ()) -> dict:
        return {
            "target": self.target,
            "name": self.name,
            "target_file": self.target_file,
            "module": self.module,
            "kwargs": self.kwargs,
            "kwargs_file": self.kwargs_file,
            "depth": self.depth,
            "device": self.device,
            "project_root": self.project_root,
            "probes": list(probes),
        }


def build_request(target: Optional[str], settings: Settings, *, kwargs_json: Optional[str] = None,
                  kwargs_from: Optional[str] = None, depth: int = 1, timeout: Optional[float] = None,
                  device: Optional[str] = None) -> Request:
    """Resolve a Request; every problem is a UsageError (exit 2) with one clear line."""
    config = settings.instantiate or {}
    config_dir = settings.root if settings.config_path else os.getcwd()
    where = f"[tool.modellint.instantiate] in {display_path(settings.config_path)}" if settings.config_path else ""
    base = os.getcwd()
    if not target:
        target = config.get("target")
        base = config_dir
        if not target:
            raise UsageError("no TARGET: give one (path/to/file.py:Name or package.module:Name) or set "
                             "`target` in [tool.modellint.instantiate]")
        if not isinstance(target, str):
            raise UsageError(f"`target` in {where} must be a string like \"src/models/net.py:Net\"")
    request = _parse_target(target, base)

    if kwargs_json is not None and kwargs_from is not None:
        raise UsageError("give constructor kwargs with --kwargs or --kwargs-from, not both")
    if kwargs_json is not None:
        request.kwargs = _parse_json_kwargs(kwargs_json, "--kwargs")
        request.kwargs_source = "--kwargs"
    elif kwargs_from is not None:
        request.kwargs, request.kwargs_file, request.kwargs_source = load_kwargs_from(kwargs_from, os.getcwd())
    else:
        merged: Dict[str, Any] = {}
        sources = []
        if config.get("kwargs-from"):
            spec = config["kwargs-from"]
            if not isinstance(spec, str):
                raise UsageError(f"`kwargs-from` in {where} must be a string like \"configs/model.yaml:model\"")
            merged, request.kwargs_file, source = load_kwargs_from(spec, config_dir)
            sources.append(source)
        if config.get("kwargs") is not None:
            if not isinstance(config["kwargs"], dict):
                raise UsageError(f"`kwargs` in {where} must be a table of constructor arguments")
            merged.update(config["kwargs"])
            sources.append("[tool.modellint.instantiate] kwargs")
        request.kwargs = merged
        request.kwargs_source = " + ".join(sources) or None

    request.depth = max(0, int(depth))
    timeout = timeout if timeout is not None else config.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise UsageError(f"the instantiation timeout must be a positive number of seconds, got {timeout!r}")
    request.timeout = float(timeout)
    device = device or config.get("device", "meta")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r} for instantiation (choose meta or cpu)")
    request.device = device
    request.project_root = project_root(request.target_file, settings)
    return request


def _parse_target(target: str, base: str) -> Request:
    left, sep, name = target.strip().rpartition(":")
    if not sep or not left or not name:
        raise UsageError(f"TARGET must be path/to/file.py:Name or package.module:Name, got {target!r}")
    if not all(part.isidentifier() for part in name.split(".")):
        raise UsageError(f"{name!r} in TARGET {target!r} is not a Python name")
    if left.endswith(".py") or "/" in left or "\\" in left:
        path = os.path.abspath(os.path.join(base, left))
        if not os.path.isfile(path):
            raise UsageError(f"TARGET file not found: {display_path(path)}")
        return Request(target, name, target_file=path)
    if not all(part.isidentifier() for part in left.split(".")):
        raise UsageError(f"{left!r} in TARGET {target!r} is neither a .py file nor a dotted module name")
    return Request(target, name, module=left)


def project_root(target_file: Optional[str], settings: Settings) -> str:
    """The directory the project's scripts run from: the nearest directory
    above the target with a pyproject.toml, setup.py, setup.cfg or .git;
    else the config's directory; else the current directory."""
    if target_file:
        directory = os.path.dirname(target_file)
        while True:
            if any(os.path.exists(os.path.join(directory, marker)) for marker in _ROOT_MARKERS):
                return directory
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    if settings.config_path:
        return settings.root
    cwd = os.getcwd()
    if target_file and not os.path.abspath(target_file).startswith(cwd + os.sep):
        return os.path.dirname(target_file)
    return cwd


def _parse_json_kwargs(text: str, where: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a JSON object of constructor arguments, like '{{\"dim\": 256}}'")
    return value


def _split_spec(spec: str, base: str) -> Tuple[str, Optional[str]]:
    whole = os.path.join(base, spec)
    if os.path.isfile(whole):
        return whole, None
    left, sep, key = spec.rpartition(":")
    if sep and left and key and "/" not in key and "\\" not in key:
        return os.path.join(base, left), key
    return whole, None


def load_kwargs_from(spec: str, base: str) -> Tuple[Dict[str, Any], str, str]:
    """``CONFIG[:KEY]`` → (kwargs, absolute path, display source)."""
    from modellint.parsing.source import kind_of, read_source
    from modellint.parsing.tree import Mapping, to_plain

    path, key = _split_spec(spec, base)
    path = os.path.abspath(path)
    shown = display_path(path)
    if not os.path.isfile(path):
        raise UsageError(f"--kwargs-from: config file not found: {shown}")
    kind = kind_of(path)
    if kind not in ("yaml", "json", "toml", "python"):
        raise UsageError(f"--kwargs-from: {shown} is not a YAML, JSON, TOML or Python config")
    text, problem = read_source(path, kind)
    if problem is not None:
        raise UsageError(f"--kwargs-from: {shown}: {problem.message}")
    root = _parse_config(text, path, kind, shown)
    node = root
    if key:
        walked = []
        for part in key.split("."):
            child = node.get(part) if isinstance(node, Mapping) else None
            if child is None:
                keys = ", ".join(node.keys()[:12]) if isinstance(node, Mapping) else ""
                at = ".".join(walked) or "the top level"
                raise UsageError(f"--kwargs-from: no key '{part}' at {at} of {shown}" + (f" (keys: {keys})" if keys else ""))
            walked.append(part)
            node = child
    if not isinstance(node, Mapping):
        what = f"'{key}'" if key else "the document"
        raise UsageError(f"--kwargs-from: {what} in {shown} is not a mapping of constructor arguments")
    unknown = _first_unknown(node)
    if unknown is not None:
        label, value = unknown
        raise UsageError(
            f"--kwargs-from: {shown}:{value.span.line}: {label} = `{value.text or '...'}` cannot be read as data "
            "(literals, dict(...) and arithmetic on earlier names are read; nothing is run); pass it with --kwargs")
    kwargs = to_plain(node)
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--kwargs-from: {shown}: a value cannot be passed to the model: {exc}") from None
    return kwargs, path, f"{shown}:{key}" if key else shown


def _first_unknown(node, label: str = "", depth: int = 0):
    from modellint.parsing.tree import Mapping, Sequence, Unknown

    if depth > 100:
        return None
    if isinstance(node, Unknown):
        return (label or "the value"), node
    if isinstance(node, Mapping):
        for key, value in node.items:
            found = _first_unknown(value, f"{label}.{key.value}" if label else str(key.value), depth + 1)
            if found:
                return found
    if isinstance(node, Sequence):
        for index, value in enumerate(node.items):
            found = _first_unknown(value, f"{label}[{index}]", depth + 1)
            if found:
                return found
    return None


def _parse_config(text: str, path: str, kind: str, shown: str):
    if kind == "python":
        from modellint.parsing.python_doc import parse_python

        doc, problems = parse_python(text, path)
        if doc is None:
            raise UsageError(f"--kwargs-from: {shown}: {problems[0].message}")
        return doc.config_view()
    from modellint.parsing.json_doc import parse_json
    from modellint.parsing.toml_doc import parse_toml
    from modellint.parsing.yaml_doc import parse_yaml

    roots, problems = {"yaml": parse_yaml, "json": parse_json, "toml": parse_toml}[kind](text, path)
    if not roots:
        message = problems[0].message if problems else "empty document"
        raise UsageError(f"--kwargs-from: {shown}: {message}")
    return roots[0]
