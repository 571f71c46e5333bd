"""Training-loop and data rules (ML302, ML401-ML404, ML501, ML502) on whole,
realistic mini projects: a healthy one that must stay silent and a broken
one whose every finding is pinned."""

from tests.helpers import lint, write_files

SELECT = ["ML302", "ML401", "ML402", "ML403", "ML404", "ML501", "ML502"]

HEALTHY = {
    "pyproject.toml": "[project]\nname = 'speech-tagger'\n",
    "configs/tagger.yaml": """\
model:
  acoustic_encoder:
    layers: 12
    freeze: true
  text_encoder:
    layers: 6
    freeze: false
  head: {classes: 40}
train:
  lr: 3.0e-4
  warmup_steps: 500
  accumulate: 4
""",
    "tagger/model.py": """\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Tagger(nn.Module):
    def __init__(self, acoustic_encoder, text_encoder, classes, freeze_acoustic=True):
        super().__init__()
        self.acoustic_encoder = acoustic_encoder
        self.text_encoder = text_encoder
        self.head = nn.Sequential(nn.Linear(1024, 256), nn.GELU(), nn.Linear(256, classes))
        if freeze_acoustic:
            for param in self.acoustic_encoder.parameters():
                param.requires_grad = False

    def forward(self, audio, tokens):
        fused = torch.cat([self.acoustic_encoder(audio), self.text_encoder(tokens)], dim=-1)
        return self.head(fused)

    def log_probs(self, audio, tokens):
        return F.log_softmax(self.forward(audio, tokens), dim=-1)
""",
    "tagger/train.py": """\
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from tagger.model import Tagger


def warmup_cosine(step, warmup, total):
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model, loader, device):
    model.eval()
    nll_total, hits, seen = 0.0, 0, 0
    nll = nn.NLLLoss(reduction="sum")
    for audio, tokens, labels in loader:
        audio, tokens, labels = audio.to(device), tokens.to(device), labels.to(device)
        log_probs = model.log_probs(audio, tokens)
        nll_total += nll(log_probs, labels)
        probs = log_probs.exp()
        hits += (probs.argmax(-1) == labels).sum().item()
        seen += labels.numel()
    return nll_total / max(seen, 1), hits / max(seen, 1)


def fit(model, train_set, val_set, epochs, batch_size, accumulate, distributed, device):
    sampler = DistributedSampler(train_set, shuffle=True) if distributed else None
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=(sampler is None), sampler=sampler,
                              num_workers=4, drop_last=True)
    val_loader = DataLoader(val_set, batch_size=batch_size)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-4, weight_decay=0.05)
    total_steps = epochs * len(train_loader) // accumulate
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, 500, total_steps))
    scaler = torch.cuda.amp.GradScaler()
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    history = []
    for epoch in range(epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        running, batches = 0.0, 0
        optimizer.zero_grad(set_to_none=True)
        for step, (audio, tokens, labels) in enumerate(train_loader):
            audio, tokens, labels = audio.to(device), tokens.to(device), labels.to(device)
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                logits = model(audio, tokens)
                loss = criterion(logits, labels) / accumulate
            scaler.scale(loss).backward()
            if (step + 1) % accumulate == 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
            running += loss.detach()
            batches += 1
        val_nll, val_acc = evaluate(model, val_loader, device)
        history.append({"epoch": epoch, "train": float(running) / max(batches, 1), "val": float(val_nll)})
    return history
""",
}

BROKEN = {
    "pyproject.toml": "[project]\nname = 'gesture-net'\n",
    "configs/gesture.py": """\
RGB_ENCODER = {"depth": 18, "freeze_backbone": True}
POSE_ENCODER = {"layers": 4, "freeze_backbone": True}
HEAD = {"classes": 12, "dropout": 0.2}
""",
    "gesture/net.py": """\
import torch
import torch.nn as nn


class GestureNet(nn.Module):
    def __init__(self, rgb_cfg, pose_cfg, rgb_encoder, pose_encoder):
        super().__init__()
        self.rgb_encoder = rgb_encoder
        self.pose_encoder = pose_encoder
        if rgb_cfg["freeze_backbone"]:
            self.rgb_encoder.requires_grad_(False)
        if pose_cfg["freeze_backbone"]:
            self.pose_encoder.requires_grad_(False)
        self.classifier = nn.Sequential(nn.Linear(512, 12), nn.Softmax(dim=-1))

    def forward(self, frames, joints):
        return self.classifier(torch.cat([self.rgb_encoder(frames), self.pose_encoder(joints)], dim=-1))
""",
    "gesture/train.py": """\
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from gesture.net import GestureNet


def run(model, train_clips, test_clips, epochs):
    train_loader = DataLoader(train_clips, batch_size=16, num_workers=2)
    test_loader = DataLoader(test_clips, batch_size=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        epoch_loss = 0.0
        for frames, joints, labels in train_loader:
            probs = torch.softmax(model(frames, joints), dim=-1)
            loss = criterion(probs, labels)
            loss.backward()
            scheduler.step()
            optimizer.step()
            epoch_loss += loss
        print(epoch, epoch_loss / len(train_loader))
    return report(model, test_loader)


@torch.no_grad()
def report(model, loader):
    gated = []
    for frames, joints, labels, has_gesture in loader:
        gesture_scores = model(frames, joints).numpy()
        presence_pred = (has_gesture.numpy() > 0.5)
        class_pred = np.argmax(gesture_scores, axis=1)
        gated.append(presence_pred * class_pred)
    return gated


def detect(presence_logits, class_logits):
    present_pred = np.argmax(presence_logits, axis=1)
    class_pred = np.argmax(class_logits, axis=-1)
    return class_pred * present_pred
""",
}


