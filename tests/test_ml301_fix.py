"""ML301's unsafe fix: learned queries instead of zeros, only where the shape is certain.

The input → output cases live in the rule's ``fixes(...)`` examples (tests/test_rule_examples.py);
here: findings that must carry no fix, the CLI end to end, and files the examples do not cover."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import textwrap

import pytest
from click.testing import CliRunner

from modellint.cli import main
from modellint.fixes import verify
from tests.helpers import lint, write_files

pytest.importorskip("libcst")


def _findings(tmp_path, text, path="model.py"):
    write_files(tmp_path, [(path, textwrap.dedent(text))])
    return [f for f in lint(tmp_path, select=["ML301"]) if f.code == "ML301"]


# -- ML301 fires, no fix is offered --------------------------------------------------------
NO_FIX = {
    "feature size read from the input": """
        import torch
        import torch.nn as nn

        class Reader(nn.Module):
            def __init__(self, n_slots):
                super().__init__()
                self.n_slots = n_slots
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(64, 4, batch_first=True), 2)

            def forward(self, memory):
                tgt = memory.new_zeros(memory.size(0), self.n_slots, memory.size(-1))
                return self.decoder(tgt, memory)
        """,
    "no __init__ in the class to declare the embedding": """
        import torch
        import torch.nn as nn

        class Detector(nn.Module):
            def forward(self, images):
                memory = self.backbone(images)
                tgt = torch.zeros(memory.size(0), self.num_queries, self.hidden)
                return self.box_decoder(tgt=tgt, memory=memory)
        """,
    "zeros_like: the shape is another tensor's": """
        import torch
        import torch.nn as nn

        class QueryDecoder(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.num_queries = n

            def forward(self, memory):
                tgt = torch.zeros_like(memory[:, : self.num_queries])
                for layer in self.decoder_layers:
                    tgt = layer(tgt, memory)
                return tgt
        """,
    "a size attribute set only under a condition": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n=None):
                super().__init__()
                self.d = d
                if n is not None:
                    self.n = n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "a size attribute written again outside __init__": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def grow(self):
                self.n += 1

            def forward(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "forward runs inside __init__ (a dummy pass), before any embedding could exist": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)
                self.out_dim = self.forward(torch.zeros(1, 3, d)).shape[-1]

            def forward(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "queries built only without gradients would never be trained": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            @torch.no_grad()
            def predict(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "a base class from another file may already use the attribute name": """
        import torch
        from .base import BaseHead

        class Head(BaseHead):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n

            def forward(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "two known leading sizes: which one is the slots is a guess": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n, batch_size):
                super().__init__()
                self.d, self.n, self.batch_size = d, n, batch_size
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory):
                q = torch.zeros(self.batch_size, self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "the known leading size is the batch, the slot count is read from the input": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, batch_size):
                super().__init__()
                self.d, self.batch_size = d, batch_size
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory, boxes):
                q = torch.zeros(self.batch_size, boxes.size(1), self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "a local size bound twice": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory, extra=False):
                n = self.n
                if extra:
                    n = self.n + 1
                q = torch.zeros(memory.size(0), n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
    "the shape is a variable, not written out": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory):
                shape = (memory.size(0), self.n, self.d)
                q = torch.zeros(shape, device=memory.device)
                return self.decoder(q, memory)
        """,
    "new_zeros on a computed tensor (dropping it would skip a call)": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory):
                q = self.proj(memory).new_zeros(memory.size(0), self.n, self.d)
                return self.decoder(q, memory)
        """,
    "an extra keyword of the zeros call (requires_grad) is not carried over": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, requires_grad=False)
                return self.decoder(q, memory)
        """,
    "a zero buffer built with zeros_like (its dtype may not be floating)": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, template, d):
                super().__init__()
                self.register_buffer("queries", torch.zeros_like(template))
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4), 2)

            def forward(self, memory):
                q = self.queries.unsqueeze(1).repeat(1, memory.size(1), 1)
                return self.decoder(q, memory)
        """,
    "a zero buffer also looked up by its name must stay a buffer": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, n, d):
                super().__init__()
                self.register_buffer("queries", torch.zeros(n, d))
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4), 2)

            def forward(self, memory):
                q = self.queries.unsqueeze(1).repeat(1, memory.size(1), 1)
                return self.decoder(q, memory)

            def reset(self):
                return self.get_buffer("queries")
        """,
    "super().__init__() is not called at the top level of __init__": """
        import torch
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, d, n):
                if d:
                    super().__init__()
                self.d, self.n = d, n
                self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

            def forward(self, memory):
                q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                return self.decoder(q, memory)
        """,
}


@pytest.mark.parametrize("title", sorted(NO_FIX))
def test_fires_but_offers_no_fix(title, tmp_path):
    found = _findings(tmp_path, NO_FIX[title])
    assert found, f"ML301 must flag: {title}"
    assert all(f.fix is None for f in found), [f.fix for f in found]


def test_the_fix_is_unsafe_and_says_what_it_does(tmp_path):
    found = _findings(tmp_path, SEED_LIKE)
    assert len(found) == 2 and all(f.fix is not None for f in found)
    for finding, name in zip(sorted(found, key=lambda f: f.line), ("det_query_embed", "rep_query_embed")):
        fix = finding.fix
        assert fix["applicability"] == "unsafe"
        assert f"add `self.{name} = nn.Embedding(self.max_speakers, self.d_model)` to `__init__`" in fix["message"]
        assert f"use `self.{name}.weight.unsqueeze(0).repeat(B, 1, 1)` instead of the zeros" in fix["message"]


# -- end to end through the CLI ------------------------------------------------------------------
SEED_LIKE = """\
import torch
import torch.nn as nn


