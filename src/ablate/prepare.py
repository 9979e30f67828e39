"""From splits to the `tf.data` pipelines of one run, with the data techniques applied.

Everything here touches the training split only: the long-tailed subset (`data.imbalance`),
resampling or class weights (`balance`), text augmentation (`augment=eda`, offline copies) and
image augmentation (`augment=basic|randaugment|augmix|mixup|cutmix`, mapped over training
batches in `tf.data`). Validation and test splits are never transformed.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ablate.splits import Splits, check_batch_size, to_tf_dataset

RESAMPLING = ("oversample", "smote", "undersample", "smote_undersample")
FLIPPABLE_SOURCES = ("image_folder",)  # natural images; digits must never be mirrored
FLIPPABLE_KERAS_DATASETS = ("cifar10", "cifar100", "fashion_mnist")


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """The pipelines of one run and what training needs to know about them.

    Attributes:
        splits: the arrays after the training-split techniques.
        train: shuffled (and augmented) training batches.
        train_plain: training batches without augmentation, in a fixed order (SWA's BN pass).
        val: validation batches.
        test: test batches.
        steps_per_epoch: training batches per epoch.
        class_weight: `{class: weight}` for `fit`, or None.
    """

    splits: Splits
    train: object
    train_plain: object
    val: object
    test: object
    steps_per_epoch: int
    class_weight: dict | None


def cache_dir() -> Path:
    """Where resampled training splits are cached: `$ABLATE_CACHE_DIR` or `~/.cache/ablate`."""
    return Path(os.environ.get("ABLATE_CACHE_DIR", Path.home() / ".cache" / "ablate"))


def _file_stamp(data_cfg: DictConfig) -> list | None:
    """Size and modification time of a user file, so an edited file is resampled anew."""
    path = data_cfg.get("path")
    if not path or not Path(path).exists():
        return None
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


def horizontal_flip(cfg: DictConfig) -> bool:
    """`augment.horizontal_flip`, with null meaning: flip natural images, never digits."""
    if cfg.augment.horizontal_flip is not None:
        return cfg.augment.horizontal_flip
    data = cfg.data
    return data.name in FLIPPABLE_SOURCES or (
        data.name == "keras" and data.dataset in FLIPPABLE_KERAS_DATASETS
    )


def _training_split_techniques(cfg: DictConfig, splits: Splits) -> tuple[Splits, dict | None]:
    from ablate import balance

    x, y = splits.x_train, splits.y_train
    if cfg.data.imbalance > 1.0:
        kept = balance.long_tailed_indices(y, cfg.data.imbalance, cfg.seed)
        x, y = x[kept], y[kept]
    method, class_weight = cfg.balance.name, None
    if method == "class_weight":
        class_weight = balance.class_weights(y, splits.num_classes)
    elif method in RESAMPLING:
        options = {k: v for k, v in OmegaConf.to_container(cfg.balance).items() if k != "name"}
        key = {
            "data": OmegaConf.to_container(cfg.data),
            "seed": cfg.seed,
            "source": _file_stamp(cfg.data),
        }
        if x.dtype.kind == "O":  # texts: fixed-width strings load back without pickling
            x = x.astype(str)
        x, y = balance.cached_resample(cache_dir(), key, x, y, method, seed=cfg.seed, **options)
    if cfg.augment.name == "eda":
        from ablate.eda import augment_texts, load_synonyms

        params = {
            k: v
            for k, v in OmegaConf.to_container(cfg.augment).items()
            if k not in ("name", "synonyms_path")
        }
        synonyms = load_synonyms(cfg.augment.synonyms_path)
        x, y = augment_texts(x, y, synonyms, cfg.seed, **params)
    return dataclasses.replace(splits, x_train=x, y_train=y), class_weight


def _image_augmentation(cfg: DictConfig, image_shape):
    from ablate.augment import build_augmentation

    options = {k: v for k, v in OmegaConf.to_container(cfg.augment).items() if k != "name"}
    if cfg.augment.name == "basic":
        options["horizontal_flip"] = horizontal_flip(cfg)
    if cfg.augment.name == "randaugment":
        options["magnitude"] = options.pop("factor")
    if cfg.augment.name == "augmix":
        options["severity"] = options.pop("factor")
        options["augmix_alpha"] = options.pop("alpha")
    if cfg.augment.name == "cutmix":
        options["cutmix_factor"] = options.pop("factor")
    return build_augmentation(
        cfg.augment.name, image_shape=tuple(image_shape), seed=cfg.seed, **options
    )


def prepare_data(cfg: DictConfig, splits: Splits) -> PreparedData:
    """Applies the training-split techniques and builds the pipelines.

    Args:
        cfg: the composed config.
        splits: the stratified splits.

    Returns:
        The `PreparedData`.

    Raises:
        InputError: if a technique cannot work on this data (e.g. SMOTE on a class smaller
            than its neighbours) or the batch size exceeds the training split.
    """
    from ablate.optimization import check_accumulation

    splits, class_weight = _training_split_techniques(cfg, splits)
    batch_size, num_classes = cfg.training.batch_size, splits.num_classes
    check_batch_size(splits, batch_size)
    steps_per_epoch = int(np.ceil(len(splits.y_train) / batch_size))
    check_accumulation(cfg.accumulation, steps_per_epoch, batch_size)

    train = to_tf_dataset(splits.x_train, splits.y_train, num_classes, batch_size, cfg.seed)
    if cfg.augment.name not in ("none", "eda"):
        from ablate.augment import augment_dataset

        train = augment_dataset(train, _image_augmentation(cfg, splits.x_train.shape[1:]))
    return PreparedData(
        splits=splits,
        train=train,
        train_plain=to_tf_dataset(splits.x_train, splits.y_train, num_classes, batch_size),
        val=to_tf_dataset(splits.x_val, splits.y_val, num_classes, batch_size),
        test=to_tf_dataset(splits.x_test, splits.y_test, num_classes, batch_size),
        steps_per_epoch=steps_per_epoch,
        class_weight=class_weight,
    )
