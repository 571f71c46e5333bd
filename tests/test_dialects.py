"""Framework dialects: what each one's real config layout means, fact by fact.

Every fixture is written in its framework's own layout (HF TrainingArguments
args files, DeepSpeed JSON, LightningCLI YAML and Hydra trainer groups,
training scripts with schedulers/argparse/Trainer/DataLoader), and the tests
pin the canonical facts: value, raw key, line, and the details rules rely on
(warmup unit and start factor, "auto" left unknown).
"""

import textwrap

import pytest

from modellint.code.traversal import PyContext, traverse
from modellint.facts import names
from modellint.facts.extractors import code_fact_visitors, extract_all
from modellint.parsing.json_doc import parse_json
from modellint.parsing.python_doc import parse_python
from modellint.parsing.yaml_doc import parse_yaml


def config_facts(text, path="config.yaml"):
    text = textwrap.dedent(text).lstrip("\n")
    parser = parse_json if path.endswith(".json") else parse_yaml
    roots, problems = parser(text, path)
    assert not problems, problems
    facts = []
    for root in roots:
        facts.extend(extract_all(root, "json" if path.endswith(".json") else "yaml"))
    return facts


def code_facts(text, path="train.py"):
    doc, problems = parse_python(textwrap.dedent(text).lstrip("\n"), path)
    assert doc is not None, problems
    ctx = PyContext(doc)
    traverse(ctx, code_fact_visitors())
    assert not ctx.crashes, ctx.crashes
    return ctx.facts


def pick(facts, name, key=None):
    found = [f for f in facts if f.name == name and (key is None or f.key == key)]
    assert found, f"no {name} {key or ''} in {[(f.name, f.key, f.value) for f in facts]}"
    return found[0]


def absent(facts, name, key=None):
    return not [f for f in facts if f.name == name and (key is None or f.key == key)]


# -- Hugging Face TrainingArguments args files -------------------------------------------
HF_ARGS_JSON = """
{
  "model_name_or_path": "roberta-base",
  "output_dir": "out/roberta-mnli",
  "do_train": true,
  "per_device_train_batch_size": 32,
  "per_device_eval_batch_size": 64,
  "gradient_accumulation_steps": 2,
  "learning_rate": 2e-5,
  "lr_scheduler_type": "linear",
  "warmup_ratio": 0.06,
  "num_train_epochs": 3,
  "max_grad_norm": 1.0,
  "logging_steps": 50,
  "save_strategy": "epoch"
}
"""


def test_hf_args_json():
    facts = config_facts(HF_ARGS_JSON, "args/mnli.json")
    batch = pick(facts, names.BATCH_PER_DEVICE)
    assert (batch.value, batch.key, batch.span.line) == (32, "per_device_train_batch_size", 5)
    assert absent(facts, names.BATCH_PER_DEVICE, "per_device_eval_batch_size")
    assert pick(facts, names.GRAD_ACCUM).value == 2
    warmup = pick(facts, names.WARMUP, "warmup_ratio")
    assert (warmup.value, warmup.get("unit"), warmup.span.line) == (0.06, "ratio", 10)
    assert pick(facts, names.TOTAL_EPOCHS).value == 3
    scheduler = pick(facts, names.SCHEDULER)
    assert scheduler.value == "linear" and scheduler.get("warmup") is False  # HF warms up only via warmup_*
    lr = pick(facts, names.LR)
    assert (lr.value, lr.key, lr.span.line) == (2e-5, "learning_rate", 8)
    optimizer = pick(facts, names.OPTIMIZER)  # TrainingArguments' default optim is AdamW
    assert optimizer.get("family") == "adaptive" and optimizer.get("default") is True
    assert pick(facts, names.MODEL_ARCH).value == "transformer"
    clip = [f for f in facts if f.name == names.CLIP_NORM]
    assert len(clip) == 1 and clip[0].value == 1.0  # one fact per value across dialects


