"""Typed schemas for every config group: the one home of each knob's default, rule and help.

The dataclasses are registered in Hydra's ConfigStore as `schema/<group>/base_*` entries. Each
YAML option in `conf/` starts from one of them (`defaults: [/schema/data/base_npz@_here_]`)
and lists the values it sets, so a typo (`smoothign=0.1`) or a wrong type
(`training.epochs=abc`) fails while Hydra composes the config, naming the full key. Every field
is declared with `knob`: its default, what it does, and the `Rule` its values must follow
(`ablate.validation`). `validate` checks those rules and the cross-field checks before any
data is loaded; `ablate.knob_reference` renders them all as `docs/knobs.md`.
"""

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ablate.technique_config import (
    AdamWConfig,
    AttentionConfig,
    AugmentConfig,
    AugMixConfig,
    AutoAugmentConfig,
    BalanceConfig,
    BasicAugmentConfig,
    ChannelAttentionConfig,
    CosineConfig,
    CosineWarmupConfig,
    CutMixConfig,
    EdaConfig,
    EmaConfig,
    MhsaConfig,
    MixUpConfig,
    OptimizerConfig,
    ProfileConfig,
    QuantizeConfig,
    RandAugmentConfig,
    ScheduleConfig,
    SgdConfig,
    SmoteConfig,
    SmoteUndersampleConfig,
    SwaConfig,
    TrainingConfig,
)
from ablate.validation import (
    BY_OPTION,
    BY_SWEEPER,
    CONVOLUTIONAL_MODELS,
    COUNT,
    FRACTION,
    IMAGE_AUGMENTATIONS,  # noqa: F401  (imported from here by ablate.techniques.augmentation)
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_SEED,
    NAME,
    PATH,
    POSITIVE_INTEGERS,
    SEEDS,
    Rule,
    above,
    at_least,
    check_combinations,
    check_required,
    check_rules,
    integer_in,
    interval,
    knob,
    nullable,
    one_of,
    text,
    validate_for_data,  # noqa: F401  (imported from here by ablate.run)
)

# The option lists; those that the cross-field checks name live beside them in ablate.validation.
DATA_SOURCES = (
    "mnist5k",
    "digits",
    "npz",
    "image_folder",
    "keras",
    "fashion_mnist",
    "csv",
    "text_csv",
)
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
MODELS = (*CONVOLUTIONAL_MODELS, "mlp", "text_embedding")
TRACKING_BACKENDS = ("mlflow", "none")
DESIGNS = ("ofat", "loo", "factorial")
# Keys that do not change what is trained: where results go, the replicate's seed, the sweep.
UNHASHED_KEYS = ("seed", "tracking", "ablation")


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
        PATH,
    )


@dataclasses.dataclass
class ImageFolderDataConfig(DataConfig):
    path: str = knob(MISSING, "a folder with one subfolder of images per class", PATH)
    color_mode: str = knob(
        "rgb", "`image_dataset_from_directory(color_mode=)`", one_of(("rgb", "grayscale"))
    )


@dataclasses.dataclass
class KerasDataConfig(DataConfig):
    dataset: str = knob("mnist", "`keras.datasets.<dataset>.load_data()`", one_of(KERAS_DATASETS))


@dataclasses.dataclass
class FashionMnistDataConfig(DataConfig):
    path: str = knob(
        "/usr/share/datasets/fashion-mnist",
        "a folder of the four Fashion-MNIST IDX files (`.gz` or not): Debian's "
        "`dataset-fashion-mnist`, or Keras' cache `~/.keras/datasets/fashion-mnist`",
        PATH,
    )
    train_size: int | None = knob(
        None,
        "training images kept: a stratified subset drawn with seed 0, the same for every run "
        "seed; null: all",
        nullable(integer_in(20, 60_000, "(at least 2 images per class)")),
    )


@dataclasses.dataclass
class CsvDataConfig(DataConfig):
    path: str = knob(MISSING, "a CSV file of numeric feature columns and a label column", PATH)
    label_column: str = knob(
        "label", "the label column; labels map to 0..C-1 in sorted order", NAME
    )


