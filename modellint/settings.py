"""``[tool.modellint]`` in pyproject.toml (or ``--config``), validated.

Unknown keys, codes and options are usage errors with the closest valid
name, so a typo never silently disables a check (ruff does the same).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from modellint import registry


def _tomllib():
    # imported only to read a file that may configure modellint
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib

KNOWN_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "per-file-ignores", "rules", "instantiate")
INSTANTIATE_KEYS = ("target", "kwargs", "kwargs-from", "timeout", "device")


class UsageError(Exception):
    """Bad configuration or arguments: exit code 2."""


def _closest(word: str, choices: Sequence[str]) -> str:
    import difflib  # only for a usage error

    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


@dataclass
class Settings:
    select: List[str] = field(default_factory=lambda: ["ML"])
    ignore: List[str] = field(default_factory=list)
    extend_select: List[str] = field(default_factory=list)
    exclude: List[str] = field(default_factory=list)
    extend_exclude: List[str] = field(default_factory=list)
    per_file_ignores: Dict[str, List[str]] = field(default_factory=dict)
    rule_options: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    instantiate: Dict[str, Any] = field(default_factory=dict)
    config_path: Optional[str] = None
    root: str = field(default_factory=os.getcwd)

    def enabled_codes(self) -> List[str]:
        codes = registry.codes()
        chosen = []
        selectors = self.select + self.extend_select
        for code in codes:
            best_select = max((len(s) for s in selectors if _matches(code, s)), default=-1)
            best_ignore = max((len(s) for s in self.ignore if _matches(code, s)), default=-1)
            if best_select >= 0 and best_select > best_ignore:
                chosen.append(code)
        return chosen

    def options_for(self, code: str) -> Dict[str, Any]:
        return self.rule_options.get(code, {})

    def validate(self) -> None:
        known = registry.codes()
        for where, selectors in (("select", self.select), ("ignore", self.ignore), ("extend-select", self.extend_select)):
            for selector in selectors:
                check_selector(selector, known, where)
        for pattern, codes in self.per_file_ignores.items():
            if not isinstance(codes, list):
                raise UsageError(f"per-file-ignores['{pattern}'] must be a list of codes")
            for code in codes:
                check_selector(code, known, f"per-file-ignores['{pattern}']")
        for code, options in self.rule_options.items():
            if code not in known:
                raise UsageError(f"unknown rule '{code}' in [tool.modellint.rules]{_closest(code, known)}")
            if not isinstance(options, dict):
                raise UsageError(f"[tool.modellint.rules.{code}] must be a table")
            valid = {opt.name: opt for opt in registry.get(code).options}
            for name, value in options.items():
                if name not in valid:
                    hint = _closest(name, list(valid)) or (f" (options: {', '.join(valid)})" if valid else " (this rule has no options)")
                    raise UsageError(f"unknown option '{name}' for {code}{hint}")
                default = valid[name].default
                if isinstance(default, (int, float)) and not isinstance(default, bool):
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise UsageError(f"option {code}.{name} must be a number, got {value!r}")
                elif default is not None and not isinstance(value, type(default)):
                    raise UsageError(f"option {code}.{name} must be {type(default).__name__}, got {value!r}")
        for key in self.instantiate:
            if key not in INSTANTIATE_KEYS:
                raise UsageError(f"unknown key '{key}' in [tool.modellint.instantiate]{_closest(key, INSTANTIATE_KEYS)}")


def _matches(code: str, selector: str) -> bool:
    selector = selector.upper()
    return selector == "ALL" or code.startswith(selector)


def check_selector(selector: str, known: Sequence[str], where: str) -> None:
    if not isinstance(selector, str):
        raise UsageError(f"{where}: codes must be strings, got {selector!r}")
    up = selector.upper()
    if up == "ALL" or any(code.startswith(up) for code in known):
        return
    raise UsageError(f"unknown rule code '{selector}' in {where}{_closest(up, known)}")


def find_config(paths: Sequence[str]) -> Optional[str]:
    start = os.path.abspath(paths[0] if paths else ".")
    directory = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as handle:
                    raw = handle.read()
            except OSError:
                raw = b""
            # most projects' pyproject.toml never names modellint: no need to parse it (only a
            # key spelled with escapes, ``"modell\u0069nt"``, would be missed)
            if b"modellint" in raw:
                tomllib = _tomllib()
                try:
                    data = tomllib.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, tomllib.TOMLDecodeError):
                    data = {}
                if "modellint" in data.get("tool", {}):
                    return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load_settings(path: Optional[str]) -> Settings:
    settings = Settings()
    if path is None:
        return settings
    tomllib = _tomllib()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"invalid TOML in {path}: {exc}")
    section = data.get("tool", {}).get("modellint") if os.path.basename(path) == "pyproject.toml" else data.get("tool", {}).get("modellint", data)
    section = section or {}
    for key in section:
        if key not in KNOWN_KEYS:
            raise UsageError(f"unknown key '{key}' in [tool.modellint] of {path}{_closest(key, KNOWN_KEYS)}")

    def strings(key: str) -> List[str]:
        value = section.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"'{key}' in {path} must be a list of strings")
        return value

    if "select" in section:
        settings.select = strings("select")
    settings.ignore = strings("ignore")
    settings.extend_select = strings("extend-select")
    settings.exclude = strings("exclude")
    settings.extend_exclude = strings("extend-exclude")
    pfi = section.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise UsageError(f"'per-file-ignores' in {path} must be a table")
    settings.per_file_ignores = {k: ([v] if isinstance(v, str) else v) for k, v in pfi.items()}
    rules = section.get("rules", {})
    if not isinstance(rules, dict):
        raise UsageError(f"'rules' in {path} must be a table of rule codes")
    settings.rule_options = {k.upper(): v for k, v in rules.items()}
    settings.instantiate = section.get("instantiate", {}) or {}
    settings.config_path = path
    settings.root = os.path.dirname(os.path.abspath(path))
    settings.validate()
    return settings


def split_codes(values: Tuple[str, ...]) -> List[str]:
    out: List[str] = []
    for value in values:
        out.extend(part.strip().upper() for part in value.split(",") if part.strip())
    return out
