"""Per-file analyses must not outlive their file: a run over thousands of files
keeps only results (findings, facts, config trees), never the syntax trees."""

import gc
import weakref

from modellint import filecheck, registry
from modellint.parsing import python_doc

MODEL = '''
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.layers = [nn.Linear(dim, dim) for _ in range(2)]
        self.scale = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x * self.scale

    def loss(self, a, b):
        total = a + 0.5 * b
        return total


def train(model, loader, optimizer, criterion, scheduler):
    total = 0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        scheduler.step()
        optimizer.step()
        total += loss
    return total
'''


def test_syntax_trees_are_freed_after_each_file(monkeypatch):
    documents = []
    parse = python_doc.parse_python

    def tracking(text, path):
        doc, problems = parse(text, path)
        if doc is not None:
            documents.append(weakref.ref(doc))
        return doc, problems

    monkeypatch.setattr(python_doc, "parse_python", tracking)  # filecheck imports it per Python file
    checker = filecheck.Checker(list(registry.all_rules()), {})
    # with the collector off, only reference counting frees: a reference cycle through a
    # document (a rule's recursive closure over ``ctx``, a memo pointing back) keeps it alive
    gc.disable()
    try:
        results = [checker.check_text(MODEL + f"\nVERSION = {i}\n", f"pkg/model_{i}.py", "python") for i in range(20)]
        alive = [ref for ref in documents if ref() is not None]
    finally:
        gc.enable()
    assert all(any(f.code == "ML303" for f in r.findings) for r in results)  # every rule really ran
    # rules may keep per-file state until the next file starts; nothing older survives
    assert len(alive) <= 1, f"{len(alive)} of {len(documents)} syntax trees are still alive"
