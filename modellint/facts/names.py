"""Canonical fact names. Extractors of every dialect emit these; rules read them."""

LR = "lr"  # base/peak learning rate
OPTIMIZER = "optimizer"  # value: the optimizer's name as written; detail family
CLIP_NORM = "clip.norm"  # max-norm of gradient-norm clipping (detail: enabled, kind)
CLIP_VALUE = "clip.value"  # element-wise gradient value clipping
BATCH_PER_DEVICE = "batch.per_device"
BATCH_GLOBAL = "batch.global"
BATCH_REFERENCE = "batch.reference"  # a framework's declared reference batch
DEVICES = "devices"
GRAD_ACCUM = "grad_accum"
WARMUP = "warmup"  # length (detail: unit iters|epochs|steps|ratio)
WARMUP_FACTOR = "warmup.start_factor"
SCHEDULER = "scheduler"
TOTAL_ITERS = "train.iters"
TOTAL_EPOCHS = "train.epochs"
WEIGHT_DECAY = "weight_decay"
LOSS_WEIGHT = "loss.weight"  # detail: term
KL_WEIGHT = "kl.weight"
FREE_BITS = "kl.free_bits"
KL_ANNEAL = "kl.anneal"
FREEZE = "freeze"  # detail: section; value True when that section is frozen
NORM = "norm"  # normalisation layer type (BN, SyncBN, GN, LN, FrozenBN)
MODEL_ARCH = "model.arch"  # hints such as "transformer"
DEVICES_REFERENCE = "devices.reference"  # detectron2 SOLVER.REFERENCE_WORLD_SIZE
BATCH_EFFECTIVE = "batch.effective"  # per-device × devices × accumulation in one number (DeepSpeed train_batch_size)
SYNC_BN = "norm.sync"  # True when BatchNorm is converted to SyncBatchNorm (Lightning sync_batchnorm, convert_sync_batchnorm)
WARMUP_PARAM = "warmup.param"  # code reads a warmup setting by name (its value is set elsewhere); value: the name read
