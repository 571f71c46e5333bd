"""The fixed catalogue of codes and names (the product contract).

Codes and names never change once published: users' suppressions and
configs depend on them. Rules are implemented against this table, and a test
checks that every registered rule matches its entry.
"""

CATALOGUE = {
    "ML101": ("lr-not-scaled-with-batch", "warning"),
    "ML102": ("implausible-learning-rate", "error"),
    "ML103": ("missing-lr-warmup", "warning"),
    "ML104": ("tight-gradient-clipping", "warning"),
    "ML105": ("warmup-exceeds-training", "error"),
    "ML106": ("tiny-batch-with-batchnorm", "warning"),
    "ML201": ("extreme-loss-weight-ratio", "warning"),
    "ML202": ("unbalanced-learnable-loss-weights", "warning"),
    "ML203": ("kl-collapse-risk", "warning"),
    "ML301": ("zero-initialized-decoder-query", "error"),
    "ML302": ("all-backbones-frozen", "warning"),
    "ML303": ("unregistered-submodule", "error"),
    "ML304": ("module-created-in-forward", "error"),
    "ML401": ("missing-zero-grad", "error"),
    "ML402": ("activation-before-loss", "error"),
    "ML403": ("scheduler-step-before-optimizer-step", "warning"),
    "ML404": ("loss-accumulated-with-graph", "warning"),
    "ML501": ("train-loader-not-shuffled", "warning"),
    "ML502": ("hard-gated-predictions", "info"),
    "ML601": ("no-trainable-parameters", "error"),
    "ML602": ("backbones-frozen-at-runtime", "warning"),
    "ML603": ("unregistered-parameters", "error"),
    "ML901": ("python-syntax-error", "error"),
    "ML902": ("invalid-config", "error"),
    "ML903": ("unresolved-config-reference", "warning"),
    "ML999": ("internal-error", "error"),
}
