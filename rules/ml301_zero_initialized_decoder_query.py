import ast
import keyword
import re

from modellint.code.dataflow import LocalFlow
from modellint.code.loops import grad_disabled_function, grad_disabling_with
from modellint.code.modules import (
    BUFFER,
    MODULE,
    OTHER,
    FileModules,
    enclosing_class,
    is_framework_module_base,
    is_nn_module_class,
    methods_reachable,
    self_attr,
)
from modellint.code.names import dotted
from modellint.fixes import UNSAFE, PySource, attach, edit, make_fix
from modellint.lazy_re import lazy
from modellint.rule import CodeRule, fixes, flag, ok

# Keywords that carry the decoder's query/target input.
QUERY_KEYWORDS = ("tgt", "query", "queries", "x", "inputs_embeds", "decoder_inputs_embeds", "target",
                  "hidden_states", "decoder_input", "dec_input")
# Arguments whose name says "positional/learned query": DETR's ``query_pos=query_embed``,
# Deformable-DETR's positional ``query_embed``, anchors and reference points.
LEARNED_QUERY_ARG = lazy(r"(^|[_.])pos(ition)?(_|$|[A-Z.]|itional)|query_?emb|query_?feat|refpoint|reference_point|anchor", re.I)
# Attributes whose name contains "decoder" but that are not query decoders.
NOT_A_QUERY_DECODER = lazy(r"embed|norm|proj|pred|pos|head", re.I)
# Callables named like decoders that build rather than run one.
BUILDER_PREFIX = ("build", "make", "get", "create", "init")


# shared by a flag example (the documentation) and the fix example that starts from it
_SEED_MODEL = """
    import torch
    import torch.nn as nn

    class DiarizationModel(nn.Module):
        def __init__(self, d_model=256, max_speakers=4):
            super().__init__()
            self.d_model = d_model
            self.max_speakers = max_speakers
            self.encoder = FrameEncoder(d_model)
            self.det_decoder = DetectionDecoder(d_model)

        def forward(self, feats):
            B, N, device = feats.size(0), self.max_speakers, feats.device
            memory = self.encoder(feats)
            x_det_dec = torch.zeros((B, N, self.d_model), device=device)
            return self.det_decoder(x_det_dec, memory)
    """

_BUFFER_QUERIES = """
    import torch
    import torch.nn as nn

    class EventDecoderHead(nn.Module):
        def __init__(self, n_events, dim):
            super().__init__()
            self.register_buffer("event_queries", torch.zeros(n_events, dim))
            self.event_decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(dim, 4), 2)

        def forward(self, memory):
            q = self.event_queries.unsqueeze(1).repeat(1, memory.size(1), 1)
            return self.event_decoder(q, memory)
    """


