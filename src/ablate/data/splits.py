"""Stratified, seeded train/validation/test splits and the `tf.data` pipelines fed to Keras."""

import dataclasses

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.errors import InputError


@dataclasses.dataclass(frozen=True)
class Splits:
    """The three splits of one dataset; `y_*` hold integer class indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    def class_counts(self) -> dict[str, list[int]]:
        """Returns the number of examples of each class in every split."""
        return {
            name: np.bincount(labels, minlength=self.num_classes).tolist()
            for name, labels in (
                ("train", self.y_train),
                ("val", self.y_val),
                ("test", self.y_test),
            )
        }


def _stratified_holdout(x, y, fraction, seed, key, num_classes):
    """Splits off `fraction` of the examples with every class represented on both sides."""
    from sklearn.model_selection import train_test_split

    num_held_out = int(np.ceil(fraction * len(y)))
    smallest_class = int(np.bincount(y, minlength=num_classes).min())
    if num_held_out < num_classes or len(y) - num_held_out < num_classes or smallest_class < 2:
        raise InputError(
            f"The dataset is too small for `data.{key}`: a stratified split of {len(y)} "
            f"examples in {num_classes} classes (smallest class: {smallest_class}) needs at "
            f"least one example per class on each side. Received: data.{key}={fraction}. "
            "Use more data or a larger fraction."
        )
    return train_test_split(x, y, test_size=num_held_out, stratify=y, random_state=seed)


def split_dataset(raw: RawDataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Splits a dataset into stratified train, validation and test parts.

    When the source defines its own test split (`raw.x_test`), it is kept as is and the
    validation split is `val_fraction` of the remaining examples; otherwise both fractions
    are fractions of all examples. The same seed always gives the same split.

    Args:
        raw: the loaded dataset.
        val_fraction: share of examples held out for validation.
        test_fraction: share of examples held out for the final test (ignored when the
            source has a test split).
        seed: random state of the shuffles.

    Returns:
        The `Splits`.

    Raises:
        InputError: if a split would miss a class.
    """
    num_classes = raw.num_classes
    if raw.x_test is not None:
        x_rest, y_rest, x_test, y_test = raw.x, raw.y, raw.x_test, raw.y_test
        val_share = val_fraction
    else:
        x_rest, x_test, y_rest, y_test = _stratified_holdout(
            raw.x, raw.y, test_fraction, seed, "test_fraction", num_classes
        )
        val_share = val_fraction / (1.0 - test_fraction)
    x_train, x_val, y_train, y_val = _stratified_holdout(
        x_rest, y_rest, val_share, seed, "val_fraction", num_classes
    )
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, num_classes)


def check_batch_size(splits: Splits, batch_size: int) -> None:
    """Refuses a batch size larger than the training split (Keras would train on one batch).

    Raises:
        InputError: naming `training.batch_size` and the training split's size.
    """
    num_train = len(splits.y_train)
    if batch_size > num_train:
        raise InputError(
            f"`training.batch_size` must be at most the training split's size ({num_train} "
            f"examples). Received: training.batch_size={batch_size}. Lower the batch size or "
            "use more data."
        )


def to_tf_dataset(x, y, num_classes: int, batch_size: int, shuffle_seed: int | None = None):
    """Builds a cached, batched, prefetched `tf.data.Dataset` with one-hot float labels.

    `batch_examples(example_dataset(x, y, num_classes), len(y), batch_size, shuffle_seed)`.

    Args:
        x: features or images.
        y: integer class indices.
        num_classes: width of the one-hot labels.
        batch_size: examples per batch.
        shuffle_seed: reshuffle every epoch with this seed; `None` keeps the order
            (validation and test). Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of `(x, one_hot_y)` batches.
    """
    return batch_examples(example_dataset(x, y, num_classes), len(y), batch_size, shuffle_seed)


def example_dataset(x, y, num_classes: int):
    """Returns the cached `(x, one_hot_y)` examples of a split, one by one, in their order.

    Features become float32 (texts: strings) and labels one-hot float32 rows.
    """
    import keras
    import tensorflow as tf

    one_hot = keras.utils.to_categorical(y, num_classes).astype("float32")
    features = x.astype("str") if x.dtype.kind in "OU" else x.astype("float32")  # text: strings
    return tf.data.Dataset.from_tensor_slices((features, one_hot)).cache()


def batch_examples(examples, num_examples: int, batch_size: int, shuffle_seed: int | None = None):
    """Batches the examples of `example_dataset`, reshuffled every epoch when seeded.

    The shuffle belongs to the returned dataset: each iterator of it draws the next order
    from the seed, the first iterator the first order. Built again (inside a `flat_map`
    function), it starts again from the first order.

    Args:
        examples: from `example_dataset`.
        num_examples: how many there are (the shuffle buffer holds them all).
        batch_size: examples per batch.
        shuffle_seed: reshuffle every epoch with this seed; `None` keeps the order.
            Defaults to `None`.

    Returns:
        A prefetched `tf.data.Dataset` of `(x, one_hot_y)` batches.
    """
    import tensorflow as tf

    if shuffle_seed is not None:
        examples = examples.shuffle(num_examples, seed=shuffle_seed, reshuffle_each_iteration=True)
    return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)
