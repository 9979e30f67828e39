"""The per-image layers (`ablate.techniques.per_image`) as Keras layers.

How they augment through `build_augmentation` (every image its own operations, eagerly and
in `tf.data`) is tested in `test_augmentation.py`.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

from ablate.techniques.per_image import PerImageAugMix, PerImageRandAugment, PerImageRandomCrop


def test_per_image_layers_round_trip_their_config():
    for layer in (
        PerImageRandAugment(value_range=(0, 1), num_ops=3, factor=0.2, seed=4),
        PerImageAugMix(value_range=(0, 1), num_chains=2, chain_depth=1, factor=0.4, seed=4),
    ):
        config = layer.get_config()
        restored = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(restored) is type(layer)
        assert restored.get_config() == config


def test_per_image_random_crop_crops_each_image_at_its_own_offset():
    seven = (load_digits().images[7, :, :, None] * 255.0 / 16.0).astype("float32")
    padded = np.pad(seven, [(2, 2), (2, 2), (0, 0)])  # 12x12: offsets 0..4 on both sides
    layer = PerImageRandomCrop(8, 8, seed=0)
    cropped = np.asarray(layer(np.stack([padded] * 500), training=True))
    crops = {(dy, dx): padded[dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)}
    offsets = []
    for image in cropped:
        matches = [offset for offset, crop in crops.items() if np.array_equal(image, crop)]
        assert matches  # an exact crop, no interpolation
        offsets.append(matches[0])
    counts = np.bincount([dy * 5 + dx for dy, dx in offsets], minlength=25)
    assert counts.min() > 5  # all 25 offsets, about 20 times each, as Keras' uniform draw
    assert layer(padded, training=True).shape == (8, 8, 1)  # one image: Keras' own crop
    np.testing.assert_array_equal(layer(np.stack([seven]), training=True), seven[None])
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is PerImageRandomCrop
    assert restored.get_config() == layer.get_config()
