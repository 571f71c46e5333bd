from modellint.instantiate.report import human_count
from modellint.rule import EngineRule, Option, ok


class UnregisteredParameters(EngineRule):
    code = "ML603"
    name = "unregistered-parameters"
    requires_instantiation = True  # emitted by the instantiation stage (`--instantiate`), never by a plain lint run
    severity = "error"
    summary = "Modules or parameters are kept in plain lists, dicts or tuples, so model.parameters() misses them (only with --instantiate)."
    rationale = (
        "`nn.Module` registers a submodule or parameter only when it is assigned directly or held by "
        "`nn.ModuleList`/`nn.ModuleDict`/`nn.ParameterList`/`nn.ParameterDict`. In a plain `list`, `dict` or "
        "`tuple` it is invisible: `model.parameters()` does not return it (never trained: it keeps its "
        "random initialisation), `.to()`/`.cuda()` does not move it and `state_dict()` does not save it. "
        "The static rule ML303 reads this from the code; building the model shows exactly which attributes "
        "hold what, with parameter counts, on every instance. Modules in a container that are also "
        "registered elsewhere (a list of references) are not flagged: their parameters are returned. "
        "This rule needs `--instantiate TARGET`; it is reported at the line that assigns the attribute."
    )
    fix = ("Wrap the container: `self.blocks = nn.ModuleList([...])` for a list or tuple of modules, "
           "`nn.ModuleDict({...})` for a dict, `nn.ParameterList`/`nn.ParameterDict` for parameters.")
    options = (
        Option("min_parameters", 1, "Report an attribute when at least this many parameters are missed."),
    )
    examples = (
        ok("models/stack.py", """
            import torch.nn as nn


            class Stack(nn.Module):
                def __init__(self, dim=32, depth=4):
                    super().__init__()
                    self.blocks = [nn.Linear(dim, dim) for _ in range(depth)]
                    self.head = nn.Linear(dim, 1)

                def forward(self, x):
                    for block in self.blocks:
                        x = block(x).relu()
                    return self.head(x)
            """, title="without --instantiate ML603 is not reported (ML303 is); `modellint check --instantiate "
                       "models/stack.py:Stack` reports ML603 at line 7 (4 Linear, 4.2K parameters)"),
        ok("models/stack.py", """
            import torch.nn as nn


            class Stack(nn.Module):
                def __init__(self, dim=32, depth=4):
                    super().__init__()
                    self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])
                    self.taps = [self.blocks[0], self.blocks[-1]]  # references to registered blocks
                    self.head = nn.Linear(dim, 1)
            """, title="registered blocks, and a list of references to them: not flagged, with or without --instantiate"),
    )

    def check_model(self, model, report) -> None:
        minimum = max(1, int(self.option("min_parameters")))
        for entry in model.unregistered:
            if not entry.in_project or entry.parameters < minimum:
                continue
            wrapper = {"dict": "nn.ModuleDict"}.get(entry.container, "nn.ModuleList")
            if not entry.modules:
                wrapper = "nn.ParameterDict" if entry.container == "dict" else "nn.ParameterList"
            scope = (f" (on each of {entry.instances} {entry.owner_class} instances: {human_count(entry.parameters)} "
                     "parameters in total)") if entry.instances > 1 else ""
            frozen = "" if entry.trainable == entry.parameters else f", {human_count(entry.trainable)} of them with requires_grad"
            report(entry.location,
                   f"`{entry.attribute}` of {entry.owner_class} is a plain {entry.container} holding {entry.contents()} with "
                   f"{human_count(entry.parameters)} parameters that model.parameters() does not return{frozen}{scope}: "
                   "the optimizer never updates them, .to()/.cuda() does not move them and state_dict() does not save them",
                   help=f"Wrap it: `self.{entry.attribute} = {wrapper}(...)` registers every entry.")
