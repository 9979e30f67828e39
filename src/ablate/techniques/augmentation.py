"""Image augmentation of the training split: Keras 3 preprocessing layers mapped in `tf.data`.

`build_augmentation` returns a function that augments one batch `(images, one_hot_labels)`,
eagerly or inside `tf.data.Dataset.map`; `augment_dataset` maps it over the training
pipeline. Validation and test pipelines are never passed here, so they stay untouched.
The options, one value of `augment` each:

| `augment`     | what it maps to                                                          |
|---------------|--------------------------------------------------------------------------|
| `none`        | nothing (the baseline)                                                   |
| `basic`       | the classic recipe: `RandomFlip("horizontal")` only if `horizontal_flip` |
|               | (never for digits: the caller decides), padding by `ceil(factor * side)` |
|               | black pixels and a `RandomCrop` back to the original size, then          |
|               | `RandomTranslation(factor, factor)` filling with black                   |
| `randaugment` | `PerImageRandAugment(num_ops=num_ops, factor=factor)`: Keras'            |
|               | RandAugment, every image drawing its own operations                      |
| `augmix`      | `PerImageAugMix(num_chains, chain_depth, factor=factor, alpha=alpha)`:   |
|               | Keras' AugMix, every image drawing its own chains and mixing weights     |
| `autoaugment` | `AutoAugment(policy=policy)` (`ablate.techniques.autoaugment`): the      |
|               | published ImageNet or CIFAR-10 policy, every image drawing a sub-policy  |
| `mixup`       | `MixUp(alpha=alpha)` on images and one-hot labels                        |
| `cutmix`      | `CutMix(factor=factor)` on images and one-hot labels                     |

`changed_share` measures the evidence that an option acts: the share of training images it
changes by more than a tolerance (logged as `augment_changed_share`).

What Keras 3.15 does, measured, and what this module adds:

- Per image, as the papers do: Keras 3.15's `RandAugment` and `AugMix` draw their operations
  once per batch (AugMix: once per run inside `tf.data`) and `RandomCrop` one offset per
  batch; `randaugment`, `augmix` and `basic` use the per-image layers of
  `ablate.techniques.per_image` instead.
- AutoAugment is not in Keras 3; `augment=autoaugment` implements the paper's two published
  policies on TensorFlow image ops (see `ablate.techniques.autoaugment` for the magnitude
  mapping and its deviations). RandAugment (Cubuk et al. 2020) is its successor by the same
  authors: it replaces the learned policy with two knobs, the number of operations and their
  strength.
- Grey images (one channel) work as they are: every RandAugment, AugMix and AutoAugment
  operation accepts them, and colour operations (Keras' colour degeneration, AutoAugment's
  `Color`) leave them unchanged, as they should for an image that has no colour. Nothing is
  tiled to three channels.
- Pixels stay float32 within `value_range`: Keras' colour operations clip themselves, but
  weighted sums of pixels can overshoot by float rounding (MixUp turned two pixels of 255
  into 255.00002), so every option clips its output to `value_range`.
- CutMix weighs the labels by the area of a box with fractional corners, while whole pixels
  are pasted: in a batch of 64 images the label share of the pasted image differed from its
  share of the pixels by up to 0.23 at 8x8 pixels, and by up to 0.07 at 28x28.
- Seeding: every layer gets `seed` (the three layers of `basic` get `seed`, `seed + 1` and
  `seed + 2`, so that their draws are independent). Called as a function, an augmentation
  draws from its layers' seed generators, variables that every call advances. In training,
  `augment_dataset` maps its stateless form instead (`Augmentation.seeded`): every call gets
  a seed from `seed_stream(seed)`, a stream that depends on `seed` alone and draws anew
  every epoch, and every layer draws from seeds derived from it. The batches are the same
  run to run with the same seed, whatever order or parallelism TensorFlow runs the map in.
  No option draws from Python's `random` any more.
- Throughput (`benchmarks/augmentation.md`): a map function with a variable made `tf.data`
  run the whole training pipeline serially and unprefetched under op determinism (which
  `ablate` turns on with `deterministic: true`); the stateless map runs in parallel and is
  prefetched. TensorFlow also prepares a map function anew for every iterator, at a cost
  that grows with its graph (about 0.1 ms a node), and Keras makes two training iterators
  per epoch: the steps of RandAugment, AugMix and AutoAugment run in one `tf.while_loop`
  (their graph traced once, not once per step), the augmentation's iterator is made only
  when its first batch is asked for (`augment_dataset`), and the per-image options augment
  up to 8 batches per call (`batches_per_call`), so that the per-call cost is shared.

References:
    - He et al., 2016. [Deep Residual Learning for Image Recognition](
      https://arxiv.org/abs/1512.03385). CVPR. (The pad-and-crop recipe on CIFAR-10.)
    - Cubuk et al., 2019. [AutoAugment: Learning Augmentation Strategies from Data](
      https://arxiv.org/abs/1805.09501). CVPR.
    - Cubuk et al., 2020. [RandAugment: Practical Automated Data Augmentation with a Reduced
      Search Space](https://arxiv.org/abs/1909.13719). NeurIPS.
    - Hendrycks et al., 2020. [AugMix: A Simple Data Processing Method to Improve Robustness
      and Uncertainty](https://arxiv.org/abs/1912.02781). ICLR.
    - Zhang et al., 2018. [mixup: Beyond Empirical Risk Minimization](
      https://arxiv.org/abs/1710.09412). ICLR.
    - Yun et al., 2019. [CutMix: Regularization Strategy to Train Strong Classifiers with
      Localizable Features](https://arxiv.org/abs/1905.04899). ICCV.

Example:

```python
train = to_tf_dataset(splits.x_train, splits.y_train, splits.num_classes, 64, shuffle_seed=0)
augmentation = build_augmentation("randaugment", image_shape=(28, 28, 1), seed=0)
train = augment_dataset(train, augmentation)
```
"""