def test_hf_args_yaml_with_steps_and_max_steps():
    facts = config_facts("""
        # alignment-handbook style SFT recipe
        model_name_or_path: mistralai/Mistral-7B-v0.1
        optim: paged_adamw_8bit
        learning_rate: 2.0e-04
        per_device_train_batch_size: 4
        gradient_accumulation_steps: 8
        warmup_steps: 100
        max_steps: 2000
        num_train_epochs: 1
        lr_scheduler_type: cosine
        beta: 0.1
        report_to: none
        """, "recipes/sft.yaml")
    warmup = pick(facts, names.WARMUP, "warmup_steps")
    assert (warmup.value, warmup.get("unit"), warmup.span.line) == (100, "iters", 7)
    total = pick(facts, names.TOTAL_ITERS, "max_steps")
    assert total.value == 2000 and total.get("unit") == "iters"
    assert absent(facts, names.TOTAL_EPOCHS)  # max_steps > 0 overrides num_train_epochs
    assert pick(facts, names.OPTIMIZER).value == "paged_adamw_8bit"
    assert absent(facts, names.KL_WEIGHT)  # a DPO/ORPO beta in an HF args file is not a VAE's KL weight
    assert pick(facts, names.MODEL_ARCH).value == "transformer"


def test_hf_warmup_steps_below_one_is_a_ratio():
    facts = config_facts('{"output_dir": "o", "num_train_epochs": 1, "warmup_steps": 0.1}', "a.json")
    assert pick(facts, names.WARMUP).get("unit") == "ratio"


# -- DeepSpeed -------------------------------------------------------------------------
DS_CONFIG = """
{
  "train_batch_size": 256,
  "train_micro_batch_size_per_gpu": 8,
  "gradient_accumulation_steps": 4,
  "steps_per_print": 100,
  "optimizer": {
    "type": "AdamW",
    "params": {"lr": 3e-4, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}
  },
  "scheduler": {
    "type": "WarmupDecayLR",
    "params": {
      "warmup_min_lr": 0,
      "warmup_max_lr": 3e-4,
      "warmup_num_steps": 500,
      "total_num_steps": 20000
    }
  },
  "gradient_clipping": 1.0,
  "zero_optimization": {"stage": 2},
  "bf16": {"enabled": true}
}
"""


def test_deepspeed_config():
    facts = config_facts(DS_CONFIG, "ds_config.json")
    effective = pick(facts, names.BATCH_EFFECTIVE)
    assert (effective.value, effective.key, effective.span.line) == (256, "train_batch_size", 2)
    assert absent(facts, names.BATCH_PER_DEVICE, "train_batch_size")  # not a per-device batch
    micro = pick(facts, names.BATCH_PER_DEVICE)
    assert (micro.value, micro.key, micro.span.line) == (8, "train_micro_batch_size_per_gpu", 3)
    assert pick(facts, names.GRAD_ACCUM).value == 4
    devices = pick(facts, names.DEVICES)
    assert devices.value == 8 and devices.get("implied") is True  # 256 = 8 x 4 x GPUs
    warmup = pick(facts, names.WARMUP, "scheduler.params.warmup_num_steps")
    assert (warmup.value, warmup.get("unit"), warmup.get("start_factor"), warmup.span.line) == (500, "iters", 0.0, 15)
    assert pick(facts, names.SCHEDULER).get("warmup") is True
    assert pick(facts, names.TOTAL_ITERS, "scheduler.params.total_num_steps").value == 20000
    lr = [f for f in facts if f.name == names.LR]
    assert [(f.value, f.key) for f in lr] == [(3e-4, "optimizer.params.lr")]  # warmup_max_lr not doubled
    assert pick(facts, names.OPTIMIZER).value == "AdamW"
    assert pick(facts, names.CLIP_NORM).value == 1.0


def test_deepspeed_auto_values_are_unknown():
    facts = config_facts("""
        {
          "optimizer": {"type": "AdamW", "params": {"lr": "auto", "weight_decay": "auto"}},
          "scheduler": {"type": "WarmupLR",
                        "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto", "warmup_num_steps": "auto"}},
          "gradient_accumulation_steps": "auto",
          "gradient_clipping": "auto",
          "train_batch_size": "auto",
          "train_micro_batch_size_per_gpu": "auto",
          "zero_optimization": {"stage": 3}
        }
        """, "zero3.json")
    for name in (names.LR, names.BATCH_EFFECTIVE, names.BATCH_PER_DEVICE, names.GRAD_ACCUM, names.WARMUP,
                 names.WARMUP_FACTOR, names.CLIP_NORM, names.DEVICES):
        assert absent(facts, name), name
    scheduler = pick(facts, names.SCHEDULER)
    assert scheduler.value == "WarmupLR" and scheduler.get("warmup") is True  # its length is set elsewhere


