from modellint.instantiate.report import human_count
from modellint.rule import EngineRule, ok


class NoTrainableParameters(EngineRule):
    code = "ML601"
    name = "no-trainable-parameters"
    requires_instantiation = True  # emitted by the instantiation stage (`--instantiate`), never by a plain lint run
    severity = "error"
    summary = "The instantiated model has 0 trainable parameters (only with --instantiate)."
    rationale = (
        "When every parameter has `requires_grad=False` the optimizer has nothing to update: the loss "
        "stays flat whatever the learning rate (a post-mortem chased LRs from 1e-4 down to 1e-10 before "
        "finding frozen encoders). Static rules can only guess which freeze flags and code paths are "
        "taken; building the model settles it. This rule needs `--instantiate TARGET` (`modellint check "
        "--instantiate src/models/net.py:Net`): the model is built in a separate process on the `meta` "
        "device, so no memory is spent on weights. It is reported at the definition line of the target "
        "class or factory. Lazy modules whose parameters are not materialised yet are not judged."
    )
    fix = ("Unfreeze what should learn (`p.requires_grad_(True)`, or set its freeze flag to false); a model that "
           "is meant to stay frozen (a feature extractor) should not be trained at all.")
    examples = (
        ok("models/probe.py", """
            import torch.nn as nn


            class FrozenProbe(nn.Module):
                def __init__(self, dim=64, classes=10):
                    super().__init__()
                    self.encoder = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
                    self.head = nn.Linear(dim, classes)
                    self.requires_grad_(False)  # meant for the encoder only
            """, title="without --instantiate nothing is reported; `modellint check --instantiate "
                       "models/probe.py:FrozenProbe` reports ML601 at line 4 (0 / 8.9K trainable)"),
        ok("models/probe.py", """
            import torch.nn as nn


            class LinearProbe(nn.Module):
                def __init__(self, dim=64, classes=10):
                    super().__init__()
                    self.encoder = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
                    self.encoder.requires_grad_(False)
                    self.head = nn.Linear(dim, classes)
            """, title="the head still learns: not flagged, with or without --instantiate"),
    )

    def check_model(self, model, report) -> None:
        if model.totals.get("lazy"):
            return  # uninitialised (lazy) parameters: the count is not known yet
        if model.trainable > 0:
            return
        hidden = sum(u.parameters for u in model.unregistered if u.parameters > 0)
        if model.parameters == 0:
            if hidden:
                names = ", ".join(f"`{u.attribute}`" for u in model.unregistered if u.parameters > 0)
                report(None, f"{model.label()} registers no parameters at all: its {human_count(hidden)} parameters sit in "
                             f"plain containers ({names}) that model.parameters() does not return (see ML603), so the "
                             "optimizer gets an empty parameter list",
                       help="Hold submodules in nn.ModuleList / nn.ModuleDict (parameters in nn.ParameterList / "
                            "nn.ParameterDict) so they are registered and trained.")
            else:
                report(None, f"{model.label()} has no parameters at all: there is nothing for the optimizer to train")
            return
        children = [c for c in model.children() if c.parameters > 0]
        shown = ", ".join(f"{c.name} {c.counts()}" for c in children[:6])
        more = f", and {len(children) - 6} more" if len(children) > 6 else ""
        detail = f" ({shown}{more})" if shown else ""
        report(None, f"every one of the {human_count(model.parameters)} parameters of {model.label()} has "
                     f"requires_grad=False{detail}: the optimizer has nothing to update and the loss cannot go down")
