from typing import Dict, List, Optional

from modellint.facts import names
from modellint.facts.evidence import attributable, is_test_file
from modellint.provenance import Fact, format_value
from modellint.rule import Option, RecipeRule, flag, ok


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _leaf(fact: Fact) -> str:
    return fact.key.rsplit(".", 1)[-1].lower()


class KlCollapseRisk(RecipeRule):
    code = "ML203"
    name = "kl-collapse-risk"
    severity = "warning"
    summary = "A VAE is trained with a large KL weight, (almost) no free bits and no KL annealing: posterior-collapse risk."
    rationale = (
        "In a VAE the KL term pulls every posterior q(z|x) towards the prior. If it weighs in at full strength "
        "from the first step, the easiest way to lower the loss is to make q(z|x) equal the prior and let a "
        "powerful decoder ignore z: the KL falls to ~0, the latent carries nothing and the reconstruction loss "
        "plateaus high (a post-mortem sequence VAE ran `beta = 0.1` with `free_bits = 0.03` and no annealing, "
        "and its loss stayed high and noisy). Free bits (a per-dimension KL floor, ~0.1 nats or more) or a KL "
        "weight annealed up from 0 prevent it. The rule needs a VAE recipe (free bits, a KL/KLD term or a VAE "
        "model in the config or code), a KL weight (`beta`, `kl_weight`, `kld_weight`) at or above `max_beta` — "
        "when a recipe has both a `beta` and a `kld_weight`, the KL term is weighted by their product — free bits "
        "below `min_free_bits` or absent, and no KL annealing. Minibatch-weighted KL (`kld_weight` ≈ batch / "
        "dataset size) is small and never flagged, and a `beta` outside a VAE (DPO/RLHF `beta`, Adam `betas`, "
        "SmoothL1 `beta`) is not a KL weight."
    )
    fix = "Anneal the KL weight up from 0 (e.g. over the first 5-10k steps), use free bits of ~0.1 or more, or lower the KL weight."
    options = (
        Option("max_beta", 0.1, "KL weights at or above this are risky without free bits or annealing."),
        Option("min_free_bits", 0.05, "Free bits (nats per latent dimension) at or above this protect against collapse."),
    )
    examples = (
        flag({
            "configs/seqsetvae.yaml": """
                trainer:
                  max_epochs: 50
                  gradient_clip_val: 0.2
                model:
                  class_path: seqsetvae.model.SeqSetVAE
                  init_args:
                    latent_dim: 128
                    beta: 0.1
                    free_bits: 0.03
                    lr: 5e-5
                """,
        }, line=8, title="seed 002: beta 0.1, free_bits 0.03, no annealing"),
        flag({
            "config.py": """
                latent_dim = 32
                kl_weight = 1.0
                lr = 1e-3
                """,
            "model.py": """
                import torch
                import torch.nn as nn

                class ConvVAE(nn.Module):
                    def loss(self, x, recon, mu, logvar, kl_weight):
                        kld = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
                        return nn.functional.mse_loss(recon, x) + kl_weight * kld
                """,
        }, at="config.py", line=2, title="a Python config next to a VAE model, no free bits"),
        flag("train_vae.py", """
            import argparse
            import torch

            parser = argparse.ArgumentParser()
            parser.add_argument("--beta", type=float, default=4.0)
            parser.add_argument("--latent-dim", type=int, default=10)

            def kl_term(mu, logvar):
                return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            """, line=5, title="argparse default beta 4 in a beta-VAE script"),
        ok({
            "configs/seqsetvae.yaml": """
                model:
                  class_path: seqsetvae.model.SeqSetVAE
                  init_args:
                    beta: 0.01
                    free_bits: 0.1
                    kl_anneal_steps: 5000
                """,
        }, title="seed 002 fixed: beta 0.01, free bits 0.1, annealing"),
        ok("configs/vae.yaml", """
            model:
              class_path: models.SeqVAE
              init_args:
                beta: 0.5
                kl_anneal_steps: 10000
            """, title="KL annealing configured"),
        ok("configs/vae_fb.yaml", """
            model:
              name: VanillaVAE
              kl_weight: 1.0
              free_bits: 0.25
            """, title="enough free bits"),
        ok("configs/vanilla_vae.yaml", """
            model_params:
              name: 'VanillaVAE'
              latent_dim: 128
            exp_params:
              LR: 0.005
              kld_weight: 0.00025
            """, title="minibatch-weighted KL (batch / dataset size)"),
        ok("configs/beta_vae.yaml", """
            model_params:
              name: 'BetaVAE'
              beta: 10.
            exp_params:
              kld_weight: 0.00025
            """, title="beta multiplies a minibatch-weighted KLD: effective weight 0.0025"),
        ok("configs/dpo.yaml", """
            model_name_or_path: meta-llama/Llama-2-7b-hf
            beta: 0.1
            learning_rate: 5.0e-7
            loss_type: sigmoid
            per_device_train_batch_size: 4
            """, title="DPO beta is not a KL weight of a VAE"),
        ok("configs/train.yaml", """
            optimizer:
              type: AdamW
              lr: 1.0e-4
              betas: [0.9, 0.999]
            loss:
              bbox: {type: SmoothL1Loss, beta: 0.11}
            """, title="Adam betas and SmoothL1 beta"),
        ok({
            "configs/vae.yaml": "model:\n  name: ConvVAE\n  kl_weight: 1.0\n",
            "vae/loss.py": """
                import torch

                def kl_term(mu, logvar, free_bits=0.5):
                    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
                    return torch.clamp(kl.mean(0), min=free_bits).sum()
                """,
        }, title="free bits applied in code with a default the config does not override"),
        ok("configs/vq_vae.yaml", """
            model_params:
              name: 'VQVAE'
              embedding_dim: 64
              num_embeddings: 512
              beta: 0.25
            """, title="VQ-VAE: beta is the commitment cost, there is no KL term"),
        ok("configs/beta.yaml", """
            beta: 0.5
            lr: 0.001
            """, title="a beta with no sign of a VAE"),
    )

    def check(self, recipe, report) -> None:
        if not getattr(recipe, "complete", True):
            return  # a Hydra group file on its own: the full recipe that composes it is judged instead
        weights = [f for f in recipe.all(names.KL_WEIGHT) if _number(f.value) is not None and not is_test_file(f.span.path)]
        if not weights:
            return
        named = [f for f in recipe.all(names.MODEL_ARCH) if f.get("named") is True]
        if any(f.value == "vqvae" for f in named) and not any(f.value == "vae" for f in named):
            return  # a VQ-VAE has no KL term: its beta is the codebook commitment cost
        evidence = self._vae_evidence(recipe, weights)
        if evidence is None:
            return
        # several keys multiply (BetaVAE: beta x kld_weight); one key written twice: trust the smaller value
        groups: Dict[str, List[Fact]] = {}
        for fact in weights:
            groups.setdefault(_leaf(fact), []).append(fact)
        effective = 1.0
        for facts in groups.values():
            effective *= min(f.value for f in facts)
        max_beta = self.option("max_beta")
        if effective < max_beta:
            return
        free_bits = [f for f in recipe.all(names.FREE_BITS) if _number(f.value) is not None] or \
                    [f for f in recipe.context_all(names.FREE_BITS) if _number(f.value) is not None]
        if any(f.value >= self.option("min_free_bits") for f in free_bits):
            return
        if not free_bits and attributable(recipe, weights[0], recipe.context_all(names.FREE_BITS_CLAMP) + (
                recipe.all(names.FREE_BITS_CLAMP) if not recipe.is_config else [])):
            return  # the code clamps the KL with a free-bits value set elsewhere (a default argument, a flag)
        if self._annealed(recipe):
            return
        weight = max(weights, key=lambda f: f.value)
        shown = f"KL weight {format_value(weight.value)} ({weight.key})"
        if len(groups) > 1:
            shown = "KL weight " + " x ".join(f"{format_value(min(g, key=lambda f: f.value).value)} ({k})" for k, g in groups.items()) \
                    + f" = {format_value(effective)}"
        if free_bits:
            low = max(free_bits, key=lambda f: f.value)
            bits = f"free bits {format_value(low.value)} ({low.key}) below {format_value(self.option('min_free_bits'))}"
        else:
            bits = "no free bits"
        related = [(evidence, f"VAE: {evidence.get('evidence') or evidence.key}")]
        related.extend((f, f"{f.key} = {format_value(f.value)}") for f in free_bits[:1])
        report(weight,
               f"VAE ({evidence.get('evidence') or evidence.key}) trained with {shown} >= {format_value(max_beta)}, {bits}, "
               "and no KL annealing: the KL term can pull the posterior onto the prior before the decoder learns to "
               "use z (posterior collapse: KL near 0, reconstructions that ignore the latent, a loss that stays high)",
               related=related,
               help="Anneal the KL weight from 0 (e.g. kl_anneal_steps: 5000 with beta_t = beta * min(1, step / 5000)), "
                    "raise free bits to ~0.1 nats per dimension, or lower the KL weight (e.g. 0.01).")

    @staticmethod
    def _vae_evidence(recipe, weights: List[Fact]) -> Optional[Fact]:
        """A VAE recipe has free bits, a KL/KLD term or a VAE model."""
        anchor = weights[0]
        for pool in (recipe.facts, recipe.context):
            found = [f for f in pool if f.name == names.MODEL_ARCH and f.value == "vae"]
            if pool is recipe.context or not recipe.is_config:  # code of the whole project
                found = attributable(recipe, anchor, found)
            if found:
                return found[0]
        for fact in recipe.all(names.FREE_BITS) + attributable(recipe, anchor, recipe.context_all(names.FREE_BITS)):
            return Fact(fact.name, fact.value, fact.span, fact.key, fact.dialect, (("evidence", f"free bits {fact.key}"),))
        for fact in weights:
            if fact.get("vae_hint"):
                return Fact(fact.name, fact.value, fact.span, fact.key, fact.dialect, (("evidence", f"a KLD term weighted by {fact.key}"),))
        return None

    @staticmethod
    def _annealed(recipe) -> bool:
        own = recipe.all(names.KL_ANNEAL)
        if any(f.value for f in own):
            return True
        if own:
            return False  # the config turns annealing off explicitly
        return any(f.value for f in recipe.context_all(names.KL_ANNEAL))
