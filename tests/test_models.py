"""Model shapes and parameter counts as Keras reports them."""

import numpy as np
import pytest

from ablate.errors import InputError
from ablate.models import build_model
from conftest import compose


def test_small_cnn_matches_the_keras_mnist_convnet_size():
    model = build_model(compose().model, "image", (28, 28, 1), 10, x_train=None)
    # conv 3x3x1x32+32, conv 3x3x32x64+64, dense 7*7*64*10+10
    assert model.count_params() == 320 + 18496 + 31370
    assert model.output_shape == (None, 10)


def test_small_cnn_accepts_8x8_digits():
    model = build_model(compose().model, "image", (8, 8, 1), 10, x_train=None)
    assert model.count_params() == 320 + 18496 + (2 * 2 * 64 * 10 + 10)


def test_small_cnn_refuses_tabular_data():
    with pytest.raises(InputError, match=r"`model=small_cnn` needs image data.*Use model=mlp"):
        build_model(compose().model, "tabular", (30,), 2, x_train=None)


def test_mlp_normalizes_with_statistics_of_the_training_split():
    x_train = np.random.default_rng(0).normal(5.0, 3.0, size=(200, 4)).astype("float32")
    model = build_model(compose("model=mlp").model, "tabular", (4,), 3, x_train)
    normalization = next(layer for layer in model.layers if "normalization" in layer.name)
    normalized = np.asarray(normalization(x_train))
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-3)
    # 4 -> 128 -> 64 -> 3 dense layers, plus the normalization's mean/variance/count
    dense = (4 * 128 + 128) + (128 * 64 + 64) + (64 * 3 + 3)
    assert model.count_params() == dense + 4 + 4 + 1
