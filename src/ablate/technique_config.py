"""Schemas of the technique groups: attention, augment, balance, training, optimizer,
schedule, swa, ema, profile and quantize; with `ablate.config` (data, model, tracking,
ablation), the one home of each knob's default, rule and help.
"""

import dataclasses

from ablate.validation import (
    ATTENTIONS,
    BY_OPTION,
    COUNT,
    DISTRIBUTE_OPTIONS,
    FRACTION,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    PATH,
    QUANTIZE_MODES,
    UNIT,
    Rule,
    above,
    at_least,
    integer_in,
    interval,
    knob,
    nullable,
    one_of,
)

RESAMPLING = ("oversample", "smote", "undersample", "smote_undersample")  # change the examples
BALANCE_METHODS = ("none", "class_weight", *RESAMPLING)


@dataclasses.dataclass
class AttentionConfig:
    """Attention added to a convolutional model (`ablate.models`).

    `se` and `cbam` reweight the channels (and, `cbam`, the positions) of each conv block of
    `small_cnn` (Hu et al. 2018; Woo et al. 2018); MobileNetV3-Small has its own SE blocks
    (`model.se`). `mhsa` is the practitioner article's transformer block,
    `LayerNormalization(epsilon=1e-6)(tokens + MultiHeadAttention(tokens, tokens))` over the
    h*w positions of a feature map (Vaswani et al. 2017), after the deepest stage that still has
    at least 16 positions; fewer than 4 are refused. Runs log `attention_tokens` and
    `attention_params`.
    """

    name: str = knob("off", BY_OPTION, one_of(ATTENTIONS))


@dataclasses.dataclass
class ChannelAttentionConfig(AttentionConfig):
    reduction: int = knob(
        16,
        "r of the channel MLP: `max(1, channels // r)` hidden units (the papers use 16)",
        COUNT,
    )


@dataclasses.dataclass
class MhsaConfig(AttentionConfig):
    heads: int = knob(4, "`keras.layers.MultiHeadAttention(num_heads=)`", COUNT)
    key_dim: int = knob(32, "`MultiHeadAttention(key_dim=)`", COUNT)


@dataclasses.dataclass
class AugmentConfig:
    """Augmentation of the training split.

    Image options are mapped over the training batches in `tf.data`, every layer seeded from
    `seed`, the output clipped to [0, 255]; `eda` appends edited copies of the training texts.
    """

    name: str = knob("none", BY_OPTION)


@dataclasses.dataclass
class BasicAugmentConfig(AugmentConfig):
    factor: float = knob(
        0.1,
        "pads `ceil(factor * side)` black pixels and crops back at random, then "
        "`RandomTranslation(height_factor=factor, width_factor=factor)`",
        UNIT,
    )
    horizontal_flip: bool | None = knob(
        None,
        '`RandomFlip("horizontal")`; null: on for `image_folder` and `keras` cifar10, cifar100, '
        "fashion_mnist, off otherwise (digits are never mirrored)",
    )


@dataclasses.dataclass
class RandAugmentConfig(AugmentConfig):
    num_ops: int = knob(
        2, "`keras.layers.RandAugment(num_ops=)`: operations drawn per image", COUNT
    )
    factor: float = knob(
        0.5, "`RandAugment(factor=)`: each operation's strength drawn from [0, factor]", UNIT
    )


@dataclasses.dataclass
class AugMixConfig(AugmentConfig):
    factor: float = knob(0.3, "`AugMix(factor=)`: the severity", UNIT)
    num_chains: int = knob(3, "`AugMix(num_chains=)`: chains mixed per image", COUNT)
    chain_depth: int = knob(3, "`AugMix(chain_depth=)`: the most operations per chain", COUNT)
    alpha: float = knob(1.0, "`AugMix(alpha=)`: Dirichlet and Beta concentration", above(0))


@dataclasses.dataclass
class AutoAugmentConfig(AugmentConfig):
    policy: str = knob(
        "imagenet",
        "the published policy (Cubuk et al. 2019): 25 sub-policies of two operations; every "
        "image draws one",
        one_of(("imagenet", "cifar10")),
    )


@dataclasses.dataclass
class MixUpConfig(AugmentConfig):
    alpha: float = knob(0.2, "`keras.layers.MixUp(alpha=)`: Beta concentration", above(0))


@dataclasses.dataclass
class CutMixConfig(AugmentConfig):
    factor: float = knob(
        1.0,
        "`keras.layers.CutMix(factor=)`; not the paper's alpha: each batch draws a Beta "
        "concentration from [0, factor]",
        UNIT,
    )


