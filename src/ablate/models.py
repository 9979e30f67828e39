"""Keras models selected by `model=`: a small CNN, MobileNetV3-Small, a tabular MLP, text.

`attention=on` adds the source article's transformer block (self-attention, residual,
layer normalization) after the last convolutional stage of either convolutional model.
"""

import os

import keras
import numpy as np
from omegaconf import DictConfig

from ablate.config import MODELS, check_knob
from ablate.errors import InputError
from ablate.validation import check_attention_fits, check_model_fits_data

PIXEL_MAX = 255.0
# Keras' pretrained MobileNetV3Small weights exist for these alphas only.
IMAGENET_ALPHAS = {False: (0.75, 1.0), True: (1.0,)}


def _transformer_block(x, attention_cfg: DictConfig):
    """The article's transformer block on a `(h, w, c)` feature map; returns the same shape.

    The `h * w` positions become tokens of width `c`; then
    `LayerNormalization(epsilon=1e-6)(tokens + MultiHeadAttention(tokens, tokens))`, reshaped
    back so that the head after it (and its parameter count) stays unchanged.

    A feature map of 1x1 (MobileNetV3-Small on 32x32 inputs) gives a single token: the block then
    still trains, but attention over one token is only a linear map of it.
    """
    height, width, channels = x.shape[1:]
    tokens = keras.layers.Reshape((height * width, channels), name="attention_tokens")(x)
    attended = keras.layers.MultiHeadAttention(
        num_heads=attention_cfg.heads, key_dim=attention_cfg.key_dim, name="attention"
    )(tokens, tokens)
    x = keras.layers.Add(name="attention_residual")([tokens, attended])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="attention_norm")(x)
    return keras.layers.Reshape((height, width, channels), name="attention_map")(x)


