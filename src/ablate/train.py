"""Compile, fit and evaluate one model, timing every epoch and refusing diverged results."""

import dataclasses
import resource
import time

import keras
import numpy as np
from omegaconf import DictConfig

from ablate.errors import DivergedError
from ablate.evaluation import classification_metrics
from ablate.optimization import build_optimizer
from ablate.prepare import PreparedData
from ablate.run_record import EPOCH_METRICS


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


class EpochLogger(keras.callbacks.Callback):
    """Logs the per-epoch metrics (`EPOCH_METRICS`) of `fit` in one batched call per epoch.

    Args:
        run: the `MlflowRun` or `NullRun` to write to.
    """

    def __init__(self, run):
        super().__init__()
        self._run = run

    def on_epoch_end(self, epoch, logs=None):
        values = {k: logs[k] for k in EPOCH_METRICS if k in (logs or {})}
        self._run.log_metrics(values, step=epoch)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Per-epoch `history` (Keras metric names) and the final `metrics` of one run."""

    history: dict[str, list[float]]
    metrics: dict[str, float]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_loss(smoothing: float) -> keras.losses.Loss:
    """Cross-entropy on one-hot labels with `label_smoothing=smoothing`.

    Labels are one-hot for every dataset, binary ones included: with two classes, softmax
    cross-entropy smoothed by e equals the binary cross-entropy smoothed by e (both move the
    target to 1 - e/2 and e/2), so one loss serves both.
    """
    return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)


def technique_callbacks(cfg: DictConfig, data: PreparedData) -> list[keras.callbacks.Callback]:
    """The callbacks that implement `ema=on` and `swa=on`."""
    callbacks = []
    if cfg.ema.enabled:
        callbacks.append(keras.callbacks.SwapEMAWeights())
    if cfg.swa.enabled:
        from ablate.swa import StochasticWeightAveraging, swa_start_epoch

        callbacks.append(
            StochasticWeightAveraging(
                start_epoch=swa_start_epoch(cfg.swa.start, cfg.training.epochs),
                frequency=cfg.swa.frequency,
                bn_data=data.train_plain,
            )
        )
    return callbacks


def train_and_evaluate(
    cfg: DictConfig, model: keras.Model, data: PreparedData, callbacks=()
) -> Outcome:
    """Trains `model` on the training split with validation, then evaluates on the test split.

    Args:
        cfg: the composed config.
        model: an uncompiled model from `ablate.models.build_model`.
        data: the pipelines from `ablate.prepare.prepare_data`.
        callbacks: extra Keras callbacks (e.g. a tracking logger). Defaults to none.

    Returns:
        The `Outcome`: history and the final metrics (`test_accuracy`, `train_time_s`, ...).

    Raises:
        DivergedError: if the loss became NaN or infinite.
    """
    model.compile(
        optimizer=build_optimizer(cfg, data.steps_per_epoch),
        loss=build_loss(cfg.smoothing),
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    history = model.fit(
        data.train,
        validation_data=data.val,
        epochs=cfg.training.epochs,
        class_weight=data.class_weight,
        callbacks=[
            EpochClock(),
            keras.callbacks.TerminateOnNaN(),
            *technique_callbacks(cfg, data),
            *callbacks,
        ],
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

    test_loss, test_accuracy = model.evaluate(data.test, verbose=0)
    probabilities = model.predict(data.test, verbose=0)
    epoch_times = history["epoch_time_s"]
    epochs_run = len(epoch_times)
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        **classification_metrics(probabilities, data.splits.y_test),
        "train_time_s": train_time_s,
        "first_epoch_time_s": epoch_times[0],
        "steady_epoch_time_s": float(np.median(epoch_times[1:] if epochs_run > 1 else epoch_times)),
        "train_throughput": len(data.splits.y_train) * epochs_run / train_time_s,
        "num_params": float(model.count_params()),
        "peak_rss_mb": _peak_rss_mb(),
    }
    return Outcome(
        history={k: [float(v) for v in vs] for k, vs in history.items()}, metrics=metrics
    )