def findings_of(tmp_path, files):
    write_files(tmp_path, files.items())
    return lint(tmp_path, select=SELECT)


def test_healthy_training_project_is_silent(tmp_path):
    findings = findings_of(tmp_path, HEALTHY)
    assert findings == [], [(f.code, f.path, f.line, f.message) for f in findings]


def test_broken_training_project_reports_each_bug_once(tmp_path):
    findings = findings_of(tmp_path, BROKEN)
    got = sorted((f.code, f.path, f.line) for f in findings)
    assert got == sorted([
        ("ML302", "configs/gesture.py", 2),   # both encoder sections frozen (last freeze line)
        ("ML401", "gesture/train.py", 22),    # optimizer.step() with nothing zeroing gradients
        ("ML402", "gesture/train.py", 19),    # softmax probabilities into CrossEntropyLoss
        ("ML403", "gesture/train.py", 21),    # scheduler.step() before optimizer.step()
        ("ML404", "gesture/train.py", 23),    # epoch_loss += loss keeps every graph
        ("ML501", "gesture/train.py", 10),    # training loader without shuffle
        ("ML502", "gesture/train.py", 42),    # class prediction gated by argmax of the presence head
        # not line 35: there the gate is the loader's ground-truth ``has_gesture`` field
    ]), [(f.code, f.path, f.line, f.message) for f in findings]
    frozen = next(f for f in findings if f.code == "ML302")
    related = {(r.path, r.line) for r in frozen.related}
    assert ("configs/gesture.py", 1) in related
    assert {("gesture/net.py", 11), ("gesture/net.py", 13)} <= related  # the code that applies the flags
    assert "RGB_ENCODER" in frozen.message and "POSE_ENCODER" in frozen.message
    assert next(f for f in findings if f.code == "ML401").severity == "error"
    assert next(f for f in findings if f.code == "ML502").severity == "info"


def test_broken_project_fixed_piece_by_piece_goes_quiet(tmp_path):
    files = dict(BROKEN)
    files["configs/gesture.py"] = files["configs/gesture.py"].replace(
        'POSE_ENCODER = {"layers": 4, "freeze_backbone": True}', 'POSE_ENCODER = {"layers": 4, "freeze_backbone": False}')
    train = files["gesture/train.py"]
    train = train.replace("batch_size=16, num_workers=2", "batch_size=16, shuffle=True, num_workers=2")
    train = train.replace("            probs = torch.softmax(model(frames, joints), dim=-1)\n"
                          "            loss = criterion(probs, labels)\n",
                          "            loss = criterion(model.logits(frames, joints), labels)\n")
    train = train.replace("            loss.backward()\n            scheduler.step()\n            optimizer.step()\n",
                          "            optimizer.zero_grad()\n            loss.backward()\n            optimizer.step()\n")
    train = train.replace("            epoch_loss += loss\n", "            epoch_loss += loss.item()\n")
    train = train.replace("        print(epoch,", "        scheduler.step()\n        print(epoch,")
    train = train.replace("        gated.append(presence_pred * class_pred)", "        gated.append((presence_pred, class_pred))")
    train = train.replace("    return class_pred * present_pred", "    return class_pred, present_pred")
    files["gesture/train.py"] = train
    findings = findings_of(tmp_path, files)
    assert findings == [], [(f.code, f.path, f.line, f.message) for f in findings]


def test_code_freezing_every_encoder_without_config(tmp_path):
    files = {
        "pyproject.toml": "[project]\nname = 'x'\n",
        "model.py": """\
import torch.nn as nn


class Retrieval(nn.Module):
    def __init__(self, image_encoder, text_encoder):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.proj = nn.Linear(512, 256)
        self.freeze_encoders()

    def freeze_encoders(self):
        for module in (self.image_encoder, self.text_encoder):
            for p in module.parameters():
                p.requires_grad = False
""",
    }
    findings = findings_of(tmp_path, files)
    assert [(f.code, f.path, f.line) for f in findings] == [("ML302", "model.py", 15)], \
        [(f.code, f.line, f.message) for f in findings]
    assert "image_encoder" in findings[0].message and "text_encoder" in findings[0].message


def test_freezing_only_in_an_uncalled_probe_function(tmp_path):
    files = {
        "pyproject.toml": "[project]\nname = 'x'\n",
        "train.py": """\
import torch


def freeze_for_linear_probe(model):
    model.image_encoder.requires_grad_(False)
    model.text_encoder.requires_grad_(False)


def main(model):
    return torch.optim.AdamW(model.parameters(), lr=1e-4)
""",
        "model.py": """\
import torch.nn as nn


class Dual(nn.Module):
    def __init__(self, image_encoder, text_encoder):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
""",
    }
    assert findings_of(tmp_path, files) == []
    files["train.py"] += "\n\nif __name__ == '__main__':\n    freeze_for_linear_probe(build())\n"
    findings = findings_of(tmp_path, files)
    assert [(f.code, f.path, f.line) for f in findings] == [("ML302", "train.py", 6)], \
        [(f.code, f.line, f.message) for f in findings]
