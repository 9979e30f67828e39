"""Typed schemas for every config group: the one home of each knob's default, rule and help.

The dataclasses are registered in Hydra's ConfigStore as `schema/<group>/base_*` entries. Each
YAML option in `conf/` starts from one of them (`defaults: [/schema/data/base_npz@_here_]`)
and lists the values it sets, so a typo (`smoothign=0.1`) or a wrong type
(`training.epochs=abc`) fails while Hydra composes the config, naming the full key. Every field
is declared with `knob`: its default, what it does, and the `Rule` its values must follow
(`ablate.validation`). `validate` checks those rules and the cross-field checks before any
data is loaded; `ablate.knob_reference` renders them all as `docs/knobs.md`.
"""

import copy
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ablate.validation import (
    CONVOLUTIONAL_MODELS,
    COUNT,
    FRACTION,
    IMAGE_AUGMENTATIONS,  # noqa: F401  (imported from here by ablate.techniques.augmentation)
    POSITIVE_INTEGERS,
    UNIT,
    Rule,
    above,
    at_least,
    check_combinations,
    check_required,
    check_rules,
    interval,
    nullable,
    one_of,
    validate_for_data,  # noqa: F401  (imported from here by ablate.run)
)

# The option lists; those that the cross-field checks name live beside them in ablate.validation.
DATA_SOURCES = ("mnist5k", "digits", "npz", "image_folder", "keras", "csv", "text_csv")
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
MODELS = (*CONVOLUTIONAL_MODELS, "mlp", "text_embedding")
RESAMPLING = ("oversample", "smote", "undersample", "smote_undersample")  # change the examples
BALANCE_METHODS = ("none", "class_weight", *RESAMPLING)
TRACKING_BACKENDS = ("mlflow", "none")
DESIGNS = ("ofat", "loo", "factorial")
# Keys that do not change what is trained: where results go, the replicate's seed, the sweep.
UNHASHED_KEYS = ("seed", "tracking", "ablation")
BY_OPTION = "set by the option chosen"
BY_SWEEPER = "set by the sweeper for each job"


def knob(default, help: str, rule: Rule | None = None):
    """A schema field: its `default`, what it does (`help`) and what it allows (`rule`)."""
    metadata = {"help": help, "rule": rule}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class DataConfig:
    """Where the examples come from and how they are split.

    Every source is split into stratified train/validation/test parts with the run's seed (a
    source's own test split is kept as it is), fed to Keras as `tf.data` pipelines with one-hot
    labels; the class counts per split are logged as `dataset.*` params. Every data technique
    (`data.imbalance`, `balance`, `augment`) changes the training split only.
    """

    name: str = knob(MISSING, BY_OPTION, one_of(DATA_SOURCES))
    val_fraction: float = knob(
        0.1,
        "share of all examples (of the training file, if the source has a test split) for "
        "validation; `train_test_split(stratify=y, random_state=seed)`",
        interval("(0, 1)"),
    )
    test_fraction: float = knob(
        0.2,
        "share of all examples for the test, by the same call; ignored when the source has a "
        "test split; `val_fraction + test_fraction` < 1",
        interval("(0, 1)"),
    )
    image_size: int | None = knob(
        None,
        "side of the square images are resized to (`tf.image.resize`, bilinear, pixels kept "
        "in [0, 255]); null: as stored (`image_folder` needs one); ignored for tables and text",
        nullable(COUNT),
    )
    imbalance: float = knob(
        1.0,
        "long-tail factor IF of the training split (Cui et al. 2019): class c of C keeps "
        "`n_max * (1/IF)^(c/(C-1))` examples (at least 1), `n_max` the smallest class count",
        at_least(1, "(1 = the data as it is)"),
    )


@dataclasses.dataclass
class NpzDataConfig(DataConfig):
    path: str = knob(
        MISSING,
        "a `.npz` file with `x_train`, `y_train` [, `x_test`, `y_test`]: 2-D `x` is a table, "
        "3-D/4-D images (pixels in [0, 1] are scaled to [0, 255]); labels 0..C-1",
    )


@dataclasses.dataclass
class ImageFolderDataConfig(DataConfig):
    path: str = knob(MISSING, "a folder with one subfolder of images per class")
    color_mode: str = knob(
        "rgb", "`image_dataset_from_directory(color_mode=)`", one_of(("rgb", "grayscale"))
    )


@dataclasses.dataclass
class KerasDataConfig(DataConfig):
    dataset: str = knob("mnist", "`keras.datasets.<dataset>.load_data()`", one_of(KERAS_DATASETS))


