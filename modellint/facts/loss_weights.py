"""Static loss-term weights in configs: one ``loss.weight`` fact per weighted term.

Three shapes are read, each weight tagged with the objective it belongs to
(``group``: the mapping that holds the terms of one objective), because only
weights summed into the same objective can be compared:

* a mapping of weights: ``loss_weights: {bce: 1.0, arcface: 0.001}``,
  ``weight_dict``, ``loss_coefs`` … (group: that mapping);
* MMDetection-style loss sections of one head: ``loss_cls=dict(type=...,
  loss_weight=1.0)``, ``loss_bbox=dict(..., loss_weight=5.0)`` (group: the
  head), and MMSeg's ``loss_decode=[dict(loss_name=..., loss_weight=...)]``;
* flat sibling keys: ``bce_loss_weight: 1.0``, ``lambda_l1``, ``dice_weight``
  (group: their parent mapping).

Only literal numbers become facts; KL/regularisation terms are emitted too
(``is_regularisation_term`` lets rules leave them out: ML203 owns KL).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import List, Optional

from modellint.facts import names
from modellint.lazy_re import lazy
from modellint.parsing.tree import Mapping, Node, Scalar, Sequence, as_number, path_parts, walk
from modellint.provenance import Fact

# Keys whose mapping value holds one weight per loss term.
WEIGHT_MAPPING_KEYS = frozenset({
    "loss_weights", "loss_weight", "loss_weighting", "loss_coefs", "loss_coef", "loss_coeffs", "loss_coefficients",
    "loss_lambdas", "loss_scales", "loss_factors", "weight_dict", "loss_weight_dict", "loss_weights_dict",
    "lambdas", "task_weights", "loss_balance",
})
# Flat keys naming one term's weight: ``bce_loss_weight``, ``loss_bce_weight``, ``lambda_l1``, ``giou_loss_coef``.
_FLAT_WEIGHT = lazy(
    r"^(?:(?P<a>[a-z0-9_]+?)_loss_(?:weight|coef|coeff|w|lambda|scale)"
    r"|loss_(?P<b>[a-z0-9_]+?)_(?:weight|coef|coeff)"
    r"|lambda_(?P<c>[a-z0-9_]+)"
    r"|(?P<d>[a-z0-9_]+?)_(?:weight|coef|coeff))$"
)
# For the bare ``<term>_weight`` form, the term must name a loss (``pos_weight``,
# ``class_weights`` lists and ``weight_decay`` are other things).
LOSS_TERMS = frozenset({
    "bce", "ce", "nll", "mse", "l1", "l2", "smooth_l1", "huber", "arcface", "cosface", "focal", "dice", "iou", "giou",
    "diou", "ciou", "bbox", "box", "cls", "class", "mask", "seg", "triplet", "contrastive", "center", "ctc",
    "recon", "reconstruction", "rec", "perceptual", "adv", "gan", "style", "content", "depth", "kl", "kld",
    "aux", "lovasz", "tversky", "ssim", "vgg", "feat", "feature", "distill", "kd", "cos", "cosine", "obj",
    "objectness", "rpn", "centerness", "heatmap", "offset", "wh", "size", "mel", "stft", "cons", "consistency",
})
# ``weights:`` is a loss-weight mapping only inside a loss/criterion section.
_GENERIC_WEIGHT_KEYS = frozenset({"weights", "weight", "coefs", "coefficients", "lambdas", "scales"})
_LOSS_SECTION = lazy(r"loss|criterion|objective", re.I)
_CYCLE_TERMS = frozenset({"cyc", "cycle", "idt", "identity"})
_BOXISH = frozenset({"box", "bbox", "coord", "coords", "offset", "delta", "deltas", "regression", "loc", "iou", "giou"})
_EXCLUDED = frozenset({
    "kl", "kld", "kldiv", "kullback", "beta", "wd", "decay", "penalty", "penalties", "regularization",
    "regularisation", "regularizer", "regulariser", "regularize", "regularise", "regularizers", "sparsity", "orth",
    "ortho", "orthogonal", "orthogonality", "tv", "gp", "commitment", "commit", "prior", "l2reg", "l1reg", "ent",
})


def term_tokens(name: str) -> List[str]:
    """``loss_KLDiv`` → ["loss", "kl", "div"]; ``arcfaceLoss`` → ["arcface", "loss"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"KL(?=[A-Z][a-z])", "KL ", spaced)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def is_regularisation_term(name: str) -> bool:
    """KL, weight decay, penalties, entropy bonuses, smoothness/TV priors: not supervised loss terms."""
    tokens = term_tokens(name)
    token_set = set(tokens)
    if token_set & _EXCLUDED:
        return True
    if "entropy" in token_set and "cross" not in token_set and not any(t.endswith("cross") for t in tokens):
        return True
    if "smooth" in token_set and not token_set & {"l1", "smoothl1"}:
        return True
    if "reg" in token_set and not token_set & _BOXISH:
        return True  # ``reg_loss`` is ambiguous (regularisation or regression): stay silent
    if token_set & {"l1", "l2"} and token_set & {"norm", "weight", "weights", "param", "params"}:
        return True
    return "entropy" in name.lower() and "cross" not in name.lower()


def names_a_loss(name: str) -> bool:
    """``bce``, ``loss_dice``, ``arcfaceLoss``, ``cross_entropy``: a loss term's name."""
    tokens = term_tokens(name)
    return any("loss" in t or "cross" in t for t in tokens) or any(t in LOSS_TERMS for t in tokens)


def _number(node: Optional[Node]) -> Optional[float]:
    if isinstance(node, Scalar):
        value = as_number(node.value)
        return None if value is None else float(value)
    return None


@lru_cache(maxsize=8192)  # a pure function of a key name; config keys repeat across files
def _term_of_flat_key(key: str) -> Optional[str]:
    match = _FLAT_WEIGHT.match(key.lower())
    if not match:
        return None
    term = match.group("a") or match.group("b")
    if term:
        return term
    term = match.group("c") or match.group("d")
    # ``lambda_x`` / ``x_weight`` only when x names a loss (not ``pos_weight``, ``lambda_lr``, ``eos_coef``)
    return term if term in LOSS_TERMS or term in _CYCLE_TERMS or term.endswith("_loss") else None


def extract(root: Node, dialect: str = "plain") -> List[Fact]:
    facts: List[Fact] = []
    for key_path, key, value, parent in walk(root):
        leaf = key_path[-1]
        low = leaf.lower()
        # (the dotted paths are asked for only for a fact: most keys make none)

        # loss_weights: {bce: 1.0, arcface: 0.001}; criterion: {weights: {ce: 1.0, dice: 0.5}}
        generic = low not in WEIGHT_MAPPING_KEYS and low in _GENERIC_WEIGHT_KEYS and \
            any(_LOSS_SECTION.search(part) for part in key_path[:-1])
        if isinstance(value, Mapping) and (low in WEIGHT_MAPPING_KEYS or generic):
            dotted = path_parts(key_path)[1]
            for term_key, term_value in value.items:
                number = _number(term_value)
                # under a generic ``weights:`` key the terms must name losses (not class ids or names)
                if number is not None and isinstance(term_key.value, str) and (not generic or names_a_loss(term_key.value)):
                    facts.append(Fact(names.LOSS_WEIGHT, number, term_value.span, f"{dotted}.{term_key.value}", dialect,
                                      (("group", dotted), ("term", term_key.value))))
            continue

        # mmdet: loss_cls=dict(type='FocalLoss', loss_weight=1.0) inside a head;
        # losses: {ce: {weight: 1.0}, dice: {weight: 0.5}}
        parent_is_loss = len(key_path) > 1 and bool(_LOSS_SECTION.search(key_path[-2]))
        if isinstance(value, Mapping) and (low.startswith("loss") or parent_is_loss):
            weight = value.get("loss_weight")
            if weight is None and parent_is_loss and names_a_loss(leaf):
                weight = value.get("weight") or value.get("coef") or value.get("lambda")
            number = _number(weight)
            if number is not None:
                _, dotted, section = path_parts(key_path)
                facts.append(Fact(names.LOSS_WEIGHT, number, weight.span, dotted + ".loss_weight", dialect,
                                  (("group", section or "<root>"), ("term", leaf))))
            continue

        # mmseg: loss_decode=[dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0), ...]
        if "loss" in low and isinstance(value, Sequence):
            dotted = path_parts(key_path)[1]
            for index, item in enumerate(value.items):
                if not isinstance(item, Mapping):
                    continue
                weight = item.get("loss_weight") or item.get("weight")
                number = _number(weight)
                label = item.get("loss_name") or item.get("name") or item.get("type")
                if number is not None and isinstance(label, Scalar) and isinstance(label.value, str):
                    facts.append(Fact(names.LOSS_WEIGHT, number, weight.span, f"{dotted}[{index}].loss_weight", dialect,
                                      (("group", dotted), ("term", label.value))))
            continue

        # flat siblings: bce_loss_weight: 1.0, arcface_loss_weight: 0.001
        in_weight_mapping = len(key_path) > 1 and key_path[-2].lower() in WEIGHT_MAPPING_KEYS
        if isinstance(value, Scalar) and not in_weight_mapping and low != "loss_weight":
            term = _term_of_flat_key(leaf)
            number = _number(value)
            if term is not None and number is not None:
                _, dotted, section = path_parts(key_path)
                facts.append(Fact(names.LOSS_WEIGHT, number, value.span, dotted, dialect,
                                  (("group", section or "<root>"), ("term", term))))
    return facts