@dataclasses.dataclass
class TextCsvDataConfig(DataConfig):
    path: str = knob(MISSING, "a CSV file (`pandas.read_csv`) of texts and labels", PATH)
    text_column: str = knob("text", "the text column (not the label column)", NAME)
    label_column: str = knob(
        "label", "the label column; labels map to 0..C-1 in sorted order", NAME
    )


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
    minimalistic: bool = knob(
        False,
        "`MobileNetV3Small(minimalistic=)`: 3x3 kernels and ReLU instead of 5x5 and hard-swish; "
        "unlike Keras, SE blocks stay as `se` says (Keras' minimalistic model: `se=false`)",
    )
    se: bool = knob(
        True,
        "the squeeze-and-excitation blocks of MobileNetV3 (Howard et al. 2019), in the blocks "
        "Keras gives them; separate from `minimalistic`",
    )
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
class TrackingConfig:
    """Where runs are recorded; each run also writes plain files into its output folder."""

    backend: str = knob("mlflow", BY_OPTION, one_of(TRACKING_BACKENDS))
    uri: str | None = knob(
        None,
        "`mlflow.MlflowClient(tracking_uri=)`; null: `MLFLOW_TRACKING_URI`, else "
        "`sqlite:///mlflow.db` in the working directory",
        nullable(text(MAX_PATH_LENGTH, "URI")),
    )
    experiment: str = knob(
        "ablate",
        "the MLflow experiment (created when missing)",
        text(MAX_NAME_LENGTH, "name", "(MLflow's limit)"),
    )
    timeout_s: int = knob(
        5,
        "seconds one call to a tracking server may take (`MLFLOW_HTTP_REQUEST_TIMEOUT`)",
        at_least(1, integer=True),
    )
    retries: int = knob(
        1,
        "retries of a failed call to a tracking server, 1 s apart "
        "(`MLFLOW_HTTP_REQUEST_MAX_RETRIES`); then the run goes on offline",
        at_least(0, integer=True),
    )
    log_model: bool = knob(
        False,
        "log the trained model as the run's MLflow model (Keras 3 flavor, uncompiled, with "
        "its signature), as `mlflow.keras.log_model` does; it is also kept in the run's "
        "folder (`model/`), from which `ablate.upload` logs it if the store was away",
    )


@dataclasses.dataclass
class AblationConfig:
    """How a multirun sweeps (`-m`), and, filled in by the sweeper, which arm a job is."""

    design: str = knob(
        "ofat",
        "how the sweep crosses the swept knobs: one factor at a time against the baseline, "
        "leave one out of the full configuration, or every combination",
        one_of(DESIGNS),
    )
    seeds: Any = knob(
        1,
        "paired seeds per arm: `seed`, `seed+1`, ... (Bouthillier et al. 2021), at most "
        "`ablation.max_seeds`; `auto`: adaptive seeding, `ablation.min_seeds` first, then "
        "`ablation.seeds_per_round` more per round to the arms whose group-sequential verdict "
        "is still open (docs/statistics.md)",
        SEEDS,
    )
    max_seeds: int | None = knob(
        None,
        "the most paired seeds per arm (null: 20 with `seeds=auto`, else 1000, so that a typo "
        "such as `ablation.seeds=100000` does not plan a sweep that never ends; raise it on "
        "the same command line)",
        nullable(COUNT),
    )
    min_seeds: int = knob(
        5, "with `seeds=auto`: paired seeds of the first round", at_least(2, integer=True)
    )
    seeds_per_round: int = knob(
        1, "with `seeds=auto`: paired seeds added per round to each open arm", COUNT
    )
    budget_s: float | None = knob(
        None,
        "with `seeds=auto`: wall-clock seconds for the sweep; no round starts that would end "
        "after it (by the mean run time so far), and the open arms take their final look",
        nullable(at_least(1)),
    )
    order: str = knob(
        "interleaved",
        "run order: seed by seed with each seed's arms shuffled (seeded, printed in the plan), "
        "or every seed of one arm before the next",
        one_of(("interleaved", "blocked")),
    )
    dry_run: bool = knob(False, "print the plan and stop")
    resume: bool = knob(True, "skip the runs of the sweep already FINISHED")
    reuse: bool = knob(
        True,
        "copy, instead of training, a FINISHED run of the experiment with the same identity "
        "(config hash, seed, data content, ablate and library versions), tagged "
        "`ablate.reused_from`",
    )
    baseline: dict[str, Any] = knob({}, "the baseline value of each swept knob")
    full: dict[str, Any] = knob({}, "the full configuration of `design=loo`")
    declared: dict[str, list[str]] = knob({}, "the other keys each knob may change")
    report: bool = knob(True, "build the report when the sweep ends")
    sweep_id: str | None = knob(None, BY_SWEEPER)
    parent_run_id: str | None = knob(None, BY_SWEEPER)
    run_id: str | None = knob(None, BY_SWEEPER + " (the run it claimed for the job)")
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
    profile: ProfileConfig = MISSING
    quantize: QuantizeConfig = MISSING
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
        integer_in(0, MAX_SEED, "(NumPy's seed range)"),
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
        "base_fashion_mnist": FashionMnistDataConfig,
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
        "base_autoaugment": AutoAugmentConfig,
        "base_mixup": MixUpConfig,
        "base_cutmix": CutMixConfig,
        "base_eda": EdaConfig,
    },
    "balance": {
        "base_balance": BalanceConfig,
        "base_smote": SmoteConfig,
        "base_smote_undersample": SmoteUndersampleConfig,
    },
    "attention": {
        "base_attention": AttentionConfig,
        "base_channel_attention": ChannelAttentionConfig,
        "base_mhsa": MhsaConfig,
    },
    "swa": {"base_swa": SwaConfig},
    "ema": {"base_ema": EmaConfig},
    "profile": {"base_profile": ProfileConfig},
    "quantize": {"base_quantize": QuantizeConfig},
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
