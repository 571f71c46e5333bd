"""SARIF 2.1.0 for GitHub code scanning and other static-analysis viewers."""

import json
import re
from urllib.parse import quote

from modellint import __version__, registry
from modellint.docs import rule_markdown

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
INFORMATION_URI = "https://github.com/modellint/modellint"


def _artifact(path):
    """A SARIF artifactLocation: a percent-encoded URI reference, relative to %SRCROOT% when the
    path is (spaces, '%', ',' and ':' in file names would otherwise make an invalid URI)."""
    if path.startswith("/"):
        return {"uri": "file://" + quote(path)}
    if re.match(r"[A-Za-z]:/", path):  # an absolute Windows path (display paths use '/')
        return {"uri": "file:///" + path[:2] + quote(path[2:])}
    return {"uri": quote(path), "uriBaseId": "%SRCROOT%"}


def _location(path, line, column, end_line=None, end_column=None):
    region = {"startLine": max(1, line), "startColumn": max(1, column)}
    if end_line is not None:
        region["endLine"] = max(region["startLine"], end_line)
        region["endColumn"] = max(1, end_column or 1)
        if region["endLine"] == region["startLine"] and region["endColumn"] < region["startColumn"]:
            region["endColumn"] = region["startColumn"]
    return {"physicalLocation": {"artifactLocation": _artifact(path), "region": region}}


def _fix(fix) -> dict:
    """A SARIF fix: replacements grouped per file (regions 1-based, end exclusive like ours)."""
    changes = {}
    for e in fix.get("edits", ()):
        region = {"startLine": e["line"], "startColumn": e["column"], "endLine": e["end_line"], "endColumn": e["end_column"]}
        changes.setdefault(e["path"], []).append({"deletedRegion": region, "insertedContent": {"text": e["content"]}})
    return {
        "description": {"text": f"{fix.get('message', '')} ({fix.get('applicability')})"},
        "artifactChanges": [{"artifactLocation": _artifact(path), "replacements": reps} for path, reps in changes.items()],
    }


def render(findings, context) -> str:
    rules = registry.all_rules()
    codes = sorted(set(context.enabled_codes or rules) | {f.code for f in findings})
    index = {code: i for i, code in enumerate(codes)}
    driver_rules = []
    for code in codes:
        cls = rules[code]
        driver_rules.append({
            "id": code,
            "name": cls.name,
            "shortDescription": {"text": cls.summary},
            "fullDescription": {"text": cls.rationale},
            "help": {"text": cls.fix, "markdown": rule_markdown(cls)},
            "defaultConfiguration": {"level": _LEVEL[cls.severity]},
            "properties": {"tags": [cls.name]},
        })
    results = []
    for f in findings:
        result = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _LEVEL[f.severity],
            "message": {"text": f"{f.message}\nhelp: {f.help}" if f.help else f.message},
            "locations": [_location(f.path, f.line, f.column, f.end_line, f.end_column)],
        }
        if f.fix:
            result["fixes"] = [_fix(f.fix)]
            result.setdefault("properties", {})["fixApplicability"] = f.fix.get("applicability")
        if f.related:
            related = []
            for number, r in enumerate(f.related):
                loc = _location(r.path, r.line, r.column)
                loc["id"] = number
                loc["message"] = {"text": r.message}
                related.append(loc)
            result["relatedLocations"] = related
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "modellint", "version": __version__, "informationUri": INFORMATION_URI,
                                "rules": driver_rules}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2) + "\n"