class DiarizationModel(nn.Module):
    def __init__(self, d_model=256, max_speakers=4):
        super().__init__()
        self.d_model = d_model
        self.max_speakers = max_speakers
        self.encoder = FrameEncoder(d_model)
        self.det_decoder = DetectionDecoder(d_model)
        self.rep_decoder = DetectionDecoder(d_model)

    def forward(self, feats):
        B, N, device = feats.size(0), self.max_speakers, feats.device
        memory = self.encoder(feats)
        x_det_dec = torch.zeros((B, N, self.d_model), device=device)
        x_rep_dec = torch.zeros((B, N, self.d_model), device=device)
        return self.det_decoder(x_det_dec, memory), self.rep_decoder(x_rep_dec, memory)
"""


def _runner():
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()


def _check(tmp_path, *args):
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        return _runner().invoke(main, ["check", "--no-cache", "--no-config", "--select", "ML301", *args, "."])
    finally:
        os.chdir(cwd)


def _read(tmp_path, name="model.py"):
    with open(os.path.join(str(tmp_path), name), encoding="utf-8", newline="") as handle:
        return handle.read()


def _digest(tmp_path):
    out = {}
    for base, _, files in os.walk(str(tmp_path)):
        for name in files:
            with open(os.path.join(base, name), "rb") as handle:
                out[os.path.relpath(os.path.join(base, name), str(tmp_path))] = hashlib.sha256(handle.read()).hexdigest()
    return out


def test_cli_unsafe_fix_applies_parses_and_converges(tmp_path):
    write_files(tmp_path, [("model.py", SEED_LIKE)])
    run = _check(tmp_path, "--fix", "--unsafe-fixes")
    assert run.exit_code == 0, run.output
    fixed = _read(tmp_path)
    ast.parse(fixed)
    assert verify("model.py", fixed) is None
    assert "        self.det_query_embed = nn.Embedding(self.max_speakers, self.d_model)\n" in fixed
    assert "        self.rep_query_embed = nn.Embedding(self.max_speakers, self.d_model)\n" in fixed
    assert "x_det_dec = self.det_query_embed.weight.unsqueeze(0).repeat(B, 1, 1)" in fixed
    assert "x_rep_dec = self.rep_query_embed.weight.unsqueeze(0).repeat(B, 1, 1)" in fixed
    assert "torch.zeros" not in fixed
    # the embeddings are declared after the sizes they read, inside __init__, before forward
    assert fixed.index("self.max_speakers = max_speakers") < fixed.index("nn.Embedding") < fixed.index("def forward")
    again = _check(tmp_path, "--format", "json")
    assert again.exit_code == 0, again.output
    assert [f for f in json.loads(again.stdout) if f["code"] == "ML301"] == []


def test_cli_diff_and_safe_fix_leave_the_file_alone(tmp_path):
    write_files(tmp_path, [("model.py", SEED_LIKE)])
    before = _digest(tmp_path)
    diff = _check(tmp_path, "--diff", "--unsafe-fixes")
    assert diff.exit_code == 1, diff.output
    assert "+        self.det_query_embed = nn.Embedding(self.max_speakers, self.d_model)" in diff.stdout
    assert "-        x_det_dec = torch.zeros((B, N, self.d_model), device=device)" in diff.stdout
    assert _digest(tmp_path) == before

    safe_only = _check(tmp_path, "--fix")
    assert safe_only.exit_code == 1, safe_only.output  # the findings remain: their fix is unsafe
    assert _digest(tmp_path) == before
    assert _read(tmp_path) == SEED_LIKE

    shown = _check(tmp_path, "--format", "json")
    fixes = [f["fix"] for f in json.loads(shown.stdout) if f["code"] == "ML301"]
    assert len(fixes) == 2 and all(f and f["applicability"] == "unsafe" for f in fixes)


def test_fix_at_the_end_of_a_file_without_newline_and_with_crlf(tmp_path):
    text = ("import torch\r\nimport torch.nn as nn\r\n\r\n\r\nclass Reader(nn.Module):\r\n"
            "    def forward(self, memory):\r\n"
            "        q = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)\r\n"
            "        return self.decoder(q, memory)\r\n\r\n"
            "    def __init__(self, d, n):\r\n"
            "        super().__init__()\r\n"
            "        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)\r\n"
            "        self.d, self.n = d, n")
    with open(os.path.join(str(tmp_path), "model.py"), "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    run = _check(tmp_path, "--fix", "--unsafe-fixes")
    assert run.exit_code == 0, run.output
    fixed = _read(tmp_path)
    assert fixed.endswith("        self.d, self.n = d, n\r\n        self.query_embed = nn.Embedding(self.n, self.d)")
    assert "q = self.query_embed.weight.unsqueeze(0).repeat(memory.size(0), 1, 1)\r\n" in fixed
    assert "\n" not in fixed.replace("\r\n", "")
    ast.parse(fixed)


def test_name_does_not_clash_and_existing_imports_are_reused(tmp_path):
    text = textwrap.dedent("""\
        import torch
        from torch import nn

        class Speaker(nn.Module):
            def __init__(self, dim, speakers):
                super().__init__()
                self.dim, self.speakers = dim, speakers
                self.query_embed = nn.Linear(dim, dim)  # not a query table, whatever its name
                self.stack = nn.TransformerDecoder(nn.TransformerDecoderLayer(dim, 4, batch_first=True), 2)

            def forward(self, frames):
                slots = torch.zeros(frames.shape[0], self.speakers, self.dim, device=frames.device)
                return self.stack(slots, self.query_embed(frames))
        """)
    write_files(tmp_path, [("model.py", text)])
    run = _check(tmp_path, "--fix", "--unsafe-fixes")
    assert run.exit_code == 0, run.output
    fixed = _read(tmp_path)
    assert "self.query_embed_2 = nn.Embedding(self.speakers, self.dim)\n" in fixed
    assert "slots = self.query_embed_2.weight.unsqueeze(0).repeat(frames.shape[0], 1, 1)" in fixed
    assert fixed.count("import") == 2


# -- the fixed code runs and the decoder sees the same shape ------------------------------------
# For each fix example of the rule: the class, its constructor arguments, where its decoder sits,
# and an input. Both versions run with the decoder replaced by a recorder.
RUNS = {
    "model.py": ("DiarizationModel", (), "det_decoder", (2, 7, 256)),
    "slots.py": ("SlotReader", (32, 5), "reader", (2, 9, 32)),
    "seg.py": ("MaskHead", (16,), "transformer.decoder", (9, 3, 16)),
    "detector.py": ("Detector", (16, 7), "box_decoder", (3, 9, 16)),
    "buffer_queries.py": ("EventDecoderHead", (6, 8), "event_decoder", (9, 3, 8)),
    "captioner.py": ("Captioner", (6, 8), "decoder", (3, 9, 8)),
}


def _fix_examples():
    from modellint import registry

    rule = registry.all_rules()["ML301"]
    return [e for e in rule.examples if e.fixed is not None]


def _run_model(torch, text, name):
    nn = torch.nn
    seen = []

    class Recorder(nn.Module):
        def forward(self, *args, **kwargs):
            query = args[0] if args else kwargs["tgt"]
            seen.append((tuple(query.shape), query.dtype, query.requires_grad))
            return query

    namespace = {"__name__": "example", "FrameEncoder": lambda d: nn.Identity(), "DetectionDecoder": lambda d: Recorder()}
    exec(compile(text, name, "exec"), namespace)
    cls_name, args, decoder, shape = RUNS[name]
    model = namespace[cls_name](*args)
    owner = model
    for part in decoder.split(".")[:-1]:
        owner = getattr(owner, part)
    setattr(owner, decoder.rsplit(".", 1)[-1], Recorder())
    dtype = torch.float64 if name == "detector.py" else torch.float32
    inputs = [torch.randn(*shape, dtype=dtype)] + ([None] if name == "seg.py" else [])
    model(*inputs)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return seen, trainable


def test_every_fix_example_has_a_run():
    assert {e.files[0][0] for e in _fix_examples()} == set(RUNS)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's notes on nested tensors
@pytest.mark.parametrize("example", _fix_examples(), ids=lambda e: e.files[0][0])
def test_fixed_examples_run_with_the_same_query_shape_and_dtype(example):
    torch = pytest.importorskip("torch")
    name, before = example.files[0]
    after = example.fixed[0][1]
    seen_before, params_before = _run_model(torch, before, name)
    seen_after, params_after = _run_model(torch, after, name)
    assert [s[:2] for s in seen_after] == [s[:2] for s in seen_before]  # shape and dtype
    assert all(not s[2] for s in seen_before) and all(s[2] for s in seen_after)  # now learned
    assert params_after - params_before  # a new trainable parameter
