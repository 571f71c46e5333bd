import re

from modellint.instantiate.report import human_count
from modellint.rule import EngineRule, Option, ok


class BackbonesFrozenAtRuntime(EngineRule):
    code = "ML602"
    name = "backbones-frozen-at-runtime"
    requires_instantiation = True  # emitted by the instantiation stage (`--instantiate`), never by a plain lint run
    severity = "warning"
    summary = "The instantiated model has every backbone/encoder frozen: only heads and fusion learn (only with --instantiate)."
    rationale = (
        "Freezing every encoder of a multi-encoder model leaves only the fusion layers and the head to "
        "learn, usually far too little capacity to move the loss (a four-modality classifier trained for "
        "days this way, its video, audio, sensor and text encoders all frozen by config flags). The static "
        "rule ML302 guesses this from flags and freezing code; building the model counts it: "
        "\"video_encoder 0 / 21.3M trainable, audio_encoder 0 / 5.1M trainable …\". Backbones are the "
        "top-level children whose attribute name matches `name_pattern` (the members of an "
        "`nn.ModuleList`/`nn.ModuleDict` named so, e.g. `self.encoders`, count one by one); children without "
        "parameters and positional encoders are ignored. A model with no trainable parameter at all is "
        "ML601's. This rule needs `--instantiate TARGET`; it is reported at the definition line of the "
        "target class or factory, with each backbone's counts at the line that assigns it."
    )
    fix = ("Unfreeze at least one encoder (set its freeze flag to false, or leave its `requires_grad` alone) or give "
           "the backbones a smaller learning rate instead of freezing them; for a deliberate linear probe, suppress "
           "with `# modellint: ignore[ML602]` on the class line.")
    options = (
        Option("name_pattern", "encoder|backbone", "Regular expression (case-insensitive) that a top-level attribute "
               "name must match to count as a backbone."),
    )
    examples = (
        ok("models/fusion.py", """
            import torch.nn as nn


            class TwoTower(nn.Module):
                def __init__(self, dim=32, classes=4):
                    super().__init__()
                    self.image_encoder = nn.Linear(dim, dim)
                    self.text_encoder = nn.Linear(dim, dim)
                    for encoder in (self.image_encoder, self.text_encoder):
                        encoder.requires_grad_(False)
                    self.head = nn.Linear(2 * dim, classes)
            """, title="without --instantiate nothing is reported; `modellint check --instantiate "
                       "models/fusion.py:TwoTower` reports ML602 at line 4 (image_encoder 0 / 1.1K trainable, "
                       "text_encoder 0 / 1.1K trainable)"),
        ok("models/fusion.py", """
            import torch.nn as nn


            class TwoTower(nn.Module):
                def __init__(self, dim=32, classes=4):
                    super().__init__()
                    self.image_encoder = nn.Linear(dim, dim)
                    self.text_encoder = nn.Linear(dim, dim)
                    self.image_encoder.requires_grad_(False)  # one frozen tower, the other learns
                    self.head = nn.Linear(2 * dim, classes)
            """, title="a trainable encoder remains: not flagged, with or without --instantiate"),
    )

    _POSITIONAL = re.compile(r"pos(ition(al)?)?_?(enc|emb)", re.I)

    def backbones(self, model):
        """Top-level backbone/encoder children with parameters (ModuleList/ModuleDict members one by one)."""
        try:
            pattern = re.compile(self.option("name_pattern"), re.I)
        except re.error:
            pattern = re.compile("encoder|backbone", re.I)
        found = []
        for child in model.children():
            if not pattern.search(child.short_name) or self._POSITIONAL.search(child.short_name):
                continue
            members = [m for m in child.members if m.parameters > 0]
            if members:
                found.extend(members)
            elif child.parameters > 0:
                found.append(child)
        return found

    def check_model(self, model, report) -> None:
        if model.trainable == 0 or model.totals.get("lazy"):
            return  # ML601 says it (or the counts are not known yet)
        backbones = self.backbones(model)
        if not backbones or any(b.trainable > 0 for b in backbones):
            return
        counts = ", ".join(f"{b.name} {b.counts()}" for b in backbones)
        learning = [c.name for c in model.children() if c.trainable > 0]
        if model.own.get("trainable"):
            learning.append(f"{human_count(model.own['trainable'])} own parameters")
        if len(learning) > 6:
            learning = learning[:5] + [f"{len(learning) - 5} more"]
        named = ", ".join(learning[:-1]) + f" and {learning[-1]}" if len(learning) > 1 else "".join(learning)
        who = f"only {named} learn" if learning else "only the remaining layers learn"
        report(None, f"every backbone/encoder of {model.label()} is frozen at runtime: {counts}; {who} "
                     f"({human_count(model.trainable)} of {human_count(model.parameters)} parameters trainable)",
               related=[(b.assigned_at, f"{b.name}: {b.counts()}") for b in backbones if b.assigned_at])