@dataclasses.dataclass
class CsvDataConfig(DataConfig):
    path: str = knob(MISSING, "a CSV file of numeric feature columns and a label column")
    label_column: str = knob("label", "the label column; labels map to 0..C-1 in sorted order")


@dataclasses.dataclass
class TextCsvDataConfig(DataConfig):
    path: str = knob(MISSING, "a CSV file (`pandas.read_csv`) of texts and labels")
    text_column: str = knob("text", "the text column (not the label column)")
    label_column: str = knob("label", "the label column; labels map to 0..C-1 in sorted order")


@dataclasses.dataclass
class ModelConfig:
    """The network, built by `ablate.models.build_model` for the data's input shape."""

    name: str = knob(MISSING, BY_OPTION)
    dropout: float = knob(
        0.5,
        "`keras.layers.Dropout(rate=)` before the softmax (`mlp`: after each `Dense`)",
        FRACTION,
    )


@dataclasses.dataclass
class SmallCnnConfig(ModelConfig):
    filters: list[int] = knob(
        [32, 64],
        'one `Conv2D(filters, kernel_size, padding="same", activation="relu")` and '
        '`MaxPooling2D(padding="same")` per entry',
        POSITIVE_INTEGERS,
    )
    kernel_size: int = knob(3, "`Conv2D(kernel_size=)`", COUNT)


@dataclasses.dataclass
class MlpConfig(ModelConfig):
    hidden_units: list[int] = knob(
        [128, 64],
        'one `Dense(units, activation="relu")` and `Dropout` per entry',
        POSITIVE_INTEGERS,
    )


@dataclasses.dataclass
class MobileNetConfig(ModelConfig):
    alpha: float = knob(
        1.0, "`MobileNetV3Small(alpha=)`: the width multiplier", above(0, "(the width multiplier)")
    )
    minimalistic: bool = knob(False, "`MobileNetV3Small(minimalistic=)`")
    bn_momentum: float = knob(
        0.9, "`momentum` of every BatchNormalization layer (Keras builds 0.999)", FRACTION
    )
    weights: str | None = knob(
        None,
        "`MobileNetV3Small(weights=)`: null trains from scratch; `imagenet` needs `alpha` 0.75 "
        "or 1.0 (only 1.0 when minimalistic), 1 or 3 channels and, offline, the cached file",
        one_of((None, "imagenet")),
    )
    min_size: int = knob(
        32,
        "a side below it is resized up inside the model (`keras.layers.Resizing`)",
        at_least(32, "(MobileNetV3's smallest input)"),
    )


@dataclasses.dataclass
class TextEmbeddingConfig(ModelConfig):
    max_tokens: int = knob(
        10000,
        "`TextVectorization(max_tokens=)`, padding and out-of-vocabulary tokens included",
        at_least(3, integer=True),
    )
    sequence_length: int = knob(
        64, "`TextVectorization(output_sequence_length=)`: tokens kept per text", COUNT
    )
    embedding_dim: int = knob(64, "`keras.layers.Embedding(output_dim=)`", COUNT)


@dataclasses.dataclass
class AttentionConfig:
    """The source article's transformer block, after the last convolutional stage.

    `LayerNormalization(epsilon=1e-6)(tokens + MultiHeadAttention(tokens, tokens))` over the
    h*w positions of the feature map, reshaped back; for convolutional models only.
    """

    enabled: bool = knob(False, BY_OPTION)
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
    num_ops: int = knob(2, "`keras.layers.RandAugment(num_ops=)`", COUNT)
    factor: float = knob(
        0.5, "`RandAugment(factor=)`: each operation's strength drawn from [0, factor]", UNIT
    )


