"""The child's report as objects, and its public forms (text table, JSON).

The child writes absolute paths; everything a user sees goes through
``display_path`` (relative to the current directory when below it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from modellint.discovery import display_path


@dataclass(frozen=True)
class Location:
    path: str  # absolute
    line: int

    @property
    def display(self) -> str:
        return f"{display_path(self.path)}:{self.line}"


def _location(data: Optional[dict]) -> Optional[Location]:
    if not data or not data.get("path") or not data.get("line"):
        return None
    return Location(data["path"], int(data["line"]))


def human_count(number: Optional[int]) -> str:
    """``21.3M``: compact counts for messages (tables print exact numbers)."""
    if number is None:
        return "?"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= limit:
            value = number / limit
            return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return str(number)


@dataclass
class ModuleRow:
    name: str
    class_name: str
    depth: int
    parameters: int
    trainable: int
    buffers: int
    frozen_percent: Optional[float]
    assigned_at: Optional[Location]
    members: List["ModuleRow"]
    hidden: bool
    data: dict

    @classmethod
    def from_json(cls, data: dict) -> "ModuleRow":
        return cls(data["name"], data["class"], int(data.get("depth", 1)), int(data["parameters"]), int(data["trainable"]),
                   int(data.get("buffers", 0)), data.get("frozen_percent"), _location(data.get("assigned_at")),
                   [cls.from_json(m) for m in data.get("members", [])], bool(data.get("hidden")), data)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def counts(self) -> str:
        """``0 / 21.3M trainable``"""
        return f"{human_count(self.trainable)} / {human_count(self.parameters)} trainable"


@dataclass
class Unregistered:
    owner_class: str
    attribute: str
    container: str
    instances: int
    owners: List[str]
    entries: int
    modules: int
    module_classes: Dict[str, int]
    parameter_objects: int
    parameters: int
    trainable: int
    registered_elsewhere: int
    location: Optional[Location]
    in_project: bool
    data: dict

    @classmethod
    def from_json(cls, data: dict) -> "Unregistered":
        return cls(data["owner_class"], data["attribute"], data.get("container", "list"), int(data.get("instances", 1)),
                   list(data.get("owners", [])), int(data.get("entries", 0)), int(data.get("modules", 0)),
                   dict(data.get("module_classes", {})), int(data.get("parameter_objects", 0)), int(data.get("parameters", 0)),
                   int(data.get("trainable", 0)), int(data.get("registered_elsewhere", 0)), _location(data),
                   bool(data.get("in_project", True)), data)

    def contents(self) -> str:
        """``4 Block modules and 1 nn.Parameter``"""
        parts = []
        if self.modules:
            classes = ", ".join(f"{n} {name}" for name, n in sorted(self.module_classes.items(), key=lambda kv: -kv[1]))
            parts.append(f"{self.modules} module{'s' if self.modules != 1 else ''} ({classes})")
        if self.parameter_objects:
            parts.append(f"{self.parameter_objects} nn.Parameter{'s' if self.parameter_objects != 1 else ''}")
        return " and ".join(parts)


class ModelReport:
    """A successful instantiation: counts, table rows, plain-container attributes."""

    def __init__(self, data: dict, target: str = "", kwargs_source: Optional[str] = None, kwargs: Optional[dict] = None):
        self.data = data
        self.target = target or data.get("target", "")
        self.kwargs_source = kwargs_source
        self.kwargs = kwargs or {}
        self.class_name: str = data.get("class", "?")
        self.definition: Optional[Location] = _location(data.get("definition"))
        self.totals: Dict[str, Any] = data.get("totals", {})
        self.own: Dict[str, Any] = data.get("own", {})
        self.rows: List[ModuleRow] = [ModuleRow.from_json(r) for r in data.get("modules", [])]
        self.unregistered: List[Unregistered] = [Unregistered.from_json(u) for u in data.get("unregistered", [])]
        self.probes: List[dict] = data.get("probes", [])
        self.built: str = data.get("built", data.get("device", "meta"))

    # -- numbers --------------------------------------------------------------
    @property
    def parameters(self) -> int:
        return int(self.totals.get("parameters", 0))

    @property
    def trainable(self) -> int:
        return int(self.totals.get("trainable", 0))

    def children(self) -> List[ModuleRow]:
        """Top-level children (also when the table was asked with ``--depth 0``)."""
        return [r for r in self.rows if r.depth == 1]

    def label(self) -> str:
        """``QuadModalModel (kwargs from configs/model.py:MODEL)``"""
        if not self.kwargs_source:
            return self.class_name
        if self.kwargs_source == "--kwargs":
            return f"{self.class_name} (with the --kwargs arguments)"
        return f"{self.class_name} (kwargs from {self.kwargs_source})"

    # -- public forms -----------------------------------------------------------
    def to_json(self) -> dict:
        def public_row(row: ModuleRow) -> dict:
            out = {k: v for k, v in row.data.items() if k not in ("members", "hidden", "assigned_at")}
            out["assigned_at"] = _public_location(row.assigned_at)
            if row.members:
                out["members"] = [public_row(m) for m in row.members]
            return out

        unregistered = []
        for entry in self.unregistered:
            item = {k: v for k, v in entry.data.items() if k not in ("path", "line")}
            item["assigned_at"] = _public_location(entry.location)
            unregistered.append(item)
        return {
            "schema": self.data.get("schema", 1),
            "target": self.target,
            "status": "ok",
            "class": self.class_name,
            "qualified_class": self.data.get("qualified_class"),
            "definition": _public_location(self.definition),
            "device": self.data.get("device", "meta"),
            "built": self.built,
            "kwargs_source": self.kwargs_source,
            "kwargs": self.kwargs,
            "torch_version": self.data.get("torch_version"),
            "depth": self.data.get("depth", 1),
            "totals": self.totals,
            "own": {k: v for k, v in self.own.items() if k not in ("name", "class")},
            "modules": [public_row(r) for r in self.rows if not r.hidden],
            "unregistered": unregistered,
            "seconds": self.data.get("seconds"),
            "peak_rss_mb": self.data.get("peak_rss_mb"),
        }

    def to_text(self) -> str:
        out = []
        where = f"  {self.definition.display}" if self.definition else ""
        built = {"meta": "on the meta device", "cpu": "on the CPU", "instance": "at import (a module-level instance)"}.get(self.built, self.built)
        out.append(f"{self.class_name}{where}")
        facts = [f"built {built}" + (f" in {self.data['seconds']:.1f} s" if self.data.get("seconds") is not None else "")]
        if self.data.get("torch_version"):
            facts.append(f"torch {self.data['torch_version']}")
        if self.kwargs_source:
            facts.append(f"kwargs from {self.kwargs_source}")
        out.append(", ".join(facts))
        out.append("")
        header = ("module", "class", "parameters", "trainable", "frozen %", "buffers")
        table = []
        for row in self.rows:
            if row.hidden:
                continue
            table.append(("  " * (row.depth - 1) + row.name, row.class_name, _n(row.parameters), _n(row.trainable),
                          _pct(row.frozen_percent), _n(row.buffers)))
        if (self.own.get("parameters") or self.own.get("buffers")) and self.data.get("depth", 1) > 0:
            table.append(("(own parameters)", self.class_name, _n(self.own.get("parameters", 0)), _n(self.own.get("trainable", 0)),
                          _pct(self.own.get("frozen_percent")), _n(self.own.get("buffers", 0))))
        total = ("total", "", _n(self.parameters), _n(self.trainable), _pct(self.totals.get("frozen_percent")),
                 _n(self.totals.get("buffers", 0)))
        widths = [max(len(r[i]) for r in [header, total] + table) for i in range(len(header))]

        def line(cells) -> str:
            left = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
            right = [c.rjust(w) for c, w in zip(cells[2:], widths[2:])]
            return "  ".join(left + right).rstrip()

        out.append(line(header))
        out.extend(line(r) for r in table)
        out.append(line(total))
        out.append("")
        size = self.totals.get("size_mb", {})
        out.append(f"size: {_mb(size.get('fp32'))} in fp32, {_mb(size.get('bf16'))} in bf16 (parameters and floating-point buffers)")
        for entry in self.unregistered:
            if entry.parameters <= 0:
                continue  # references to registered modules: nothing is missed
            at = f" at {entry.location.display}" if entry.location else ""
            shared = f", {_n(entry.registered_elsewhere)} registered elsewhere" if entry.registered_elsewhere else ""
            out.append(f"not registered: {entry.owner_class}.{entry.attribute} is a plain {entry.container} of "
                       f"{entry.contents()}: {_n(entry.parameters)} parameters outside model.parameters(){shared}{at}")
        return "\n".join(out) + "\n"


def _public_location(location: Optional[Location]) -> Optional[dict]:
    if location is None:
        return None
    return {"path": display_path(location.path), "line": location.line}


def _n(value) -> str:
    return f"{int(value):,}" if value is not None else "-"


def _pct(value) -> str:
    return "-" if value is None else f"{float(value):.1f}%"


def _mb(value) -> str:
    if value is None:
        return "?"
    return f"{value:,.1f} MB" if value >= 0.1 else f"{value:.3f} MB"
