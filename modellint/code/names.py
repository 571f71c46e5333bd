"""Qualified names through imports and aliases.

``import torch.nn as nn`` then ``nn.Linear`` → ``torch.nn.Linear``;
``from torch.optim import AdamW as A`` then ``A`` → ``torch.optim.AdamW``.
Names that are not imported resolve to themselves (``Block`` → ``Block``),
so a class defined in the same file keeps its bare name.
"""

from __future__ import annotations

import ast
from typing import Dict, Optional

from modellint.code.walk import walk


class ImportTable:
    def __init__(self) -> None:
        self.aliases: Dict[str, str] = {}

    def add(self, stmt: ast.AST) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.aliases[top] = top
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            for alias in stmt.names:
                if alias.name != "*":
                    self.aliases[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
        elif isinstance(stmt, ast.ImportFrom) and stmt.level:
            for alias in stmt.names:
                if alias.name != "*":
                    module = "." * stmt.level + (stmt.module + "." if stmt.module else "")
                    self.aliases[alias.asname or alias.name] = f"{module}{alias.name}"

    def qualname(self, expr: ast.AST) -> Optional[str]:
        """Dotted qualified name of a Name/Attribute chain, or None."""
        parts = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        head = self.aliases.get(expr.id, expr.id)
        parts.append(head)
        return ".".join(reversed(parts))

    @classmethod
    def of_module(cls, tree: ast.Module) -> "ImportTable":
        table = cls()
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                table.add(stmt)
            elif isinstance(stmt, (ast.If, ast.Try)):
                # ``try: import x except ImportError: ...`` and version guards
                for inner in walk(stmt):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        table.add(inner)
        return table


def call_name(call: ast.Call) -> str:
    """Last segment of a call's callee: ``torch.optim.AdamW(...)`` → ``AdamW``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def keyword(call: ast.Call, name: str) -> Optional[ast.expr]:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def dotted(expr: ast.AST) -> str:
    """``self.model.encoder`` → ``self.model.encoder`` (no import resolution)."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return ""
