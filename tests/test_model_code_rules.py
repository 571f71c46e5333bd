"""Model-code rules (ML201, ML202, ML301, ML303, ML304) on realistic multi-class files."""

import textwrap

from tests.helpers import lint, write_files

MODEL_RULES = ["ML201", "ML202", "ML301", "ML303", "ML304"]


def run(tmp_path, files):
    write_files(tmp_path, [(path, textwrap.dedent(text).lstrip("\n")) for path, text in files.items()])
    return lint(tmp_path, select=MODEL_RULES)


def summary(findings):
    return sorted((f.path, f.line, f.code) for f in findings)


DETR_LIKE = '''
import copy

import torch
import torch.nn.functional as F
from torch import nn


def clones(layer, n):
    return nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])


class SinePositions(nn.Module):
    def __init__(self, dim, temperature=10000):
        super().__init__()
        self.dim = dim
        self.temperature = temperature

    def forward(self, mask):
        not_mask = ~mask
        y = not_mask.cumsum(1, dtype=torch.float32)
        x = not_mask.cumsum(2, dtype=torch.float32)
        steps = torch.arange(self.dim // 2, dtype=torch.float32, device=mask.device)
        freq = self.temperature ** (2 * (steps // 2) / (self.dim // 2))
        pos_x = (x[..., None] / freq).flatten(3)
        pos_y = (y[..., None] / freq).flatten(3)
        return torch.cat([pos_y.sin(), pos_x.cos()], dim=3).permute(0, 3, 1, 2)


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads)
        self.cross_attn = nn.MultiheadAttention(d, heads)
        self.ffn = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Linear(ff, d))
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(3)])

    def forward(self, tgt, memory, pos, query_pos, memory_mask=None):
        q = k = tgt + query_pos
        tgt = self.norms[0](tgt + self.self_attn(q, k, tgt)[0])
        tgt = self.norms[1](tgt + self.cross_attn(tgt + query_pos, memory + pos, memory,
                                                  key_padding_mask=memory_mask)[0])
        return self.norms[2](tgt + self.ffn(tgt))


class QueryDecoder(nn.Module):
    def __init__(self, layer, n):
        super().__init__()
        self.layers = clones(layer, n)
        self.norm = nn.LayerNorm(layer.ffn[0].in_features)

    def forward(self, tgt, memory, pos, query_pos, memory_mask=None):
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, pos, query_pos, memory_mask)
        return self.norm(out)


class SetTransformer(nn.Module):
    def __init__(self, d=256, heads=8, layers=6):
        super().__init__()
        enc = nn.TransformerEncoderLayer(d, heads)
        self.encoder = nn.TransformerEncoder(enc, layers)
        self.decoder = QueryDecoder(DecoderLayer(d, heads, 4 * d), layers)

    def forward(self, src, mask, query_embed, pos_embed):
        bs = src.shape[0]
        src = src.flatten(2).permute(2, 0, 1)
        pos_embed = pos_embed.flatten(2).permute(2, 0, 1)
        query_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
        mask = mask.flatten(1)
        tgt = torch.zeros_like(query_embed)
        memory = self.encoder(src + pos_embed, src_key_padding_mask=mask)
        return self.decoder(tgt, memory, pos=pos_embed, query_pos=query_embed, memory_mask=mask)


class SetDetector(nn.Module):
    def __init__(self, backbone, num_classes, num_queries=100, d=256):
        super().__init__()
        self.backbone = backbone
        self.positions = SinePositions(d)
        self.transformer = SetTransformer(d)
        self.query_embed = nn.Embedding(num_queries, d)
        self.input_proj = nn.Conv2d(2048, d, kernel_size=1)
        self.class_head = nn.Linear(d, num_classes + 1)
        self.box_head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 4))

    def forward(self, images, mask):
        feats = self.backbone(images)
        mask = F.interpolate(mask[None].float(), size=feats.shape[-2:])[0].bool()
        pos = self.positions(mask)
        hs = self.transformer(self.input_proj(feats), mask, self.query_embed.weight, pos)
        return self.class_head(hs), self.box_head(hs).sigmoid()


class SetCriterion(nn.Module):
    def __init__(self, num_classes, eos_coef=0.1):
        super().__init__()
        weights = torch.ones(num_classes + 1)
        weights[-1] = eos_coef
        self.register_buffer("class_weights", weights)

    def forward(self, logits, boxes, target_classes, target_boxes):
        loss_ce = F.cross_entropy(logits.transpose(1, 2), target_classes, self.class_weights)
        loss_bbox = F.l1_loss(boxes, target_boxes)
        loss = loss_ce + 5.0 * loss_bbox
        return loss
'''


def test_detr_like_transformer_with_learned_queries_is_clean(tmp_path):
    assert summary(run(tmp_path, {"models/detector.py": DETR_LIKE})) == []


SPEAKER_MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class SlotDecoder(nn.Module):
    """Each speaker slot attends over the encoded frames."""

    def __init__(self, dim, heads, depth):
        super().__init__()
        layer = nn.TransformerDecoderLayer(dim, heads, batch_first=True)
        self.stack = nn.TransformerDecoder(layer, depth)

    def forward(self, slots, frames):
        return self.stack(slots, frames)