def _small_cnn(
    model_cfg: DictConfig, attention_cfg: DictConfig | None, input_shape, num_classes: int
) -> keras.Model:
    """Conv-ReLU-MaxPool stages (one per entry of `filters`), then dropout and a softmax head.

    The architecture of Keras' "Simple MNIST convnet" example, with "same" padding so that
    8x8 digits fit too. With attention, the transformer block follows the last stage.
    """
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / PIXEL_MAX)(inputs)
    for filters in model_cfg.filters:
        x = keras.layers.Conv2D(filters, model_cfg.kernel_size, padding="same", activation="relu")(
            x
        )
        x = keras.layers.MaxPooling2D(padding="same")(x)
    if attention_cfg is not None:
        x = _transformer_block(x, attention_cfg)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(model_cfg.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def _imagenet_weights_file(model_cfg: DictConfig) -> str:
    """Where Keras caches the no-top MobileNetV3Small ImageNet weights for this config."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    variant = "small_minimalistic" if model_cfg.minimalistic else "small"
    name = f"weights_mobilenet_v3_{variant}_224_{float(model_cfg.alpha)}_float_no_top_v2.h5"
    return os.path.join(keras_home, "models", name)


def _mobilenet_backbone(model_cfg: DictConfig, input_shape) -> keras.Model:
    """`keras.applications.MobileNetV3Small` without its top, as configured.

    Raises:
        InputError: for ImageNet weights that do not exist for this config or cannot be loaded.
    """
    weights = model_cfg.weights
    check_knob("model.weights", weights)
    if weights == "imagenet":
        alphas = IMAGENET_ALPHAS[bool(model_cfg.minimalistic)]
        if model_cfg.alpha not in alphas:
            raise InputError(
                "`model.weights=imagenet` exists only for model.alpha in "
                f"{list(alphas)} with model.minimalistic={model_cfg.minimalistic}. "
                f"Received: model.alpha={model_cfg.alpha}. "
                "Use one of those alphas, or model.weights=null."
            )
    try:
        return keras.applications.MobileNetV3Small(
            input_shape=input_shape,
            alpha=float(model_cfg.alpha),
            minimalistic=model_cfg.minimalistic,
            include_top=False,
            weights=weights,
            include_preprocessing=True,
            pooling=None,
        )
    except Exception as error:
        if weights != "imagenet":
            raise
        path = _imagenet_weights_file(model_cfg)
        raise InputError(
            "`model.weights=imagenet` needs the pretrained weights, which Keras downloads once "
            f"and caches in $KERAS_HOME/models (default ~/.keras/models). Received: "
            f"model.weights=imagenet, and loading them failed ({error}). Run once online, or "
            f"place the file at {path}, or use model.weights=null."
        ) from error


def _mobilenet_v3_small(
    model_cfg: DictConfig, attention_cfg: DictConfig | None, input_shape, num_classes: int
) -> keras.Model:
    """MobileNetV3-Small as a backbone, then pooling, dropout and a softmax head.

    Pixels stay in [0, 255]: the backbone's own `Rescaling` layer (`include_preprocessing=True`)
    expects exactly that range and maps it to [-1, 1], as our data pipeline delivers it.

    Images smaller than `model.min_size` (at least 32, which MobileNetV3 needs) on a side are
    resized to it inside the model, so 8x8 digits and 28x28 MNIST go in unchanged.

    Grey images feed one channel to the backbone when `weights` is null: a first convolution
    over three identical channels computes the same functions as one over a single channel,
    with 3x the weights. With `weights=imagenet` they are tiled to 3 channels, because the
    pretrained first convolution expects RGB.

    Every BatchNormalization layer of the backbone gets `momentum = model.bn_momentum`. Keras
    builds them with 0.999, meant for long ImageNet training: over a few epochs on small data
    the moving statistics then barely leave their initial values, and evaluation (which uses
    them) stays at chance while training accuracy is high (4000 MNIST images, 4 epochs: test
    accuracy 0.092 with 0.999, 0.896 with 0.9). Keras reads `momentum` in `call()`, when a
    training step is traced, so setting it here, before any step is traced, takes effect.

    References:
        Howard et al., "Searching for MobileNetV3", ICCV 2019.
    """
    height, width, channels = input_shape
    check_knob("model.min_size", model_cfg.min_size)
    if model_cfg.weights == "imagenet" and channels not in (1, 3):
        raise InputError(
            "`model.weights=imagenet` needs grey or RGB images. Received: model.weights=imagenet "
            f"with images of shape {tuple(input_shape)}. Use model.weights=null."
        )
    inputs = keras.Input(shape=input_shape)
    x = inputs
    size = (max(model_cfg.min_size, height), max(model_cfg.min_size, width))
    if size != (height, width):
        x = keras.layers.Resizing(*size, name="resize")(x)
    if model_cfg.weights == "imagenet" and channels == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    backbone = _mobilenet_backbone(model_cfg, x.shape[1:])
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(model_cfg.bn_momentum)
    x = backbone(x)
    if attention_cfg is not None:
        x = _transformer_block(x, attention_cfg)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(model_cfg.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v3_small")


def _mlp(model_cfg: DictConfig, input_shape, num_classes: int, x_train) -> keras.Model:
    """Flatten, a `Normalization` layer adapted on the training split, then dense layers."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    normalization = keras.layers.Normalization()
    normalization.adapt(np.reshape(x_train, (len(x_train), -1)).astype("float32"))
    x = normalization(x)
    for units in model_cfg.hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(model_cfg.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_model(
    model_cfg: DictConfig,
    attention_cfg: DictConfig | None,
    modality: str,
    input_shape,
    num_classes: int,
    x_train,
) -> keras.Model:
    """Builds the model named by `model_cfg.name` for the given data.

    Args:
        model_cfg: the `model` config group. `small_cnn` reads `filters`, `kernel_size`,
            `dropout`; `mlp` reads `hidden_units`, `dropout`; `mobilenet_v3_small` reads
            `alpha`, `minimalistic`, `weights` (null or `imagenet`), `dropout`, `bn_momentum`
            and `min_size`; `text_embedding` is built by `build_text_model`.
        attention_cfg: the `attention` config group (`enabled`, `heads`, `key_dim`), or None
            for no attention.
        modality: `"image"`, `"tabular"` or `"text"`.
        input_shape: shape of one example; images are `(h, w, c)` floats in [0, 255].
        num_classes: number of softmax outputs.
        x_train: training features, used to adapt normalization (and text vectorization)
            layers.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        InputError: if the model cannot read this kind of data, attention is asked of a model
            without convolutions, or ImageNet weights are unavailable.

    Example:

    >>> model = build_model(model_cfg, None, "image", (28, 28, 1), 10, x_train)
    """
    name = model_cfg.name
    if name not in MODELS:
        raise InputError(
            f"`model` must be one of {', '.join(MODELS)}. Received: model={name}. Use one of those."
        )
    attention = attention_cfg if attention_cfg is not None and attention_cfg.enabled else None
    if attention is not None:
        check_attention_fits(name)
    check_model_fits_data(name, modality, f"modality={modality}")
    if name == "small_cnn":
        return _small_cnn(model_cfg, attention, input_shape, num_classes)
    if name == "mobilenet_v3_small":
        return _mobilenet_v3_small(model_cfg, attention, input_shape, num_classes)
    if name == "text_embedding":
        return build_text_model(
            x_train,
            num_classes,
            max_tokens=model_cfg.max_tokens,
            sequence_length=model_cfg.sequence_length,
            embedding_dim=model_cfg.embedding_dim,
            dropout=model_cfg.dropout,
        )
    return _mlp(model_cfg, input_shape, num_classes, x_train)


def build_text_model(
    x_train: np.ndarray,
    num_classes: int,
    *,
    max_tokens: int = 10000,
    sequence_length: int = 64,
    embedding_dim: int = 64,
    dropout: float = 0.5,
):
    """Builds the text baseline: vectorize, embed, average, dropout, softmax.

    `TextVectorization` lowercases, strips punctuation, splits on whitespace and keeps the
    `max_tokens - 2` most frequent training tokens (index 0 is padding, 1 is
    out-of-vocabulary); each text becomes `sequence_length` token ids, truncated or
    zero-padded. The embedding masks padding (`mask_zero=True`), so the average is over
    the real tokens only: averaging the padding too dilutes a short text's words and, on
    a 200-text task, left accuracy at chance after 5 epochs where the masked average
    reached 1.0. A text with no word at all (`""`, `"?!"`) has nothing to average and
    gets NaN probabilities: `load_text_csv` rejects such texts, and EDA never produces
    one from a text with a word.

    Adapt on the texts the model trains on: with EDA augmentation, the augmented training
    split, so that the synonyms EDA inserts get their own embeddings.

    Args:
        x_train: 1-D array of the training texts (`str`), used only to build the
            vocabulary.
        num_classes: the number of softmax outputs, at least 2.
        max_tokens: vocabulary size, padding and out-of-vocabulary tokens included
            (`model.max_tokens`), at least 3. Defaults to `10000`.
        sequence_length: tokens kept per text (`model.sequence_length`). Defaults to `64`.
        embedding_dim: size of each token embedding (`model.embedding_dim`). Defaults to
            `64`.
        dropout: dropout rate before the softmax layer, in [0, 1) (`model.dropout`).
            Defaults to `0.5`.

    Returns:
        An uncompiled `keras.Model` named `"text_embedding"` mapping a batch of strings,
        shape `(batch,)`, to probabilities of shape `(batch, num_classes)`.

    Raises:
        InputError: if an argument is out of range or `x_train` is not a non-empty 1-D
            array of strings.

    Example:

    >>> model = build_text_model(np.array(["good film", "bad film"], dtype=object), 2)
    >>> model(np.array(["a good one"])).shape
    TensorShape([1, 2])
    """
    import keras

    x_train = np.asarray(x_train, dtype=object)
    if x_train.ndim != 1 or x_train.size == 0 or not all(isinstance(t, str) for t in x_train):
        raise InputError(
            "`x_train` must be a non-empty 1-D array of texts (str). "
            f"Received: x_train of shape {x_train.shape} with element types "
            f"{sorted({type(t).__name__ for t in x_train.ravel()})}. "
            "Load the texts with ablate.data.text.load_text_csv."
        )
    _check_int("num_classes", num_classes, 2)
    for key, value in (
        ("model.max_tokens", max_tokens),
        ("model.sequence_length", sequence_length),
        ("model.embedding_dim", embedding_dim),
        ("model.dropout", dropout),
    ):
        check_knob(key, value)

    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_sequence_length=sequence_length, name="vectorize"
    )
    vectorizer.adapt(x_train)
    inputs = keras.Input(shape=(), dtype="string", name="text")
    x = vectorizer(inputs)
    x = keras.layers.Embedding(
        vectorizer.vocabulary_size(), embedding_dim, mask_zero=True, name="embed"
    )(x)
    x = keras.layers.GlobalAveragePooling1D(name="average")(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classify")(x)
    return keras.Model(inputs, outputs, name="text_embedding")


def _check_int(key: str, value, minimum: int) -> None:
    """Raises `InputError` unless `value` is an integer (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(
            f"`{key}` must be an integer >= {minimum}. Received: {key}={value}. "
            f"Set `{key}` to an integer of at least {minimum}."
        )