class ZeroInitializedDecoderQuery(CodeRule):
    code = "ML301"
    name = "zero-initialized-decoder-query"
    severity = "error"
    summary = "A decoder's query/target input is built only from zeros and no learned query reaches the call."
    rationale = (
        "A query decoder (DETR-style slots, a speaker/object decoder, `nn.TransformerDecoder`) tells its N output "
        "slots apart only through its queries. If the target is `torch.zeros((B, N, d))` and nothing learned "
        "(an `nn.Parameter`, an `nn.Embedding`, a `query_pos`) is added or passed, every slot enters the decoder "
        "identical, self-attention keeps them identical, and all N outputs are the same: the model cannot "
        "represent more than one object/speaker (a post-mortem diarization model's decoders got all-zero "
        "inputs and its error rate never left 0.9). DETR's `tgt = zeros_like(query_embed)` is fine because "
        "`query_pos=query_embed` is added inside every layer."
    )
    fix = ("Give the decoder learned queries: `self.query_embed = nn.Embedding(N, d_model)` and pass "
           "`self.query_embed.weight.unsqueeze(0).expand(B, -1, -1)` as the target, or keep the zeros target and "
           "pass the embedding as `query_pos=` as DETR does.")
    examples = (
        flag("model.py", _SEED_MODEL, line=15, title="seed 000: all-zero speaker queries into the detection decoder"),
        flag("slots.py", """
            from torch import nn

            class SlotReader(nn.Module):
                def __init__(self, dim, n_slots):
                    super().__init__()
                    layer = nn.TransformerDecoderLayer(dim, 8, batch_first=True)
                    self.reader = nn.TransformerDecoder(layer, num_layers=3)
                    self.n_slots = n_slots

                def forward(self, feats):
                    slots = feats.new_zeros(feats.size(0), self.n_slots, feats.size(-1))
                    return self.reader(slots, feats)
            """, line=11, title="an nn.TransformerDecoder attribute with any name; new_zeros"),
        flag("detector.py", """
            import torch
            import torch.nn as nn

            class Detector(nn.Module):
                def forward(self, images):
                    memory = self.backbone(images)
                    base = torch.zeros(1, self.num_queries, self.hidden)
                    tgt = base.expand(memory.size(0), -1, -1).to(memory.device)
                    return self.box_decoder(tgt=tgt, memory=memory)
            """, line=7, title="through local variables, .expand() and .to(); reported where the zeros are built"),
        flag("seg.py", """
            import torch
            import torch.nn as nn

            class MaskHead(nn.Module):
                def forward(self, memory, mask):
                    B = memory.shape[1]
                    queries = torch.full((self.num_queries, B, self.dim), 0.0, device=memory.device)
                    return self.transformer.decoder(queries, memory, memory_key_padding_mask=mask)
            """, line=7, title="torch.full(..., 0) into nn.Transformer.decoder"),
        flag("layers.py", """
            import torch
            import torch.nn as nn

            class QueryDecoder(nn.Module):
                def forward(self, memory):
                    tgt = torch.zeros_like(memory[:, : self.num_queries])
                    for layer in self.decoder_layers:
                        tgt = layer(tgt, memory)
                    return tgt
            """, line=6, title="zeros into the first of a stack of decoder layers"),
        flag("indexed_layers.py", """
            import torch
            import torch.nn as nn

            class PointDecoder(nn.Module):
                def forward(self, memory):
                    q = torch.zeros(memory.size(0), self.num_points, self.dim, device=memory.device)
                    for i in range(self.num_layers):
                        q = self.decoder_layers[i](q, memory)
                    return q
            """, line=6, title="zeros into decoder layers indexed by the loop"),
        flag("buffer_queries.py", _BUFFER_QUERIES, line=7, title="a zero buffer is not learned either"),
        flag("no_pos.py", """
            import torch
            import torch.nn as nn

            class Reader(nn.Module):
                def forward(self, memory):
                    tgt = memory.new_zeros(memory.size(0), self.n_slots, memory.size(-1))
                    return self.decoder(tgt, memory, query_pos=None)
            """, line=6, title="an explicit query_pos=None carries no learned query"),
        ok("detr_like.py", """
            import torch
            import torch.nn as nn

            class Transformer(nn.Module):
                def forward(self, src, mask, query_embed, pos_embed):
                    bs = src.shape[1]
                    query_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
                    tgt = torch.zeros_like(query_embed)
                    memory = self.encoder(src, src_key_padding_mask=mask, pos=pos_embed)
                    return self.decoder(tgt, memory, memory_key_padding_mask=mask,
                                        pos=pos_embed, query_pos=query_embed)
            """, title="DETR: zeros target with query_pos=query_embed added in every layer"),
        ok("learned.py", """
            import torch
            import torch.nn as nn

            class SpeakerModel(nn.Module):
                def __init__(self, n, d):
                    super().__init__()
                    self.det_query = nn.Parameter(torch.randn(n, d))
                    self.rep_query = nn.Embedding(n, d)

                def forward(self, memory):
                    B = memory.size(0)
                    det = self.det_query.unsqueeze(0).expand(B, -1, -1)
                    rep = self.rep_query.weight.unsqueeze(0).repeat(B, 1, 1)
                    return self.det_decoder(det, memory), self.rep_decoder(rep, memory)
            """, title="learnable nn.Parameter / nn.Embedding queries"),
        ok("added.py", """
            import torch
            import torch.nn as nn

            class SlotDecoderModel(nn.Module):
                def __init__(self, n, d):
                    super().__init__()
                    self.slot_embed = nn.Embedding(n, d)

                def forward(self, memory):
                    B, n, d = memory.size(0), self.slot_embed.num_embeddings, memory.size(-1)
                    tgt = torch.zeros(B, n, d, device=memory.device)
                    tgt = tgt + self.slot_embed.weight.unsqueeze(0)
                    return self.decoder(tgt, memory)
            """, title="zeros summed with a learned embedding before the call"),
        ok("non_decoder.py", """
            import torch
            import torch.nn as nn

            class Model(nn.Module):
                def forward(self, x):
                    state = torch.zeros(x.size(0), self.hidden, device=x.device)
                    h = self.encoder(state, x)
                    return self.head(torch.zeros_like(h), h)
            """, title="zeros passed to modules that are not decoders"),
        ok("memory_zeros.py", """
            import torch
            import torch.nn as nn

            class Captioner(nn.Module):
                def __init__(self, n, d):
                    super().__init__()
                    self.queries = nn.Parameter(torch.randn(n, d))

                def forward(self, feats):
                    B = feats.size(0)
                    q = self.queries.expand(B, -1, -1)
                    empty_memory = torch.zeros(B, 1, q.size(-1), device=feats.device)
                    pad = torch.zeros(B, 1, dtype=torch.bool, device=feats.device)
                    return self.decoder(q, empty_memory, memory_key_padding_mask=pad)
            """, title="zeros used as the memory and the mask, not as the query"),
        ok("tacotron_like.py", """
            import torch
            import torch.nn as nn

            class MelDecoderLoop(nn.Module):
                def forward(self, memory, steps):
                    frame = memory.new_zeros(memory.size(0), self.n_mels)
                    outputs = []
                    for _ in range(steps):
                        frame, attn = self.decoder(frame, memory)
                        outputs.append(frame)
                    return torch.stack(outputs, 1)
            """, title="autoregressive: the zero 'go' frame is replaced by the decoder's own output"),
        ok("seq2seq.py", """
            import torch

            def greedy_decode(model, memory, max_len):
                ys = torch.zeros(memory.size(0), 1, dtype=torch.long, device=memory.device)
                return model.decoder(ys, memory)
            """, title="integer zeros are start-token ids, looked up in an embedding"),
        ok("vae.py", """
            import torch
            import torch.nn as nn

            class VAE(nn.Module):
                @torch.no_grad()
                def decode_mean(self, n):
                    z = torch.zeros(n, self.latent_dim)
                    return self.decoder(z)
            """, title="a one-input decoder (VAE) decoding the prior mean is not a query decoder"),
        ok("cvae.py", """
            import torch
            import torch.nn as nn

            class CVAE(nn.Module):
                @torch.no_grad()
                def sample_mean(self, labels):
                    z = torch.zeros(labels.size(0), self.latent_dim, device=labels.device)
                    return self.decoder(z, labels)
            """, title="a (batch, latent) zeros vector decoded with a condition: the prior mean of a CVAE"),
        ok("filled.py", """
            import torch
            import torch.nn as nn

            class Model(nn.Module):
                def forward(self, memory, init_slots):
                    slots = torch.zeros(memory.size(0), self.n, self.d, device=memory.device)
                    slots[:, : init_slots.size(1)] = init_slots
                    return self.decoder(slots, memory)
            """, title="zeros written into before the call"),
        fixes("model.py", _SEED_MODEL, """
            import torch
            import torch.nn as nn

            class DiarizationModel(nn.Module):
                def __init__(self, d_model=256, max_speakers=4):
                    super().__init__()
                    self.d_model = d_model
                    self.max_speakers = max_speakers
                    self.det_query_embed = nn.Embedding(self.max_speakers, self.d_model)
                    self.encoder = FrameEncoder(d_model)
                    self.det_decoder = DetectionDecoder(d_model)

                def forward(self, feats):
                    B, N, device = feats.size(0), self.max_speakers, feats.device
                    memory = self.encoder(feats)
                    x_det_dec = self.det_query_embed.weight.unsqueeze(0).repeat(B, 1, 1)
                    return self.det_decoder(x_det_dec, memory)
            """, unsafe=True, title="fix (unsafe): an nn.Embedding of the (N, d) sizes declared in __init__, "
                                    "its weight repeated over the batch"),
        fixes("slots.py", """
            from torch import nn

            class SlotReader(nn.Module):
                def __init__(self, dim, n_slots):
                    super().__init__()
                    layer = nn.TransformerDecoderLayer(dim, 8, batch_first=True)
                    self.reader = nn.TransformerDecoder(layer, num_layers=3)
                    self.dim, self.n_slots = dim, n_slots

                def forward(self, feats):
                    slots = feats.new_zeros(feats.size(0), self.n_slots, self.dim)
                    return self.reader(slots, feats)
            """, """
            from torch import nn

            class SlotReader(nn.Module):
                def __init__(self, dim, n_slots):
                    super().__init__()
                    layer = nn.TransformerDecoderLayer(dim, 8, batch_first=True)
                    self.reader = nn.TransformerDecoder(layer, num_layers=3)
                    self.dim, self.n_slots = dim, n_slots
                    self.query_embed = nn.Embedding(self.n_slots, self.dim)

                def forward(self, feats):
                    slots = self.query_embed.weight.unsqueeze(0).repeat(feats.size(0), 1, 1)
                    return self.reader(slots, feats)
            """, unsafe=True, title="fix (unsafe): new_zeros whose slot and feature sizes are attributes"),
        fixes("seg.py", """
            import torch
            import torch.nn as nn

            NUM_QUERIES = 100

            class MaskHead(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.dim = dim
                    self.transformer = nn.Transformer(dim, 8)

                def forward(self, src, mask):
                    bs = src.shape[1]
                    queries = torch.full((NUM_QUERIES, bs, self.dim), 0.0, device=src.device)
                    return self.transformer.decoder(queries, src, memory_key_padding_mask=mask)
            """, """
            import torch
            import torch.nn as nn

            NUM_QUERIES = 100

            class MaskHead(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.dim = dim
                    self.query_embed = nn.Embedding(NUM_QUERIES, self.dim)
                    self.transformer = nn.Transformer(dim, 8)

                def forward(self, src, mask):
                    bs = src.shape[1]
                    queries = self.query_embed.weight.unsqueeze(1).repeat(1, bs, 1)
                    return self.transformer.decoder(queries, src, memory_key_padding_mask=mask)
            """, unsafe=True, title="fix (unsafe): sequence-first (N, B, d) and a module-level constant"),
        fixes("detector.py", """
            import torch
            from torch.nn import Module, TransformerDecoder, TransformerDecoderLayer

            class Detector(Module):
                def __init__(self, hidden=256, num_queries=50):
                    super().__init__()
                    self.hidden = hidden
                    self.num_queries = num_queries
                    self.box_decoder = TransformerDecoder(TransformerDecoderLayer(hidden, 8, batch_first=True), 6)

                def forward(self, memory):
                    base = torch.zeros(1, self.num_queries, self.hidden, dtype=memory.dtype)
                    tgt = base.expand(memory.size(0), -1, -1)
                    return self.box_decoder(tgt=tgt, memory=memory)
            """, """
            import torch
            from torch.nn import Module, TransformerDecoder, TransformerDecoderLayer

            class Detector(Module):
                def __init__(self, hidden=256, num_queries=50):
                    super().__init__()
                    self.hidden = hidden
                    self.num_queries = num_queries
                    self.box_query_embed = torch.nn.Embedding(self.num_queries, self.hidden)
                    self.box_decoder = TransformerDecoder(TransformerDecoderLayer(hidden, 8, batch_first=True), 6)

                def forward(self, memory):
                    base = self.box_query_embed.weight.to(dtype=memory.dtype).unsqueeze(0)
                    tgt = base.expand(memory.size(0), -1, -1)
                    return self.box_decoder(tgt=tgt, memory=memory)
            """, unsafe=True, title="fix (unsafe): a (1, N, d) template keeps its explicit dtype; "
                                    "spelled `torch.nn` when `nn` is not imported"),
        fixes("buffer_queries.py", _BUFFER_QUERIES, """
            import torch
            import torch.nn as nn

            class EventDecoderHead(nn.Module):
                def __init__(self, n_events, dim):
                    super().__init__()
                    self.event_queries = nn.Parameter(torch.randn(n_events, dim))
                    self.event_decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(dim, 4), 2)

                def forward(self, memory):
                    q = self.event_queries.unsqueeze(1).repeat(1, memory.size(1), 1)
                    return self.event_decoder(q, memory)
            """, unsafe=True, title="fix (unsafe): a zero buffer becomes an nn.Parameter drawn like nn.Embedding's "
                                    "weight; every use stays as it is"),
        fixes("captioner.py", """
            import torch
            import torch.nn as nn

            class Captioner(nn.Module):
                def __init__(self, n, d):
                    super().__init__()
                    self.queries = torch.zeros(n, d)  # one per caption slot
                    self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

                def forward(self, feats):
                    q = self.queries.to(feats.device).expand(feats.size(0), -1, -1)
                    return self.decoder(q, feats)
            """, """
            import torch
            import torch.nn as nn

            class Captioner(nn.Module):
                def __init__(self, n, d):
                    super().__init__()
                    self.queries = nn.Parameter(torch.randn(n, d))  # one per caption slot
                    self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, batch_first=True), 2)

                def forward(self, feats):
                    q = self.queries.to(feats.device).expand(feats.size(0), -1, -1)
                    return self.decoder(q, feats)
            """, unsafe=True, title="fix (unsafe): a plain zero tensor attribute becomes an nn.Parameter"),
    )

    def wants(self, text: str) -> bool:
        # a function is judged only when it names a decoder, or calls an attribute built
        # from a class whose name has "Decoder" or is nn.Transformer
        lowered = text.lower()
        return "decoder" in lowered or "transformer" in lowered

    def visit_Module(self, node, ctx) -> None:
        self._fixes = {}  # id(zeros call) → its fix (one origin, several decoder calls: one fix)
        self._proposed = {}  # id(class) → attribute names proposed by fixes in this file

    def visit_FunctionDef(self, node, ctx) -> None:
        cls = enclosing_class(ctx)
        info = FileModules.of(ctx).info(cls) if cls is not None else None
        decoder_attrs = self._decoder_attrs(info)
        # cheap pre-filter: no decoder is called here (an attribute's name alone, as
        # ``self .dec(q)`` and ``(self).dec(q)`` call it too)
        if ctx.prefilter and not ctx.doc.mentions(("decoder", *(a.lower() for a in decoder_attrs)), node, lowered=True):
            return
        reported = set()
        # zeros call → names it is assigned to directly (``z = torch.zeros(n, latent)``)
        self._direct = {}
        for inner in FileModules.of(ctx).nodes(node):
            if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call):
                self._direct[id(inner.value)] = {t.id for t in inner.targets if isinstance(t, ast.Name)}

        self._func = node
        self._cls = cls

        def on_call(call, flow) -> None:
            self._check_call(call, flow, info, decoder_attrs, reported, ctx)

        LocalFlow(ctx, info).run(node, on_call)

    visit_AsyncFunctionDef = visit_FunctionDef

    # -- pieces ---------------------------------------------------------------
    @staticmethod
    def _decoder_attrs(info):
        """``self.<attr>`` built from a decoder class: attr → index of the query argument."""
        found = {}
        if info is None:
            return found
        for attr, assignments in info.assignments.items():
            first = assignments[0]
            if first.kind != MODULE or not first.ctor:
                continue
            last = first.ctor.rsplit(".", 1)[-1]
            if is_nn_module_class(first.ctor) and last == "Transformer":
                found[attr] = 1  # nn.Transformer(src, tgt)
            elif "Decoder" in last and not NOT_A_QUERY_DECODER.search(last):
                found[attr] = 0
        return found

    def _decoder(self, call, flow, decoder_attrs):
        """(label, query index) when ``call`` runs a query decoder."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "forward":
            func = func.value
        if isinstance(func, ast.Attribute):
            attr = self_attr(func)
            if attr is not None and attr in decoder_attrs:
                return dotted(func), decoder_attrs[attr]
            name = func.attr
            if "decoder" in name.lower() and not NOT_A_QUERY_DECODER.search(name) and not name.lower().startswith(BUILDER_PREFIX):
                return dotted(func) or name, 0
            return None
        if isinstance(func, ast.Subscript):
            inner = dotted(func.value)
            if "decoder" in inner.lower() and not NOT_A_QUERY_DECODER.search(inner.rsplit(".", 1)[-1]):
                # ``self.decoder_layers[i](tgt, mem)`` inside ``for i in range(n)`` is a layer stack
                index = _names(func.slice)
                stacked = any(isinstance(loop, (ast.For, ast.AsyncFor)) and set(index) & set(_names(loop.target))
                              for loop in flow.loop_stack)
                return inner + ("[i] (each layer)" if stacked else "[...]"), 0
            return None
        if isinstance(func, ast.Name):
            low = func.id.lower()
            if "decoder" in low and not low.startswith(BUILDER_PREFIX) and not NOT_A_QUERY_DECODER.search(low):
                return func.id, 0
            for loop in reversed(flow.loop_stack):  # ``for layer in self.decoder.layers: tgt = layer(tgt, mem)``
                if isinstance(loop, (ast.For, ast.AsyncFor)) and func.id in _names(loop.target):
                    source = ast.unparse(loop.iter) if hasattr(ast, "unparse") else dotted(loop.iter)
                    if "decoder" in source.lower():
                        return f"{func.id} (each of {source})", 0
                    return None
        return None

    def _check_call(self, call, flow, info, decoder_attrs, reported, ctx) -> None:
        found = self._decoder(call, flow, decoder_attrs)
        if found is None:
            return
        label, index = found
        if any(isinstance(a, ast.Starred) for a in call.args) or any(kw.arg is None for kw in call.keywords):
            return  # ``*args`` / ``**kwargs`` may carry a query_pos we cannot see
        query = call.args[index] if len(call.args) > index else None
        query_kw = None
        if query is None:
            for kw in call.keywords:
                if kw.arg in QUERY_KEYWORDS:
                    query, query_kw = kw.value, kw.arg
                    break
        if query is None:
            return
        others = [a for i, a in enumerate(call.args) if a is not query]
        other_kws = [kw for kw in call.keywords if kw.arg != query_kw]
        if not others and not other_kws:
            return  # a one-input decoder (VAE, pixel decoder): nothing to attend to, not a query decoder
        value = flow.value(query)
        if not value.is_zero:
            return
        # a learned query reaching the call by value or by name
        for expr in others + [kw.value for kw in other_kws]:
            if flow.value(expr).is_learned or LEARNED_QUERY_ARG.search(dotted(expr) or ""):
                return
        if any(LEARNED_QUERY_ARG.search(kw.arg) and not _is_none(kw.value) for kw in other_kws):
            return  # ``query_pos=query_embed`` (but ``query_pos=None`` carries nothing)
        # autoregressive decoding: the zero "go" input is replaced by the decoder's output
        callee_is_loop_var = "each of" in label or "(each layer)" in label
        query_names = set(_names(query))
        for loop in flow.loop_stack:
            if query_names & flow.loop_assigns(loop) and not callee_is_loop_var:
                return
        origin = value.origin or query
        rank = _rank(origin)
        if rank is not None and rank <= 2 and (query is origin or (isinstance(query, ast.Name) and query.id in self._direct.get(id(origin), ()))):
            # a (batch, dim) zeros used as it is: a latent/state vector (a conditional VAE decoding
            # the prior mean, an RNN state), not a set of N query slots
            return
        key = (id(origin), id(call))
        if key in reported:
            return
        reported.add(key)
        shown = dotted(query) or _short(query)
        origin_text = _short(origin)
        where = ctx.span(call)
        query_desc = f"`{shown}`" + (f" (`{query_kw}=`)" if query_kw else "")
        ctx.report(
            self, origin,
            f"{query_desc} is the query/target input of decoder `{label}(...)` (line {where.line}) and is built only "
            f"from `{origin_text}`; no learned query reaches that call (no argument derived from an nn.Parameter/"
            f"nn.Embedding, no `query_pos`), so all query slots enter the decoder identical and produce identical outputs",
            help=("Use learned queries: e.g. `self.query_embed = nn.Embedding(num_queries, d_model)` and pass "
                  "`self.query_embed.weight.unsqueeze(0).expand(B, -1, -1)` as the target, or keep the zeros target and "
                  "pass the embedding as `query_pos=` (DETR)."),
            related=[(where, f"decoder `{label}` receives the zero query here")],
        )
        if id(origin) not in self._fixes:
            self._fixes[id(origin)] = _QueryFix(self, ctx, info, self._cls, self._func).fix(origin, label, call)
        attach(ctx, self._fixes[id(origin)])


def _rank(call) -> "int | None":
    """Number of dimensions of a zeros/full call when its size is written out, else None."""
    if not isinstance(call, ast.Call):
        return None
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name in ("zeros_like", "full_like"):
        return None
    args = list(call.args)
    if name in ("full", "new_full"):
        args = args[:1]
    size = None
    for kw in call.keywords:
        if kw.arg == "size":
            size = kw.value
    if size is None and len(args) == 1:
        size = args[0]
    if size is not None:
        if isinstance(size, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in size.elts):
            return len(size.elts)
        return 1 if isinstance(size, ast.Constant) else None  # ``torch.zeros(shape)``: unknown
    if args and not any(isinstance(a, ast.Starred) for a in args):
        return len(args)
    return None


def _is_none(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _names(node):
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _short(node) -> str:
    text = ast.unparse(node) if hasattr(ast, "unparse") else "torch.zeros(...)"
    return text if len(text) <= 60 else text[:57] + "..."


# -- the unsafe fix: learned queries instead of zeros ------------------------------------
# Names that say "batch": such a size is never the number of query slots.
BATCH_NAME = lazy(r"^(b|bs|bsz|nb|n_b)$|batch", re.I)


class _QueryFix:
    """The fix for one zero query, or None whenever a piece of it is not certain.

    * zeros built in a method (``torch.zeros(B, N, d)``, ``x.new_zeros(...)``, ``torch.full(..., 0)``)
      whose slot and feature sizes are known in ``__init__`` (int literals, ``self.<attr>`` set once at
      the top level of ``__init__``, locals bound once to those, module-level int constants): add
      ``self.<name> = nn.Embedding(N, d)`` to ``__init__`` right after the statement that sets the
      last of those sizes (never before ``super().__init__()``) and use its weight instead, repeated
      over the one size that is not known there (the batch): the same shape, fresh memory.
    * a zero buffer or plain tensor attribute built in ``__init__`` with ``torch.zeros(...)``:
      ``nn.Parameter(torch.randn(...))`` with the same arguments (N(0, 1), as nn.Embedding), so every
      use of ``self.<attr>`` keeps working.
    """

    def __init__(self, rule, ctx, info, cls, func):
        self.ctx, self.info, self.cls, self.func = ctx, info, cls, func
        self.rule = rule
        self.src = PySource.of(ctx)
        self.modules = FileModules.of(ctx)

    def fix(self, origin, label, call):
        if self.info is None or self.cls is None or not self.info.is_module or not isinstance(origin, ast.Call):
            return None
        init = self.info.methods.get("__init__")
        if not isinstance(init, ast.FunctionDef) or not _first_arg_is_self(init):
            return None
        if self._grad_disabled(origin, call):
            return None  # learned queries used only without gradients would never be trained
        if any(n is origin for n in self.modules.nodes(init)):
            return self._init_fix(origin, init)
        if self.func is init or not any(n is origin for n in self.modules.nodes(self.func)):
            return None
        return self._method_fix(origin, label, init)

    def _grad_disabled(self, origin, call) -> bool:
        if grad_disabled_function(self.func):
            return True
        for node in self.modules.nodes(self.func):
            if grad_disabling_with(node):
                inside = {id(n) for n in ast.walk(node)}
                if id(origin) in inside or id(call) in inside:
                    return True
        return False

    # -- zeros built in a method --------------------------------------------------
    def _method_fix(self, origin, label, init):
        func = self.func
        if not _first_arg_is_self(func) or any(dotted(d) in ("staticmethod", "classmethod") for d in func.decorator_list):
            return None
        if func.name in methods_reachable(self.info, "__init__", self.modules):
            return None  # runs while __init__ builds the model, perhaps before the embedding exists
        inherited = self._inherited_names(self.cls, 0)
        if inherited is None:
            return None  # a base from elsewhere may already use the new attribute's name
        shape = self._shape(origin)
        if shape is None:
            return None
        dims, dtype = shape
        sizes = [self._static(d, 0) for d in dims]
        batch_at = None
        if len(dims) == 2:
            if None in sizes or any(s[2] for s in sizes):
                return None
            slots, feature, unsqueeze = sizes[0], sizes[1], None
        elif len(dims) == 3:
            feature = sizes[2]
            if feature is None or feature[2]:
                return None
            if sizes[0] is None and sizes[1] is not None:
                batch_at, unsqueeze, slots = 0, 0, sizes[1]
            elif sizes[1] is None and sizes[0] is not None:
                batch_at, unsqueeze, slots = 1, 1, sizes[0]
            elif sizes[0] is not None and sizes[1] is not None:
                ones = [i for i in (0, 1) if _int_literal(dims[i]) == 1]
                if len(ones) != 1:
                    return None  # two known leading sizes: which one is the slots is a guess
                unsqueeze = ones[0]
                slots = sizes[1 - unsqueeze]
            else:
                return None
            if slots[2]:
                return None  # the known size is the batch: an embedding per sample is no query set
        else:
            return None
        anchor = self._anchor(init, set(slots[1]) | set(feature[1]))
        if anchor is None:
            return None
        prefix, import_edit = self.src.import_name(self.ctx, "torch.nn", "nn")
        if prefix is None:
            return None
        name = self._name(label, inherited)
        weight = f"self.{name}.weight"
        if dtype is not None:
            weight += f".to(dtype={self.src.text(dtype)})"
        if unsqueeze is not None:
            weight += f".unsqueeze({unsqueeze})"
        if batch_at is not None:
            count = self.src.text(dims[batch_at])
            weight += f".repeat({count}, 1, 1)" if batch_at == 0 else f".repeat(1, {count}, 1)"
        table = f"{prefix}.Embedding({slots[0]}, {feature[0]})"
        declaration = self._insert_after(anchor, f"self.{name} = {table}")
        if declaration is None:
            return None
        return make_fix(
            UNSAFE,
            f"Learn the queries: add `self.{name} = {table}` to `__init__` and use `{weight}` instead of the zeros",
            [import_edit, declaration, self.src.replace(origin, weight)],
        )

    def _shape(self, call):
        """(size expressions, dtype expression or None) of a zeros call written out in full."""
        func = call.func
        qual = self.ctx.qualname(func) or ""
        method = func.attr if isinstance(func, ast.Attribute) else ""
        if any(kw.arg is None for kw in call.keywords):
            return None
        kwargs = {kw.arg: kw.value for kw in call.keywords}
        args = list(call.args)
        if qual == "torch.zeros" or (method == "new_zeros" and not qual.startswith("torch.")):
            allowed = {"size", "dtype", "device"}
            size = kwargs.get("size")
            if size is not None and args:
                return None
            if size is None and len(args) == 1:
                size = args[0]
            if size is not None:
                if not isinstance(size, (ast.Tuple, ast.List)):
                    return None  # ``torch.zeros(shape)``: not written out
                dims = list(size.elts)
            else:
                dims = args
        elif qual == "torch.full" or (method == "new_full" and not qual.startswith("torch.")):
            allowed = {"size", "fill_value", "dtype", "device"}
            if len(args) > 2 or (args and "size" in kwargs) or (len(args) > 1 and "fill_value" in kwargs):
                return None
            size = args[0] if args else kwargs.get("size")
            if not isinstance(size, (ast.Tuple, ast.List)):
                return None
            dims = list(size.elts)
        else:
            return None
        if set(kwargs) - allowed or any(isinstance(d, ast.Starred) for d in dims):
            return None
        if method in ("new_zeros", "new_full") and not _plain_name(func.value):
            return None  # the receiver is dropped: it must be a plain name with nothing to evaluate
        return dims, kwargs.get("dtype")

    def _static(self, expr, depth):
        """(text valid in ``__init__``, attributes it reads, says batch) when the size is known there."""
        if depth > 6:
            return None
        value = _int_literal(expr)
        if value is not None:
            return (self.src.text(expr), (), False) if value > 0 else None
        attr = self_attr(expr)
        if attr is not None:
            if self._init_attr_stmt(attr) is None:
                return None
            return f"self.{attr}", (attr,), bool(BATCH_NAME.search(attr))
        if isinstance(expr, ast.Name):
            bound, value = self._local_value(expr.id)
            if not bound:
                return (expr.id, (), bool(BATCH_NAME.search(expr.id))) if self._global_int(expr.id) else None
            if value is None:
                return None
            inner = self._static(value, depth + 1)
            if inner is None:
                return None
            return inner[0], inner[1], inner[2] or bool(BATCH_NAME.search(expr.id))
        return None

    def _local_value(self, name):
        """(bound in the method?, the one expression it is bound to or None when not exactly one)."""
        func = self.func
        args = func.args
        params = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
        if any(a.arg == name for a in params):
            return True, None
        stores = []
        for node in ast.walk(func):
            if node is func:
                continue
            if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
                stores.append(node)
            elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                return True, None
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    (a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True, None
            elif getattr(node, "name", None) == name or getattr(node, "rest", None) == name:
                return True, None  # def/class/except-as/match bindings
        if not stores:
            return False, None
        if len(stores) != 1:
            return True, None
        target = stores[0]
        for node in self.modules.nodes(func):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                bound = node.targets[0]
                if bound is target:
                    return True, node.value
                if isinstance(bound, (ast.Tuple, ast.List)) and isinstance(node.value, (ast.Tuple, ast.List)) \
                        and len(bound.elts) == len(node.value.elts) \
                        and not any(isinstance(e, ast.Starred) for e in bound.elts + node.value.elts):
                    for element, value in zip(bound.elts, node.value.elts):
                        if element is target:
                            return True, value
            elif isinstance(node, ast.AnnAssign) and node.target is target and node.value is not None:
                return True, node.value
        return True, None

    def _global_int(self, name) -> bool:
        """``NAME = 100`` once at the top of the module and bound nowhere else (nor in ``__init__``)."""
        tree = self.ctx.doc.tree
        init = self.info.methods["__init__"]
        if any(a.arg == name for a in ast.walk(init.args) if isinstance(a, ast.arg)):
            return False
        stores = 0
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
                stores += 1
            elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                return False
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    (a.asname or a.name.split(".")[0]) == name for a in node.names):
                return False
            elif getattr(node, "name", None) == name or getattr(node, "rest", None) == name:
                return False
        if stores != 1:
            return False
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                    and stmt.targets[0].id == name:
                value = _int_literal(stmt.value)
                return value is not None and value > 0
        return False

    def _init_attr_stmt(self, attr):
        """The one statement setting ``self.<attr>``: a plain assignment at the top level of ``__init__``."""
        init = self.info.methods["__init__"]
        found = self.info.assignments.get(attr) or []
        if len(found) != 1 or found[0].method != "__init__":
            return None
        stmt = found[0].node
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or not any(s is stmt for s in init.body):
            return None
        if attr in _class_names(self.cls):
            return None  # a property or class attribute of that name
        stores = 0
        for node in ast.walk(self.cls):
            if isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Name) \
                    and node.value.id == "self" and not isinstance(node.ctx, ast.Load):
                stores += 1
            elif isinstance(node, ast.Call) and dotted(node.func) in ("setattr", "delattr", "object.__setattr__"):
                return None  # set by name: cannot be sure
        return stmt if stores == 1 else None

    def _anchor(self, init, attrs):
        """The top-level statement of ``__init__`` after which the embedding can be declared."""
        body = init.body
        index = next((i for i, stmt in enumerate(body) if _is_super_init(stmt)), None)
        if index is None:
            return None  # a module attribute must follow ``super().__init__()``
        for attr in attrs:
            stmt = self._init_attr_stmt(attr)
            position = next((i for i, s in enumerate(body) if s is stmt), None)
            if position is None:
                return None
            index = max(index, position)
        anchor = body[index]
        return anchor if self.src.alone_on_lines(anchor) else None

    def _insert_after(self, stmt, statement):
        start_line, start_col = self.src.start(stmt)
        indent = self.src.line(start_line)[:start_col - 1]
        end = stmt.end_lineno
        last = self.src.line(end)
        ending = last[len(last.rstrip("\r\n")):]
        if not ending:
            if end < len(self.src.lines):
                return None
            first = self.src.line(1)
            ending = first[len(first.rstrip("\r\n")):] or "\n"
            return edit(self.src.path, end, len(last) + 1, end, len(last) + 1, ending + indent + statement)
        return self.src.insert(end + 1, 1, indent + statement + ending)

    def _inherited_names(self, cls, depth):
        """Names the bases of ``cls`` define, when every base is torch's/a framework's module class
        or a class of this file (recursively); None when a base comes from elsewhere."""
        if depth > 5:
            return None
        names = set()
        for base in cls.bases:
            qual = self.ctx.qualname(base)
            if is_framework_module_base(qual):
                continue
            local = self.modules.local_class(qual)
            if local is None or local is cls:
                return None
            above = self._inherited_names(local, depth + 1)
            if above is None:
                return None
            names |= above | _class_names(local) | set(self.modules.info(local).assignments)
            names |= {n.attr for n in ast.walk(local) if isinstance(n, ast.Attribute)}
        return names

    def _name(self, label, inherited):
        segment = re.split(r"[\[\s(]", label)[0].rsplit(".", 1)[-1]
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*?)_?decoder", segment, re.I)
        base = f"{match.group(1).lower()}_query_embed" if match else "query_embed"
        used = self.rule._proposed.setdefault(id(self.cls), set())
        taken = used | inherited | _class_names(self.cls) | set(self.info.assignments) | set(self.info.methods)
        taken |= {n.attr for n in ast.walk(self.cls) if isinstance(n, ast.Attribute)}
        name, number = base, 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        used.add(name)
        return name

    # -- a zero buffer / tensor attribute built in __init__ ------------------------------
    def _init_fix(self, origin, init):
        func = origin.func
        if (self.ctx.qualname(func) or "") != "torch.zeros" or not isinstance(func, ast.Attribute):
            return None
        if any(kw.arg not in ("size", "dtype", "device") for kw in origin.keywords):
            return None
        found = [a for assignments in self.info.assignments.values() for a in assignments if a.value is origin]
        if len(found) != 1 or len(self.info.assignments.get(found[0].attr, ())) != 1:
            return None
        assignment = found[0]
        attr = assignment.attr
        if not attr.isidentifier() or keyword.iskeyword(attr) or attr in _class_names(self.cls):
            return None
        named = [n for n in ast.walk(self.cls) if isinstance(n, ast.Constant) and n.value == attr]
        if assignment.kind == BUFFER and any(n is not assignment.node.args[0] for n in named) \
                or assignment.kind != BUFFER and named:
            return None  # looked up by name (``get_buffer("q")``, ``_buffers["q"]``): it must stay a buffer
        prefix, import_edit = self.src.import_name(self.ctx, "torch.nn", "nn")
        if prefix is None:
            return None
        (end_line, end_col), call_end = self.src.end(func), self.src.end(origin)
        arguments = self.src.between(end_line, end_col, *call_end)
        value = f"{prefix}.Parameter({self.src.text(func.value)}.randn{arguments})"
        if assignment.kind == BUFFER:
            call = assignment.node
            if not any(isinstance(n, ast.Expr) and n.value is call for n in self.modules.nodes(init)):
                return None
            change = self.src.replace(call, f"self.{attr} = {value}")
            what = "zero buffer"
        elif assignment.kind == OTHER and isinstance(assignment.node, (ast.Assign, ast.AnnAssign)):
            change = self.src.replace(origin, value)
            what = "zero tensor"
        else:
            return None
        return make_fix(
            UNSAFE,
            f"Make the {what} `self.{attr}` a learned `nn.Parameter` initialised with `randn` (N(0, 1), like "
            f"nn.Embedding) instead of zeros",
            [import_edit, change],
        )


def _first_arg_is_self(func) -> bool:
    args = func.args.posonlyargs + func.args.args
    return bool(args) and args[0].arg == "self"


def _is_super_init(stmt) -> bool:
    """``super().__init__(...)`` / ``Base.__init__(self, ...)`` as a statement."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    call = stmt.value
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "__init__"):
        return False
    if isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name) and func.value.func.id == "super":
        return True
    return bool(call.args) and isinstance(call.args[0], ast.Name) and call.args[0].id == "self"


def _int_literal(node):
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _plain_name(node) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _class_names(cls) -> set:
    """Names defined in a class body (methods, properties, class attributes)."""
    names = set()
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names
