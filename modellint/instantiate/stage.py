"""The instantiation stage of ``modellint check --instantiate TARGET``.

After the static run: build the model (runner), let the ML6xx rules read the
report, and give the static findings about the same model their verdict:

* ML303 unregistered-submodule — the child looks at the attribute the
  finding names, on every instance of the class that contains the line:
  still a plain container with parameters outside ``model.parameters()``
  → confirmed; a registered ``nn.ModuleList``/``nn.ModuleDict``, or a
  container whose parameters are all registered elsewhere → refuted;
  empty or absent in this configuration → no verdict.
* ML302 all-backbones-frozen — related to the model when its line ran while
  the model was built, lies in the model's own classes, or is a config key
  (in the kwargs file or a project module the model imported) that the
  construction code reads. Then every backbone/encoder child frozen →
  confirmed; one of them trainable → refuted.

A refuted static finding is dropped and replaced by an ``info`` note with
the same code at the same place, saying what instantiation showed. Findings
instantiation cannot relate to the built model keep
``confirmed_by_instantiation = null``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

from modellint import registry
from modellint.discovery import display_path
from modellint.findings import Finding, Related
from modellint.instantiate.report import Location, ModelReport
from modellint.instantiate.request import Request
from modellint.settings import Settings

INSTANTIATION_CODES = ("ML601", "ML602", "ML603")
STATIC_CODES = ("ML302", "ML303")


class _Reporter:
    """``report(location, message, help=..., severity=..., related=[(location, msg)])`` for ML6xx rules."""

    def __init__(self, rule, model: ModelReport):
        self.rule = rule
        self.model = model
        self.findings: List[Finding] = []

    def __call__(self, where: Optional[Location], message: str, *, help: Optional[str] = None,
                 severity: Optional[str] = None, related: Sequence[Tuple[Optional[Location], str]] = ()) -> None:
        where = where or self.model.definition
        if where is None:
            return  # nowhere to put it (a target without source): the table still shows the numbers
        column, end_column = _columns(where)
        pairs = tuple(Related(display_path(loc.path), loc.line, _columns(loc)[0], text) for loc, text in related if loc)
        self.findings.append(Finding(
            self.rule.code, self.rule.name, severity or self.rule.severity, message, help or self.rule.fix,
            display_path(where.path), where.line, column, where.line, end_column, pairs))


def _columns(where: Location) -> Tuple[int, int]:
    import linecache

    text = linecache.getline(where.path, where.line).rstrip("\r\n")
    if not text.strip():
        return 1, 1
    return len(text) - len(text.lstrip()) + 1, len(text) + 1


def rule_findings(model: ModelReport, settings: Settings, enabled: Optional[Sequence[str]] = None) -> List[Finding]:
    """ML6xx findings for a built model, after selection, suppression comments and per-file-ignores."""
    enabled = set(enabled if enabled is not None else settings.enabled_codes())
    findings: List[Finding] = []
    for code in INSTANTIATION_CODES:
        if code not in enabled:
            continue
        cls = registry.get(code)
        rule = cls(settings.options_for(code))
        reporter = _Reporter(rule, model)
        rule.check_model(model, reporter)
        findings.extend(reporter.findings)
    return [f for f in findings if not _suppressed(f, settings)]


def _suppressed(finding: Finding, settings: Settings) -> bool:
    from modellint.engine import _per_file_ignored
    from modellint.parsing.source import kind_of, read_source
    from modellint.suppression import parse_suppressions

    kind = kind_of(finding.path) or "python"
    text, problem = read_source(finding.path, kind)
    if text is not None:
        suppressions = parse_suppressions(text, kind)
        if suppressions.skip_file or suppressions.covers(finding.line, finding.code):
            return True
    return _per_file_ignored(finding, settings)


def _under(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), root]) == root
    except ValueError:
        return False


def probes_for(findings: Sequence[Finding], request: Request) -> List[dict]:
    root = os.path.abspath(request.project_root)
    return [{"code": f.code, "path": os.path.abspath(f.path), "line": f.line, "column": f.column}
            for f in findings if f.code in STATIC_CODES and _under(f.path, root)]


def apply(result, request: Request, settings: Settings) -> Optional[ModelReport]:
    """Run the instantiation for ``check``: add ML6xx findings and verdicts to
    ``result`` (an engine RunResult); a failure becomes one line in ``result.errors``."""
    from modellint.instantiate.runner import InstantiationFailed, run

    probes = probes_for(result.findings, request)
    if not probes and not set(INSTANTIATION_CODES) & set(settings.enabled_codes()):
        return None  # nothing selected would read the model
    try:
        model = run(request, probes)
    except InstantiationFailed as failure:
        result.errors.append(failure.line)
        return None
    result.findings[:] = judge_static(result.findings, model, settings) + rule_findings(model, settings)
    result.findings.sort(key=lambda f: f.sort_key)
    return model


# -- verdicts on static findings ---------------------------------------------------
def judge_static(findings: Sequence[Finding], model: ModelReport, settings: Settings) -> List[Finding]:
    probes: Dict[Tuple[str, str, int], dict] = {}
    for probe in model.probes:
        probes[(probe["code"], os.path.normcase(os.path.abspath(probe["path"])), int(probe["line"]))] = probe
    out: List[Finding] = []
    for finding in findings:
        probe = probes.get((finding.code, os.path.normcase(os.path.abspath(finding.path)), finding.line))
        verdict: Optional[Tuple[bool, str]] = None
        if probe is not None and finding.code == "ML303":
            verdict = _unregistered_verdict(probe, model)
        elif probe is not None and finding.code == "ML302":
            verdict = _frozen_verdict(probe, model, settings)
        if verdict is None:
            out.append(finding)
        elif verdict[0]:
            out.append(replace(finding, confirmed_by_instantiation=True))
        else:
            out.append(replace(
                finding, severity="info", confirmed_by_instantiation=False,
                message=f"instantiation refutes this {finding.code} finding, dropped: {verdict[1]} (static finding was: {finding.message})",
                help=("Nothing to fix for this configuration: instantiating the model shows the problem is not there. "
                      "If other configurations build the model differently, instantiate those too.")))
    return out


def _unregistered_verdict(probe: dict, model: ModelReport) -> Optional[Tuple[bool, str]]:
    verdict = probe.get("verdict")
    if verdict == "confirmed":
        return True, probe.get("detail", "")
    if verdict == "refuted":
        return False, f"building {model.label()} shows {probe.get('detail', 'no unregistered parameters here')}"
    return None


def _frozen_verdict(probe: dict, model: ModelReport, settings: Settings) -> Optional[Tuple[bool, str]]:
    if not probe.get("related"):
        return None
    rule = registry.get("ML602")(settings.options_for("ML602"))
    backbones = rule.backbones(model)
    if not backbones:
        return None
    trainable = [b for b in backbones if b.trainable > 0]
    if not trainable:
        return True, ""
    counts = ", ".join(f"{b.name} {b.counts()}" for b in trainable[:4])
    frozen = [b for b in backbones if b.trainable == 0]
    rest = f"; frozen: {', '.join(b.name for b in frozen[:4])}" if frozen else ""
    return False, f"building {model.label()} leaves backbones trainable ({counts}{rest})"

