"""AutoAugment's published policies on TensorFlow image ops, every image drawing its own.

AutoAugment (Cubuk et al. 2019) searched, with reinforcement learning, for a policy of 25
sub-policies. Each sub-policy is two operations, each with a probability and a magnitude
level in 0..9. Every training image draws one sub-policy uniformly, then applies each of its
two operations with that operation's probability. `AutoAugment` implements the two policies
the paper publishes as tables: `imagenet` (the one the practitioner article names) and
`cifar10` (found on reduced CIFAR-10). The lists are those of the paper's appendix, as
torchvision's `AutoAugmentPolicy` and timm's `auto_augment_policy_original` transcribe them.

Everything is drawn per image, inside the graph (`keras.random` with the layer's
`SeedGenerator`), so it changes from image to image and from batch to batch, eagerly and in
`tf.data`. Each image is computed only by the operation it drew: `per_image` splits a batch
by operation (`tf.dynamic_partition`), runs each operation on its share as one vectorised
call, and stitches the batch back in order (`tf.dynamic_stitch`). The two stages run in one
`tf.while_loop` (`repeat_steps`, shared with RandAugment's and AugMix's steps), each stage
drawing from its own `StatelessSeeds`, derived from one draw of the layer's generator.

How a magnitude level `m` (0..9) becomes the operation's argument. The paper's Table 1
gives each operation's range and says the range is split into 10 uniform levels; the
authors' code (`augmentation_transforms.py`, `PARAMETER_MAX = 10`) maps `m` to `m / 10` of
the range, so `m = 9` is 90 % of it. Pixels are handled in [0, 255] as PIL does
(`value_range` is mapped there and back); `s` is a random sign, drawn per image:

| operation            | argument at level m                    | the paper's range    |
|----------------------|----------------------------------------|----------------------|
| ShearX, ShearY       | shear coefficient `s * 0.3 * m / 10`   | [-0.3, 0.3]          |
| TranslateX, -Y       | `s * (150 / 331) * m / 10` of the side | [-150, 150] px / 331 |
| Rotate               | `s * 30 * m / 10` degrees              | [-30, 30]            |
| Color, Contrast,     | PIL `ImageEnhance` factor              | [0.1, 1.9]           |
| Brightness, Sharpness| `0.1 + 1.8 * m / 10` (1 = unchanged)   |                      |
| Solarize             | inverts pixels >= `256 - int(25.6 m)`  | threshold [0, 256]   |
| Posterize            | keeps `8 - int(0.4 m)` bits            | bits [4, 8]          |
| AutoContrast,        | no argument (the level is ignored)     |                      |
| Equalize, Invert     |                                        |                      |

Each operation follows PIL, which the authors' code calls: `Equalize` is
`ImageOps.equalize` (its own histogram per image and channel), `AutoContrast` stretches each
image's channel from its own minimum and maximum, `Color` blends with the ITU-R 601 grey
image, `Contrast` with the grey image's mean, `Brightness` with black, `Sharpness` with the
image smoothed by PIL's 3x3 `SMOOTH` kernel (border pixels kept). The tests check the
colour and histogram operations against PIL itself.

Grey images (one channel) work as they are: `Color` is the identity on them (the grey image
of a grey image is itself, so there is no colour to change); every other operation acts on
the single channel. Nothing is tiled to three channels.

Deviations, all small and deliberate:

- Posterize and Solarize: the authors' code disagrees with the paper's table and with
  itself (the CIFAR code keeps `4 - int(0.4 m)` bits, i.e. 1-4, outside the paper's [4, 8];
  the ImageNet TPU code keeps `int(0.4 m)`, i.e. 0-3, and solarizes above `int(25.6 m)`).
  Here both stay inside the paper's ranges and grow stronger with `m` like every other
  operation, as torchvision does and as the CIFAR code's `256 - level` threshold does.
- Geometric operations use nearest-neighbour sampling (PIL's default, which the authors'
  code uses) and fill uncovered pixels with black (`value_range[0]`, as `augment=basic`
  does; the authors' code fills with the mean or grey 128). Shears pivot on the top-left
  corner, as PIL's affine transform does; rotations turn about the centre. Pixel-centre
  conventions differ from PIL's by up to half a pixel.
- Translations use the paper's 150/331 of the side for both policies (the CIFAR code
  translated by up to 10 of 32 pixels).
- Pixels are float32, not uint8: operations that PIL computes on integer levels
  (Posterize, Equalize) floor the pixels to integer levels first; the others keep fractions.

References:
    - Cubuk, Zoph, Mané, Vasudevan, Le, 2019. [AutoAugment: Learning Augmentation
      Strategies from Data](https://arxiv.org/abs/1805.09501). CVPR. (Appendix tables of
      the ImageNet and reduced CIFAR-10 policies; Table 1, the operations and ranges.)

Example:

```python
layer = AutoAugment(policy="imagenet", value_range=(0, 255), seed=0)
augmented = layer(images, training=True)  # a float32 batch (batch, height, width, channels)
```
"""

