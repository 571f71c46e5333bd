import ast
import re

from modellint.code.dataflow import LocalFlow
from modellint.code.modules import MODULE, FileModules, enclosing_class, is_nn_module_class, self_attr
from modellint.code.names import dotted
from modellint.rule import CodeRule, flag, ok

# Keywords that carry the decoder's query/target input.
QUERY_KEYWORDS = ("tgt", "query", "queries", "x", "inputs_embeds", "decoder_inputs_embeds", "target",
                  "hidden_states", "decoder_input", "dec_input")
# Arguments whose name says "positional/learned query": DETR's ``query_pos=query_embed``,
# Deformable-DETR's positional ``query_embed``, anchors and reference points.
LEARNED_QUERY_ARG = re.compile(r"(^|[_.])pos(ition)?(_|$|[A-Z.]|itional)|query_?emb|query_?feat|refpoint|reference_point|anchor", re.I)
# Attributes whose name contains "decoder" but that are not query decoders.
NOT_A_QUERY_DECODER = re.compile(r"embed|norm|proj|pred|pos|head", re.I)
# Callables named like decoders that build rather than run one.
BUILDER_PREFIX = ("build", "make", "get", "create", "init")


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
        flag("model.py", """
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
            """, line=15, title="seed 000: all-zero speaker queries into the detection decoder"),
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
        flag("buffer_queries.py", """
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
            """, line=7, title="a zero buffer is not learned either"),
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
    )

    def visit_Module(self, node, ctx) -> None:
        self._lines = ctx.doc.text.splitlines()

    def visit_FunctionDef(self, node, ctx) -> None:
        cls = enclosing_class(ctx)
        info = FileModules.of(ctx).info(cls) if cls is not None else None
        text = "\n".join(self._lines[node.lineno - 1: getattr(node, "end_lineno", node.lineno)]).lower()
        decoder_attrs = self._decoder_attrs(info)
        if "decoder" not in text and not any(f"self.{a}" in text for a in decoder_attrs):
            return  # cheap pre-filter: no decoder is called here
        reported = set()
        # zeros call → names it is assigned to directly (``z = torch.zeros(n, latent)``)
        self._direct = {}
        for inner in FileModules.of(ctx).nodes(node):
            if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call):
                self._direct[id(inner.value)] = {t.id for t in inner.targets if isinstance(t, ast.Name)}

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