import math

import keras
import numpy as np
import tensorflow as tf

from ablate.config import IMAGE_AUGMENTATIONS
from ablate.errors import InputError
from ablate.techniques import autoaugment
from ablate.techniques.per_image import PerImageAugMix, PerImageRandAugment, PerImageRandomCrop

AUGMENTATIONS = ("none", *IMAGE_AUGMENTATIONS)  # what `build_augmentation` takes
# The second seed of `augment_dataset`'s per-batch seed stream (the first is the
# augmentation's `seed`), so that the stream does not repeat the numbers of a shuffle seeded
# with `seed` (TensorFlow seeds that with the pair (global seed, `seed`)).
_SEED_STREAM_SALT = 0x5EED
# `batches_per_call`: at most this many batches, and about this many pixel values per image of
# a batch, in one call of a per-image augmentation.
_MAX_BATCHES_PER_CALL = 8
_VALUES_PER_CALL = 2**13


def _basic(image_shape, value_range, seed: int, factor: float, horizontal_flip: bool):
    """Flip (optional), pad-and-crop and translation, filling with `value_range[0]`."""
    height, width = image_shape[0], image_shape[1]
    pad_height, pad_width = math.ceil(factor * height), math.ceil(factor * width)
    black = float(value_range[0])
    flips = [keras.layers.RandomFlip("horizontal", seed=seed)] if horizontal_flip else []
    crop = PerImageRandomCrop(height, width, seed=seed + 1)
    translation = keras.layers.RandomTranslation(
        factor, factor, fill_mode="constant", fill_value=black, seed=seed + 2
    )

    def augment(images, labels):
        for flip in flips:
            images = flip(images, training=True)
        padded = tf.pad(
            images,
            [[0, 0], [pad_height, pad_height], [pad_width, pad_width], [0, 0]],
            constant_values=black,
        )
        images = crop(padded, training=True)
        return translation(images, training=True), labels

    return augment, [*flips, crop, translation]