class CosineMarginHead(nn.Module):
    def __init__(self, dim, speakers, margin=0.2, scale=30.0):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(speakers, dim))
        self.margin, self.scale = margin, scale

    def forward(self, emb, labels):
        cos = F.linear(F.normalize(emb), F.normalize(self.centers))
        cos = cos - self.margin * F.one_hot(labels, cos.size(1))
        return F.cross_entropy(self.scale * cos, labels)


class MeetingDiarizer(nn.Module):
    def __init__(self, n_mels=80, dim=192, speakers=4, train_speakers=900):
        super().__init__()
        self.dim, self.speakers = dim, speakers
        self.frontend = nn.Linear(n_mels, dim)
        self.frames = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 4, batch_first=True), 4)
        self.activity_decoder = SlotDecoder(dim, 4, 2)
        self.identity_decoder = SlotDecoder(dim, 4, 2)
        self.activity_out = nn.Linear(dim, dim)
        self.identity_head = CosineMarginHead(dim, train_speakers)
        # loss balance: weight_i = exp(-s_i)
        self.s_activity = nn.Parameter(torch.tensor(0.0))
        self.s_identity = nn.Parameter(torch.tensor(6.0))

    def forward(self, mels):
        batch = mels.shape[0]
        frames = self.frames(self.frontend(mels))
        activity_slots = torch.zeros(batch, self.speakers, self.dim, device=mels.device)
        identity_slots = activity_slots.clone()
        act = self.activity_decoder(activity_slots, frames)
        ident = self.identity_decoder(identity_slots, frames)
        logits = torch.einsum("bsd,btd->bst", self.activity_out(act), frames)
        return logits, ident

    def loss(self, logits, ident, activity, speaker_ids):
        activity_loss = F.binary_cross_entropy_with_logits(logits, activity)
        identity_loss = self.identity_head(ident.flatten(0, 1), speaker_ids.flatten())
        total = torch.exp(-self.s_activity) * activity_loss + torch.exp(-self.s_identity) * identity_loss
        return total
'''


def test_seed_000_like_model_reports_zero_queries_and_loss_weights(tmp_path):
    findings = run(tmp_path, {"diarizer/model.py": SPEAKER_MODEL})
    assert summary(findings) == [
        ("diarizer/model.py", 41, "ML202"),
        ("diarizer/model.py", 47, "ML301"),
    ]
    ml301 = [f for f in findings if f.code == "ML301"][0]
    # both decoders receive the same zeros (one through .clone()): one finding, both calls related
    assert {r.line for r in ml301.related} == {49, 50}
    ml202 = [f for f in findings if f.code == "ML202"][0]
    assert "s_identity" in ml202.message and "regulariser" in ml202.message


def test_fixed_speaker_model_is_clean(tmp_path):
    fixed = SPEAKER_MODEL.replace(
        "        activity_slots = torch.zeros(batch, self.speakers, self.dim, device=mels.device)\n"
        "        identity_slots = activity_slots.clone()\n",
        "        activity_slots = self.slot_queries.weight.unsqueeze(0).expand(batch, -1, -1)\n"
        "        identity_slots = activity_slots.clone()\n",
    ).replace(
        "        self.s_identity = nn.Parameter(torch.tensor(6.0))\n",
        "        self.s_identity = nn.Parameter(torch.tensor(0.0))\n"
        "        self.slot_queries = nn.Embedding(speakers, dim)\n",
    ).replace(
        "torch.exp(-self.s_identity) * identity_loss\n",
        "torch.exp(-self.s_identity) * identity_loss\n"
        "        total = total + self.s_activity + self.s_identity\n",
    )
    assert fixed != SPEAKER_MODEL
    assert summary(run(tmp_path, {"diarizer/model.py": fixed})) == []


TRAINING_PROJECT = {
    "net/layers.py": '''
        import torch.nn as nn


        class ConvUnit(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, padding=1)
                self.bn = nn.BatchNorm2d(cout)

            def forward(self, x):
                return self.bn(self.conv(x)).relu()


        class MultiHead(nn.Module):
            def __init__(self, channels, tasks):
                super().__init__()
                self.units = [ConvUnit(channels, channels) for _ in range(3)]
                self.task_heads = nn.ModuleDict({t: nn.Linear(channels, n) for t, n in tasks.items()})

            def forward(self, x):
                for unit in self.units:
                    x = unit(x)
                pooled = x.mean((2, 3))
                gate = nn.Linear(pooled.size(1), 1)(pooled).sigmoid()
                return {t: head(pooled * gate) for t, head in self.task_heads.items()}
        ''',
    "train.py": '''
        import torch
        import torch.nn.functional as F


        def step(model, batch, optimizer):
            out = model(batch["image"])
            seg_loss = F.cross_entropy(out["seg"], batch["seg"])
            depth_loss = F.l1_loss(out["depth"], batch["depth"])
            loss = seg_loss + 0.002 * depth_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss.item()
        ''',
}


def test_training_project_reports_each_rule_once(tmp_path):
    findings = run(tmp_path, TRAINING_PROJECT)
    assert summary(findings) == [
        ("net/layers.py", 17, "ML303"),
        ("net/layers.py", 24, "ML304"),
        ("train.py", 9, "ML201"),
    ]
    ml201 = [f for f in findings if f.code == "ML201"][0]
    assert "500x" in ml201.message and "depth_loss" in ml201.message
