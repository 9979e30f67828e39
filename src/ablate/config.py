"""Typed schemas for every config group, and the cross-field checks Hydra cannot express.

The dataclasses are registered in Hydra's ConfigStore as `schema/<group>/base_*` entries. Each
YAML option in `conf/` starts from one of them (`defaults: [/schema/data/base_npz@_here_]`),
so a typo (`smoothign=0.1`) or a wrong type (`training.epochs=abc`) fails while Hydra composes
the config, naming the full key. Ranges and rules that involve several keys live in
`validate`, which runs before any data is loaded.
"""

import dataclasses

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ablate.errors import InputError

DATA_SOURCES = ("mnist5k", "digits", "npz", "image_folder", "keras", "csv")
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
TRACKING_BACKENDS = ("mlflow", "none")


@dataclasses.dataclass
class DataConfig:
    """Where the examples come from and how they are split (fractions of all examples)."""

    name: str = MISSING
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    image_size: int | None = None


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
class TrainingConfig:
    epochs: int = 10
    batch_size: int = 32


@dataclasses.dataclass
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 1e-3


@dataclasses.dataclass
class SwaConfig:
    enabled: bool = False


@dataclasses.dataclass
class TrackingConfig:
    backend: str = "mlflow"
    uri: str | None = None
    experiment: str = "ablate"


@dataclasses.dataclass
class AblateConfig:
    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    training: TrainingConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    swa: SwaConfig = MISSING
    tracking: TrackingConfig = MISSING
    smoothing: float = 0.0
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
        },
        "model": {"base_small_cnn": SmallCnnConfig, "base_mlp": MlpConfig},
        "training": {"base_training": TrainingConfig},
        "optimizer": {"base_optimizer": OptimizerConfig},
        "swa": {"base_swa": SwaConfig},
        "tracking": {"base_tracking": TrackingConfig},
    }
    for group, schemas in groups.items():
        for name, node in schemas.items():
            store.store(group=f"schema/{group}", name=name, node=node)


def _require(condition: bool, key: str, value, expectation: str) -> None:
    if not condition:
        raise InputError(f"`{key}` must be {expectation}. Received: {key}={value}")


def validate(cfg: DictConfig) -> None:
    """Checks ranges and cross-field rules of a composed config.

    Args:
        cfg: the composed config (without the `hydra` node).

    Raises:
        InputError: naming the first key that is out of range, with the value received and
            what is allowed.
    """
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        raise InputError(
            f"`{key}` is required by this configuration and has no value. Received: {key}=??? "
            f"Set it on the command line, e.g. `python -m ablate ... {key}=<value>`."
        )
    data, training = cfg.data, cfg.training
    _require(training.epochs >= 1, "training.epochs", training.epochs, "an integer >= 1")
    _require(
        training.batch_size >= 1, "training.batch_size", training.batch_size, "an integer >= 1"
    )
    _require(0.0 <= cfg.smoothing < 1.0, "smoothing", cfg.smoothing, "in [0, 1)")
    _require(cfg.seed >= 0, "seed", cfg.seed, "an integer >= 0")
    _require(
        cfg.optimizer.learning_rate > 0,
        "optimizer.learning_rate",
        cfg.optimizer.learning_rate,
        "> 0",
    )
    _require(0.0 <= cfg.model.dropout < 1.0, "model.dropout", cfg.model.dropout, "in [0, 1)")
    for key in ("val_fraction", "test_fraction"):
        value = data[key]
        _require(0.0 < value < 1.0, f"data.{key}", value, "in (0, 1)")
    _require(
        data.val_fraction + data.test_fraction < 1.0,
        "data.val_fraction",
        data.val_fraction,
        f"such that data.val_fraction + data.test_fraction < 1 "
        f"(data.test_fraction={data.test_fraction})",
    )
    if data.image_size is not None:
        _require(data.image_size >= 1, "data.image_size", data.image_size, "null or >= 1")
    _require(data.name in DATA_SOURCES, "data.name", data.name, f"one of {list(DATA_SOURCES)}")
    if data.name == "keras":
        _require(
            data.dataset in KERAS_DATASETS,
            "data.dataset",
            data.dataset,
            f"one of {list(KERAS_DATASETS)}",
        )
    if data.name == "image_folder":
        _require(
            data.color_mode in ("rgb", "grayscale"),
            "data.color_mode",
            data.color_mode,
            "one of ['rgb', 'grayscale']",
        )
    _require(
        cfg.tracking.backend in TRACKING_BACKENDS,
        "tracking.backend",
        cfg.tracking.backend,
        f"one of {list(TRACKING_BACKENDS)}",
    )
    if cfg.model.name == "small_cnn":
        _require(
            all(f >= 1 for f in cfg.model.filters) and len(cfg.model.filters) >= 1,
            "model.filters",
            list(cfg.model.filters),
            "a non-empty list of integers >= 1",
        )
    if cfg.model.name == "mlp":
        _require(
            all(u >= 1 for u in cfg.model.hidden_units),
            "model.hidden_units",
            list(cfg.model.hidden_units),
            "a list of integers >= 1",
        )
    if cfg.swa.enabled:
        raise InputError(
            "`swa=on` is not implemented yet: stochastic weight averaging arrives with the "
            "technique families. Received: swa=on. Use swa=off."
        )