def _on_images(layer):
    """Applies `layer` to the images and passes the labels through."""

    def augment(images, labels):
        return layer(images, training=True), labels

    return augment, [layer]


def _on_images_and_labels(layer):
    """Applies a mixing `layer` to images and one-hot labels together."""

    def augment(images, labels):
        mixed = layer({"images": images, "labels": labels}, training=True)
        return mixed["images"], mixed["labels"]

    return augment, [layer]


def _generator_holders(layers):
    """Every layer in `layers`, and every layer nested in them, that has a `generator`."""
    holders = []
    for layer in layers:
        for inner in layer._flatten_layers(include_self=True, recursive=True):
            if isinstance(getattr(inner, "generator", None), keras.random.SeedGenerator):
                holders.append(inner)
    return holders


class Augmentation:
    """A built augmentation of training batches: `(images, labels) -> (images, labels)`.

    Called as a function it draws from its layers' seed generators (Keras variables that
    every call advances), eagerly or inside `tf.data`; its images are clipped to
    `value_range` (float rounding can overshoot). `seeded` does the same with every draw
    taken from a per-batch seed tensor instead, holding no state: `augment_dataset` maps it,
    so that TensorFlow can run the map in parallel and prefetch even with op determinism
    on (a stateful map function makes `tf.data` run the whole pipeline serially and
    unprefetched there), and the batches stay reproducible from the seed.

    Args:
        augment: `(images, labels) -> (images, labels)`, drawing from `layers`.
        layers: the Keras layers `augment` calls.
        seed: the seed the layers were built with; `augment_dataset` seeds its stream of
            per-batch seeds from it.
        value_range: the `(low, high)` range of the pixels.
        per_image: whether each image's output depends on that image and its own draws
            only (not on the other images of its batch, as MixUp's and CutMix's do), so
            that `augment_dataset` may augment several batches in one call.
    """

    def __init__(self, augment, layers, seed: int, value_range, per_image: bool):
        self._augment = augment
        self._holders = _generator_holders(layers)
        self.seed = seed
        self.per_image = per_image
        self._low, self._high = float(value_range[0]), float(value_range[1])

    def __call__(self, images, labels):
        images, labels = self._augment(images, labels)
        return tf.clip_by_value(images, self._low, self._high), labels

    def seeded(self, images, labels, seed):
        """The augmentation with every random draw derived from `seed`, int `(2,)`.

        While this traces (or runs eagerly), every layer's `generator` is replaced by a
        stateless one of its own (`seed` folded with the layer's position), then put back.
        The same `seed` gives the same output; each batch should get a fresh one.
        """
        seed = tf.cast(seed, tf.int64)
        originals = [holder.generator for holder in self._holders]
        try:
            for index, holder in enumerate(self._holders):
                stateless = autoaugment.StatelessSeeds(
                    tf.random.experimental.stateless_fold_in(seed, index)
                )
                object.__setattr__(holder, "generator", stateless)  # not tracked as state
            return self(images, labels)
        finally:
            for holder, original in zip(self._holders, originals, strict=True):
                object.__setattr__(holder, "generator", original)


def _randaugment(image_shape, value_range, seed: int, num_ops: int, factor: float):
    layer = PerImageRandAugment(value_range=value_range, num_ops=num_ops, factor=factor, seed=seed)
    return _on_images(layer)


def _augmix(image_shape, value_range, seed, num_chains, chain_depth, factor, alpha):
    layer = PerImageAugMix(
        value_range=value_range,
        num_chains=num_chains,
        chain_depth=chain_depth,
        factor=factor,
        alpha=alpha,
        seed=seed,
    )
    return _on_images(layer)


def _autoaugment(image_shape, value_range, seed: int, policy: str):
    return _on_images(autoaugment.AutoAugment(policy=policy, value_range=value_range, seed=seed))


def _mixup(image_shape, value_range, seed: int, alpha: float):
    return _on_images_and_labels(keras.layers.MixUp(alpha=alpha, seed=seed))


def _cutmix(image_shape, value_range, seed: int, factor: float):
    return _on_images_and_labels(keras.layers.CutMix(factor=factor, seed=seed))


# The options whose every image is augmented on its own (MixUp and CutMix mix each batch).
PER_IMAGE = ("basic", "randaugment", "augmix", "autoaugment")
BUILDERS = {
    "basic": _basic,
    "randaugment": _randaugment,
    "augmix": _augmix,
    "autoaugment": _autoaugment,
    "mixup": _mixup,
    "cutmix": _cutmix,
}


def build_augmentation(
    name: str,
    *,
    image_shape: tuple,
    seed: int,
    value_range=(0.0, 255.0),
    **options,
) -> Augmentation | None:
    """Builds the augmentation of training batches named by `name`.

    The returned `Augmentation` is a function that takes a batch of images (float32,
    `(batch, height, width, channels)`, pixels in `value_range`) and their one-hot labels,
    and returns both augmented, with the same shapes and dtypes and pixels still in
    `value_range`. It works eagerly and inside `tf.data.Dataset.map`; `augment_dataset` maps
    its stateless `seeded` form. See the module docstring for what each option maps to.

    Args:
        name: one of `AUGMENTATIONS`.
        image_shape: the `(height, width, channels)` of one image.
        seed: seed of the layers' random draws.
        value_range: the `(low, high)` range of the pixels. Defaults to `(0.0, 255.0)`.
        **options: the option's keys as its config group names them (`ablate.config`):
            `basic`: `factor` (the padding, `ceil(factor * side)` pixels, and the largest
            translation, as a fraction of the side) and `horizontal_flip` (mirror half of the
            images; never for digits); `randaugment`: `num_ops` and `factor` (the strength on
            Keras' 0-1 scale; each strength is drawn from `[0, factor]`); `augmix`:
            `num_chains`, `chain_depth`, `factor` (strength) and `alpha` (the concentration of
            its Dirichlet and Beta draws); `autoaugment`: `policy` (`"imagenet"` or
            `"cifar10"`, the paper's published policies); `mixup`: `alpha` (the Beta
            concentration of the mixing weights); `cutmix`: `factor`, Keras'
            `CutMix(factor=)` in [0, 1], not the paper's alpha: each batch draws a
            concentration uniformly from `[0, factor]`, then each image its mixing weight from
            a Beta distribution of that concentration.

    Returns:
        An `Augmentation`, `(images, labels) -> (images, labels)`, or `None` for `"none"`.

    Raises:
        InputError: if `name` is not one of `AUGMENTATIONS`, or `image_shape` is not
            `(height, width, channels)`.

    Example:

    >>> augment = build_augmentation("mixup", image_shape=(8, 8, 1), seed=0, alpha=0.2)
    >>> images, labels = augment(images, one_hot_labels)
    """
    if name not in AUGMENTATIONS:
        raise InputError(
            f"`augment` must be one of {', '.join(AUGMENTATIONS)}. Received: "
            f"augment={name!r}. Pick one of those."
        )
    if name == "none":
        return None
    if len(image_shape) != 3:
        raise InputError(
            f"`augment={name}` needs images of shape (height, width, channels). Received: "
            f"image_shape={tuple(image_shape)}. Use augment=none for data that are not images."
        )
    augment, layers = BUILDERS[name](image_shape, value_range, seed, **options)
    return Augmentation(augment, layers, seed, value_range, per_image=name in PER_IMAGE)


