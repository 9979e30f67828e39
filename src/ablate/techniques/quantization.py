"""Post-training quantization (`quantize=`): the trained model as a TFLite flatbuffer, measured.

After training, the Keras model is converted by the TFLite converter, once as plain float32
(the reference) and once quantized, and both are measured: size of the flatbuffer, top-1
accuracy of the quantized model on the test split, and the median latency of one example
on one CPU thread. The modes follow the TFLite post-training quantization guide:

- `dynamic`: dynamic-range quantization. Weights are stored as int8; activations stay
  float and are quantized on the fly by the kernels that support it. No data needed.
- `float16`: weights stored as float16 (half the size), computed in float32 on CPUs.
- `int8`: full integer quantization. Weights and activations are int8, with activation
  ranges calibrated on examples of the training split (`representative_dataset`); only
  integer builtin ops are allowed, so a model with an op that has no int8 kernel fails to
  convert rather than silently keeping it in float. Inputs and outputs stay float32 (the
  converter quantizes and dequantizes at the edges), so the model is a drop-in for the float
  one.

Measured on this machine (2 CPU cores) with `small_cnn` (filters 32, 64) trained 3 epochs on
1,200 digits, as in its test: the float32 flatbuffer has 89,532 B; dynamic is 0.308x, float16
0.535x and int8 (200 calibration examples) 0.324x of it. Test accuracy is unchanged (0.7956 in
Keras and in every mode). One example takes 4.9 µs in float32 and float16 (its weights are
dequantized to float32 when the model is loaded) and 2.6 µs in dynamic and int8. Each
conversion takes about 0.2 s; MobileNetV3-Small about 5 s.

No quantization-aware training and no pruning: both come from
`tensorflow-model-optimization`, which does not support Keras 3.

The model is converted with `tf.lite.TFLiteConverter.from_keras_model`, which exports the
inference call (`training=False`) of a Keras 3 model through `keras.export.ExportArchive`
and converts that. The other routes were worse, measured on MobileNetV3-Small (TF 2.21,
Keras 3.15): `tf.saved_model.save` then `from_saved_model`, and `from_concrete_functions`
given the model as `trackable_obj`, each wrote a model without its weights (under 250 kB
instead of 6.1 MB, NaN outputs); `model.export` then `from_saved_model` gave the right
outputs in a 2.5 % larger flatbuffer (and failed on MobileNetV3's dropout op in an earlier
setup); `from_concrete_functions` without `trackable_obj` is deprecated.

The converted models run in the LiteRT interpreter (`ai_edge_litert.interpreter`), the
maintained successor of the deprecated `tf.lite.Interpreter` and a drop-in for it.

References:
    - TFLite post-training quantization:
      https://ai.google.dev/edge/litert/models/post_training_quantization
    - Jacob et al., 2018. Quantization and Training of Neural Networks for Efficient
      Integer-Arithmetic-Only Inference. CVPR.
"""

import contextlib
import logging
import re
import time
import warnings

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from ablate.errors import InputError
from ablate.held_stderr import held_stderr, hidden_by_tf_log_level

