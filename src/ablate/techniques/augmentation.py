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
| `randaugment` | `RandAugment(num_ops=num_ops, factor=factor)`                            |
| `augmix`      | `AugMix(num_chains, chain_depth, factor=factor, alpha=alpha)`            |
| `mixup`       | `MixUp(alpha=alpha)` on images and one-hot labels                        |
| `cutmix`      | `CutMix(factor=factor)` on images and one-hot labels                     |

Keras 3 ships no AutoAugment policies. RandAugment, by the same authors (Cubuk et al. 2019,
2020), is its maintained successor: it replaces AutoAugment's learned policy, whose search
costs thousands of GPU hours, with two knobs, the number of operations and their strength.

What Keras 3.15 does, measured, and what this module adds:

- Grey images (one channel) work as they are: every RandAugment and AugMix operation accepts
  them, and colour degeneration leaves them unchanged, as it should for an image that has no
  colour. Nothing is tiled to three channels.
- Pixels stay float32 within `value_range`: Keras' colour operations clip themselves, but
  weighted sums of pixels can overshoot by float rounding (MixUp turned two pixels of 255
  into 255.00002), so every option clips its output to `value_range`.
- Keras' `RandomCrop` draws one offset for a whole batch; `basic` crops every image on its
  own (`tf.map_fn`), as the recipe does. Flip and translation are already drawn per image.
- RandAugment draws which operations to apply once per batch (every image of the batch gets
  the same operations, each at its own strength); AugMix draws its chains and mixing weights
  once per batch too. These are the layers' designs and are kept.
- AugMix draws the operations of its chains with Python's `random`, so inside `tf.data` they
  are drawn once, when the map function is traced, and stay the same for the whole run; only
  their strengths and the mixing weights change from batch to batch. Eagerly they change at
  every call.
- CutMix weighs the labels by the area of a box with fractional corners, while whole pixels
  are pasted: in a batch of 64 images the label share of the pasted image differed from its
  share of the pixels by up to 0.23 at 8x8 pixels, and by up to 0.07 at 28x28.
- Seeding: every layer gets `seed` (the three layers of `basic` get `seed`, `seed + 1` and
  `seed + 2`, so that their draws are independent). The layers keep their random state in a
  variable that every map call updates, so the batches are reproducible only when TensorFlow
  runs the map calls in order: with `tf.config.experimental.enable_op_determinism()`, which
  `ablate` turns on with `deterministic: true`, and `keras.utils.set_random_seed` called
  before (it seeds the Python `random` that AugMix uses).

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
from collections.abc import Callable
from typing import TYPE_CHECKING

from ablate.config import IMAGE_AUGMENTATIONS
from ablate.errors import InputError

if TYPE_CHECKING:
    import tensorflow as tf

AUGMENTATIONS = ("none", *IMAGE_AUGMENTATIONS)  # what `build_augmentation` takes


def _basic(image_shape, value_range, seed: int, factor: float, horizontal_flip: bool):
    """Flip (optional), pad-and-crop and translation, filling with `value_range[0]`."""
    import keras
    import tensorflow as tf

    height, width = image_shape[0], image_shape[1]
    pad_height, pad_width = math.ceil(factor * height), math.ceil(factor * width)
    black = float(value_range[0])
    flips = [keras.layers.RandomFlip("horizontal", seed=seed)] if horizontal_flip else []
    crop = keras.layers.RandomCrop(height, width, seed=seed + 1)
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
        images = tf.map_fn(lambda image: crop(image, training=True), padded)
        return translation(images, training=True), labels

    return augment


def _on_images(layer):
    """Applies `layer` to the images and passes the labels through."""

    def augment(images, labels):
        return layer(images, training=True), labels

    return augment


def _on_images_and_labels(layer):
    """Applies a mixing `layer` to images and one-hot labels together."""

    def augment(images, labels):
        mixed = layer({"images": images, "labels": labels}, training=True)
        return mixed["images"], mixed["labels"]

    return augment


def _clipped(augment, value_range):
    """`augment` with its images clipped to `value_range` (float rounding can overshoot)."""
    import tensorflow as tf

    low, high = float(value_range[0]), float(value_range[1])

    def clipped(images, labels):
        images, labels = augment(images, labels)
        return tf.clip_by_value(images, low, high), labels

    return clipped


def _randaugment(image_shape, value_range, seed: int, num_ops: int, factor: float):
    import keras

    layer = keras.layers.RandAugment(
        value_range=value_range, num_ops=num_ops, factor=factor, seed=seed
    )
    return _on_images(layer)


def _augmix(image_shape, value_range, seed, num_chains, chain_depth, factor, alpha):
    import keras

    layer = keras.layers.AugMix(
        value_range=value_range,
        num_chains=num_chains,
        chain_depth=chain_depth,
        factor=factor,
        alpha=alpha,
        seed=seed,
    )
    return _on_images(layer)


def _mixup(image_shape, value_range, seed: int, alpha: float):
    import keras

    return _on_images_and_labels(keras.layers.MixUp(alpha=alpha, seed=seed))


def _cutmix(image_shape, value_range, seed: int, factor: float):
    import keras

    return _on_images_and_labels(keras.layers.CutMix(factor=factor, seed=seed))


BUILDERS = {
    "basic": _basic,
    "randaugment": _randaugment,
    "augmix": _augmix,
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
) -> Callable | None:
    """Builds the augmentation of training batches named by `name`.

    The returned function takes a batch of images (float32, `(batch, height, width,
    channels)`, pixels in `value_range`) and their one-hot labels, and returns both
    augmented, with the same shapes and dtypes and pixels still in `value_range`. It works
    eagerly and inside `tf.data.Dataset.map`. See the module docstring for what each option
    maps to.

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
            its Dirichlet and Beta draws); `mixup`: `alpha` (the Beta concentration of the
            mixing weights); `cutmix`: `factor`, Keras' `CutMix(factor=)` in [0, 1], not the
            paper's alpha: each batch draws a concentration uniformly from `[0, factor]`, then
            each image its mixing weight from a Beta distribution of that concentration.

    Returns:
        A function `(images, labels) -> (images, labels)`, or `None` for `"none"`.

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
    augment = BUILDERS[name](image_shape, value_range, seed, **options)
    return _clipped(augment, value_range)


def augment_dataset(dataset: "tf.data.Dataset", augmentation) -> "tf.data.Dataset":
    """Maps `augmentation` over a batched `(images, one_hot_labels)` training pipeline.

    Args:
        dataset: batches of `(images, one_hot_labels)`, e.g. from `to_tf_dataset`.
        augmentation: a function from `build_augmentation`, or `None`.

    Returns:
        `dataset` itself when `augmentation` is `None`; otherwise the augmented batches,
        computed in parallel (`num_parallel_calls=AUTOTUNE`; in order when op determinism
        is on) and prefetched.

    Example:

    >>> train = augment_dataset(train, build_augmentation("basic", image_shape=(8, 8, 1), seed=0))
    """
    import tensorflow as tf

    if augmentation is None:
        return dataset
    return dataset.map(augmentation, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