def seed_stream(seed: int) -> tf.data.Dataset:
    """An endless `tf.data` stream of random int64 values from `seed`, new every epoch.

    What `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)` gives, except that
    it depends on `seed` alone: `Dataset.random` also takes TensorFlow's global seed, as
    Keras' `SeedGenerator(seed)` does not, so the augmentation would change with whatever
    set the global seed last. Every iteration (epoch) of the same stream draws a new
    sequence; two streams built with the same `seed` draw the same sequences.

    Args:
        seed: the seed.

    Returns:
        A `tf.data.Dataset` of int64 scalars.
    """
    variant = tf.raw_ops.RandomDatasetV2(  # the op under `Dataset.random`
        seed=seed,
        seed2=_SEED_STREAM_SALT,
        seed_generator=tf.raw_ops.DummySeedGenerator(),
        output_types=[tf.int64],
        output_shapes=[[]],
        rerandomize_each_iteration=True,
    )
    return tf.data.experimental.from_variant(variant, tf.TensorSpec([], tf.int64))


def batches_per_call(image_shape) -> int:
    """How many batches `augment_dataset` augments in one call of a per-image augmentation.

    `2**13 // (height * width * channels)`, between 1 and 8: 8 for MNIST's 28x28 digits, 2
    for CIFAR's 32x32x3 images, 1 from 64x64x2 on, and 1 for images of unknown size. So a
    call holds at most `B * 2**13` pixel values (32 KiB of float32 per image of a batch of
    `B`) unless one image alone holds more.
    """
    if any(side is None for side in image_shape):
        return 1
    values = math.prod(int(side) for side in image_shape)
    return max(1, min(_MAX_BATCHES_PER_CALL, _VALUES_PER_CALL // max(values, 1)))


def augment_dataset(dataset: tf.data.Dataset, augmentation) -> tf.data.Dataset:
    """Maps `augmentation` over a batched `(images, one_hot_labels)` training pipeline.

    An `Augmentation` is mapped in its stateless form (`Augmentation.seeded`), each call with
    its own seed, zipped to it from `seed_stream(augmentation.seed)`, which draws a new
    sequence every epoch. With no variable left in the map function, `tf.data` runs it in
    parallel and prefetches even with op determinism on, so that augmentation overlaps
    training instead of running serially between steps; and since each call's output depends
    only on its batches and its seed, the batches are reproducible run to run whatever the
    parallelism.

    A per-image augmentation (`Augmentation.per_image`) augments `batches_per_call` batches in
    one call: they are padded to one shape and stacked (`padded_batch`), augmented as one
    batch, then split back into the original batches, unpadded, in their order. Each image
    gets the same operations as alone, but a call's fixed cost (TensorFlow runs the map
    function node by node, a thousand nodes for RandAugment) is shared by up to 8 batches.
    MixUp and CutMix mix the images of a batch, so each of their batches is augmented alone.
    Any other function (e.g. a plain `(images, labels)` function) is mapped as it is.

    Args:
        dataset: batches of `(images, one_hot_labels)`, e.g. from `to_tf_dataset`
            (cached before it is shuffled and batched, so only augmentation runs per epoch).
        augmentation: an `Augmentation` from `build_augmentation`, another function
            `(images, labels) -> (images, labels)`, or `None`.

    Returns:
        `dataset` itself when `augmentation` is `None`; otherwise the augmented batches, the
        same batches in the same order, computed in parallel (`num_parallel_calls=AUTOTUNE`)
        and prefetched (`AUTOTUNE`).

    Example:

    >>> train = augment_dataset(train, build_augmentation("basic", image_shape=(8, 8, 1), seed=0))
    """
    if augmentation is None:
        return dataset
    parallel = tf.data.AUTOTUNE
    if not isinstance(augmentation, Augmentation):
        return dataset.map(augmentation, num_parallel_calls=parallel).prefetch(parallel)
    seeds = seed_stream(augmentation.seed).batch(2)
    image_spec = dataset.element_spec[0]
    group = batches_per_call(image_spec.shape[1:]) if augmentation.per_image else 1
    if group == 1:

        def augment(batch, seed):
            return augmentation.seeded(*batch, seed)

        augmented = tf.data.Dataset.zip(dataset, seeds).map(augment, num_parallel_calls=parallel)
    else:

        def with_size(images, labels):
            return images, labels, tf.shape(images)[0]

        def augment_group(group, seed):
            images, labels, sizes = group  # (batches, largest batch, ...), padded with zeros
            flat_images = tf.reshape(images, [-1, *images.shape[2:]])
            flat_labels = tf.reshape(labels, [-1, *labels.shape[2:]])
            flat_images, flat_labels = augmentation.seeded(flat_images, flat_labels, seed)
            return (
                tf.reshape(flat_images, tf.shape(images)),
                tf.reshape(flat_labels, tf.shape(labels)),
                sizes,
            )

        def unpadded(images, labels, size):
            return images[:size], labels[:size]

        groups = dataset.map(with_size).padded_batch(group)
        augmented = tf.data.Dataset.zip(groups, seeds).map(
            augment_group, num_parallel_calls=parallel
        )
        augmented = augmented.unbatch().map(unpadded)
    # Deferred to the first batch: TensorFlow prepares (instantiates and optimizes) a map
    # function for every iterator, when the iterator is made, and Keras `fit` without
    # `steps_per_epoch` makes two training iterators per epoch, the second at the end of the
    # epoch, dropped unused when the next epoch starts. Inside `flat_map`, the augmentation's
    # iterator, and its map function, are made only when the first batch is asked for.
    deferred = tf.data.Dataset.from_tensors(0).flat_map(lambda _: augmented)
    # `flat_map` forgets the cardinality; Keras needs it to end epochs. Unknown (None) while
    # this runs inside a `tf.data` function (`ablate.distribution.replayable`).
    cardinality = tf.get_static_value(dataset.cardinality())
    if cardinality is not None and cardinality >= 0:
        deferred = deferred.apply(tf.data.experimental.assert_cardinality(cardinality))
    return deferred.prefetch(parallel)


def changed_share(
    dataset: tf.data.Dataset,
    augmentation,
    *,
    num_batches: int = 16,
    value_range=(0.0, 255.0),
    tolerance: float = 0.01,
) -> float:
    """The share of training images that `augmentation` changes: evidence that it acts.

    Maps `augmentation` over the first `num_batches` batches of `dataset` inside `tf.data`,
    as training does, and counts the images whose mean absolute pixel change exceeds
    `tolerance` of the value range (by default 1 %, 2.55 grey levels on [0, 255]). An
    operation that does nothing to an image (AutoAugment's `Color` on grey images, an
    operation not applied by its probability, a posterization that only drops bits the image
    does not use) leaves it counted as unchanged.

    Measuring draws from the augmentation's random state: pass one built for the purpose
    (`build_augmentation` with the run's arguments), not the one the training pipeline
    uses, so that training batches do not depend on whether the share was measured.

    Args:
        dataset: unaugmented batches of `(images, one_hot_labels)`, e.g.
            `Pipelines.train_plain`.
        augmentation: a function from `build_augmentation`, or `None`.
        num_batches: how many batches to look at. Defaults to 16.
        value_range: the `(low, high)` range of the pixels. Defaults to `(0.0, 255.0)`.
        tolerance: the smallest mean absolute change per pixel that counts, as a fraction of
            the value range. Defaults to 0.01.

    Returns:
        The share in [0, 1] (0.0 for `None` or an empty dataset); logged as
        `augment_changed_share`.

    Example:

    >>> fresh = build_augmentation("autoaugment", image_shape=(28, 28, 1), seed=0)
    >>> changed_share(pipelines.train_plain, fresh)
    0.53
    """
    if augmentation is None:
        return 0.0
    limit = tolerance * (float(value_range[1]) - float(value_range[0]))

    def changed(images, labels):
        augmented, _ = augmentation(images, labels)
        change = tf.abs(tf.cast(augmented, tf.float32) - tf.cast(images, tf.float32))
        return tf.reduce_mean(tf.reshape(change, [tf.shape(change)[0], -1]), axis=1) > limit

    flags = list(dataset.take(num_batches).map(changed).as_numpy_iterator())
    return float(np.concatenate(flags).mean()) if flags else 0.0