@dataclasses.dataclass
class AugMixConfig(AugmentConfig):
    factor: float = knob(0.3, "`AugMix(factor=)`: the severity", UNIT)
    num_chains: int = knob(3, "`AugMix(num_chains=)`", COUNT)
    chain_depth: int = knob(3, "`AugMix(chain_depth=)`: the most operations per chain", COUNT)
    alpha: float = knob(1.0, "`AugMix(alpha=)`: Dirichlet and Beta concentration", above(0))


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
        None, "a UTF-8 file of `word: syn1, syn2` lines; null: WordNet via nltk"
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
    """The epoch budget and batch size shared by every arm."""

    epochs: int = knob(10, "`model.fit(epochs=)`", COUNT)
    batch_size: int = knob(32, "`tf.data.Dataset.batch()`; at most the training split", COUNT)


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

    U = `training.epochs * batches_per_epoch // accumulation`. Durations are fractions of U,
    so that arms stay aligned when the epoch budget changes.
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
    the unaugmented training data, as the official `bn_update` does.
    """

    enabled: bool = knob(False, BY_OPTION)
    start: float = knob(
        0.75,
        "first averaged epoch (0-based): `min(round_half_up(start * epochs), epochs - 1)`",
        Rule("in [0, 1), checked with swa=on"),  # by validation.check_swa_start
    )
    learning_rate: float | None = knob(
        None,
        "a constant rate from the start epoch (`SwaLearningRate`); null: the schedule goes on",
        nullable(above(0)),
    )
    frequency: int = knob(
        1, "epochs between snapshots", at_least(1, "(epochs between snapshots)", integer=True)
    )


@dataclasses.dataclass
class EmaConfig:
    """An exponential moving average of the weights: the optimizer's `use_ema=True` with
    `keras.callbacks.SwapEMAWeights` (the EMA weights for validation and at the end)."""

    enabled: bool = knob(False, BY_OPTION)
    momentum: float = knob(0.99, "`<optimizer>(ema_momentum=)`", FRACTION)
    overwrite_frequency: int | None = knob(
        None,
        "`<optimizer>(ema_overwrite_frequency=)`: copy the EMA into the model every N updates; "
        "null: only at the end",
        nullable(COUNT),
    )


@dataclasses.dataclass
class TrackingConfig:
    """Where runs are recorded; each run also writes plain files into its output folder."""

    backend: str = knob("mlflow", BY_OPTION, one_of(TRACKING_BACKENDS))
    uri: str | None = knob(
        None,
        "`mlflow.MlflowClient(tracking_uri=)`; null: `MLFLOW_TRACKING_URI`, else "
        "`sqlite:///mlflow.db` in the working directory",
    )
    experiment: str = knob("ablate", "the MLflow experiment (created when missing)")


@dataclasses.dataclass
class AblationConfig:
    """How a multirun sweeps (`-m`), and, filled in by the sweeper, which arm a job is."""

    design: str = knob(
        "ofat",
        "how the sweep crosses the swept knobs: one factor at a time against the baseline, "
        "leave one out of the full configuration, or every combination",
        one_of(DESIGNS),
    )
    seeds: int = knob(
        1,
        "paired seeds per arm: `seed`, `seed+1`, ... (Bouthillier et al. 2021)",
        at_least(1, "(paired seeds per arm)", integer=True),
    )
    order: str = knob(
        "interleaved",
        "run order: seed by seed with each seed's arms shuffled (seeded, printed in the plan), "
        "or every seed of one arm before the next",
        one_of(("interleaved", "blocked")),
    )
    dry_run: bool = knob(False, "print the plan and stop")
    resume: bool = knob(True, "skip the runs of the sweep already FINISHED")
    baseline: dict[str, Any] = knob({}, "the baseline value of each swept knob")
    full: dict[str, Any] = knob({}, "the full configuration of `design=loo`")
    declared: dict[str, list[str]] = knob({}, "the other keys each knob may change")
    report: bool = knob(True, "build the report when the sweep ends")
    sweep_id: str | None = knob(None, BY_SWEEPER)
    parent_run_id: str | None = knob(None, BY_SWEEPER)
    arm: str | None = knob(None, BY_SWEEPER)
    role: str | None = knob(None, BY_SWEEPER)
    factor: str | None = knob(None, BY_SWEEPER)
    value: str | None = knob(None, BY_SWEEPER)
    knobs: str | None = knob(None, BY_SWEEPER)


@dataclasses.dataclass
class AblateConfig:
    """The groups, and the knobs outside them: loss, accumulation, seeding, determinism."""

    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    training: TrainingConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    schedule: ScheduleConfig = MISSING
    augment: AugmentConfig = MISSING
    balance: BalanceConfig = MISSING
    attention: AttentionConfig = MISSING
    swa: SwaConfig = MISSING
    ema: EmaConfig = MISSING
    tracking: TrackingConfig = MISSING
    ablation: AblationConfig = dataclasses.field(default_factory=AblationConfig)
    smoothing: float = knob(
        0.0,
        "label smoothing: `keras.losses.CategoricalCrossentropy(label_smoothing=)` (Szegedy et "
        "al. 2016; Müller et al. 2019)",
        FRACTION,
    )
    accumulation: int = knob(
        1,
        "`<optimizer>(gradient_accumulation_steps=)`: gradients averaged over this many "
        "batches per update, at most the batches per epoch; one large batch only without "
        "BatchNorm (BN statistics update every batch)",
        at_least(1, "(1 = no gradient accumulation)", integer=True),
    )
    seed: int = knob(
        0,
        "seeds Keras, the split, the shuffle, augmentation, samplers, the long tail and EDA",
        at_least(0, integer=True),
    )
    deterministic: bool = knob(
        True,
        "`tf.config.experimental.enable_op_determinism()`: the same config and seed give "
        "identical results",
    )


# The schemas of each group, by the names its YAML options extend.
SCHEMAS = {
    "data": {
        "base_data": DataConfig,
        "base_npz": NpzDataConfig,
        "base_image_folder": ImageFolderDataConfig,
        "base_keras": KerasDataConfig,
        "base_csv": CsvDataConfig,
        "base_text_csv": TextCsvDataConfig,
    },
    "model": {
        "base_small_cnn": SmallCnnConfig,
        "base_mlp": MlpConfig,
        "base_mobilenet": MobileNetConfig,
        "base_text_embedding": TextEmbeddingConfig,
    },
    "training": {"base_training": TrainingConfig},
    "optimizer": {"base_adam": OptimizerConfig, "base_sgd": SgdConfig, "base_adamw": AdamWConfig},
    "schedule": {
        "base_constant": ScheduleConfig,
        "base_cosine": CosineConfig,
        "base_cosine_warmup": CosineWarmupConfig,
    },
    "augment": {
        "base_none": AugmentConfig,
        "base_basic": BasicAugmentConfig,
        "base_randaugment": RandAugmentConfig,
        "base_augmix": AugMixConfig,
        "base_mixup": MixUpConfig,
        "base_cutmix": CutMixConfig,
        "base_eda": EdaConfig,
    },
    "balance": {
        "base_balance": BalanceConfig,
        "base_smote": SmoteConfig,
        "base_smote_undersample": SmoteUndersampleConfig,
    },
    "attention": {"base_attention": AttentionConfig},
    "swa": {"base_swa": SwaConfig},
    "ema": {"base_ema": EmaConfig},
    "tracking": {"base_tracking": TrackingConfig},
}


def register_schemas() -> None:
    """Stores every schema in Hydra's ConfigStore under the names the YAML files extend."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=AblateConfig)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            store.store(group=f"schema/{group}", name=name, node=node)


