from modellint.facts import names
from modellint.facts.vocabulary import ADAPTIVE
from modellint.provenance import format_value
from modellint.fixes import UNSAFE, value_fix
from modellint.rule import Option, RecipeRule, fixes, flag, ok


class TightGradientClipping(RecipeRule):
    code = "ML104"
    name = "tight-gradient-clipping"
    severity = "warning"
    summary = "Gradient clipping is enabled with a threshold so small that it throttles most steps."
    rationale = (
        "Typical gradient norms of a network are O(1) or larger, so a max-norm of 0.2 rescales almost "
        "every step: with SGD-family optimizers (or an unknown one) that shrinks the effective LR "
        "silently and training crawls (a post-mortem VAE ran at `gradient_clip_val = 0.2`). With an "
        "Adam-family optimizer the update is largely invariant to gradient scale, so tight clipping "
        "mostly re-weights steps; the DETR family uses 0.1 on purpose, so this is reported as `info` "
        "with the optimizer named. Disabled clipping (`ENABLED: false`, `max_grad_norm: 0`, `null`) and "
        "RL clip coefficients (`clip_coef`, `clip_range`, `clip_param`) are not gradient clipping."
    )
    fix = "Raise the clip threshold to ~1.0 (norm) or remove clipping, then watch the logged gradient norm."
    options = (
        Option("min_max_norm", 0.5, "Norm clipping below this max-norm is flagged."),
        Option("min_clip_value", 0.1, "Element-wise value clipping below this is flagged."),
    )
    examples = (
        flag("configs/vae.yaml", """
            trainer:
              max_epochs: 100
              gradient_clip_val: 0.2
            """, line=3, severity="warning", title="seed 002: Lightning YAML"),
        flag("train.py", """
            import torch
            from torch.nn.utils import clip_grad_norm_

            def step(model, loss, opt):
                loss.backward()
                clip_grad_norm_(model.parameters(), 0.2)
                opt.step()
            """, line=6),
        flag("train.py", """
            import pytorch_lightning as pl
            trainer = pl.Trainer(max_epochs=10, gradient_clip_val=0.05)
            """, line=2),
        flag("configs/detr.yaml", """
            optimizer: {type: AdamW, lr: 1.0e-4}
            grad_clip: 0.1
            """, line=2, severity="info", title="Adam-family: reported as info, with the optimizer named"),
        flag("configs/mask2former.yaml", """
            SOLVER:
              OPTIMIZER: ADAMW
              BASE_LR: 0.0001
              CLIP_GRADIENTS:
                ENABLED: True
                CLIP_TYPE: "full_model"
                CLIP_VALUE: 0.01
            """, line=7, severity="info"),
        flag("configs/ds_config.json", """
            {
              "train_micro_batch_size_per_gpu": 4,
              "gradient_clipping": 0.1
            }
            """, line=3),
        ok("configs/detectron.yaml", """
            SOLVER:
              CLIP_GRADIENTS:
                ENABLED: false
                CLIP_VALUE: 0.01
            """, title="disabled clipping"),
        ok("configs/hf.json", """
            {"max_grad_norm": 0, "learning_rate": 5e-5}
            """),
        ok("configs/lightning.yaml", """
            trainer:
              gradient_clip_val: null
            """),
        ok("configs/ppo.yaml", """
            clip_coef: 0.2
            clip_range: 0.2
            cliprange: 0.2
            clip_param: 0.1
            max_grad_norm: 0.5
            """, title="RL clip coefficients are not gradient clipping"),
        flag({"a.py": """
            import torch
            def make_a(model):
                return torch.optim.SGD(model.parameters(), lr=0.1)
            """, "b.py": """
            import torch
            def make_b(model):
                return torch.optim.AdamW(model.parameters(), lr=1e-4)
            """, "train.yaml": "grad_clip: 0.1\n", "README.md": "x\n"}, at="train.yaml", line=1, severity="warning",
             title="two optimizer families in one project: neither is named"),
        ok("train.py", """
            import torch
            def step(model, opt, args):
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            """, title="unknown or healthy thresholds"),
        fixes("configs/vae.yaml", """
            trainer:
              max_epochs: 100
              gradient_clip_val: 0.2  # copied from an old run
            """, """
            trainer:
              max_epochs: 100
              gradient_clip_val: 0.5  # copied from an old run
            """, unsafe=True, title="fix (unsafe): the clip is raised to `min_max_norm`, the comment kept"),
        fixes("train.py", """
            from torch.nn.utils import clip_grad_norm_

            def step(model, loss, opt):
                loss.backward()
                clip_grad_norm_(model.parameters(), max_norm=0.05)
                opt.step()
            """, """
            from torch.nn.utils import clip_grad_norm_

            def step(model, loss, opt):
                loss.backward()
                clip_grad_norm_(model.parameters(), max_norm=0.5)
                opt.step()
            """, unsafe=True, title="fix (unsafe): in code"),
        fixes("configs/ds_config.json", """
            {
              "train_micro_batch_size_per_gpu": 4,
              "gradient_clipping": 0.1
            }
            """, """
            {
              "train_micro_batch_size_per_gpu": 4,
              "gradient_clipping": 0.5
            }
            """, unsafe=True, title="fix (unsafe): in JSON"),
    )

    def check(self, recipe, report) -> None:
        family = recipe.optimizer_family()
        optimizer = recipe.optimizer_fact()
        checks = ((names.CLIP_NORM, "max-norm", self.option("min_max_norm")),
                  (names.CLIP_VALUE, "value", self.option("min_clip_value")))
        for fact_name, what, bound in checks:
            for fact in recipe.all(fact_name):
                if fact.value >= bound or fact.get("enabled") is not True:
                    continue
                message = f"gradient clipping {what} {format_value(fact.value)} ({fact.key}) is below {format_value(bound)}"
                # name the optimizer only when the recipe has one family: a project that
                # builds SGD in one script and AdamW in another has no single answer
                known = optimizer if family is not None else None
                related = [(known, f"optimizer {known.value} set here")] if known else []
                fix = value_fix(fact.span, fact.value, bound, UNSAFE, f"Raise {fact.key} to {format_value(bound)}")
                if family == ADAPTIVE:
                    report(fact, message + f"; with {optimizer.value} (Adam-family) the update is largely scale-invariant, "
                                           "so this mostly re-weights steps rather than shrinking them",
                           severity="info", related=related, fix=fix,
                           help="If this is deliberate (the DETR family clips at 0.1), suppress it with `# modellint: ignore[ML104]`; otherwise raise it to ~1.0.")
                else:
                    who = f"with {known.value}" if known else "with an optimizer modellint could not identify"
                    report(fact, message + f"; {who} it shrinks almost every step and slows training", severity="warning",
                           related=related, help=f"Raise the clip {what} to ~1.0 or disable clipping.", fix=fix)