import math
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

# The paper's appendix tables: 25 sub-policies of two (operation, probability, level) each.
IMAGENET_POLICY = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
    (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
    (("Color", 0.4, 0), ("Equalize", 0.6, None)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
)
CIFAR10_POLICY = (
    (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
    (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
    (("Color", 0.9, 9), ("Equalize", 0.6, None)),
    (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, None), ("Invert", 0.1, None)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
)
POLICIES = {"imagenet": IMAGENET_POLICY, "cifar10": CIFAR10_POLICY}
MAX_LEVEL = 10.0  # the authors' PARAMETER_MAX: level m is m / 10 of an operation's range
TRANSLATE_FRACTION = 150.0 / 331.0  # the paper's 150 pixels on 331-pixel ImageNet images
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, PIL's RGB -> L


def per_image(images, choice, branches: Sequence[Callable], *arguments):
    """Applies `branches[choice[i]]` to image `i`, each branch running once on its share.

    The batch is split by `choice` (`tf.dynamic_partition`); branch `k` gets its images (and
    their rows of each of `arguments`) as one smaller batch, possibly empty, and the results
    are put back in the original order (`tf.dynamic_stitch`). Both ops are deterministic.

    Args:
        images: a batch `(batch, height, width, channels)`.
        choice: int32 `(batch,)`, each in `[0, len(branches))`.
        branches: functions `(images, *arguments) -> images` that keep the shape.
        *arguments: per-image tensors `(batch, ...)` passed, partitioned, to every branch.

    Returns:
        The batch, image `i` transformed by its own branch.
    """
    count = len(branches)
    choice = tf.cast(choice, tf.int32)
    positions = tf.dynamic_partition(tf.range(tf.shape(images)[0]), choice, count)
    shares = tf.dynamic_partition(images, choice, count)
    argument_shares = [tf.dynamic_partition(argument, choice, count) for argument in arguments]
    outputs = [
        tf.cast(branch(shares[k], *(share[k] for share in argument_shares)), images.dtype)
        for k, branch in enumerate(branches)
    ]
    return tf.dynamic_stitch(positions, outputs)


class StatelessSeeds(keras.random.SeedGenerator):
    """A `SeedGenerator` without state: the seeds of its draws are derived from one tensor.

    Keras' random functions take a seed generator and call its `next()` for every draw. This
    one hashes `seed` (int `(2,)`) once into a random key and answers its `k`-th call with
    `key + (0, k)`: two graph nodes a draw, no variable, so a function that draws only from
    it is stateless, and the same `seed` gives the same draws. Keras' own `SeedGenerator`
    counts the same way, from a variable. Never built as a Keras `SeedGenerator` (that would
    create the very variable it avoids).

    Args:
        seed: int32 or int64 `(2,)`, e.g. a `SeedGenerator`'s `next()`.
    """

    def __init__(self, seed):  # no super().__init__(): no state variable
        self._key = tf.random.stateless_uniform(
            [2], seed=seed, minval=None, maxval=None, dtype=tf.int64
        )
        self._count = 0

    def next(self, ordered=True):
        self._count += 1
        return self._key + tf.constant([0, self._count], tf.int64)

    def spawn(self, data):
        """A new `StatelessSeeds` for `data` (an int scalar): independent of this one."""
        return StatelessSeeds(tf.random.experimental.stateless_fold_in(self._key, data))


def repeat_steps(images, num_steps: int, step, generator):
    """`images` after `step(images, index, seeds)` for `index` in `0..num_steps - 1`.

    The steps run in one `tf.while_loop`, so that a step's operations are traced (and, in
    `tf.data`, instantiated every epoch) once, not `num_steps` times. Each step draws from its
    own `StatelessSeeds`, derived from one draw of `generator` (the layer's seed generator,
    stateful or not) and the step's index, so the steps' draws are independent and the loop
    body holds no state.

    Args:
        images: a batch `(batch, height, width, channels)`.
        num_steps: how many steps.
        step: `(images, index, seeds) -> images` of the same shape.
        generator: the `SeedGenerator` to draw the loop's seed from.

    Returns:
        The batch after the last step.
    """
    seeds = StatelessSeeds(generator.next())

    def body(index, images):
        return index + 1, tf.cast(step(images, index, seeds.spawn(index)), images.dtype)

    _, images = tf.while_loop(
        lambda index, _: index < num_steps,
        body,
        (tf.constant(0), images),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, *images.shape[1:]])),
    )
    return images


