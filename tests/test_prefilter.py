"""The text pre-filter (``CodeRule.wants``) must never drop a finding.

A rule's ``wants(text)`` says "no finding possible" when a word every finding
needs is absent; the checker then leaves the rule out of the file's traversal.
These tests compare the pre-filtered path with the full path: on every
Python text the rules ship as examples, on the bundled fixtures, and on
hypothesis-made variants where identifiers are renamed (to the words the
filters look for, to near misses, and to random names), which is where an
unsound filter would lose a finding the full path makes.
"""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modellint import filecheck, registry
from modellint.rule import CodeRule

ROOT = Path(__file__).resolve().parent.parent
ALL_CODES = list(registry.all_rules())


def _corpus():
    texts = []
    for code in ALL_CODES:
        rule = registry.get(code)
        if not issubclass(rule, CodeRule):
            continue
        for example in rule.examples:
            for path, text in example.files:
                if path.endswith(".py"):
                    texts.append((f"{code}:{path}", path, text))
    for path in sorted((ROOT / "fixtures").rglob("*.py")):
        texts.append((str(path.relative_to(ROOT)), str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return texts


CORPUS = _corpus()
FILTERED = [registry.get(c) for c in ALL_CODES
            if issubclass(registry.get(c), CodeRule) and registry.get(c).wants is not CodeRule.wants]


def _result(text: str, path: str, prefilter: bool, codes=ALL_CODES):
    saved = filecheck.PREFILTER
    filecheck.PREFILTER = prefilter
    try:
        result = filecheck.Checker(codes, {}).check_text(text, path, "python")
    finally:
        filecheck.PREFILTER = saved
    findings = sorted((f.code, f.line, f.column, f.end_line, f.end_column, f.message, repr(f.fix)) for f in result.findings)
    facts = sorted(repr((f.name, f.value, f.span, f.key, f.dialect, f.detail)) for f in result.facts)
    return findings, facts


def test_some_rules_are_filtered():
    # otherwise the comparisons below would compare a path with itself
    assert len(FILTERED) >= 8, [r.code for r in FILTERED]
    for rule in FILTERED:
        assert rule({}).wants("x = 1\n") is False, rule.code


@pytest.mark.parametrize("rule", FILTERED, ids=lambda r: r.code)
def test_filter_is_in_effect(rule, monkeypatch):
    """Forcing a rule's filter to say no removes its findings: the switch really skips rules."""
    flagged = [(p, t) for e in rule.examples if e.flags and not e.fixed for p, t in e.files if p.endswith(".py")]
    assert flagged, rule.code
    path, text = flagged[0]
    codes = lambda: {f[0] for f in _result(text, path, True)[0]}  # noqa: E731
    if rule.code not in codes():
        pytest.skip(f"{rule.code}'s first example needs other files to fire")
    monkeypatch.setattr(rule, "wants", lambda self, text: False)
    assert rule.code not in codes()


@pytest.mark.parametrize("name,path,text", CORPUS, ids=[c[0] for c in CORPUS])
def test_same_results_with_and_without_prefilter(name, path, text):
    assert _result(text, path, True) == _result(text, path, False)


@pytest.mark.parametrize("rule", FILTERED, ids=lambda r: r.code)
def test_every_flagging_example_passes_its_filter(rule):
    for example in rule.examples:
        if example.flags:
            for path, text in example.files:
                if path.endswith(".py"):
                    assert rule({}).wants(text), f"{rule.code} {example.title}"


_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
# the words filters look for, their near misses, and neutral names
_NAMES = st.sampled_from([
    "forward", "Forward", "forwards", "Parameter", "param", "decoder", "Decoder", "TransformerDecoder", "transformer",
    "DataLoader", "loader", "argmax", "torch", "nn", "Module", "LightningModule", "cross_entropy",
    "CrossEntropyLoss", "softmax", "sigmoid", "loss", "criterion", "backward", "step", "zero_grad", "scheduler",
    "optimizer", "mmengine", "transformers", "a", "b", "blk", "thing", "x1",
])


@settings(max_examples=int(os.environ.get("MODELLINT_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_renamed_identifiers_keep_results_equal(data):
    name, path, text = data.draw(st.sampled_from(CORPUS), label="source")
    idents = sorted({m.group(0) for m in _IDENT.finditer(text)} - set(keyword.kwlist) - {"self"})
    chosen = data.draw(st.lists(st.sampled_from(idents), max_size=6, unique=True), label="renamed") if idents else []
    mapping = {old: data.draw(_NAMES, label=f"{old} ->") for old in chosen}
    if mapping:
        pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in mapping) + r")\b")
        text = pattern.sub(lambda m: mapping[m.group(0)], text)
    assert _result(text, path, True) == _result(text, path, False)


def _from_imports(text: str) -> str:
    """``nn.Linear`` / ``torch.zeros`` spelled through ``from torch.nn import Linear`` /
    ``from torch import zeros``: the same program with other words in it."""
    for module, prefix in (("torch.nn", "nn"), ("torch", "torch")):
        lines = text.split("\n")
        code = [i for i, line in enumerate(lines) if not re.match(r"\s*(from|import)\s", line)]
        names = sorted({n for i in code for n in re.findall(rf"(?<![.\w]){prefix}\.([A-Za-z_]\w*)\b", lines[i])})
        if names:
            for i in code:
                lines[i] = re.sub(rf"(?<![.\w]){prefix}\.([A-Za-z_]\w*)\b", r"\1", lines[i])
            text = f"from {module} import {', '.join(names)}\n" + "\n".join(lines)
    return text


def _spaced(text: str) -> str:
    """``f (x)`` for every ``f(x)``: a filter must not look for ``name(``."""
    return re.sub(r"(\w)\(", r"\1 (", text)


def _spaced_attributes(text: str) -> str:
    """``self .dec`` for every ``self.dec``: a filter must not look for ``self.name``."""
    return re.sub(r"\bself\.(?=[A-Za-z_])", "self .", text)


def _fullwidth(text: str) -> str:
    """Every identifier written in fullwidth letters (``ｆｏｒｗａｒｄ``): Python reads identifiers
    NFKC-normalised (PEP 3131), so the program, its tree and its findings are the same, while
    the words a filter looks for are absent from the text."""
    import io
    import tokenize

    lines = text.splitlines(keepends=True)
    edits = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME and not keyword.iskeyword(token.string) and not keyword.issoftkeyword(token.string):
            wide = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in token.string)
            edits.append((token.start, token.end, wide))
    for (row, col), (_, end), wide in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + wide + line[end:]
    return "".join(lines)


def _variants(text: str):
    """The text, its from-import and spaced spellings, and each of the first two with one
    identifier renamed everywhere (one by one, every identifier): a filter that relies on
    a word the rule does not need loses a finding on one of them."""
    bases = list(dict.fromkeys((text, _from_imports(text))))
    yield _spaced(text)
    yield _spaced_attributes(text)
    yield _fullwidth(text)
    # line endings ``ast`` counts (a lone ``\r``) and characters it does not (a form feed,
    # which ``str.splitlines`` does): per-line filters must number lines as ``ast`` does
    yield text.replace("\n", "\r")
    yield "# page one\x0c\n" + text.replace("\n\n", "\n\x0c\n")
    for base in bases:
        yield base
        for ident in sorted({m.group(0) for m in _IDENT.finditer(base)} - set(keyword.kwlist) - {"self"}):
            yield re.sub(rf"\b{ident}\b", "zq" + ident[::-1], base)


@pytest.mark.parametrize("rule", FILTERED, ids=lambda r: r.code)
def test_single_renames_of_flagging_examples(rule):
    checked = 0
    for example in rule.examples:
        if not example.flags:
            continue
        for path, text in example.files:
            if not path.endswith(".py"):
                continue
            for variant in _variants(text):
                full = _result(variant, path, False, [rule.code])
                if full[0]:
                    checked += 1
                    assert _result(variant, path, True, [rule.code]) == full, variant
    assert checked, rule.code


def test_in_file_prefilters_skip_work(monkeypatch):
    """ML404 judges a loop only when its lines hold a ``+`` or an ``append``, and looks at the
    function around it only when a loss can be there: numeric loops cost no function analysis.
    Turned off (as the comparisons above do), the same file is analysed in full."""
    import importlib

    ml404 = importlib.import_module(registry.module_name("ML404"))
    calls = []
    original = ml404.analyse_function
    monkeypatch.setattr(ml404, "analyse_function", lambda *a, **k: calls.append(1) or original(*a, **k))
    text = ("def backward_pass(grads, loss_scale):\n"  # the file passes ML404's wants (``backward``)
            "    total = 0\n"
            "    for g in grads:\n"
            "        total += g.norm()\n"
            "    for i in range(3):\n"
            "        print(i)\n"
            "    return total\n")
    assert _result(text, "train.py", True, ["ML404"]) == _result(text, "train.py", False, ["ML404"])
    calls.clear()
    _result(text.replace("loss_scale", "scale"), "train.py", True, ["ML404"])
    assert calls == []
    _result(text.replace("loss_scale", "scale"), "train.py", False, ["ML404"])
    assert calls


def test_ml403_judges_only_loops_that_step(monkeypatch):
    """ML403 analyses a loop only when "step" is on its lines (its scheduler steps are calls in
    the loop itself); the file passes ML403's ``wants`` through another function."""
    import importlib

    ml403 = importlib.import_module(registry.module_name("ML403"))
    calls = []
    original = ml403.analyse_loop
    monkeypatch.setattr(ml403, "analyse_loop", lambda *a, **k: calls.append(1) or original(*a, **k))
    text = ("def total(xs):\n"
            "    s = 0\n"
            "    for x in xs:\n"
            "        s += x\n"
            "    return s\n"
            "\n"
            "def step_size(n):\n"
            "    return 1 / n\n")
    assert _result(text, "train.py", True, ["ML403"]) == _result(text, "train.py", False, ["ML403"])
    calls.clear()
    _result(text, "train.py", True, ["ML403"])
    assert calls == []
    _result(text, "train.py", False, ["ML403"])
    assert calls


def test_ml201_function_filter_covers_every_weight_mapping_name():
    """ML201 skips a function whose lines hold no ``*``, no ``/`` and no weight mapping's name:
    its words must find every name a weight mapping can have (searched in lower case)."""
    import importlib

    from modellint.facts.loss_weights import WEIGHT_MAPPING_KEYS

    ml201 = importlib.import_module(registry.module_name("ML201"))
    names = ml201.CODE_WEIGHT_TARGETS | WEIGHT_MAPPING_KEYS
    assert all(any(word in name.lower() for word in ml201._WEIGHTED) for name in names)
    text = "def losses(bce, dice):\n    total_loss = bce + dice\n    return total_loss\n"
    assert not any(word in text for word in ml201._WEIGHTED)


def test_vae_term_filter_covers_every_log_variance_name():
    """The VAE facts look at a function only when its lines name a log-variance, free bits or a
    KL term: every log-variance name the Gaussian KL term is recognised by must pass that look,
    or a KL term written with it (``lv``) loses its fact."""
    from modellint.facts import training_code

    for logvar in sorted(training_code._LOGVAR):
        text = ("import torch\n\n\n"
                "def terms(mu, %s, recon, x):\n"
                "    rec = ((recon - x) ** 2).sum()\n"
                "    div = -0.5 * torch.sum(1 + %s - mu ** 2 - %s.exp())\n"
                "    return rec + div\n") % ((logvar,) * 3)
        full = _result(text, "model.py", False)
        assert any("'model.arch', 'vae'" in fact for fact in full[1]), logvar
        assert _result(text, "model.py", True) == full, logvar
