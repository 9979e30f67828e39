"""Compile, fit and evaluate one model, timing every epoch and refusing diverged results."""

import dataclasses
import resource
import time

import keras
import numpy as np
from omegaconf import DictConfig

from ablate.errors import DivergedError
from ablate.evaluation import classification_metrics
from ablate.splits import Splits, to_tf_dataset


class EpochClock(keras.callbacks.Callback):
    """Adds `epoch_time_s` and `lr` to the logs of every epoch.

    Listed first among the callbacks, so that loggers and `History` see both values.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["epoch_time_s"] = time.perf_counter() - self._start
        logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Per-epoch `history` (Keras metric names) and the final `metrics` of one run."""

    history: dict[str, list[float]]
    metrics: dict[str, float]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train_and_evaluate(
    cfg: DictConfig, model: keras.Model, splits: Splits, callbacks=()
) -> Outcome:
    """Trains `model` on the training split with validation, then evaluates on the test split.

    Args:
        cfg: the composed config.
        model: an uncompiled model from `ablate.models.build_model`.
        splits: the data.
        callbacks: extra Keras callbacks (e.g. a tracking logger). Defaults to none.

    Returns:
        The `Outcome`: history and the final metrics (`test_accuracy`, `train_time_s`, ...).

    Raises:
        DivergedError: if the loss became NaN or infinite.
    """
    batch_size, num_classes = cfg.training.batch_size, splits.num_classes
    train_data = to_tf_dataset(
        splits.x_train, splits.y_train, num_classes, batch_size, shuffle_seed=cfg.seed
    )
    val_data = to_tf_dataset(splits.x_val, splits.y_val, num_classes, batch_size)
    test_data = to_tf_dataset(splits.x_test, splits.y_test, num_classes, batch_size)

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.optimizer.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.smoothing),
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=cfg.training.epochs,
        callbacks=[EpochClock(), keras.callbacks.TerminateOnNaN(), *callbacks],
        shuffle=False,  # the training dataset reshuffles itself, seeded
        verbose=2,
    ).history
    train_time_s = time.perf_counter() - started

    losses = np.asarray(history.get("loss", [np.nan]), dtype=float)
    if not np.all(np.isfinite(losses)):
        raise DivergedError(
            f"diverged: the training loss became {losses[~np.isfinite(losses)][0]} at epoch "
            f"{int(np.argmax(~np.isfinite(losses))) + 1}"
        )

    test_loss, test_accuracy = model.evaluate(test_data, verbose=0)
    probabilities = model.predict(test_data, verbose=0)
    epoch_times = history["epoch_time_s"]
    epochs_run = len(epoch_times)
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        **classification_metrics(probabilities, splits.y_test),
        "train_time_s": train_time_s,
        "first_epoch_time_s": epoch_times[0],
        "steady_epoch_time_s": float(np.median(epoch_times[1:] if epochs_run > 1 else epoch_times)),
        "train_throughput": len(splits.y_train) * epochs_run / train_time_s,
        "num_params": float(model.count_params()),
        "peak_rss_mb": _peak_rss_mb(),
    }
    return Outcome(
        history={k: [float(v) for v in vs] for k, vs in history.items()}, metrics=metrics
    )
