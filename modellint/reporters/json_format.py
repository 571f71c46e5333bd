"""One JSON array, sorted by path, line, column, code (fields per the interface contract)."""

import json


def render(findings, context) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2) + "\n"