def test_deepspeed_warmup_min_equal_max_is_no_warmup():
    facts = config_facts("""
        {"train_micro_batch_size_per_gpu": 4,
         "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": 1e-4, "warmup_max_lr": 1e-4, "warmup_num_steps": 100}}}
        """, "ds.json")
    assert pick(facts, names.SCHEDULER).get("warmup") is False
    assert pick(facts, names.WARMUP_FACTOR).value == 1.0
    lr = pick(facts, names.LR)  # no optimizer section: the scheduler's peak is the LR
    assert lr.key == "scheduler.params.warmup_max_lr" and lr.value == 1e-4


def test_accelerate_deepspeed_section():
    facts = config_facts("""
        compute_environment: LOCAL_MACHINE
        deepspeed_config:
          gradient_accumulation_steps: 4
          zero_stage: 3
        distributed_type: DEEPSPEED
        mixed_precision: bf16
        num_machines: 1
        num_processes: 8
        """, "accelerate_ds.yaml")
    assert pick(facts, names.GRAD_ACCUM).key == "deepspeed_config.gradient_accumulation_steps"
    devices = pick(facts, names.DEVICES)
    assert (devices.value, devices.key, devices.span.line) == (8, "num_processes", 8)


# -- Lightning ---------------------------------------------------------------------------
LIGHTNING_CLI = """
seed_everything: 42
trainer:
  accelerator: gpu
  devices: 4
  num_nodes: 2
  max_epochs: 30
  max_steps: -1
  accumulate_grad_batches: 2
  gradient_clip_val: 1.0
  gradient_clip_algorithm: norm
  sync_batchnorm: true
model:
  class_path: mypkg.models.LitViT
  init_args:
    embed_dim: 384
    num_heads: 6
    warmup_epochs: 3
data:
  class_path: mypkg.data.ImageNetDataModule
  init_args:
    batch_size: 64
    num_workers: 8
optimizer:
  class_path: torch.optim.AdamW
  init_args:
    lr: 0.0005
    weight_decay: 0.05
lr_scheduler:
  class_path: torch.optim.lr_scheduler.OneCycleLR
  init_args:
    max_lr: 0.0005
    total_steps: 30000
    pct_start: 0.1
"""


def test_lightning_cli_yaml():
    facts = config_facts(LIGHTNING_CLI, "configs/vit.yaml")
    devices = pick(facts, names.DEVICES)
    assert (devices.value, devices.key, devices.span.line) == (8, "trainer.devices", 4)  # 4 GPUs x 2 nodes
    assert pick(facts, names.TOTAL_EPOCHS).value == 30
    assert absent(facts, names.TOTAL_ITERS, "trainer.max_steps")  # -1 = unlimited
    accum = pick(facts, names.GRAD_ACCUM)
    assert (accum.value, accum.key, accum.span.line) == (2, "trainer.accumulate_grad_batches", 8)
    assert pick(facts, names.SYNC_BN).value is True
    batch = pick(facts, names.BATCH_PER_DEVICE)
    assert (batch.value, batch.key, batch.span.line) == (64, "data.init_args.batch_size", 21)
    warmup = pick(facts, names.WARMUP, "model.init_args.warmup_epochs")
    assert (warmup.value, warmup.get("unit")) == (3, "epochs")
    onecycle = pick(facts, names.WARMUP, "lr_scheduler.init_args.pct_start")
    assert (onecycle.value, onecycle.get("unit")) == (0.1, "ratio")
    assert pick(facts, names.SCHEDULER).get("warmup") is True
    assert pick(facts, names.LR, "optimizer.init_args.lr").value == 5e-4
    assert pick(facts, names.OPTIMIZER).value == "torch.optim.AdamW"
    assert pick(facts, names.CLIP_NORM).value == 1.0
    assert pick(facts, names.MODEL_ARCH).value == "transformer"