def _rules() -> dict[str, Rule]:
    """Returns the `Rule` of every dotted key; a key that several options share has one."""
    nodes = [("", AblateConfig), ("ablation.", AblationConfig)]
    nodes += [(f"{group}.", node) for group, named in SCHEMAS.items() for node in named.values()]
    rules = {}
    for prefix, node in nodes:
        for field in dataclasses.fields(node):
            key, rule = f"{prefix}{field.name}", field.metadata.get("rule")
            if rule is not None and rules.setdefault(key, rule).allowed != rule.allowed:
                raise TypeError(f"`{key}` has two rules: {rules[key]} and {rule}")
    return rules


RULES = _rules()


def check_knob(key: str, value) -> None:
    """Raises `InputError` when `value` breaks the rule of the dotted `key`, as `validate` does.

    For library functions that take a knob's value as an argument, e.g.
    `check_knob("balance.k_neighbors", k_neighbors)`.
    """
    RULES[key].check(key, value)


def validate(cfg: DictConfig) -> None:
    """Checks ranges and cross-field rules of a composed config, before any data is loaded.

    Args:
        cfg: the composed config (without the `hydra` node).

    Raises:
        InputError: naming the first key that has no value or is out of range, with the value
            received and what is allowed; or both keys of a refused combination.
    """
    check_required(cfg)
    check_rules(cfg, RULES)
    check_combinations(cfg)


def config_dir() -> Path:
    """Returns the directory holding `config.yaml` and the config groups.

    A wheel carries the repository's `conf/` as `ablate/conf`; a checkout or an editable
    install reads the repository's `conf/` directly, so there is one source of truth.
    """
    packaged = Path(__file__).parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


def resolved_dict(cfg: DictConfig) -> dict:
    """Returns the config as plain Python containers with every interpolation resolved."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def config_hash(resolved: dict) -> str:
    """Returns a stable 12-hex-digit hash of the config, without its seed and output paths."""
    kept = {k: v for k, v in resolved.items() if k not in UNHASHED_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """Flattens nested dicts into dotted keys: `{"a": {"b": 1}}` -> `{"a.b": 1}`."""
    flat = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat
