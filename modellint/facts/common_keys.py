"""Facts from common key names that every training config uses, whatever its framework.

Batch size, gradient accumulation, warmup length and unit, training length,
KL weight / free bits / KL annealing, the normalisation layer, and hints of
the model family (transformer-like, VAE, a plain CNN/RNN). The same table
names the argparse options of training scripts (``--warmup-epochs``,
``--accum-iter``) and the flags a launch script passes, so a flag replaces
the default of the option it names.

A value that is not a literal (``${...}``, ``"auto"``, a call) is unknown and
emits nothing. Learning rate, optimizer and gradient clipping are the
business of :mod:`modellint.facts.plain_config`.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from modellint.facts import names
from modellint.lazy_re import lazy
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence, any_search, as_bool, as_number, path_parts, walk
from modellint.provenance import Fact

# -- the key table ------------------------------------------------------------
# lower-cased key (or argparse long option with ``-`` → ``_``) → (fact, unit)
_BATCH = ("batch_size", "train_batch_size", "batch_size_per_gpu", "batch_size_per_device", "per_device_batch_size",
          "per_gpu_batch_size", "samples_per_gpu", "per_device_train_batch_size", "per_gpu_train_batch_size",
          "micro_batch_size", "train_micro_batch_size_per_gpu", "train_bs", "batch_size_train", "imgs_per_gpu")
_BATCH_GLOBAL = ("global_batch_size", "total_batch_size")
_ACCUM = ("gradient_accumulation_steps", "grad_accum_steps", "grad_accum", "accumulate_grad_batches", "accum_iter",
          "accum_steps", "accum_iters", "gradient_accumulation", "accumulation_steps", "grad_accumulation_steps",
          "update_freq", "accum_grad", "accumulate_steps", "gradient_accumulation_iters")
_WARMUP_ITERS = ("warmup_steps", "warmup_iters", "warmup_iter", "warmup_iterations", "num_warmup_steps",
                 "warmup_num_steps", "lr_warmup_steps", "lr_warmup_iters", "warmup_updates", "warmup_step",
                 "n_warmup_steps", "num_warmup_iters", "warmup_num_iters")
_WARMUP_EPOCHS = ("warmup_epochs", "warmup_epoch", "lr_warmup_epochs", "num_warmup_epochs", "n_warmup_epochs")
_WARMUP_RATIO = ("warmup_ratio", "warmup_proportion", "warmup_fraction", "lr_warmup_ratio", "warmup_pct")
_WARMUP_PLAIN = ("warmup", "lr_warmup", "warmup_length", "num_warmup", "n_warmup", "use_warmup", "warmup_lr_schedule")
_EPOCHS = ("epochs", "num_epochs", "max_epochs", "n_epochs", "num_train_epochs", "total_epochs", "train_epochs",
           "nepochs", "max_epoch", "total_epoch", "epoch_num", "num_epoch")
_ITERS = ("max_iters", "max_iter", "max_steps", "total_steps", "total_iters_train", "max_train_steps",
          "num_training_steps", "train_steps", "num_train_steps", "total_num_steps", "training_steps",
          "max_updates", "max_update", "total_training_steps", "num_iterations", "max_iterations", "train_iters")
_KL_WEIGHT = ("beta", "kl_weight", "kld_weight", "kl_beta", "beta_kl", "kl_loss_weight", "lambda_kl", "kl_lambda",
              "weight_kl", "kl_scale", "kld_beta", "w_kl")
_FREE_BITS = ("free_bits", "freebits", "free_nats", "kl_free_bits", "free_bits_per_dim", "kl_free_nats")

KEY_TABLE: Dict[str, Tuple[str, Optional[str]]] = {}
for _keys, _fact, _unit in (
    (_BATCH, names.BATCH_PER_DEVICE, None),
    (_BATCH_GLOBAL, names.BATCH_GLOBAL, None),
    (_ACCUM, names.GRAD_ACCUM, None),
    (_WARMUP_ITERS, names.WARMUP, "iters"),
    (_WARMUP_EPOCHS, names.WARMUP, "epochs"),
    (_WARMUP_RATIO, names.WARMUP, "ratio"),
    (_WARMUP_PLAIN, names.WARMUP, None),
    (_EPOCHS, names.TOTAL_EPOCHS, "epochs"),
    (_ITERS, names.TOTAL_ITERS, "iters"),
    (_KL_WEIGHT, names.KL_WEIGHT, None),
    (_FREE_BITS, names.FREE_BITS, None),
    (("sync_bn", "sync_batchnorm", "syncbn", "use_sync_bn", "sync_batch_norm"), names.SYNC_BN, None),
):
    for _key in _keys:
        KEY_TABLE[_key] = (_fact, _unit)

# KL annealing / beta warmup (a VAE's KL weight ramped up from 0)
KL_ANNEAL_KEY = lazy(
    r"^(kl|kld|beta)_?(anneal|annealing|warmup|warm_up|ramp|rampup|cycle|cyclical|schedule_steps|start|increase)"
    r"|^(anneal|annealing|warmup|ramp)_?(kl|kld|beta)"
    r"|^(kl_)?anneal_(steps|epochs|iters|rate|cycles)$|^capacity_max_iter$|^c_stop_iter$|^cyclical_kl|^kl_cycle"
    r"|^(c_max|max_capacity|capacity_max|kl_capacity)$",
    re.I)

# sections whose keys describe evaluation, not training
EVAL_SECTION = lazy(r"(^|_|\.)(val|valid|validation|eval|evaluation|test|testing|inference|infer|predict|"
                          r"prediction|benchmark|calib|calibration)(_|$|\.|s$)", re.I)
# sections where ``beta`` is not a KL weight
NOT_KL_SECTION = lazy(r"optim|adam|ema|momentum|dpo|ppo|orpo|kto|grpo|simpo|rlhf|reward|policy|rl_|"
                            r"smooth|focal|bbox|loss_box|tversky|diffusion|noise|sampler|scheduler|augment|mixup|"
                            r"cutmix|lamb|lion|quant|prune|distill", re.I)
# config roots of preference/RL training, whose ``beta`` is the DPO/KL-penalty coefficient
RL_MARKERS = frozenset({"ref_model", "reference_model", "reward_model", "ppo_epochs", "init_kl_coef", "kl_coef",
                        "loss_type", "dpo", "ppo", "grpo", "num_generations", "max_prompt_length", "rloo_k",
                        "policy", "critic", "rlhf", "sft_model"})

# -- model families -------------------------------------------------------------
TRANSFORMER_NAME = lazy(
    r"transformer|attention|(^|[^a-z])(vit|deit|beit|swin|bert|gpt|detr|t5|bart|llama|mistral|mixtral|qwen|gemma|"
    r"falcon|bloom|opt-\d|phi-?\d|whisper|wav2vec2|hubert|conformer|perceiver|dino|dinov2|clip|siglip|eva)"
    r"|bert|gpt|vit_|vit-|swin|detr|former(s)?($|[^a-z])|roberta|deberta|electra|xlnet|llama|mistral|qwen|"
    r"gemma|mamba_attn|dit[-_]|mae_vit|maskformer|segformer",
    re.I)
CNN_NAME = lazy(
    r"^(torchvision\.models\.)?(resnet|resnext|wide_resnet|wrn|vgg|alexnet|densenet|mobilenet|efficientnet|"
    r"regnet|shufflenet|squeezenet|mnasnet|inception|googlenet|darknet|cspdarknet|convnext|lenet|unet|"
    r"simple_?dense_?net|mlp|lstm|gru|rnn|tcn|resnet\d+|r\d+|build_resnet_backbone|build_resnet_fpn_backbone)"
    r"([^a-z].*)?$",
    re.I)
VAE_NAME = lazy(r"vae|variational_?auto_?encoder|VariationalAutoencoder", re.I)
# VQ-VAE / VQGAN: ``beta`` is the commitment cost of the codebook, not a KL weight
VQ_NAME = lazy(r"vq[-_]?(vae|gan)|vector_?quanti[sz]", re.I)
MODEL_KEYS = frozenset({"model", "model_name", "model_name_or_path", "arch", "architecture", "model_type",
                        "backbone", "net", "network", "encoder", "decoder", "meta_architecture", "model_arch",
                        "model_id", "pretrained_model_name_or_path", "base_model"})
PART_KEYS = frozenset({"backbone", "encoder", "decoder", "neck", "head", "decode_head", "text_encoder",
                       "image_encoder", "vision_encoder", "generator"})
MODEL_SECTIONS = lazy(r"^(model|backbone|net|network|encoder|decoder|generator|arch|architecture|"
                            r"model_params|model_cfg|model_config|model_args)$", re.I)
TYPE_KEYS = frozenset({"type", "name", "class_path", "_target_", "cls", "arch", "model_name"})
ATTENTION_KEYS = frozenset({"num_attention_heads", "n_head", "n_heads", "nheads", "num_heads", "attention_heads",
                            "attn_heads", "num_attn_heads", "n_attn_heads", "num_head"})

# -- normalisation layers ---------------------------------------------------------
NORM_KEYS = frozenset({"norm", "norm_type", "norm_layer", "normalization", "normalisation", "norm_fn", "bn_type",
                       "normalization_layer", "norm_name"})
BN_FLAG_KEYS = frozenset({"batch_norm", "use_bn", "use_batchnorm", "use_batch_norm", "batchnorm", "with_bn", "bn"})


def norm_kind(text: str) -> Optional[str]:
    """``"BN"``, ``"nn.BatchNorm2d"``, ``"naiveSyncBN"``, ``"FrozenBN"``, ``"GN"`` … → BN/SyncBN/FrozenBN/GN/LN/IN/none."""
    if not isinstance(text, str):
        return None
    raw = text.strip().rsplit(".", 1)[-1]
    low = re.sub(r"[^a-z0-9]", "", raw.lower())
    if low in ("", "none", "null", "false", "identity", "no", "nonorm"):
        return "none"
    if "frozen" in low or low in ("fbn", "fixedbn", "fixbn"):
        return "FrozenBN"
    if "sync" in low:
        return "SyncBN"
    if low in ("bn", "bn1d", "bn2d", "bn3d", "batch", "batchnorm", "batchnorm1d", "batchnorm2d", "batchnorm3d",
               "batchnormalization", "batchnormact2d", "lazybatchnorm2d", "bnrelu", "bnact", "nnbatchnorm2d"):
        return "BN"
    if low in ("gn", "group", "groupnorm", "groupnormalization", "groupnormact"):
        return "GN"
    if low in ("ln", "layer", "layernorm", "layernorm2d", "layernormalization", "rmsnorm", "rms"):
        return "LN"
    if low in ("in", "instance", "instancenorm", "instancenorm2d", "instancenorm1d"):
        return "IN"
    return None


def scheduler_warmup(name: str) -> Optional[bool]:
    """Whether a scheduler's name says it warms up: True, False, or None when its arguments decide."""
    low = re.sub(r"[^a-z0-9]", "", name.rsplit(".", 1)[-1].lower())
    if "warmrestart" in low or "warmrestarts" in low:
        return False
    if "warm" in low or "onecycle" in low or low in ("noam", "noamlr", "tristage", "tristagelr", "wsd"):
        return True
    if low in ("linearlr", "sequentiallr", "lambdalr", "constantlr"):
        return None
    return False


def model_family(text: str) -> Optional[str]:
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        return None
    tail = text.strip()
    if VQ_NAME.search(tail):
        return "vqvae"
    if VAE_NAME.search(tail):
        return "vae"
    if TRANSFORMER_NAME.search(tail):
        return "transformer"
    if CNN_NAME.match(tail.rsplit(".", 1)[-1].rsplit("/", 1)[-1]):
        return "other"
    return None


def scalar_number(node: Optional[Node]) -> Optional[float]:
    if isinstance(node, Scalar):
        return as_number(node.value)
    return None


def _text(node: Optional[Node]) -> Optional[str]:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return node.value
    return None


def _type_of(mapping: Optional[Node]) -> Optional[str]:
    if not isinstance(mapping, Mapping):
        return None
    for key, value in mapping.items:
        if isinstance(key.value, str) and key.value.lower() in ("type", "class_path", "_target_", "name", "cls"):
            text = _text(value)
            if text:
                return text
    return None


def is_hf_args(mapping: Node) -> bool:
    from modellint.facts.hf import looks_like_training_arguments

    return looks_like_training_arguments(mapping)


def _rl_root(root: Node) -> bool:
    if not isinstance(root, Mapping):
        return False
    keys = {k.lower() for k in root.keys()}
    return bool(keys & RL_MARKERS) or any(re.search(r"dpo|ppo|grpo|orpo|kto|reward", k) for k in keys)