def to_255(images, value_range):
    """Maps pixels from `value_range` to [0, 255]."""
    low, high = float(value_range[0]), float(value_range[1])
    return (images - low) * (255.0 / (high - low))


def from_255(images, value_range):
    """Maps pixels from [0, 255] back to `value_range`."""
    low, high = float(value_range[0]), float(value_range[1])
    return images * ((high - low) / 255.0) + low


def _levels(images):
    """Integer grey levels 0..255 (PIL's uint8) of float pixels in [0, 255], as int32."""
    return tf.cast(tf.floor(tf.clip_by_value(images, 0.0, 255.0)), tf.int32)


def _per_image_shape(values):
    """A `(batch,)` tensor reshaped to broadcast over `(batch, height, width, channels)`."""
    return tf.reshape(tf.cast(values, tf.float32), [-1, 1, 1, 1])


def equalize(images):
    """PIL's `ImageOps.equalize` on each image and channel, pixels in [0, 255].

    Each channel of each image gets its own 256-bin histogram; the lookup table is PIL's
    (`step = (count - count of the last used level) // 255`, level `i` maps to
    `(pixels below i + step // 2) // step`), and a channel with `step == 0` (one level, or
    nearly) is left as it is. Keras' `Equalization` instead pools one histogram over the
    whole batch.
    """
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    levels = tf.reshape(tf.transpose(_levels(images), [0, 3, 1, 2]), [batch * channels, -1])
    rows = tf.shape(levels)[0]
    offsets = levels + 256 * tf.range(rows)[:, None]
    histogram = tf.reshape(
        tf.math.bincount(tf.reshape(offsets, [-1]), minlength=rows * 256, maxlength=rows * 256),
        [rows, 256],
    )
    used = tf.where(histogram > 0, tf.range(256)[None, :], -1)
    last_count = tf.gather(histogram, tf.maximum(tf.reduce_max(used, axis=1), 0), batch_dims=1)
    step = (tf.reduce_sum(histogram, axis=1) - last_count) // 255
    below = tf.cumsum(histogram, axis=1, exclusive=True)
    table = tf.minimum((below + (step // 2)[:, None]) // tf.maximum(step, 1)[:, None], 255)
    mapped = tf.cast(tf.gather(table, levels, batch_dims=1), images.dtype)
    original = tf.reshape(tf.transpose(images, [0, 3, 1, 2]), [rows, -1])
    equalized = tf.where((step > 0)[:, None], mapped, original)
    return tf.transpose(tf.reshape(equalized, [batch, channels, height, width]), [0, 2, 3, 1])


def autocontrast(images):
    """PIL's `ImageOps.autocontrast`: each image's channel stretched from its min to its max."""
    low = tf.reduce_min(images, axis=[1, 2], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2], keepdims=True)
    stretched = (images - low) * (255.0 / tf.maximum(high - low, 1e-12))
    return tf.where(high > low, tf.clip_by_value(stretched, 0.0, 255.0), images)


def invert(images):
    """PIL's `ImageOps.invert`."""
    return 255.0 - images


def grey(images):
    """The ITU-R 601-2 luma of RGB pixels, one channel; a grey image is returned as it is."""
    if images.shape[-1] == 1:
        return images
    return tf.reduce_sum(images * tf.constant(GREY_WEIGHTS, images.dtype), -1, keepdims=True)


def _blend(degenerate, images, factor):
    """PIL's `ImageEnhance`: `degenerate + factor * (image - degenerate)`, clipped."""
    blended = degenerate + _per_image_shape(factor) * (images - degenerate)
    return tf.clip_by_value(blended, 0.0, 255.0)


def _smoothed(images):
    """PIL's `ImageFilter.SMOOTH` (3x3 kernel, centre 5, others 1, over 13), borders kept."""
    channels = images.shape[-1]
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(tf.reshape(kernel, [3, 3, 1, 1]), [1, 1, channels, 1])
    smoothed = tf.round(tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME"))
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    rows, columns = tf.range(height), tf.range(width)
    inside_rows = (rows > 0) & (rows < height - 1)
    inside_columns = (columns > 0) & (columns < width - 1)
    inside = inside_rows[:, None, None] & inside_columns[None, :, None]
    return tf.where(inside, smoothed, images)


def enhance_factor(level):
    """The `ImageEnhance` factor of magnitude `level`: 0.1 + 1.8 * level / 10."""
    return 0.1 + 1.8 * level / MAX_LEVEL


def color(images, level, sign=None):
    """`ImageEnhance.Color`: blends with the grey image; the identity on grey images."""
    return _blend(grey(images), images, enhance_factor(level))


def contrast(images, level, sign=None):
    """`ImageEnhance.Contrast`: blends with the rounded mean of the image's grey version."""
    mean = tf.floor(tf.reduce_mean(grey(images), axis=[1, 2, 3], keepdims=True) + 0.5)
    return _blend(mean, images, enhance_factor(level))


def brightness(images, level, sign=None):
    """`ImageEnhance.Brightness`: blends with black."""
    return _blend(tf.zeros_like(images), images, enhance_factor(level))


def sharpness(images, level, sign=None):
    """`ImageEnhance.Sharpness`: blends with the `SMOOTH`-filtered image."""
    return _blend(_smoothed(images), images, enhance_factor(level))


def solarize(images, level, sign=None):
    """`ImageOps.solarize`: inverts the pixels at or above `256 - int(25.6 * level)`."""
    threshold = _per_image_shape(256.0 - tf.floor(256.0 * level / MAX_LEVEL))
    return tf.where(images >= threshold, 255.0 - images, images)


def posterize(images, level, sign=None):
    """`ImageOps.posterize` keeping `8 - int(0.4 * level)` bits of each integer level."""
    dropped = tf.floor(4.0 * level / MAX_LEVEL)
    quantum = _per_image_shape(tf.pow(2.0, dropped))
    return tf.floor(tf.floor(tf.clip_by_value(images, 0.0, 255.0)) / quantum) * quantum


def _transform(images, rows):
    """Applies per-image projective `rows` `(batch, 8)` (output -> input), nearest, black fill."""
    shape = tf.shape(images)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(rows, tf.float32),
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )


def _affine(a0, a1, a2, b0, b1, b2):
    zero = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)


def rotate(images, level, sign):
    """Rotates by `sign * 30 * level / 10` degrees about the centre."""
    angle = sign * (30.0 * level / MAX_LEVEL) * math.pi / 180.0
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    x, y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    rows = _affine(cos, -sin, x - x * cos + y * sin, sin, cos, y - x * sin - y * cos)
    return _transform(images, rows)


def shear_x(images, level, sign):
    """PIL's affine `(1, s, 0, 0, 1, 0)`, `s = sign * 0.3 * level / 10`: x shifts by `s * y`."""
    one, zero = tf.ones_like(level), tf.zeros_like(level)
    return _transform(images, _affine(one, sign * 0.3 * level / MAX_LEVEL, zero, zero, one, zero))


def shear_y(images, level, sign):
    """PIL's affine `(1, 0, 0, s, 1, 0)`: y shifts by `s * x`."""
    one, zero = tf.ones_like(level), tf.zeros_like(level)
    return _transform(images, _affine(one, zero, zero, sign * 0.3 * level / MAX_LEVEL, one, zero))


def translate_x(images, level, sign):
    """Shifts by `sign * (150 / 331) * level / 10` of the width."""
    one, zero = tf.ones_like(level), tf.zeros_like(level)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    pixels = sign * TRANSLATE_FRACTION * level / MAX_LEVEL * width
    return _transform(images, _affine(one, zero, pixels, zero, one, zero))


def translate_y(images, level, sign):
    """Shifts by `sign * (150 / 331) * level / 10` of the height."""
    one, zero = tf.ones_like(level), tf.zeros_like(level)
    height = tf.cast(tf.shape(images)[1], tf.float32)
    pixels = sign * TRANSLATE_FRACTION * level / MAX_LEVEL * height
    return _transform(images, _affine(one, zero, zero, zero, one, pixels))


# Every operation as `(images in [0, 255], level, sign) -> images`; level and sign per image.
OPERATIONS = {
    "ShearX": shear_x,
    "ShearY": shear_y,
    "TranslateX": translate_x,
    "TranslateY": translate_y,
    "Rotate": rotate,
    "Color": color,
    "Contrast": contrast,
    "Brightness": brightness,
    "Sharpness": sharpness,
    "Solarize": solarize,
    "Posterize": posterize,
    "AutoContrast": lambda images, level, sign: autocontrast(images),
    "Equalize": lambda images, level, sign: equalize(images),
    "Invert": lambda images, level, sign: invert(images),
}


@keras.saving.register_keras_serializable(package="ablate")
class AutoAugment(keras.layers.Layer):
    """AutoAugment with a published policy; every image draws its own sub-policy.

    For each image: one of the policy's 25 sub-policies, uniformly; then, for each of its
    two operations in turn, whether to apply it (with the operation's probability) and a
    random sign for the operations that have one. Magnitude levels map to arguments as the
    module docstring tables. Works eagerly and inside `tf.data.Dataset.map`; the draws come
    from a `keras.random.SeedGenerator(seed)`, so they change with every call.

    References:
        - Cubuk et al., 2019. [AutoAugment: Learning Augmentation Strategies from Data](
          https://arxiv.org/abs/1805.09501). CVPR.

    Args:
        policy: `"imagenet"` or `"cifar10"`, the paper's policies. Defaults to `"imagenet"`.
        value_range: the `(low, high)` range of the pixels. Defaults to `(0, 255)`.
        seed: seed of the random draws. Defaults to None (unseeded).
        **kwargs: passed to `keras.layers.Layer`.

    Raises:
        ValueError: if `policy` is unknown or `value_range` is not increasing.

    Example:

    >>> layer = AutoAugment(policy="imagenet", value_range=(0, 1), seed=0)
    >>> augmented = layer(images, training=True)
    """

    def __init__(self, policy="imagenet", value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        if policy not in POLICIES:
            raise ValueError(
                f"`policy` must be one of {', '.join(POLICIES)}. Received: policy={policy!r}. "
                "Pick one of those."
            )
        if len(value_range) != 2 or not value_range[0] < value_range[1]:
            raise ValueError(
                "`value_range` must be (low, high) with low < high. Received: "
                f"value_range={tuple(value_range)}."
            )
        self.policy = policy
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        subpolicies = POLICIES[policy]
        self.operation_names = sorted({name for pair in subpolicies for name, _, _ in pair})
        self._branches = [OPERATIONS[name] for name in self.operation_names]
        self._branches.append(lambda images, level, sign: images)  # not applied
        # Per stage (first and second operation): operation index, probability, level.
        self._stages = [
            (
                [self.operation_names.index(pair[stage][0]) for pair in subpolicies],
                [float(pair[stage][1]) for pair in subpolicies],
                [float(pair[stage][2] or 0) for pair in subpolicies],
            )
            for stage in (0, 1)
        ]

    def call(self, images, training=True):
        if not training:
            return images
        images = tf.cast(images, self.compute_dtype)
        pixels = to_255(images, self.value_range)
        batch = tf.shape(pixels)[0]
        subpolicy = keras.random.randint(
            (batch,), 0, len(POLICIES[self.policy]), seed=self.generator
        )
        not_applied = len(self._branches) - 1
        # Row `stage` of each table: the sub-policies' first or second operation.
        operations, probabilities, levels = (
            tf.constant([stage[column] for stage in self._stages]) for column in range(3)
        )

        def stage(pixels, index, seeds):
            draw = keras.random.uniform((batch,), seed=seeds)
            applied = draw < tf.gather(probabilities[index], subpolicy)
            chosen = tf.gather(operations[index], subpolicy)
            operation = tf.where(applied, chosen, not_applied)
            level = tf.gather(levels[index], subpolicy)
            flip = keras.random.uniform((batch,), seed=seeds) < 0.5
            sign = tf.where(flip, -1.0, 1.0)
            return per_image(pixels, operation, self._branches, level, sign)

        pixels = repeat_steps(pixels, len(self._stages), stage, self.generator)
        return tf.cast(from_255(pixels, self.value_range), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {
            "policy": self.policy,
            "value_range": self.value_range,
            "seed": self.seed,
        }
