"""`ablate.techniques.quantization` on `small_cnn` trained on real digits: the sizes, accuracy
and latency of every mode, and the converter's refusals."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from omegaconf import OmegaConf
from sklearn.datasets import load_digits

from ablate.errors import InputError
from ablate.models import build_model, build_text_model
from ablate.techniques import quantization
from ablate.techniques.quantization import (
    MODES,
    convert,
    int8_tensor_share,
    quantization_metrics,
    tflite_accuracy,
    tflite_latency_ms,
)

NUM_TRAIN = 1200  # of the 1797 digits; the other 597 are the test split (3 batches of 256)
NUM_CALIBRATION = 200
# The share of the float32 flatbuffer's size each mode must stay in.
SIZE_RATIOS = {"dynamic": (0.0, 0.4), "float16": (0.45, 0.6), "int8": (0.0, 0.35)}
# `model=small_cnn` as conf/model/small_cnn.yaml sets it: 21,386 parameters on 8x8 digits.
SMALL_CNN = OmegaConf.create(
    {"name": "small_cnn", "filters": [32, 64], "kernel_size": 3, "dropout": 0.5}
)
NO_CONVERTER = "quantize=dynamic: the TFLite converter cannot convert this model"


@pytest.fixture(scope="module")
def digits():
    """`(x_train, y_train, x_test, y_test)`: 8x8 grey digits as float32 pixels in [0, 255]."""
    data = load_digits()
    images = (data.images[..., None] * 255.0 / 16.0).astype("float32")
    return images[:NUM_TRAIN], data.target[:NUM_TRAIN], images[NUM_TRAIN:], data.target[NUM_TRAIN:]


@pytest.fixture(scope="module")
def trained(digits):
    """`(model, its test accuracy)`: `small_cnn` (filters 32, 64) after 3 epochs."""
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    model = build_model(SMALL_CNN, None, "image", x_train.shape[1:], 10, x_train)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    predictions = model.predict(x_test, verbose=0).argmax(axis=-1)
    return model, float(np.mean(predictions == y_test))


@pytest.fixture(scope="module")
def flatbuffers(trained, digits):
    """The trained model converted in every mode, and as plain float32 under `None`."""
    calibration = digits[0][:NUM_CALIBRATION]
    return {mode: convert(trained[0], mode, calibration) for mode in (None, *MODES)}


def one_at_a_time(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    """The top-1 class of each example, invoking the model once per example."""
    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    interpreter.allocate_tensors()
    (inputs,), (outputs,) = interpreter.get_input_details(), interpreter.get_output_details()
    predictions = []
    for example in x:
        interpreter.set_tensor(inputs["index"], example[None])
        interpreter.invoke()
        predictions.append(interpreter.get_tensor(outputs["index"]).argmax())
    return np.array(predictions)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_shrinks_the_flatbuffer(flatbuffers, mode):
    low, high = SIZE_RATIOS[mode]
    assert low < len(flatbuffers[mode]) / len(flatbuffers[None]) < high


@pytest.mark.parametrize("mode", MODES)
def test_quantized_accuracy_stays_within_3_points_of_keras(flatbuffers, trained, digits, mode):
    _, keras_accuracy = trained
    assert keras_accuracy > 0.6  # the model has learned something to lose
    accuracy = tflite_accuracy(flatbuffers[mode], digits[2], digits[3])
    assert abs(accuracy - keras_accuracy) <= 0.03


def test_float32_flatbuffer_keeps_keras_accuracy(flatbuffers, trained, digits):
    accuracy = tflite_accuracy(flatbuffers[None], digits[2], digits[3])
    assert abs(accuracy - trained[1]) <= 0.005


@pytest.mark.parametrize("mode", (None, *MODES))
def test_batches_predict_as_one_example_at_a_time(flatbuffers, digits, mode):
    x_test = digits[2]
    single = one_at_a_time(flatbuffers[mode], x_test)
    # Scored against the one-at-a-time predictions, the batched ones must all be right.
    assert tflite_accuracy(flatbuffers[mode], x_test, single) == 1.0


def test_latency_is_timed_on_one_thread(flatbuffers, digits, monkeypatch):
    threads = []

    def recording(**kwargs):
        threads.append(kwargs["num_threads"])
        return Interpreter(**kwargs)

    monkeypatch.setattr(quantization, "Interpreter", recording)
    latencies = [
        tflite_latency_ms(flatbuffers[mode], digits[2][0], warmup=2, repeats=20)
        for mode in (None, "int8")
    ]
    assert threads == [1, 1]
    assert all(0.0 < latency < math.inf for latency in latencies)


def test_conversion_is_quiet_and_restores_keras_logging(trained, digits, capfd):
    assert keras.config.is_interactive_logging_enabled()
    convert(trained[0], "int8", digits[0][:NUM_CALIBRATION])
    # Neither Keras' "Saved artifact at" listing nor the calibrator's settings get through.
    assert capfd.readouterr() == ("", "")
    assert keras.config.is_interactive_logging_enabled()


@pytest.mark.parametrize("calibration", (None, np.zeros((0, 8, 8, 1), "float32")))
def test_int8_refuses_to_calibrate_on_nothing(trained, calibration):
    with pytest.raises(InputError) as caught:
        convert(trained[0], "int8", calibration)
    assert str(caught.value) == (
        "quantize=int8 needs training examples to calibrate on. Received: 0 calibration examples"
    )


def test_unknown_mode_is_refused(trained):
    with pytest.raises(InputError) as caught:
        convert(trained[0], "int4")
    assert str(caught.value) == (
        "`quantize` must be off or one of dynamic, float16, int8. Received: quantize=int4"
    )


def test_text_model_is_refused_in_one_line():
    # TextVectorization's string ops (StringLower, ...) have no TFLite builtin kernel.
    model = build_text_model(np.array(["good film", "bad film"], dtype=object), 2)
    with pytest.raises(InputError) as caught:
        convert(model, "dynamic")
    message = str(caught.value)
    assert message.startswith(f"{NO_CONVERTER} (Could not translate MLIR to FlatBuffer. ")
    assert "'tf.StringLower' op is neither a custom op nor a flex op" in message
    assert message.endswith("). Allowed: quantize=off")
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, Exception)


def test_long_converter_errors_are_shortened(trained, monkeypatch):
    long_error = '<unknown>:0: error: loc(callsite(fused["A"] at f(x))): ' + "x" * 300

    def failing(model):
        raise RuntimeError(f"\n{long_error}\nsecond line")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_keras_model", failing)
    with pytest.raises(InputError) as caught:
        convert(trained[0], "dynamic")
    message = str(caught.value)
    assert message == f"{NO_CONVERTER} ({'x' * 197}...). Allowed: quantize=off"
    assert "\n" not in message


def test_metrics_measure_the_returned_flatbuffer(trained, flatbuffers, digits):
    metrics, flatbuffer = quantization_metrics(trained[0], "dynamic", None, digits[2], digits[3])
    assert set(metrics) == {
        "tflite_size_bytes",
        "tflite_test_accuracy",
        "tflite_latency_ms",
        "float32_tflite_size_bytes",
        "float32_tflite_latency_ms",
        "tflite_int8_tensor_share",
    }
    assert metrics["tflite_int8_tensor_share"] == int8_tensor_share(flatbuffers["dynamic"])
    assert metrics["tflite_size_bytes"] == len(flatbuffer) == len(flatbuffers["dynamic"])
    assert metrics["float32_tflite_size_bytes"] == len(flatbuffers[None])
    assert metrics["tflite_test_accuracy"] == tflite_accuracy(flatbuffer, digits[2], digits[3])
    assert metrics["tflite_latency_ms"] > 0.0
    assert metrics["float32_tflite_latency_ms"] > 0.0


def test_int8_tensors_show_what_each_mode_quantized(flatbuffers):
    # measured: dynamic makes the 2 largest weight tensors of 20 int8; int8 makes half of all
    # tensors int8 (the rest: int32 biases and shapes, the float32 input and output)
    shares = {mode: int8_tensor_share(flatbuffer) for mode, flatbuffer in flatbuffers.items()}
    assert shares[None] == shares["float16"] == 0.0
    assert 0.0 < shares["dynamic"] <= 0.2
    assert shares["int8"] >= 0.45