def test_lightning_vae_model_init_args():
    facts = config_facts("""
        trainer:
          max_epochs: 50
          gradient_clip_val: 0.2
        model:
          class_path: seqvae.model.SeqSetVAE
          init_args:
            beta: 0.1
            free_bits: 0.03
            kl_anneal_steps: 0
            lr: 5e-5
        """, "configs/vae.yaml")
    kl = pick(facts, names.KL_WEIGHT)
    assert (kl.value, kl.key, kl.span.line) == (0.1, "model.init_args.beta", 7)
    assert pick(facts, names.FREE_BITS).value == 0.03
    anneal = pick(facts, names.KL_ANNEAL)
    assert anneal.value is False  # 0 steps: annealing turned off
    assert pick(facts, names.LR).value == 5e-5  # PyYAML reads 5e-5 as a string
    assert pick(facts, names.MODEL_ARCH).value == "vae"


def test_hydra_trainer_group_file():
    facts = config_facts("""
        _target_: lightning.pytorch.trainer.Trainer
        default_root_dir: ${paths.output_dir}
        min_epochs: 1
        max_epochs: 10
        accelerator: gpu
        devices: [0, 1]
        """, "configs/trainer/gpu.yaml")
    devices = pick(facts, names.DEVICES)
    assert (devices.value, devices.key) == (2, "devices")
    assert pick(facts, names.TOTAL_EPOCHS).value == 10


def test_lightning_devices_auto_is_unknown():
    facts = config_facts("trainer:\n  devices: auto\n  accumulate_grad_batches: {0: 8, 4: 4}\n", "c.yaml")
    assert absent(facts, names.DEVICES) and absent(facts, names.GRAD_ACCUM)


# -- plain configs -----------------------------------------------------------------------
def test_plain_python_config_module():
    doc, _ = parse_python(textwrap.dedent('''
        TRAIN = {
            "batch_size": 32,
            "num_epochs": 100,
            "optimizer": "adamw",
            "learning_rate": 1e-4,
            "lr_scheduler": "cosine_warmup",
            "warmup_epochs": 10,
            "warmup_start_lr": 1e-7,
        }
        ''').lstrip("\n"), "configs/train_config.py")
    facts = extract_all(doc.config_view(), "pyconfig")
    warmup = pick(facts, names.WARMUP)
    assert (warmup.value, warmup.key, warmup.get("unit"), warmup.span.line) == (10, "TRAIN.warmup_epochs", "epochs", 7)
    assert pick(facts, names.SCHEDULER).get("warmup") is True
    assert pick(facts, names.TOTAL_EPOCHS).value == 100
    assert pick(facts, names.BATCH_PER_DEVICE).value == 32
    assert [f.value for f in facts if f.name == names.LR] == [1e-4]  # warmup_start_lr is not a base LR


def test_mmcv_warmup_ratio_is_a_start_factor():
    facts = config_facts("""
        lr_config:
          policy: step
          warmup: linear
          warmup_iters: 500
          warmup_ratio: 0.001
          step: [8, 11]
        """, "c.yaml")
    assert absent(facts, names.WARMUP, "lr_config.warmup_ratio")
    assert pick(facts, names.WARMUP_FACTOR).value == 0.001
    assert pick(facts, names.WARMUP, "lr_config.warmup_iters").get("start_factor") == 0.001


def test_norm_and_eval_sections():
    facts = config_facts("""
        model:
          backbone:
            type: ResNet
            norm_cfg: {type: BN, requires_grad: true}
            norm_eval: true
          decode_head:
            norm_cfg: {type: SyncBN}
          aux:
            norm: batch
        val_dataloader:
          batch_size: 1
        """, "seg.yaml")
    kinds = sorted((f.get("kind"), f.get("section")) for f in facts if f.name == names.NORM)
    assert kinds == [("BN", "model.aux"), ("BN", "model.backbone"), ("SyncBN", "model.decode_head"), ("eval", "model.backbone")]
    assert absent(facts, names.BATCH_PER_DEVICE)  # a validation loader's batch is not the training batch


