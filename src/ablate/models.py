"""Keras models selected by `model=`: a small CNN, MobileNetV3-Small, a tabular MLP, text.

`attention=` adds attention to the two convolutional models: squeeze-and-excitation (`se`) or
CBAM (`cbam`) inside each conv block of `small_cnn`, or the practitioner article's transformer block
(`mhsa`) over the positions of a feature map of either. Every layer it adds is named
`attention_*`, so `attention_summary` can count what it added from the model alone. The blocks
themselves are in `ablate.techniques.attention`; this module places them.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from ablate.config import MODELS, check_knob
from ablate.errors import InputError
from ablate.techniques.attention import (
    ATTENTION_PREFIX,
    cbam,
    squeeze_excite,
    transformer_block,
)
from ablate.validation import (
    check_attention_fits,
    check_attention_tokens,
    check_mobilenet_weights,
    check_model_fits_data,
)

PIXEL_MAX = 255.0
# `mhsa` follows the deepest stage whose feature map still has this many positions.
MHSA_TOKENS = 16
# MobileNetV3-Small's bottleneck blocks (Howard et al. 2019, Table 2), as Keras builds them:
# (expansion, output channels before `alpha`, kernel, stride, SE, activation). With
# `minimalistic` kernel 5 becomes 3 and hard-swish becomes ReLU; `model.se` switches SE.
MOBILENET_V3_SMALL_BLOCKS = (
    (1, 16, 3, 2, True, "relu"),
    (72 / 16, 24, 3, 2, False, "relu"),
    (88 / 24, 24, 3, 1, False, "relu"),
    (4, 40, 5, 2, True, "hard_swish"),
    (6, 40, 5, 1, True, "hard_swish"),
    (6, 40, 5, 1, True, "hard_swish"),
    (3, 48, 5, 1, True, "hard_swish"),
    (3, 48, 5, 1, True, "hard_swish"),
    (6, 96, 5, 2, True, "hard_swish"),
    (6, 96, 5, 1, True, "hard_swish"),
    (6, 96, 5, 1, True, "hard_swish"),
)
MOBILENET_V3_SMALL_HEAD = 1024  # channels of the head's 1x1 convolution


def _halve(size: tuple[int, int]) -> tuple[int, int]:
    """The size after a stride-2 layer with "same"-style padding: each side rounded up."""
    return tuple(-(-side // 2) for side in size)


def _mhsa_stage(sizes: list[tuple[int, int]], input_shape, model: str) -> int:
    """The stage (index into `sizes`, the feature-map size after each stage) `mhsa` follows.

    The deepest stage with at least `MHSA_TOKENS` positions; when none has that many, the
    first (the most positions), refused below 4.

    Raises:
        InputError: if even the first stage has fewer than 4 positions.
    """
    tokens = [height * width for height, width in sizes]
    enough = [stage for stage, count in enumerate(tokens) if count >= MHSA_TOKENS]
    stage = enough[-1] if enough else 0
    height, width = sizes[stage]
    where = f"{height}x{width} after stage {stage + 1}"
    check_attention_tokens(tokens[stage], input_shape, model, where)
    return stage


def _attention_name(attention_cfg: DictConfig | None) -> str:
    return "off" if attention_cfg is None else attention_cfg.name


def _small_cnn(
    model_cfg: DictConfig, attention_cfg: DictConfig | None, input_shape, num_classes: int
) -> keras.Model:
    """Conv-ReLU-MaxPool stages (one per entry of `filters`), then dropout and a softmax head.

    The architecture of Keras' "Simple MNIST convnet" example, with "same" padding so that
    8x8 digits fit too. `attention=se|cbam` adds the block after each Conv-ReLU, before its
    pooling; `attention=mhsa` adds the transformer block after the deepest stage that has at
    least 16 positions (28x28 MNIST: 7x7 after stage 2; 8x8 digits: 4x4 after stage 1).
    """
    attention = _attention_name(attention_cfg)
    sizes = [tuple(input_shape[:2])]
    for _ in model_cfg.filters:
        sizes.append(_halve(sizes[-1]))
    mhsa_after = _mhsa_stage(sizes[1:], input_shape, "small_cnn") if attention == "mhsa" else None

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / PIXEL_MAX)(inputs)
    for stage, filters in enumerate(model_cfg.filters):
        x = keras.layers.Conv2D(filters, model_cfg.kernel_size, padding="same", activation="relu")(
            x
        )
        prefix = f"{ATTENTION_PREFIX}{attention}{stage + 1}"
        if attention == "se":
            x = squeeze_excite(x, attention_cfg.reduction, prefix)
        elif attention == "cbam":
            x = cbam(x, attention_cfg.reduction, prefix)
        x = keras.layers.MaxPooling2D(padding="same")(x)
        if stage == mhsa_after:
            x = transformer_block(x, attention_cfg)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(model_cfg.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def _depth(channels: float, divisor: int = 8) -> int:
    """Rounds a channel count to a multiple of 8, never more than 10 % down (Keras, TF slim)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def _mobilenet_se(x, prefix: str):
    """MobileNetV3's SE block as Keras builds it: 1/4 of the channels, ReLU, hard sigmoid."""
    channels = x.shape[-1]
    gate = keras.layers.GlobalAveragePooling2D(
        keepdims=True, name=f"{prefix}squeeze_excite_avg_pool"
    )(x)
    gate = keras.layers.Conv2D(
        _depth(channels * 0.25), 1, padding="same", name=f"{prefix}squeeze_excite_conv"
    )(gate)
    gate = keras.layers.ReLU(name=f"{prefix}squeeze_excite_relu")(gate)
    gate = keras.layers.Conv2D(channels, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(
        gate
    )
    gate = keras.layers.Activation("hard_sigmoid", name=f"{prefix}squeeze_excite_gate")(gate)
    return keras.layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, gate])


