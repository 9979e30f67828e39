"""Keras models selected by `model=`: the baseline small CNN and a tabular MLP."""

import keras
import numpy as np
from omegaconf import DictConfig

from ablate.errors import InputError

PIXEL_MAX = 255.0


def _small_cnn(model_cfg: DictConfig, input_shape, num_classes: int) -> keras.Model:
    """Conv-ReLU-MaxPool stages (one per entry of `filters`), then dropout and a softmax head.

    The architecture of Keras' "Simple MNIST convnet" example, with "same" padding so that
    8x8 digits fit too.
    """
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / PIXEL_MAX)(inputs)
    for filters in model_cfg.filters:
        x = keras.layers.Conv2D(filters, model_cfg.kernel_size, padding="same", activation="relu")(
            x
        )
        x = keras.layers.MaxPooling2D(padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(model_cfg.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


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
    model_cfg: DictConfig, modality: str, input_shape, num_classes: int, x_train
) -> keras.Model:
    """Builds the model named by `model_cfg.name` for the given data.

    Args:
        model_cfg: the `model` config group.
        modality: `"image"` or `"tabular"`.
        input_shape: shape of one example.
        num_classes: number of softmax outputs.
        x_train: training features, used to adapt normalization layers.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        InputError: if the model cannot read this kind of data.
    """
    if model_cfg.name == "small_cnn":
        if modality != "image":
            raise InputError(
                "`model=small_cnn` needs image data. Received: model=small_cnn with "
                f"{modality} data of shape {tuple(input_shape)}. Use model=mlp."
            )
        return _small_cnn(model_cfg, input_shape, num_classes)
    return _mlp(model_cfg, input_shape, num_classes, x_train)
