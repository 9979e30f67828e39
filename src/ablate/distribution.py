"""Data-parallel training of one run on several devices (`training.distribute=mirrored`).

`tf.distribute.MirroredStrategy` (the maintained successor of Horovod's data-parallel
training on one machine) keeps a copy of every variable on each of R devices and splits each
batch of `training.batch_size` examples (the global batch) across them; each replica's mean
loss is divided by R, their gradients are summed, and every copy applies the same update.
What a run under it shares with the same run on one device:

- the gradient of a full batch, up to float rounding;
- BatchNormalization statistics, over the global batch (`synchronized`, `ablate.models`);
- the batches, their order and their augmentation: Keras takes one batch from an iterator
  of its own to build the distributed model before it trains, and the training data is
  `replayable`, so that this does not move the shuffles and augmentations by an epoch.

What differs: the last, partial batch of an epoch is split unevenly and each replica's mean
counts 1/R, so its examples weigh slightly differently; Dropout draws the same mask on every
replica (Keras 3 keeps one seed-generator state for all of them), so example i of each
replica's share gets the same mask where one device draws one per example; and Keras does
not compile with XLA under a strategy (on a GPU it does by default). Gradient accumulation,
the EMA's periodic overwrite and text models are refused (`ablate.validation.
check_distribute_fits`).

The strategy uses the devices TensorFlow sees: every GPU, else the CPU's logical devices, of
which there is one unless `tf.config.set_logical_device_configuration` split the CPU before
TensorFlow initialised (a warm worker's TensorFlow is initialised before its first job). With
one device the run trains with 1 replica, as without the strategy (bit for bit on a CPU; on a
GPU without XLA).
"""

import functools
from collections.abc import Callable

import tensorflow as tf


def training_strategy(distribute: str) -> tf.distribute.Strategy:
    """Returns the strategy whose `scope()` a run builds and compiles its model under.

    Args:
        distribute: the `training.distribute` knob: `none` or `mirrored`.

    Returns:
        For `mirrored`, the process's `tf.distribute.MirroredStrategy` over every visible
        device; else TensorFlow's default strategy (one device; its `scope()` changes nothing).

    Example:

    >>> strategy = training_strategy("mirrored")
    >>> with strategy.scope():
    ...     model = build_model(...)
    >>> strategy.num_replicas_in_sync  # 2 on two GPUs
    """
    if distribute == "mirrored":
        return _mirrored_strategy()
    return tf.distribute.get_strategy()


@functools.cache
def _mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """One strategy per process: a second one would number its collective operations from
    the start again, and TensorFlow aborts when the same number meets gradients of another
    shape (a warm worker's next job with another model)."""
    return tf.distribute.MirroredStrategy()


def replayable(build: Callable[[], tf.data.Dataset]) -> tf.data.Dataset:
    """Returns a dataset each of whose iterators yields what `build()`'s first iterator yields.

    A seeded `tf.data` draw that changes every epoch (`shuffle(reshuffle_each_iteration=True)`,
    `ablate.techniques.augmentation.seed_stream`) takes the next values for every iterator
    made of its dataset: a second iterator sees what the first would have seen in its second
    epoch. Keras `fit` under a distribution strategy makes such an iterator, and takes one
    batch from it, before the one it trains on. Here `build` runs inside a `flat_map`
    function, so every iterator gets datasets of its own, with fresh draws from the same
    seeds: the same batches, in the same order, as a single device's one iterator.

    Args:
        build: builds the dataset; it runs while TensorFlow traces a `tf.data` function, so it
            must take its data from datasets built beforehand (`example_dataset`), not from
            NumPy arrays (they would be copied into the function as constants).

    Returns:
        A `tf.data.Dataset` with `build()`'s elements; its cardinality is unknown.

    Example:

    >>> examples = example_dataset(x, y, num_classes)
    >>> train = replayable(lambda: batch_examples(examples, len(y), 32, seed).repeat())
    """
    return tf.data.Dataset.from_tensors(0).flat_map(lambda _: build())
