"""Keras 3 augmentation layers that draw per image, where Keras draws per batch.

`ablate.techniques.augmentation` builds `augment=basic`, `randaugment` and `augmix` from
these layers. What Keras 3.15 does, measured, and what they change:

- Keras' `RandAugment` draws its operations once per batch (every image of a batch gets the
  same operations) and computes all eleven on the whole batch for each of them. Keras'
  `AugMix` draws its chains' operations with Python's `random`, so inside `tf.data` they are
  drawn once, when the map function is traced, and stay the same for the whole run; its
  mixing weights are drawn once per batch. The papers draw everything per image. Here every
  image draws its own operations (and AugMix its own chain and mixing weights), in the graph
  with the layer's seeded generator, so they differ within a batch and from batch to batch,
  eagerly and in `tf.data`. Each operation runs once per call, on the images that drew it
  (`autoaugment.per_image`: `tf.dynamic_partition`, then `tf.dynamic_stitch` back in order),
  so nothing is computed for images that do not use it. The operations, their strengths
  (drawn per image by Keras' sub-layers, as before) and `value_range` are Keras'; only
  `AutoContrast` and `Equalize` are replaced by PIL's per-image versions, because Keras'
  `Equalization` pools one histogram over the whole batch and both fail on an empty share.
- Keras' `RandomCrop` draws one offset for a whole batch; `basic` crops every image on its
  own (`PerImageRandomCrop`: one offset per image from Keras' distribution, cropped in one
  vectorised gather), as the recipe does. Flip and translation are already drawn per image.

References:
    - Cubuk et al., 2020. [RandAugment: Practical Automated Data Augmentation with a Reduced
      Search Space](https://arxiv.org/abs/1909.13719). NeurIPS.
    - Hendrycks et al., 2020. [AugMix: A Simple Data Processing Method to Improve Robustness
      and Uncertainty](https://arxiv.org/abs/1912.02781). ICLR.
"""

import keras
import tensorflow as tf

from ablate.techniques import autoaugment


@keras.saving.register_keras_serializable(package="ablate")
class PerImageRandomCrop(keras.layers.RandomCrop):
    """`keras.layers.RandomCrop` with every image of a batch cropped at its own offset.

    Keras draws one `(top, left)` offset per call, so a batch is cropped as one. Here a batch
    of images larger than `(height, width)` draws one offset per image, each from Keras'
    own distribution (`int(uniform(0, excess + 1))`, i.e. uniform over `0..excess`), and
    crops each image by gathering its rows and columns in one vectorised call. Anything
    else (one image, not training, images not larger on both sides) is Keras' own. Same
    arguments as `keras.layers.RandomCrop`; channels-last images only.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        shape = images.shape
        if not (
            training
            and len(shape) == 4
            and self.data_format == "channels_last"
            and shape[1] > self.height
            and shape[2] > self.width
        ):
            return super().get_random_transformation(data, training=training, seed=seed)
        seed = seed or self._get_seed_generator(self.backend._backend)
        batch = tf.shape(images)[0]
        offsets = [
            tf.cast(keras.random.uniform((batch,), 0.0, float(excess + 1), seed=seed), tf.int32)
            for excess in (shape[1] - self.height, shape[2] - self.width)
        ]
        return {"per_image_offsets": offsets}

    def transform_images(self, images, transformation, training=True):
        if not isinstance(transformation, dict):
            return super().transform_images(images, transformation, training=training)
        images = tf.cast(images, self.compute_dtype)
        top, left = transformation["per_image_offsets"]
        rows = top[:, None] + tf.range(self.height)[None, :]
        columns = left[:, None] + tf.range(self.width)[None, :]
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        return tf.gather(images, columns, axis=2, batch_dims=1)


def _per_image_operation(layer, name, value_range):
    """Operation `name` of a Keras RandAugment/AugMix `layer` as a function of a batch share.

    The function takes the share and the seed generator to draw its strengths from. Keras'
    `AutoContrast` and `Equalization` fail on an empty batch, and `Equalization` pools one
    histogram over the whole batch: both are replaced by PIL's per-image operations
    (`ablate.techniques.autoaugment`), which the papers' code calls. Every other operation is
    the layer's own, drawing each image's strength with the layer's sub-layer.
    """
    per_image_operations = {
        "auto_contrast": autoaugment.autocontrast,
        "equalization": autoaugment.equalize,
    }
    if name in per_image_operations:
        operation = per_image_operations[name]

        def apply(images, seeds):
            pixels = autoaugment.to_255(images, value_range)
            return autoaugment.from_255(operation(pixels), value_range)

        return apply
    sublayer = getattr(layer, name)

    def apply(images, seeds):
        transformation = sublayer.get_random_transformation(images, training=True, seed=seeds)
        return sublayer.transform_images(images, transformation, training=True)

    return apply


def _per_image_steps(images, operations, layer, names, generator):
    """Step `i` applies `names[operations[i][j]]` to image `j` (`None`: no operation).

    One `autoaugment.per_image` per step, the steps in one loop (`autoaugment.repeat_steps`),
    every operation's strengths drawn from the step's own seeds.
    """
    operations_of = [
        _per_image_operation(layer, name, layer.value_range) if name else None for name in names
    ]

    def step(images, index, seeds):
        branches = [
            (lambda share, op=op: op(share, seeds)) if op else (lambda share: share)
            for op in operations_of
        ]
        return autoaugment.per_image(images, tf.gather(operations, index), branches)

    return autoaugment.repeat_steps(images, int(operations.shape[0]), step, generator)


def _batch_size(images):
    return tf.shape(images)[0] if len(images.shape) == 4 else 1


@keras.saving.register_keras_serializable(package="ablate")
class PerImageRandAugment(keras.layers.RandAugment):
    """`keras.layers.RandAugment` with every image drawing its own operations.

    Keras draws the `num_ops` operations once per batch and computes all eleven on the whole
    batch for each draw; here each image draws its own (uniformly, with replacement, as in
    Cubuk et al. 2020), and each operation runs only on the images that drew it
    (`autoaugment.per_image`). Strengths are drawn per image by Keras' sub-layers, as
    before. Same arguments as `keras.layers.RandAugment`.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        operations = keras.random.randint(
            (self.num_ops, _batch_size(images)),
            0,
            len(self._AUGMENT_LAYERS),
            seed=seed or self.generator,
        )
        return {"operations": operations}

    def transform_images(self, images, transformation, training=True):
        images = tf.cast(images, self.compute_dtype)
        if not training:
            return images
        return _per_image_steps(
            images, transformation["operations"], self, self._AUGMENT_LAYERS, self.generator
        )