# -- the extractor ---------------------------------------------------------------
def extract(root: Node, dialect: str = "plain") -> List[Fact]:
    from modellint.facts.deepspeed import looks_like_deepspeed

    facts: List[Fact] = []
    deepspeed = looks_like_deepspeed(root)
    hf = is_hf_args(root)
    rl = _rl_root(root) or hf
    accelerate = isinstance(root, Mapping) and root.get("distributed_type") is not None
    for key_path, key, value, parent in walk(root):
        leaf = key_path[-1]
        low = leaf.lower()
        ancestors, dotted, section = path_parts(key_path)

        entry = KEY_TABLE.get(low)
        if entry is not None:
            fact, unit = entry
            if fact in (names.BATCH_PER_DEVICE, names.BATCH_GLOBAL):
                if deepspeed and low in ("train_batch_size", "train_micro_batch_size_per_gpu"):
                    continue  # DeepSpeed's own meanings (modellint.facts.deepspeed)
                if any_search(EVAL_SECTION, ancestors):
                    continue
                _positive(facts, fact, value, dotted, dialect)
            elif fact == names.GRAD_ACCUM:
                number = scalar_number(value)
                if number is not None and number >= 1 and float(number).is_integer():
                    facts.append(Fact(fact, number, value.span, dotted, dialect))
            elif fact == names.WARMUP:
                _warmup(facts, key_path, value, parent, unit, dialect)
            elif fact in (names.TOTAL_EPOCHS, names.TOTAL_ITERS):
                if any_search(EVAL_SECTION, ancestors) or any("warm" in a for a in ancestors):
                    continue
                if low == "num_train_epochs" and (scalar_number(_child(parent, "max_steps")) or 0) > 0 and is_hf_args(parent):
                    continue  # TrainingArguments: max_steps > 0 overrides the epoch count
                number = scalar_number(value)
                if number is not None and number > 0:
                    facts.append(Fact(fact, number, value.span, dotted, dialect, (("unit", unit),)))
            elif fact == names.KL_WEIGHT:
                _kl_weight(facts, key_path, value, parent, dialect, rl)
            elif fact == names.FREE_BITS:
                number = scalar_number(value)
                if number is not None and number >= 0:
                    facts.append(Fact(fact, float(number), value.span, dotted, dialect))
            elif fact == names.SYNC_BN:
                flag = as_bool(value.value) if isinstance(value, Scalar) else None
                if flag is not None:
                    facts.append(Fact(fact, flag, value.span, dotted, dialect))
            continue

        if KL_ANNEAL_KEY.search(low):
            _kl_anneal(facts, value, dotted, dialect)
            continue

        if low in ("warmup_factor", "warmup_start_factor", "warmup_init_factor") or (
                low == "start_factor" and (_is_linear_lr(parent) or any("warm" in a for a in ancestors))):
            number = scalar_number(value)
            if number is not None and number >= 0:
                facts.append(Fact(names.WARMUP_FACTOR, float(number), value.span, dotted, dialect))
            continue

        if low in ("devices", "gpus", "num_gpus", "n_gpus", "ngpus", "n_gpu", "world_size", "num_processes", "nproc_per_node"):
            if low in ("devices", "gpus") and not (ancestors and ancestors[-1] in ("trainer", "trainer_params", "trainer_args", "init_args")):
                continue  # a bare ``gpus: [1]`` may be an index list; Lightning's trainer says what it means
            if low in ("num_processes",) and not accelerate:
                continue
            devices = _device_count(value)
            if devices is not None:
                nodes = scalar_number(_child(parent, "num_nodes")) or scalar_number(_child(parent, "num_machines"))
                total = devices * int(nodes) if nodes and nodes >= 1 and low not in ("world_size", "num_processes") else devices
                facts.append(Fact(names.DEVICES, total, value.span, dotted, dialect))
            continue

        if low in NORM_KEYS or low == "norm_cfg":
            _norm(facts, key_path, value, parent, dialect)
            continue
        if low in BN_FLAG_KEYS:
            flag = as_bool(value.value) if isinstance(value, Scalar) and isinstance(value.value, (bool, str)) else None
            if flag is True:
                facts.append(Fact(names.NORM, "BN", value.span, dotted, dialect, (("kind", "BN"), ("section", section))))
            continue
        if low == "norm_eval":
            flag = as_bool(value.value) if isinstance(value, Scalar) else None
            if flag:
                facts.append(Fact(names.NORM, "norm_eval", value.span, dotted, dialect, (("kind", "eval"), ("section", section))))
            continue

        if low in ("param_scheduler", "schedulers", "lr_schedulers") and isinstance(value, (Sequence, Mapping)):
            _constant_warmup(facts, key_path, value, dialect)
            continue
        if low in ("lr_scheduler", "scheduler", "lr_scheduler_type", "sched", "lr_schedule", "lr_policy",
                   "scheduler_type", "lr_scheduler_name", "scheduler_name", "lr_decay_schedule", "schedule") or (
                low == "policy" and ancestors and ancestors[-1] == "lr_config"):
            _scheduler(facts, key_path, value, dialect)
            continue

        _model_hint(facts, key_path, value, parent, dialect)
    return facts


def _child(parent: Optional[Mapping], key: str) -> Optional[Node]:
    if not isinstance(parent, Mapping):
        return None
    return parent.get_ci(key)


def _is_linear_lr(mapping: Optional[Node]) -> bool:
    name = _type_of(mapping)
    return bool(name) and name.rsplit(".", 1)[-1] in ("LinearLR", "LinearWarmup", "LinearWarmupLR")


def _positive(facts: List[Fact], fact: str, value: Node, dotted: str, dialect: str) -> None:
    number = scalar_number(value)
    if number is not None and number > 0:
        facts.append(Fact(fact, number, value.span, dotted, dialect))


def _device_count(value: Node) -> Optional[int]:
    if isinstance(value, Sequence):
        return len(value.items) or None
    if isinstance(value, Scalar):
        if isinstance(value.value, str) and "," in value.value:
            parts = [p for p in value.value.split(",") if p.strip()]
            return len(parts) or None
        number = as_number(value.value)
        if number is not None and number >= 1 and float(number).is_integer():
            return int(number)
    return None


def _factor_near(parent: Optional[Mapping]) -> Optional[float]:
    """A warmup start factor written beside the warmup length (``warmup_factor``, mmcv ``warmup_ratio``)."""
    if not isinstance(parent, Mapping):
        return None
    for key in ("warmup_factor", "warmup_start_factor", "start_factor", "warmup_init_factor"):
        number = scalar_number(parent.get_ci(key))
        if number is not None:
            return float(number)
    if _mmcv_style(parent):
        number = scalar_number(parent.get_ci("warmup_ratio"))
        if number is not None:
            return float(number)
    return None