MODES = ("dynamic", "float16", "int8")
# Examples per invocation in `tflite_accuracy`: large enough to amortize the Python calls,
# small enough that MobileNetV3's activations of one batch fit in memory.
BATCH_SIZE = 256
# What the converter and the interpreter print to stderr on success, besides absl's log lines:
# the calibrator's settings ("fully_quantize: 0, inference_type: 6, ...") and the delegate.
_CHATTER = ("fully_quantize: ", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
# The converter's warning for full integer quantization with float inputs, which need none.
_NO_INPUT_STATISTICS = "Statistics for quantized inputs were expected"
_MAX_REASON_CHARS = 200


def convert(model: keras.Model, mode: str | None, calibration: np.ndarray | None = None) -> bytes:
    """Converts `model` to a TFLite flatbuffer, quantized as `mode` says.

    Args:
        model: a Keras 3 model.
        mode: one of `MODES`, or None for a plain float32 model (no optimization: the
            reference for size and latency). `dynamic`: `Optimize.DEFAULT` without data (int8
            weights, float activations). `float16`: `Optimize.DEFAULT` with
            `supported_types=[tf.float16]`. `int8`: full integer quantization,
            `Optimize.DEFAULT` with a `representative_dataset` and
            `supported_ops=[TFLITE_BUILTINS_INT8]`; inputs and outputs stay float32, so the
            model is a drop-in for the float one.
        calibration: for `int8`, examples of the training split (float32, without a batch
            dimension) whose activation ranges calibrate the model; each is given to the
            converter alone, with a batch dimension of 1. A few hundred are enough. Ignored
            by the other modes. Defaults to None.

    Returns:
        The `.tflite` flatbuffer.

    Raises:
        InputError: if `mode` is unknown, `int8` has no calibration examples, or the
            converter fails on this model (one line, naming `quantize`).
    """
    _check_mode(mode, calibration)
    try:
        with _quiet():
            return _converter(model, mode, calibration).convert()
    except Exception as error:
        raise InputError(
            f"quantize={mode}: the TFLite converter cannot convert this model "
            f"({_reason(error)}). Allowed: quantize=off"
        ) from error


def _check_mode(mode: str | None, calibration: np.ndarray | None) -> None:
    """Raises `InputError` for an unknown mode, or `int8` without calibration examples."""
    if mode is not None and mode not in MODES:
        raise InputError(
            f"`quantize` must be off or one of {', '.join(MODES)}. Received: quantize={mode}"
        )
    count = 0 if calibration is None else len(calibration)
    if mode == "int8" and count == 0:
        raise InputError(
            "quantize=int8 needs training examples to calibrate on. "
            f"Received: {count} calibration examples"
        )


def _converter(model: keras.Model, mode: str | None, calibration) -> tf.lite.TFLiteConverter:
    """The TFLite converter of `model`, set up for `mode`."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        examples = np.asarray(calibration, dtype="float32")
        converter.representative_dataset = lambda: ([example[None]] for example in examples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def _shown(line: str) -> bool:
    """Whether a line the converter or interpreter wrote to stderr is worth showing."""
    return not hidden_by_tf_log_level(line) and not line.startswith(_CHATTER)


@contextlib.contextmanager
def _quiet():
    """Holds back the converter's chatter while the block runs: Keras' "Saved artifact at"
    listing, absl lines below `TF_CPP_MIN_LOG_LEVEL`, the calibrator's settings and its
    input-statistics warning. If the block raises, `held_stderr` shows everything it held."""
    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    tf_logger = logging.getLogger("tensorflow")  # "Assets written to", through Hydra's log
    level = tf_logger.level
    tf_logger.setLevel(logging.WARNING)
    try:
        with held_stderr(_shown), warnings.catch_warnings():
            warnings.filterwarnings("ignore", _NO_INPUT_STATISTICS)
            yield
    finally:
        tf_logger.setLevel(level)
        if interactive:
            keras.config.enable_interactive_logging()


def _reason(error: Exception) -> str:
    """The first line of the converter's error, without MLIR source locations, shortened.

    E.g. "Could not translate MLIR to FlatBuffer. 'tf.StringLower' op is neither a custom op
    nor a flex op" rather than the same with a 300-character `loc(callsite(fused[...]))`.
    """
    lines = [line for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = re.sub(r"<unknown>:\d+: error: :?", " ", _without_locations(lines[0]))
    text = " ".join(text.split())
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 3] + "..."
    return text


def _without_locations(text: str) -> str:
    """`text` without MLIR's `loc(...)` source locations (balanced parentheses)."""
    while (start := text.find("loc(")) >= 0:
        depth = 0
        for end in range(start + len("loc"), len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        text = text[:start] + text[end + 1 :]
    return text


def _interpreter(flatbuffer: bytes) -> Interpreter:
    """A LiteRT interpreter of `flatbuffer` on one thread, with its tensors allocated."""
    with held_stderr(_shown):
        interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
        interpreter.allocate_tensors()
    return interpreter


def int8_tensor_share(flatbuffer: bytes) -> float:
    """The share of the model's tensors (weights and activations) stored as int8.

    The evidence that a mode did what its name says: 0 for float32 and float16, a few weight
    tensors for `dynamic` (the converter leaves tensors under 1,024 elements in float), and
    most tensors for `int8` (all but int32 biases and shapes, and the float32 input and
    output with their quantize and dequantize ops).
    """
    details = _interpreter(flatbuffer).get_tensor_details()
    return sum(tensor["dtype"] == np.int8 for tensor in details) / len(details)


def _set_input(interpreter: Interpreter, batch: np.ndarray) -> None:
    """Sets the model's input to `batch`, resizing the input tensor to its shape if needed."""
    (details,) = interpreter.get_input_details()
    if tuple(details["shape"]) != batch.shape:
        interpreter.resize_tensor_input(details["index"], batch.shape)
        interpreter.allocate_tensors()
    interpreter.set_tensor(details["index"], batch.astype(details["dtype"]))


def tflite_accuracy(flatbuffer: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the converted model, each example invoked once.

    The examples go through in batches of `BATCH_SIZE` (the input tensor resized to the
    batch); the predictions are those of invoking one example at a time.

    Args:
        flatbuffer: a `.tflite` model from `convert`.
        x: the examples, with the shape of the Keras model's input (after the batch).
        y: their integer labels.

    Returns:
        The share of examples whose highest output is their label.
    """
    interpreter = _interpreter(flatbuffer)
    (output,) = interpreter.get_output_details()
    predictions = []
    for start in range(0, len(x), BATCH_SIZE):
        _set_input(interpreter, np.asarray(x[start : start + BATCH_SIZE]))
        interpreter.invoke()
        predictions.append(interpreter.get_tensor(output["index"]).argmax(axis=-1))
    return float(np.mean(np.concatenate(predictions) == np.asarray(y)))


def tflite_latency_ms(
    flatbuffer: bytes, example: np.ndarray, warmup: int = 20, repeats: int = 200
) -> float:
    """Median wall time of one invocation on one example (batch 1), on one thread.

    Only `interpreter.invoke()` is timed (`time.perf_counter`), after `warmup` untimed
    invocations.

    Args:
        flatbuffer: a `.tflite` model from `convert`.
        example: one example, without a batch dimension.
        warmup: invocations before timing. Defaults to 20.
        repeats: timed invocations. Defaults to 200.

    Returns:
        The median of the `repeats` times, in milliseconds.
    """
    interpreter = _interpreter(flatbuffer)
    _set_input(interpreter, np.asarray(example)[None])
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def quantization_metrics(
    model: keras.Model, mode: str, calibration, x_test, y_test, repeats: int = 200
) -> tuple[dict[str, float], bytes]:
    """Quantizes `model` as `mode` and measures it against the float32 TFLite model.

    Args:
        model: the trained Keras model.
        mode: one of `MODES`.
        calibration: training examples for `int8` (see `convert`); ignored otherwise.
        x_test: test examples; the first one is timed.
        y_test: their integer labels.
        repeats: the timed invocations of each model (`tflite_latency_ms`). Defaults to 200.

    Returns:
        `(metrics, flatbuffer)`: `tflite_size_bytes`, `tflite_test_accuracy`,
        `tflite_latency_ms` and `tflite_int8_tensor_share` of the quantized model,
        `float32_tflite_size_bytes` and `float32_tflite_latency_ms` of the float32 one; and the
        quantized flatbuffer.

    Raises:
        InputError: as `convert`.
    """
    quantized = convert(model, mode, calibration)
    reference = convert(model, None)
    metrics = {
        "tflite_size_bytes": len(quantized),
        "tflite_test_accuracy": tflite_accuracy(quantized, x_test, y_test),
        "tflite_latency_ms": tflite_latency_ms(quantized, x_test[0], repeats=repeats),
        "float32_tflite_size_bytes": len(reference),
        "float32_tflite_latency_ms": tflite_latency_ms(reference, x_test[0], repeats=repeats),
        "tflite_int8_tensor_share": int8_tensor_share(quantized),
    }
    return metrics, quantized