@keras.saving.register_keras_serializable(package="ablate")
class PerImageAugMix(keras.layers.AugMix):
    """`keras.layers.AugMix` with every image drawing its own chains and mixing weights.

    Keras draws the chains' operations with Python's `random` (inside `tf.data`: once, when
    the map is traced, for the whole run) and one set of Dirichlet and Beta mixing weights
    per batch. Here every image draws, in the graph, each chain slot's operation (one of the
    layer's operations or none, uniformly, as Keras' `random.choice(ops + [None])`), its
    Dirichlet chain weights and its Beta weight of the original, as Hendrycks et al. (2020)
    do per image. Same arguments as `keras.layers.AugMix`.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        batch_size = _batch_size(images)
        seed = seed or self.generator
        return {
            "chain_mixing_weights": self._sample_from_dirichlet(
                (batch_size, self.num_chains), self.alpha, seed
            ),
            "weight_sample": keras.random.beta(
                (batch_size,), alpha=self.alpha, beta=self.alpha, seed=seed
            ),
            # Chain-major: row `chain * batch_size + i` is image i's chain `chain`.
            "operations": keras.random.randint(
                (self.chain_depth, self.num_chains * batch_size),
                0,
                len(self._augment_layers) + 1,  # the last one: no operation
                seed=seed,
            ),
        }

    def transform_images(self, images, transformation, training=True):
        images = tf.cast(images, self.compute_dtype)
        if not training:
            return images
        # All chains of all images go through the operations together, one slot at a time;
        # the last operation is none.
        chains = _per_image_steps(
            tf.tile(images, [self.num_chains, 1, 1, 1]),
            transformation["operations"],
            self,
            [*self._augment_layers, None],
            self.generator,
        )
        chains = tf.reshape(chains, tf.concat([[self.num_chains, -1], tf.shape(images)[1:]], 0))
        weights = tf.cast(transformation["chain_mixing_weights"], self.compute_dtype)
        weights = tf.reshape(tf.transpose(weights), [self.num_chains, -1, 1, 1, 1])
        mixed = tf.reduce_sum(chains * weights, axis=0)
        original = tf.reshape(
            tf.cast(transformation["weight_sample"], self.compute_dtype), [-1, 1, 1, 1]
        )
        images = original * images + (1.0 - original) * mixed
        return tf.clip_by_value(images, self.value_range[0], self.value_range[1])