def _mmcv_style(parent: Optional[Mapping]) -> bool:
    """mmcv 1.x ``lr_config = dict(warmup='linear', warmup_iters=500, warmup_ratio=0.001)``: the ratio is a start factor."""
    if not isinstance(parent, Mapping):
        return False
    warmup = parent.get_ci("warmup")
    return parent.get_ci("warmup_iters") is not None and (isinstance(warmup, Scalar) and isinstance(warmup.value, str)
                                                        or parent.get_ci("policy") is not None)


def _warmup(facts: List[Fact], key_path: Tuple[str, ...], value: Node, parent: Optional[Mapping], unit: Optional[str],
            dialect: str) -> None:
    low = key_path[-1].lower()
    dotted = ".".join(key_path)
    if low == "warmup_ratio" and _mmcv_style(parent):
        number = scalar_number(value)
        if number is not None:
            facts.append(Fact(names.WARMUP_FACTOR, float(number), value.span, dotted, dialect))
        return
    if not isinstance(value, Scalar):
        return
    if isinstance(value.value, bool) or (isinstance(value.value, str) and value.value.strip().lower() in ("true", "false")):
        flag = as_bool(value.value)
        if low in _WARMUP_PLAIN and flag is not None:
            facts.append(Fact(names.WARMUP, flag, value.span, dotted, dialect, (("unit", None),)))
        return
    number = as_number(value.value)
    if number is None or number < 0:
        return
    if low in ("warmup_steps",) and 0 < number < 1 and isinstance(number, float):
        unit = "ratio"  # recent transformers read a float warmup_steps below 1 as a ratio
    if unit == "iters" and _child(parent, "warmup_by_epoch") is not None and as_bool(_child(parent, "warmup_by_epoch").value):
        unit = "epochs"
    detail = [("unit", unit)]
    factor = _factor_near(parent)
    if factor is not None:
        detail.append(("start_factor", factor))
    facts.append(Fact(names.WARMUP, number, value.span, dotted, dialect, tuple(detail)))


def _kl_weight(facts: List[Fact], key_path: Tuple[str, ...], value: Node, parent: Optional[Mapping], dialect: str,
               rl: bool) -> None:
    low = key_path[-1].lower()
    ancestors = [part.lower() for part in key_path[:-1]]
    if low == "beta":
        if rl or any(NOT_KL_SECTION.search(a) for a in ancestors):
            return
        kind = _type_of(parent)
        if kind and not re.search(r"vae|kl|autoencoder|elbo", kind, re.I):
            return  # SmoothL1Loss(beta=…), a scheduler's beta …
    elif rl and low in ("kl_weight", "kl_beta", "beta_kl", "kl_loss_weight", "kl_scale", "lambda_kl", "kl_lambda"):
        return
    number = scalar_number(value)
    if number is None or number < 0:
        return
    facts.append(Fact(names.KL_WEIGHT, float(number), value.span, ".".join(key_path), dialect,
                      (("vae_hint", low.startswith("kld")),)))


def _kl_anneal(facts: List[Fact], value: Node, dotted: str, dialect: str) -> None:
    if isinstance(value, Scalar):
        number = as_number(value.value)
        if number is not None:
            facts.append(Fact(names.KL_ANNEAL, number > 0, value.span, dotted, dialect, (("length", number),)))
            return
        flag = as_bool(value.value)
        if flag is not None:
            facts.append(Fact(names.KL_ANNEAL, flag, value.span, dotted, dialect))
        elif isinstance(value.value, str) and value.value.strip().lower() not in ("", "none", "constant", "off"):
            facts.append(Fact(names.KL_ANNEAL, True, value.span, dotted, dialect, (("schedule", value.value),)))
    elif isinstance(value, (Mapping, Sequence)):
        facts.append(Fact(names.KL_ANNEAL, True, value.span, dotted, dialect))


def _norm(facts: List[Fact], key_path: Tuple[str, ...], value: Node, parent: Optional[Mapping], dialect: str) -> None:
    dotted = ".".join(key_path)
    section = ".".join(key_path[:-1])
    if isinstance(value, Mapping):  # mmcv norm_cfg=dict(type='BN', requires_grad=True)
        type_node = value.get("type")
        text = _text(type_node)
        kind = norm_kind(text) if text else None
        if kind is None or kind == "none":
            return
        grad = value.get("requires_grad")
        trainable = as_bool(grad.value) if isinstance(grad, Scalar) else True
        facts.append(Fact(names.NORM, text, type_node.span, dotted + ".type", dialect,
                          (("kind", kind), ("section", section), ("trainable", trainable is not False))))
        return
    text = _text(value)
    if text is None:
        return
    kind = norm_kind(text)
    if kind is None:
        return
    facts.append(Fact(names.NORM, text, value.span, dotted, dialect, (("kind", kind), ("section", section))))


def _scheduler(facts: List[Fact], key_path: Tuple[str, ...], value: Node, dialect: str) -> None:
    dotted = ".".join(key_path)
    name = _text(value)
    node = value
    mapping = value if isinstance(value, Mapping) else None
    if mapping is not None:
        name = _type_of(mapping)
        type_node = None
        for key, child in mapping.items:
            if isinstance(key.value, str) and key.value.lower() in ("type", "class_path", "_target_", "name", "cls"):
                type_node = child
        node = type_node or value
    if not name or as_number(name) is not None or name.strip().lower() in ("none", "null", ""):
        return
    warm = scheduler_warmup(name)
    detail = [("warmup", bool(warm))]
    if warm is None and mapping is not None:
        args = mapping.get("init_args") if isinstance(mapping.get("init_args"), Mapping) else mapping
        short = name.rsplit(".", 1)[-1]
        if short == "LinearLR":
            factor = scalar_number(args.get_ci("start_factor"))
            factor = 1.0 / 3 if factor is None and args.get_ci("start_factor") is None else factor
            if factor is not None:
                end = scalar_number(args.get_ci("end_factor"))
                detail = [("warmup", factor < 1.0 and (end is None or end > factor)), ("start_factor", factor)]
    facts.append(Fact(names.SCHEDULER, name, node.span, dotted, dialect, tuple(detail)))


def _constant_warmup(facts: List[Fact], key_path: Tuple[str, ...], value: Node, dialect: str) -> None:
    """A schedule list that opens with ``ConstantLR(factor<1)`` runs a constant warmup (MMEngine, ShuffleNet recipes)."""
    entries = value.items if isinstance(value, Sequence) else [value]
    first = entries[0] if entries else None
    if not isinstance(first, Mapping) or (_type_of(first) or "").rsplit(".", 1)[-1] != "ConstantLR":
        return
    begin = scalar_number(first.get("begin"))
    if begin not in (None, 0):
        return
    factor_node = first.get("factor")
    factor = 1.0 / 3 if factor_node is None else scalar_number(factor_node)
    if factor is None or factor >= 1.0:
        return
    node = first.get("type") or first
    facts.append(Fact(names.SCHEDULER, "ConstantLR", node.span, ".".join(key_path) + "[0].type", dialect,
                      (("warmup", True), ("start_factor", factor))))
    end_node = first.get("end")
    end = scalar_number(end_node)
    if end is not None and end > 0:
        by_epoch = first.get("by_epoch")
        unit = "iters" if isinstance(by_epoch, Scalar) and as_bool(by_epoch.value) is False else "epochs"
        facts.append(Fact(names.WARMUP, end - (begin or 0), end_node.span, ".".join(key_path) + "[0].end", dialect,
                          (("unit", unit), ("start_factor", factor))))


def _model_hint(facts: List[Fact], key_path: Tuple[str, ...], value: Node, parent: Optional[Mapping], dialect: str) -> None:
    low = key_path[-1].lower()
    ancestors, dotted, _ = path_parts(key_path)
    if ancestors and ancestors[0] in ("defaults", "hydra"):
        return  # Hydra group choices and Hydra's own settings name files, not models
    if "transformer" in low and not any_search(EVAL_SECTION, ancestors):
        if isinstance(value, Scalar) and value.value not in (None, False, 0, "", "none", "None"):
            facts.append(Fact(names.MODEL_ARCH, "transformer", value.span, dotted, dialect, (("evidence", f"key {dotted}"),)))
        elif isinstance(value, Mapping) and value.items:
            facts.append(Fact(names.MODEL_ARCH, "transformer", value.span, dotted, dialect, (("evidence", f"section {dotted}"),)))
        return
    if low in ATTENTION_KEYS:
        number = scalar_number(value)
        if number is not None and number >= 1 and not any(NOT_KL_SECTION.search(a) for a in ancestors if a.startswith(("optim", "loss"))):
            facts.append(Fact(names.MODEL_ARCH, "transformer", value.span, dotted, dialect, (("evidence", f"attention heads ({dotted})"),)))
        return
    text = _text(value)
    if text is None:
        return
    in_model = any(MODEL_SECTIONS.match(a) for a in ancestors[-2:]) if ancestors else False
    if low in MODEL_KEYS or (low in TYPE_KEYS and in_model):
        if low in TYPE_KEYS and ancestors and re.search(r"optim|sched|loss|data|dataset|transform|callback|logger", ancestors[-1]):
            return
        family = model_family(text)
        if family is not None:
            # a backbone/encoder/decoder names a part: a ResNet backbone does not make DETR a CNN
            part = low in PART_KEYS or (low in TYPE_KEYS and bool(ancestors) and ancestors[-1] in PART_KEYS)
            facts.append(Fact(names.MODEL_ARCH, family, value.span, dotted, dialect,
                              (("evidence", f"{dotted}: {text}"), ("named", "part" if part else True))))