def _inverted_residual(x, block: int, spec, model_cfg: DictConfig):
    """One bottleneck block of MobileNetV3: expand, depthwise, [SE], project, [add].

    Layer names are Keras' own, so that its pretrained weights can be copied by name.
    """
    expansion, filters, kernel, stride, has_se, activation = spec
    if model_cfg.minimalistic:
        kernel, activation = min(kernel, 3), "relu"
    filters = _depth(filters * model_cfg.alpha)
    momentum = float(model_cfg.bn_momentum)
    shortcut, in_channels = x, x.shape[-1]
    prefix = f"expanded_conv_{block}_" if block else "expanded_conv_"
    if block:
        x = keras.layers.Conv2D(
            _depth(in_channels * expansion),
            1,
            padding="same",
            use_bias=False,
            name=f"{prefix}expand",
        )(x)
        x = _batch_norm(x, momentum, f"{prefix}expand_bn")
        x = keras.layers.Activation(activation)(x)
    if stride == 2:
        x = keras.layers.ZeroPadding2D(
            _correct_pad(x.shape[1:3], kernel), name=f"{prefix}depthwise_pad"
        )(x)
    x = keras.layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        name=f"{prefix}depthwise",
    )(x)
    x = _batch_norm(x, momentum, f"{prefix}depthwise_bn")
    x = keras.layers.Activation(activation)(x)
    if has_se and model_cfg.se:
        x = _mobilenet_se(x, prefix)
    x = keras.layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _batch_norm(x, momentum, f"{prefix}project_bn")
    if stride == 1 and in_channels == filters:
        x = keras.layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


def _batch_norm(x, momentum: float, name: str):
    """BatchNormalization; built under a distribution strategy, it is `synchronized`: its
    statistics are those of the global batch, as on one device, not of a replica's share."""
    return keras.layers.BatchNormalization(
        epsilon=1e-3, momentum=momentum, name=name, synchronized=tf.distribute.has_strategy()
    )(x)


