"""Typed schemas for every config group, and the cross-field checks Hydra cannot express.

The dataclasses are registered in Hydra's ConfigStore as `schema/<group>/base_*` entries. Each
YAML option in `conf/` starts from one of them (`defaults: [/schema/data/base_npz@_here_]`),
so a typo (`smoothign=0.1`) or a wrong type (`training.epochs=abc`) fails while Hydra composes
the config, naming the full key. Ranges and rules that involve several keys live in
`validate`, which runs before any data is loaded.
"""

import dataclasses
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ablate.errors import InputError

DATA_SOURCES = ("mnist5k", "digits", "npz", "image_folder", "keras", "csv", "text_csv")
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
TRACKING_BACKENDS = ("mlflow", "none")


@dataclasses.dataclass
class DataConfig:
    """Where the examples come from and how they are split (fractions of all examples)."""

    name: str = MISSING
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    image_size: int | None = None
    imbalance: float = 1.0


@dataclasses.dataclass
class NpzDataConfig(DataConfig):
    path: str = MISSING


@dataclasses.dataclass
class ImageFolderDataConfig(DataConfig):
    path: str = MISSING
    image_size: int | None = 64
    color_mode: str = "rgb"


@dataclasses.dataclass
class KerasDataConfig(DataConfig):
    dataset: str = "mnist"


@dataclasses.dataclass
class CsvDataConfig(DataConfig):
    path: str = MISSING
    label_column: str = "label"


@dataclasses.dataclass
class TextCsvDataConfig(DataConfig):
    path: str = MISSING
    text_column: str = "text"
    label_column: str = "label"


@dataclasses.dataclass
class ModelConfig:
    name: str = MISSING
    dropout: float = 0.5


@dataclasses.dataclass
class SmallCnnConfig(ModelConfig):
    filters: list[int] = dataclasses.field(default_factory=lambda: [32, 64])
    kernel_size: int = 3


@dataclasses.dataclass
class MlpConfig(ModelConfig):
    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [128, 64])


@dataclasses.dataclass
class MobileNetConfig(ModelConfig):
    dropout: float = 0.2
    alpha: float = 1.0
    minimalistic: bool = False
    bn_momentum: float = 0.9
    weights: str | None = None
    min_size: int = 32


@dataclasses.dataclass
class TextEmbeddingConfig(ModelConfig):
    max_tokens: int = 10000
    sequence_length: int = 64
    embedding_dim: int = 64


@dataclasses.dataclass
class AttentionConfig:
    enabled: bool = False
    heads: int = 4
    key_dim: int = 32


@dataclasses.dataclass
class AugmentConfig:
    name: str = "none"


@dataclasses.dataclass
class BasicAugmentConfig(AugmentConfig):
    factor: float = 0.1
    horizontal_flip: bool | None = None


@dataclasses.dataclass
class RandAugmentConfig(AugmentConfig):
    num_ops: int = 2
    factor: float = 0.5


@dataclasses.dataclass
class AugMixConfig(AugmentConfig):
    factor: float = 0.3
    num_chains: int = 3
    chain_depth: int = 3
    alpha: float = 1.0


@dataclasses.dataclass
class MixUpConfig(AugmentConfig):
    alpha: float = 0.2


@dataclasses.dataclass
class CutMixConfig(AugmentConfig):
    factor: float = 1.0


@dataclasses.dataclass
class EdaConfig(AugmentConfig):
    alpha_sr: float = 0.1
    alpha_ri: float = 0.1
    alpha_rs: float = 0.1
    p_rd: float = 0.1
    num_aug: int = 4
    synonyms_path: str | None = None


@dataclasses.dataclass
class BalanceConfig:
    name: str = "none"


@dataclasses.dataclass
class SmoteConfig(BalanceConfig):
    k_neighbors: int = 5


@dataclasses.dataclass
class SmoteUndersampleConfig(SmoteConfig):
    smote_ratio: float = 0.5
    undersample_ratio: float = 0.8


@dataclasses.dataclass
class TrainingConfig:
    epochs: int = 10
    batch_size: int = 32


@dataclasses.dataclass
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 1e-3


@dataclasses.dataclass
class SgdConfig(OptimizerConfig):
    learning_rate: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False


@dataclasses.dataclass
class AdamWConfig(OptimizerConfig):
    weight_decay: float = 1e-4


@dataclasses.dataclass
class ScheduleConfig:
    name: str = "constant"


@dataclasses.dataclass
class CosineConfig(ScheduleConfig):
    alpha: float = 0.0


@dataclasses.dataclass
class CosineWarmupConfig(CosineConfig):
    warmup: float = 0.05


@dataclasses.dataclass
class SwaConfig:
    enabled: bool = False
    start: float = 0.75
    learning_rate: float | None = None
    frequency: int = 1


@dataclasses.dataclass
class EmaConfig:
    enabled: bool = False
    momentum: float = 0.99
    overwrite_frequency: int | None = None