def test_beta_outside_a_vae_is_not_a_kl_weight():
    facts = config_facts("""
        optimizer: {type: Adam, betas: [0.9, 0.999], beta: 0.9}
        loss_bbox: {type: SmoothL1Loss, beta: 0.11, loss_weight: 1.0}
        ppo: {beta: 0.1}
        """, "c.yaml")
    assert absent(facts, names.KL_WEIGHT)


# -- training code -----------------------------------------------------------------------
TRAIN_PY = '''
import argparse

import pytorch_lightning as pl
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, SequentialLR
from torch.utils.data import DataLoader
from transformers import TrainingArguments, get_cosine_schedule_with_warmup

parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--warmup-epochs", type=int, default=5)
parser.add_argument("--epochs", type=int, default=90)
parser.add_argument("--accum-iter", type=int, default=4)
parser.add_argument("--model-ema-warmup", action="store_true")


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, 8)
        self.bn = nn.BatchNorm2d(dim)


def build(optimizer, model, train_set, val_set, steps):
    warm = LinearLR(optimizer, start_factor=0.01, total_iters=500)
    cosine = CosineAnnealingLR(optimizer, T_max=steps)
    scheduler = SequentialLR(optimizer, schedulers=[warm, cosine], milestones=[500])
    hf = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=1000, num_training_steps=50000)
    decay = LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
    train_loader = DataLoader(train_set, batch_size=2, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=1)
    trainer = pl.Trainer(devices=[0, 1], accumulate_grad_batches=8, max_epochs=20, sync_batchnorm=True)
    args = TrainingArguments("out", per_device_train_batch_size=8, warmup_ratio=0.05, num_train_epochs=2,
                             learning_rate=3e-4)
    return scheduler, hf, decay, train_loader, val_loader, trainer, args
'''


def test_training_code_facts():
    facts = code_facts(TRAIN_PY)

    def at(name, key):
        return pick(facts, name, key)

    batch = at(names.BATCH_PER_DEVICE, "--batch_size")
    assert (batch.value, batch.dialect, batch.span.line) == (16, "argparse", 11)
    warmup = at(names.WARMUP, "--warmup_epochs")
    assert (warmup.value, warmup.get("unit"), warmup.span.line) == (5, "epochs", 12)
    assert at(names.TOTAL_EPOCHS, "--epochs").value == 90
    assert at(names.GRAD_ACCUM, "--accum_iter").value == 4
    assert absent(facts, names.WARMUP, "--model_ema_warmup")  # EMA warmup is not an LR warmup

    arch = [f for f in facts if f.name == names.MODEL_ARCH]
    assert [(f.value, f.span.line) for f in arch] == [("transformer", 21)]
    norm = pick(facts, names.NORM)
    assert (norm.value, norm.get("kind"), norm.span.line) == ("BatchNorm2d", "BN", 22)

    linear = [f for f in facts if f.name == names.SCHEDULER and f.value == "LinearLR"]
    assert [(f.get("warmup"), f.span.line) for f in linear] == [(True, 26), (False, 30)]  # start_factor 1.0 decays
    assert pick(facts, names.WARMUP, "LinearLR(total_iters=…)").value == 500
    assert pick(facts, names.WARMUP_FACTOR).value == 0.01
    sequential = pick(facts, names.SCHEDULER, "SequentialLR(...)")
    assert sequential.get("warmup") is True and sequential.span.line == 28
    hf = at(names.WARMUP, "get_cosine_schedule_with_warmup(num_warmup_steps=…)")
    assert (hf.value, hf.get("unit"), hf.span.line) == (1000, "iters", 29)
    assert at(names.TOTAL_ITERS, "get_cosine_schedule_with_warmup(num_training_steps=…)").value == 50000

    loaders = [f for f in facts if f.name == names.BATCH_PER_DEVICE and f.key == "DataLoader(batch_size=…)"]
    assert [(f.value, f.span.line) for f in loaders] == [(2, 31)]  # the validation loader is not counted

    assert at(names.DEVICES, "Trainer(devices=…)").value == 2
    assert at(names.GRAD_ACCUM, "Trainer(accumulate_grad_batches=…)").value == 8
    assert at(names.TOTAL_EPOCHS, "Trainer(max_epochs=…)").value == 20
    assert at(names.SYNC_BN, "Trainer(sync_batchnorm=…)").value is True

    assert at(names.BATCH_PER_DEVICE, "TrainingArguments(per_device_train_batch_size=…)").value == 8
    ratio = at(names.WARMUP, "TrainingArguments(warmup_ratio=…)")
    assert (ratio.value, ratio.get("unit"), ratio.span.line) == (0.05, "ratio", 34)
    assert at(names.TOTAL_EPOCHS, "TrainingArguments(num_train_epochs=…)").value == 2


def test_lambda_lr_warmup_by_name_or_ramp():
    facts = code_facts('''
        from torch.optim.lr_scheduler import LambdaLR

        def make(optimizer, args):
            warmup_scheduler = LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / args.warmup_steps))
            ramp = LambdaLR(optimizer, lr_lambda=lambda it: min(1.0, it / 2000))
            decay = LambdaLR(optimizer, lambda epoch: 0.95 ** epoch)
            return warmup_scheduler, ramp, decay
        ''')
    lambdas = [(f.get("warmup"), f.span.line) for f in facts if f.name == names.SCHEDULER]
    assert lambdas == [(True, 4), (True, 5), (False, 6)]
    assert pick(facts, names.WARMUP_PARAM).span.line == 4  # the code reads args.warmup_steps


def test_onecycle_and_timm_schedulers():
    facts = code_facts('''
        import torch
        from timm.scheduler import CosineLRScheduler, create_scheduler_v2

        def make(optimizer, steps):
            a = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps)
            b = CosineLRScheduler(optimizer, t_initial=300, warmup_t=0)
            c = create_scheduler_v2(optimizer, sched="cosine", num_epochs=300, warmup_epochs=20)
            return a, b, c
        ''')
    onecycle = pick(facts, names.SCHEDULER, "OneCycleLR(...)")
    assert onecycle.get("warmup") is True  # OneCycle ramps up for pct_start (default 0.3)
    assert pick(facts, names.SCHEDULER, "CosineLRScheduler(...)").get("warmup") is False
    assert pick(facts, names.WARMUP, "CosineLRScheduler(warmup_t=…)").value == 0
    timm = pick(facts, names.WARMUP, "create_scheduler_v2(warmup_epochs=…)")
    assert (timm.value, timm.get("unit")) == (20, "epochs")
    assert pick(facts, names.TOTAL_EPOCHS, "create_scheduler_v2(num_epochs=…)").value == 300


def test_vae_code_hints():
    facts = code_facts('''
        import torch
        from torch import nn

        class Encoder(nn.Module):
            pass

        def loss_fn(recon, x, mu, logvar, step):
            kld = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
            kl = torch.clamp(kld, min=0.5)
            return nn.functional.mse_loss(recon, x) + 0.1 * kl
        ''', "vae_loss.py")
    vae = pick(facts, names.MODEL_ARCH)
    assert vae.value == "vae" and vae.span.line in (7, 9)  # the Gaussian KL term or the free-bits clamp
    assert pick(facts, names.FREE_BITS).value == 0.5
    weight = pick(facts, names.KL_WEIGHT)
    assert (weight.value, weight.key, weight.span.line) == (0.1, "0.1 * kl", 10)


def test_rlhf_kl_penalty_is_not_a_vae():
    facts = code_facts('''
        import torch.nn.functional as F

        def ppo_loss(logprobs, ref_logprobs, advantages, beta=0.1):
            kl = logprobs - ref_logprobs
            return -(advantages * logprobs).mean() + F.kl_div(logprobs, ref_logprobs, log_target=True)
        ''', "ppo.py")
    assert absent(facts, names.MODEL_ARCH)


@pytest.mark.parametrize("text, kind", [
    ("BN", "BN"), ("nn.BatchNorm2d", "BN"), ("SyncBN", "SyncBN"), ("naiveSyncBN", "SyncBN"),
    ("FrozenBN", "FrozenBN"), ("GN", "GN"), ("LayerNorm", "LN"), ("", "none"), ("l2", None),
])
def test_norm_kinds(text, kind):
    from modellint.facts.common_keys import norm_kind

    assert norm_kind(text) == kind
