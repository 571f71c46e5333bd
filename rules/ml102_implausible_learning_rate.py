from modellint.facts import names
from modellint.facts.vocabulary import ADAPTIVE, SCALE_FREE, SGD_LIKE
from modellint.provenance import format_value
from modellint.rule import Option, RecipeRule, flag, ok


class ImplausibleLearningRate(RecipeRule):
    code = "ML102"
    name = "implausible-learning-rate"
    severity = "error"
    summary = "The base/peak learning rate is too small to move the weights, or too large for its optimizer."
    rationale = (
        "A base LR below 1e-8 changes each weight by a rounding error per step: the loss sits flat for "
        "days and no schedule can rescue it (a post-mortem run at lr=1e-10 never moved). At the other end, "
        "Adam-family optimizers take steps of about `lr` per parameter regardless of gradient scale, so an "
        "Adam LR above 1e-2 usually diverges; SGD-family LRs above 10 do the same. Scale-free optimizers "
        "(Adadelta, LBFGS, Adafactor with relative steps) have no upper bound. Warmup start LRs, floors "
        "(eta_min, min_lr, lr_end), multipliers (lr_mult) and `lr: 0` of a frozen parameter group are not "
        "base LRs and are never judged."
    )
    fix = "Use a base LR in the usual range for the optimizer (AdamW 1e-5..1e-3, SGD 1e-3..1)."
    options = (
        Option("min_lr", 1e-8, "Base LRs below this are an error."),
        Option("max_adaptive_lr", 1e-2, "Upper bound for Adam-family optimizers (Adam, AdamW, NAdam, RAdam, Adamax, Lion)."),
        Option("max_sgd_lr", 10.0, "Upper bound for SGD, RMSprop and Adagrad."),
        Option("max_lr", 10.0, "Upper bound when the optimizer is unknown."),
    )
    examples = (
        flag("configs/train_config.py", """
            TRAIN = {
                "optimizer": "adamw",
                "learning_rate": 1e-10,
                "batch_size": 32,
            }
            """, line=3, severity="error", title="seed 001: lr 1e-10"),
        flag("configs/train.yaml", """
            optimizer:
              type: Adam
              lr: 0.5
            """, line=3, severity="warning", title="Adam with an SGD-sized LR"),
        flag("train.py", """
            import torch
            model = torch.nn.Linear(8, 2)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-10)
            """, line=3),
        flag("train.py", """
            import argparse
            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=1e-9)
            """, line=3),
        ok("configs/train_config.py", """
            TRAIN = {
                "lr_scheduler": "cosine_warmup",
                "warmup_epochs": 10,
                "warmup_start_lr": 1e-7,
                "learning_rate": 1e-4,
                "min_lr": 1e-9,
            }
            """, title="warmup start LR and floor are not base LRs"),
        ok("configs/sched.yaml", """
            optimizer: {type: SGD, lr: 0.02, momentum: 0.9}
            scheduler: {type: CosineAnnealingLR, eta_min: 1.0e-12}
            warmup: {warmup_lr: 1.0e-10, start_factor: 1.0e-9}
            paramwise_cfg: {custom_keys: {backbone: {lr_mult: 1.0e-9}}}
            """, title="eta_min, warmup LR, start factor, lr_mult"),
        ok("configs/frozen.yaml", """
            param_groups:
              - name: backbone
                lr: 0
              - name: head
                lr: 0.001
            """, title="lr 0 freezes a group on purpose"),
        ok("train.py", """
            import torch
            model = torch.nn.Linear(8, 2)
            opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
            """, title="Adadelta's default lr is 1.0"),
        ok("configs/train.yaml", """
            optimizer: SGD
            lr: 0.4
            """, title="SGD with a large-batch LR"),
    )

    def check(self, recipe, report) -> None:
        recipe_family = recipe.optimizer_family()
        optimizer = recipe.optimizer_fact()
        for fact in recipe.all(names.LR):
            value = fact.value
            if value <= 0:
                continue
            seen = f"learning rate {format_value(value)} ({fact.key})"
            own_family = fact.get("family")
            if own_family:  # an LR passed to an optimizer's constructor
                family, optimizer_name, related = own_family, fact.get("optimizer"), []
            else:
                family, optimizer_name = recipe_family, (optimizer.value if optimizer else None)
                related = [(optimizer, f"optimizer {optimizer.value} set here")] if optimizer and family else []
            if value < self.option("min_lr"):
                report(fact, f"{seen} is below {format_value(self.option('min_lr'))}: each step changes the weights "
                             "by a rounding error and the loss will stay flat",
                       severity="error", related=related)
                continue
            if family == SCALE_FREE:
                continue
            if family == ADAPTIVE:
                bound, what = self.option("max_adaptive_lr"), f"an Adam-family optimizer ({optimizer_name})"
            elif family == SGD_LIKE:
                bound, what = self.option("max_sgd_lr"), f"an SGD-family optimizer ({optimizer_name})"
            else:
                bound, what = self.option("max_lr"), "any optimizer"
            if value > bound:
                report(fact, f"{seen} is above {format_value(bound)}, too high for {what}: training will likely diverge",
                       severity="warning", related=related,
                       help="Lower the LR (AdamW usually 1e-5..1e-3); if this is intended, suppress with `# modellint: ignore[ML102]`.")