@dataclasses.dataclass
class TrackingConfig:
    backend: str = "mlflow"
    uri: str | None = None
    experiment: str = "ablate"


@dataclasses.dataclass
class AblationConfig:
    """How a multirun sweeps (`-m`), and, filled in by the sweeper, which arm a job is."""

    design: str = "ofat"
    seeds: int = 1
    dry_run: bool = False
    resume: bool = True
    baseline: dict[str, Any] = dataclasses.field(default_factory=dict)
    full: dict[str, Any] = dataclasses.field(default_factory=dict)
    declared: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    report: bool = True
    sweep_id: str | None = None
    parent_run_id: str | None = None
    arm: str | None = None
    role: str | None = None
    factor: str | None = None
    value: str | None = None
    knobs: str | None = None


@dataclasses.dataclass
class AblateConfig:
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
    smoothing: float = 0.0
    accumulation: int = 1
    seed: int = 0
    deterministic: bool = True


def register_schemas() -> None:
    """Stores every schema in Hydra's ConfigStore under the names the YAML files extend."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=AblateConfig)
    groups = {
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
        "optimizer": {
            "base_adam": OptimizerConfig,
            "base_sgd": SgdConfig,
            "base_adamw": AdamWConfig,
        },
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
    for group, schemas in groups.items():
        for name, node in schemas.items():
            store.store(group=f"schema/{group}", name=name, node=node)


def _require(condition: bool, key: str, value, expectation: str) -> None:
    if not condition:
        raise InputError(f"`{key}` must be {expectation}. Received: {key}={value}")


def _fraction(value) -> bool:
    return 0.0 <= value < 1.0


# (key, test, what is allowed): range checks of single keys, applied when the key exists.
RANGES = (
    ("training.epochs", lambda v: v >= 1, "an integer >= 1"),
    ("training.batch_size", lambda v: v >= 1, "an integer >= 1"),
    ("smoothing", _fraction, "in [0, 1)"),
    ("accumulation", lambda v: v >= 1, "an integer >= 1 (1 = no gradient accumulation)"),
    ("seed", lambda v: v >= 0, "an integer >= 0"),
    ("optimizer.learning_rate", lambda v: v > 0, "> 0"),
    ("optimizer.momentum", _fraction, "in [0, 1)"),
    ("optimizer.weight_decay", lambda v: v >= 0, ">= 0"),
    ("schedule.alpha", lambda v: 0.0 <= v <= 1.0, "in [0, 1] (the final fraction of the rate)"),
    ("schedule.warmup", _fraction, "in [0, 1) (a fraction of all optimizer updates)"),
    ("model.dropout", _fraction, "in [0, 1)"),
    ("model.alpha", lambda v: v > 0, "> 0 (the width multiplier)"),
    ("model.bn_momentum", _fraction, "in [0, 1)"),
    ("model.min_size", lambda v: v >= 32, ">= 32 (MobileNetV3's smallest input)"),
    ("model.max_tokens", lambda v: v >= 3, "an integer >= 3"),
    ("model.kernel_size", lambda v: v >= 1, "an integer >= 1"),
    ("model.sequence_length", lambda v: v >= 1, "an integer >= 1"),
    ("model.embedding_dim", lambda v: v >= 1, "an integer >= 1"),
    ("data.val_fraction", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
    ("data.test_fraction", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
    ("data.image_size", lambda v: v is None or v >= 1, "null or an integer >= 1"),
    ("data.imbalance", lambda v: v >= 1.0, ">= 1 (1 = the data as it is)"),
    ("augment.factor", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    ("augment.num_ops", lambda v: v >= 1, "an integer >= 1"),
    ("augment.alpha", lambda v: v > 0, "> 0"),
    ("augment.num_chains", lambda v: v >= 1, "an integer >= 1"),
    ("augment.chain_depth", lambda v: v >= 1, "an integer >= 1"),
    ("augment.alpha_sr", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    ("augment.alpha_ri", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    ("augment.alpha_rs", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    ("augment.p_rd", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    ("augment.num_aug", lambda v: v >= 0, "an integer >= 0"),
    ("balance.k_neighbors", lambda v: v >= 1, "an integer >= 1"),
    ("balance.smote_ratio", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    ("balance.undersample_ratio", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    ("attention.heads", lambda v: v >= 1, "an integer >= 1"),
    ("attention.key_dim", lambda v: v >= 1, "an integer >= 1"),
    ("swa.learning_rate", lambda v: v is None or v > 0, "null or > 0"),
    ("swa.frequency", lambda v: v >= 1, "an integer >= 1 (epochs between snapshots)"),
    ("ema.momentum", _fraction, "in [0, 1)"),
    ("ema.overwrite_frequency", lambda v: v is None or v >= 1, "null or an integer >= 1"),
    ("ablation.seeds", lambda v: v >= 1, "an integer >= 1 (paired seeds per arm)"),
)
CHOICES = (
    ("data.name", DATA_SOURCES),
    ("tracking.backend", TRACKING_BACKENDS),
    ("data.color_mode", ("rgb", "grayscale")),
    ("model.weights", (None, "imagenet")),
    ("ablation.design", ("ofat", "loo", "factorial")),
)
IMAGE_AUGMENTATIONS = ("basic", "randaugment", "augmix", "mixup", "cutmix")
# What each source holds; an npz file may hold either images or a table (checked after loading).
MODALITY_OF_SOURCE = {
    "mnist5k": "image",
    "digits": "image",
    "image_folder": "image",
    "keras": "image",
    "csv": "tabular",
    "text_csv": "text",
}


def _both(first: str, second: str, reason: str, fix: str) -> InputError:
    return InputError(
        f"`{first}` cannot be combined with `{second}`: {reason}. Received: "
        f"{first} with {second}. {fix}"
    )


def validate(cfg: DictConfig) -> None:
    """Checks ranges and cross-field rules of a composed config, before any data is loaded.

    Args:
        cfg: the composed config (without the `hydra` node).

    Raises:
        InputError: naming the first key that is out of range, with the value received and
            what is allowed; or both keys of a refused combination.
    """
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        raise InputError(
            f"`{key}` is required by this configuration and has no value. Received: {key}=??? "
            f"Set it on the command line, e.g. `python -m ablate ... {key}=<value>`."
        )
    for key, test, expectation in RANGES:
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>":
            _require(test(value), key, value, expectation)
    for key, allowed in CHOICES:
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>":
            _require(value in allowed, key, value, f"one of {list(allowed)}")
    data = cfg.data
    _require(
        data.val_fraction + data.test_fraction < 1.0,
        "data.val_fraction",
        data.val_fraction,
        f"such that data.val_fraction + data.test_fraction < 1 "
        f"(data.test_fraction={data.test_fraction})",
    )
    if data.name == "keras":
        _require(
            data.dataset in KERAS_DATASETS,
            "data.dataset",
            data.dataset,
            f"one of {list(KERAS_DATASETS)}",
        )
    for key in ("model.filters", "model.hidden_units"):
        units = OmegaConf.select(cfg, key, default=None)
        if units is not None:
            _require(
                len(units) >= 1 and all(u >= 1 for u in units),
                key,
                list(units),
                "a non-empty list of integers >= 1",
            )
    if cfg.swa.enabled and not _fraction(cfg.swa.start):  # swa_start_epoch maps [0, 1)
        raise InputError(
            "`swa.start` must leave at least one epoch to average: a fraction of training in "
            f"[0, 1). Received: swa.start={cfg.swa.start} with "
            f"training.epochs={cfg.training.epochs}. Lower swa.start."
        )
    if cfg.swa.enabled and cfg.ema.enabled:
        raise _both(
            "swa=on",
            "ema=on",
            "both replace the final weights with an average",
            "Compare them as two arms: swa=on,off ema=on,off.",
        )
    if cfg.attention.enabled and cfg.model.name in ("mlp", "text_embedding"):
        raise _both(
            "attention=on",
            f"model={cfg.model.name}",
            "the block follows the last convolutional stage and this model has none",
            "Use model=small_cnn or model=mobilenet_v3_small, or attention=off.",
        )
    validate_for_data(cfg, MODALITY_OF_SOURCE.get(data.name))


def validate_for_data(cfg: DictConfig, modality: str | None) -> None:
    """Checks that the techniques fit the kind of data (`"image"`, `"tabular"`, `"text"`).

    Called with the modality implied by `data.name` before loading, and again with the
    loaded data's modality (an npz file may hold images or a table).

    Raises:
        InputError: naming both knobs of a combination that cannot work.
    """
    if modality is None:
        return
    data, model, augment = f"data={cfg.data.name}", f"model={cfg.model.name}", cfg.augment.name
    if modality != "image" and cfg.model.name in ("small_cnn", "mobilenet_v3_small"):
        fix = "Use model=text_embedding." if modality == "text" else "Use model=mlp."
        raise _both(model, data, f"the model needs images and the data is {modality}", fix)
    if (modality == "text") != (cfg.model.name == "text_embedding"):
        raise _both(
            model,
            data,
            f"text data needs model=text_embedding and that model reads "
            f"only text; the data is {modality}",
            "Use model=text_embedding with data=text_csv, and another model otherwise.",
        )
    if augment in IMAGE_AUGMENTATIONS and modality != "image":
        raise _both(
            f"augment={augment}",
            data,
            f"it transforms images and the data is {modality}",
            "Use augment=none" + (" or augment=eda." if modality == "text" else "."),
        )
    if augment == "eda" and modality != "text":
        raise _both(
            "augment=eda",
            data,
            f"it edits sentences and the data is {modality}",
            "Use an image augmentation such as augment=basic, or augment=none.",
        )
    if cfg.balance.name in ("smote", "smote_undersample") and modality == "text":
        raise _both(
            f"balance={cfg.balance.name}",
            data,
            "SMOTE interpolates numeric features",
            "Use balance=oversample, undersample or class_weight.",
        )