@dataclasses.dataclass
class EdaConfig(AugmentConfig):
    alpha_sr: float = knob(0.1, "synonym replacement of n non-stop words (0 = off)", UNIT)
    alpha_ri: float = knob(0.1, "random insertion of n synonyms (0 = off)", UNIT)
    alpha_rs: float = knob(0.1, "n random swaps of two words (0 = off)", UNIT)
    p_rd: float = knob(0.1, "deletes each word with this probability (0 = off)", UNIT)
    num_aug: int = knob(
        4, "edited copies per training text (the reference code: 9)", at_least(0, integer=True)
    )
    synonyms_path: str | None = knob(
        None,
        "a UTF-8 file of `word: syn1, syn2` lines; null: WordNet 3.0 from Debian's "
        "`wordnet-base` + `wordnet-sense-index` packages, read through nltk",
        nullable(PATH),
    )
    wordnet_dir: str | None = knob(
        None,
        "where WordNet is prepared as an nltk data folder on first use; null: "
        "`$ABLATE_WORDNET_DIR`, else `~/.cache/ablate/nltk_data`",
        nullable(PATH),
    )


@dataclasses.dataclass
class BalanceConfig:
    """Class balancing of the training split, after `data.imbalance`.

    Resampled splits are cached in `$ABLATE_CACHE_DIR` (default `~/.cache/ablate`). Resampling
    trades majority-class accuracy for minority-class recall: judge by
    `test_balanced_accuracy` and `test_macro_f1`, not accuracy alone.
    """

    name: str = knob("none", BY_OPTION)


@dataclasses.dataclass
class SmoteConfig(BalanceConfig):
    k_neighbors: int = knob(
        5, "`SMOTE(k_neighbors=)`; below the smallest class SMOTE oversamples", COUNT
    )


@dataclasses.dataclass
class SmoteUndersampleConfig(SmoteConfig):
    smote_ratio: float = knob(
        0.5, "SMOTE raises each class below `int(ratio * n_majority)` to it", interval("(0, 1]")
    )
    undersample_ratio: float = knob(
        0.8,
        "then each class above `int(n_minority / ratio)` is lowered to it",
        interval("(0, 1]"),
    )


@dataclasses.dataclass
class TrainingConfig:
    """The epoch budget and batch size shared by every arm, and the devices a run trains on."""

    epochs: int = knob(10, "`model.fit(epochs=)`", integer_in(1, MAX_EPOCHS))
    batch_size: int = knob(
        32,
        "`tf.data.Dataset.batch()`; at most the training split",
        integer_in(1, MAX_BATCH_SIZE),
    )
    distribute: str = knob(
        "none",
        "`mirrored`: data-parallel training with `tf.distribute.MirroredStrategy` on every "
        "visible device (all GPUs; without one, the CPU's logical devices: one unless split "
        "before TensorFlow starts); `batch_size` stays the global batch, split across them, "
        "and BatchNorm is synchronized, so results equal one device's up to float rounding, "
        "Dropout masks excepted (docs/runs.md); one device: 1 replica; the final metric "
        "`num_replicas` says how many",
        one_of(DISTRIBUTE_OPTIONS),
    )


@dataclasses.dataclass
class OptimizerConfig:
    """The optimizer: `keras.optimizers.Adam`, `AdamW` or `SGD`."""

    name: str = knob("adam", BY_OPTION)
    learning_rate: float = knob(1e-3, "`<optimizer>(learning_rate=)`; a schedule's peak", above(0))


@dataclasses.dataclass
class SgdConfig(OptimizerConfig):
    momentum: float = knob(0.9, "`SGD(momentum=)`", FRACTION)
    nesterov: bool = knob(False, "`SGD(nesterov=)`")


@dataclasses.dataclass
class AdamWConfig(OptimizerConfig):
    weight_decay: float = knob(1e-4, "`AdamW(weight_decay=)`", at_least(0))


@dataclasses.dataclass
class ScheduleConfig:
    """The learning rate over the run's U optimizer updates.

    U = `training.epochs * (batches_per_epoch // accumulation)`: with `accumulation=k` an epoch
    trains on its first `k * (batches_per_epoch // k)` batches (the rest, fewer than k, differ
    every epoch), so each epoch ends on an update. Update u (0-based) uses the schedule's value
    at u, with or without accumulation (`ablate.techniques.optimizer.PerUpdateSchedule`).
    Durations are fractions of U, so that arms stay aligned when the epoch budget changes.
    The logged `lr` of an epoch is the rate of its last update.
    """

    name: str = knob("constant", BY_OPTION)


@dataclasses.dataclass
class CosineConfig(ScheduleConfig):
    alpha: float = knob(
        0.0,
        "`CosineDecay(alpha=)`: the rate ends at alpha * rate",
        interval("[0, 1]", "(the final fraction of the rate)"),
    )


@dataclasses.dataclass
class CosineWarmupConfig(CosineConfig):
    warmup: float = knob(
        0.05,
        "W = `round(warmup * U)` updates of linear warmup from 0 (`warmup_steps=W`)",
        interval("[0, 1)", "(a fraction of all optimizer updates)"),
    )


@dataclasses.dataclass
class SwaConfig:
    """Stochastic weight averaging (Izmailov et al. 2018), hand-written: Keras 3 has none.

    An equal-weight average of the trainable weights at the end of the snapshot epochs,
    swapped in at the end of `fit`; then the BatchNormalization statistics are recomputed over
    the unaugmented training data, as the official `bn_update` does. The defaults average the
    second half of training, every epoch (5 snapshots of 10 epochs), like the official code
    (every epoch of the last 44-47 %); fewer than 2 snapshots are refused. Runs record
    `swa_snapshots`, `swa_first_epoch`, `swa_last_epoch` (1-based) and the updates done at
    the first and last snapshot.
    """

    enabled: bool = knob(False, BY_OPTION)
    start: float = knob(
        0.5,
        "fraction of training before averaging: the first snapshot ends epoch "
        "`min(round_half_up(start * epochs), epochs - 1) + 1`; at least 2 snapshots",
        Rule("in [0, 1), checked with swa=on"),  # by validation.check_swa_start, _snapshots
    )
    frequency: int = knob(
        1, "epochs between snapshots", at_least(1, "(epochs between snapshots)", integer=True)
    )
    learning_rate: float | None = knob(
        None,
        "the SWA rate from the first averaged epoch on (`SwaLearningRate`): constant, or "
        "each cycle's top; null: the run's schedule goes on",
        nullable(above(0)),
    )
    schedule: str = knob(
        "constant",
        "`constant`: swa.learning_rate throughout; `cyclic`: every epoch falls linearly from "
        "swa.learning_rate to alpha * swa.learning_rate (the paper's cyclic rate, 1-epoch cycles)",
        one_of(("constant", "cyclic")),
    )
    alpha: float = knob(
        0.01,
        "with swa.schedule=cyclic, the end of each cycle as a fraction of swa.learning_rate",
        UNIT,
    )


@dataclasses.dataclass
class EmaConfig:
    """An exponential moving average of the weights: the optimizer's `use_ema=True` with
    `keras.callbacks.SwapEMAWeights` (the EMA weights for validation and at the end).

    The average moves once per optimizer update, also with `accumulation` > 1 (where Keras
    alone would move it at every batch): `ablate.techniques.ema.PerUpdateEma`."""

    enabled: bool = knob(False, BY_OPTION)
    momentum: float = knob(
        0.99, "`<optimizer>(ema_momentum=)`: `ema = m * ema + (1 - m) * w` per update", FRACTION
    )
    overwrite_frequency: int | None = knob(
        None,
        "`<optimizer>(ema_overwrite_frequency=)`: copy the EMA into the model every N updates; "
        "null: only at the end",
        nullable(COUNT),
    )


@dataclasses.dataclass
class ProfileConfig:
    """A TensorBoard profiler trace of a window of training steps
    (`ablate.techniques.profiling`): `keras.callbacks.TensorBoard(profile_batch=)`, written to
    the run's `profile/` folder and logged with it. Runs record `profile_steps`,
    `profile_step_time_ms` and `profile_input_wait_share` (the share of the steps' time spent
    waiting for the input pipeline); the report flags an arm waiting half of its step time or
    more as input-bound.
    """

    enabled: bool = knob(False, BY_OPTION)
    start_step: int = knob(
        10,
        "training batches (counted across epochs) before the window: warm-up, tracing and "
        "the first allocations stay out of it",
        at_least(0, integer=True),
    )
    steps: int = knob(
        20,
        "training batches profiled; the window must end within training (epochs x batches "
        "per epoch)",
        COUNT,
    )


@dataclasses.dataclass
class QuantizeConfig:
    """Post-training quantization with the TFLite converter (`ablate.techniques.quantization`),
    after training and evaluation, of the final (averaged, with SWA or EMA) model.

    `dynamic`: int8 weights, float activations; `float16`: float16 weights; `int8`: int8
    weights and activations, calibrated on training examples (inputs and outputs stay
    float32). The converted model is evaluated on the same test split; runs record
    `tflite_size_bytes`, `tflite_test_accuracy`, `tflite_latency_ms`,
    `tflite_int8_tensor_share` and the plain float32 TFLite model's
    `float32_tflite_size_bytes` and `float32_tflite_latency_ms`, and keep `model.tflite`
    (docs/deployment.md). No quantization-aware training or pruning:
    tensorflow-model-optimization does not support Keras 3.
    """

    name: str = knob("off", BY_OPTION, one_of(QUANTIZE_MODES))
    calibration_examples: int = knob(
        100,
        "with `int8`: training examples, drawn at random (seeded), that calibrate the "
        "activation ranges (`TFLiteConverter.representative_dataset`)",
        COUNT,
    )
    latency_runs: int = knob(
        200,
        "single-example invocations timed (after 20 untimed), one interpreter thread; "
        "`tflite_latency_ms` is their median",
        COUNT,
    )