def _correct_pad(size: tuple[int, int], kernel: int) -> tuple[tuple[int, int], ...]:
    """Keras' padding before a stride-2 "valid" convolution: the output is `ceil(size / 2)`."""
    return tuple((kernel // 2 - (1 - side % 2), kernel // 2) for side in size)


def _mobilenet_v3_small(
    model_cfg: DictConfig, attention_cfg: DictConfig | None, input_shape, num_classes: int
) -> keras.Model:
    """MobileNetV3-Small with its published head, layer for layer as Keras builds it.

    `keras.applications.MobileNetV3Small(weights=None, classes=num_classes)`'s architecture,
    with the same layer names and parameter counts: its `Rescaling` of [0, 255] pixels to
    [-1, 1], the stem, the 11 bottleneck blocks, the 576-channel (at alpha 1) 1x1 convolution,
    then the head: global average pooling, a 1x1 convolution to 1024 channels with bias and
    hard-swish, `Dropout(model.dropout)`, a 1x1 convolution to the classes, softmax. It is
    built here rather than by Keras because Keras ties the SE blocks to `minimalistic` (which
    also swaps 5x5 kernels and hard-swish for 3x3 and ReLU) and because `mhsa` goes between
    blocks. Deviations from Keras, each a knob:

    - SE blocks follow `model.se`, not `model.minimalistic`: Keras' minimalistic model is
      `minimalistic=true se=false`; `minimalistic=true se=true` has no Keras counterpart.
    - Every BatchNormalization has `momentum = model.bn_momentum` (Keras: 0.999, meant for long
      ImageNet training; over a few epochs on small data the moving statistics barely leave
      their initial values and evaluation stays at chance: 4000 MNIST images, 4 epochs, test
      accuracy 0.092 with 0.999, 0.896 with 0.9).
    - Under `training.distribute=mirrored` every BatchNormalization is `synchronized` (the
      global batch's statistics); Keras' default is each replica's own.
    - Images smaller than `model.min_size` (at least 32, which MobileNetV3 needs) on a side
      are resized to it inside the model, so 8x8 digits and 28x28 MNIST go in unchanged.
    - Grey images feed one channel when `weights` is null: a first convolution over three
      identical channels computes the same functions as one over a single channel, with 3x
      the weights. With `weights=imagenet` they are tiled to 3 channels, and Keras' pretrained
      weights (without top) are copied in by layer name; the head starts from scratch.

    `attention=mhsa` adds the transformer block after the deepest block (or the final 1x1
    convolution) that has at least 16 positions: on 32x32 inputs, 4x4 after block 2.

    References:
        Howard et al., "Searching for MobileNetV3", ICCV 2019.
    """
    height, width, channels = input_shape
    check_knob("model.min_size", model_cfg.min_size)
    check_knob("model.weights", model_cfg.weights)
    check_mobilenet_weights(
        model_cfg.alpha, model_cfg.minimalistic, model_cfg.se, model_cfg.weights
    )
    if model_cfg.weights == "imagenet" and channels not in (1, 3):
        raise InputError(
            "`model.weights=imagenet` needs grey or RGB images. Received: model.weights=imagenet "
            f"with images of shape {tuple(input_shape)}. Use model.weights=null."
        )
    size = (max(model_cfg.min_size, height), max(model_cfg.min_size, width))
    # The feature-map size after each block, then after the final 1x1 convolution.
    sizes, current = [], _halve(size)
    for spec in MOBILENET_V3_SMALL_BLOCKS:
        current = _halve(current) if spec[3] == 2 else current
        sizes.append(current)
    sizes.append(current)
    mhsa_after = None
    if _attention_name(attention_cfg) == "mhsa":
        mhsa_after = _mhsa_stage(sizes, input_shape, "mobilenet_v3_small")

    activation = "relu" if model_cfg.minimalistic else "hard_swish"
    momentum = float(model_cfg.bn_momentum)
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if size != (height, width):
        x = keras.layers.Resizing(*size, name="resize")(x)
    if model_cfg.weights == "imagenet" and channels == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    backbone_input = x
    x = keras.layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    x = _batch_norm(x, momentum, "conv_bn")
    x = keras.layers.Activation(activation)(x)
    for block, spec in enumerate(MOBILENET_V3_SMALL_BLOCKS):
        x = _inverted_residual(x, block, spec, model_cfg)
        if block == mhsa_after:
            x = transformer_block(x, attention_cfg)
    x = keras.layers.Conv2D(
        _depth(x.shape[-1] * 6), 1, padding="same", use_bias=False, name="conv_1"
    )(x)
    x = _batch_norm(x, momentum, "conv_1_bn")
    x = keras.layers.Activation(activation)(x)
    if mhsa_after == len(MOBILENET_V3_SMALL_BLOCKS):
        x = transformer_block(x, attention_cfg)
    head = MOBILENET_V3_SMALL_HEAD
    head = _depth(head * model_cfg.alpha) if model_cfg.alpha > 1.0 else head
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.Conv2D(head, 1, padding="same", use_bias=True, name="conv_2")(x)
    x = keras.layers.Activation(activation)(x)
    x = keras.layers.Dropout(model_cfg.dropout)(x)
    x = keras.layers.Conv2D(num_classes, 1, padding="same", name="logits")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="mobilenet_v3_small")
    if model_cfg.weights == "imagenet":
        _copy_pretrained_weights(model, model_cfg, backbone_input.shape[1:])
    return model


def _imagenet_weights_file(model_cfg: DictConfig) -> str:
    """Where Keras caches the no-top MobileNetV3Small ImageNet weights for this config."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    variant = "small_minimalistic" if model_cfg.minimalistic else "small"
    name = f"weights_mobilenet_v3_{variant}_224_{float(model_cfg.alpha)}_float_no_top_v2.h5"
    return os.path.join(keras_home, "models", name)


def _copy_pretrained_weights(model: keras.Model, model_cfg: DictConfig, input_shape) -> None:
    """Copies Keras' ImageNet MobileNetV3Small weights (no top) into `model`, layer by name.

    Raises:
        InputError: if the weights cannot be loaded (offline, nothing cached).
    """
    try:
        pretrained = keras.applications.MobileNetV3Small(
            input_shape=tuple(input_shape),
            alpha=float(model_cfg.alpha),
            minimalistic=model_cfg.minimalistic,
            include_top=False,
            weights="imagenet",
        )
    except Exception as error:
        path = _imagenet_weights_file(model_cfg)
        raise InputError(
            "`model.weights=imagenet` needs the pretrained weights, which Keras downloads once "
            f"and caches in $KERAS_HOME/models (default ~/.keras/models). Received: "
            f"model.weights=imagenet, and loading them failed ({error}). Run once online, or "
            f"place the file at {path}, or use model.weights=null."
        ) from error
    for layer in pretrained.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())


def standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-feature mean and variance that standardize `features`, constant ones kept finite.

    As sklearn's `StandardScaler`: a feature constant on these rows (e.g. a digits border pixel,
    0 in every training image) gets variance 1 and its value as mean, so it maps to exactly 0
    and an unseen value `v` to `v - constant`. Keras' `Normalization` alone divides by
    `max(sqrt(variance), 1e-7)`: on digits (4 pixels constant on the training split) a test
    pixel of 15.9 became 1.6e8, and `model=mlp` after 2 epochs had test loss 75,216 (now 0.93).

    Args:
        features: `(n, d)` training features.

    Returns:
        `(mean, variance)`, each of shape `(d,)`, float64.
    """
    features = np.asarray(features, dtype="float64")
    constant = features.min(axis=0) == features.max(axis=0)
    mean = np.where(constant, features[0], features.mean(axis=0))
    variance = np.where(constant, 1.0, features.var(axis=0))
    return mean, variance


def _mlp(model_cfg: DictConfig, input_shape, num_classes: int, x_train) -> keras.Model:
    """Flatten, standardization with the training split's statistics, then dense layers.

    The statistics are those of `standardization` (constant features scaled by 1), fixed in a
    `keras.layers.Normalization(mean=, variance=)` layer named `standardize`.
    """
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    mean, variance = standardization(np.reshape(x_train, (len(x_train), -1)))
    x = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(x)
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
    """Builds the model named by `model_cfg.name` for the data.

    What `attention_cfg` added can be read back with `attention_summary(model)`.

    Args:
        model_cfg: the `model` config group. `small_cnn` reads `filters`, `kernel_size`,
            `dropout`; `mlp` reads `hidden_units`, `dropout`; `mobilenet_v3_small` reads
            `alpha`, `minimalistic`, `se`, `weights` (null or `imagenet`), `dropout`,
            `bn_momentum` and `min_size`; `text_embedding` is built by `build_text_model`.
        attention_cfg: the `attention` config group (`name`: `off`, `se`, `cbam`, `mhsa`;
            `reduction` for `se`, `cbam`; `heads`, `key_dim` for `mhsa`), or None for `off`.
        modality: `"image"`, `"tabular"` or `"text"`.
        input_shape: shape of one example; images are `(h, w, c)` floats in [0, 255].
        num_classes: number of softmax outputs.
        x_train: training features, used for the MLP's standardization (and text
            vectorization).

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        InputError: if the model cannot read this kind of data, the attention option does not
            fit the model (or would see fewer than 4 tokens), or ImageNet weights are
            unavailable.

    Example:

    >>> model = build_model(model_cfg, None, "image", (28, 28, 1), 10, x_train)
    >>> attention_summary(model)
    AttentionSummary(tokens=0, params=0)
    """
    name = model_cfg.name
    if name not in MODELS:
        raise InputError(
            f"`model` must be one of {', '.join(MODELS)}. Received: model={name}. Use one of those."
        )
    check_attention_fits(_attention_name(attention_cfg), name)
    check_model_fits_data(name, modality, f"modality={modality}")
    if name == "small_cnn":
        return _small_cnn(model_cfg, attention_cfg, input_shape, num_classes)
    if name == "mobilenet_v3_small":
        return _mobilenet_v3_small(model_cfg, attention_cfg, input_shape, num_classes)
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
