"""One run, top to bottom: seed, load, split, training-split techniques, pipelines, model, fit,
evaluate, record.

`run` is the whole job of `python -m ablate`. Everything that can reject the user's input
(config ranges, the tracking store, the data files, split sizes, model/data fit) runs before a
tracking run is opened, so bad input never leaves a run behind. Once a run is open it is
always closed: FINISHED, FAILED (with `ablate.failure_reason` and `ablate.error`), or KILLED
on SIGINT/SIGTERM. Techniques touch the training split only; validation and test are never
transformed.
"""

import dataclasses
import functools
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from ablate.config import flatten, resolved_dict, validate, validate_for_data
from ablate.data import load_dataset
from ablate.data.splits import (
    Splits,
    batch_examples,
    check_batch_size,
    example_dataset,
    split_dataset,
    to_tf_dataset,
)
from ablate.disk_cache import cache_dir
from ablate.distribution import replayable, training_strategy
from ablate.errors import DivergedError, InputError
from ablate.identity import data_fingerprint, dataset_description
from ablate.interrupts import raise_if_interrupted
from ablate.metrics import EPOCH_METRICS, classification_metrics
from ablate.mlflow_model import save_mlflow_model
from ablate.models import build_model
from ablate.run_files import TFLITE_FILE, write_run_files, write_upload_marker
from ablate.technique_config import RESAMPLING
from ablate.techniques import balancing
from ablate.techniques.attention import attention_summary
from ablate.techniques.ema import ema_callbacks
from ablate.techniques.label_smoothing import build_loss
from ablate.techniques.optimizer import (
    build_optimizer,
    check_accumulation,
    last_update_learning_rate,
    learning_rate_summary,
    updates_per_epoch,
    whole_updates,
)
from ablate.techniques.profiling import (
    PROFILE_FOLDER,
    profile_metrics,
    profiler_callback,
    trace_file,
)
from ablate.tracking import RUN_ID_TAG, Tracker, run_tags
from ablate.validation import check_profile_window

FLIPPABLE_SOURCES = ("image_folder", "fashion_mnist")  # digits must never be mirrored
FLIPPABLE_KERAS_DATASETS = ("cifar10", "cifar100", "fashion_mnist")
MODEL_EXAMPLE_INPUTS = 5  # validation inputs a logged model's signature is inferred from

_jobs_started_in_this_process = 0


@dataclasses.dataclass(frozen=True)
class Pipelines:
    """The `tf.data` pipelines of one run and what `fit` needs to know about them.

    Attributes:
        train: builds the shuffled (and augmented) training batches of an epoch; each
            dataset it builds draws the same shuffles and augmentations, epoch by epoch.
        train_plain: training batches without augmentation, in a fixed order (SWA's BN pass).
        val: validation batches.
        test: test batches.
        steps_per_epoch: training batches per epoch.
        changed_share: the share of training images the image augmentation changes
            (`augment_changed_share`), or None without one.
    """

    train: Callable[[], object]
    train_plain: object
    val: object
    test: object
    steps_per_epoch: int
    changed_share: float | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Per-epoch `history` (Keras metric names) and the final `metrics` of one run."""

    history: dict[str, list[float]]
    metrics: dict[str, float]


def run(cfg: DictConfig, output_dir: Path, run_name: str) -> dict[str, float]:
    """Trains and evaluates one configuration and records it.

    Args:
        cfg: the composed config (without the `hydra` node).
        output_dir: the folder for the run's plain files.
        run_name: the MLflow run name.

    Returns:
        The final metrics.

    Raises:
        InputError: for bad input, before any run is opened.
        DivergedError: if the loss became NaN or infinite (run recorded FAILED).
    """
    validate(cfg)
    resolved = resolved_dict(cfg)
    fingerprint = data_fingerprint(resolved["data"])
    tags = run_tags(resolved, fingerprint)
    claimed = cfg.ablation.run_id  # a sweeper created the run before launching this job
    try:
        reset_keras(cfg.seed, cfg.deterministic)
        raw = load_dataset(cfg.data)
        validate_for_data(cfg, raw.modality)
        splits = split_dataset(raw, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed)
        splits, class_weight = apply_training_split_techniques(cfg, splits)
        pipelines = build_pipelines(cfg, splits)
        with training_strategy(cfg.training.distribute).scope():  # variables on every replica
            model = build_model(
                cfg.model,
                cfg.attention,
                raw.modality,
                raw.input_shape,
                raw.num_classes,
                splits.x_train,
            )
    except Exception as error:
        if cfg.ablation.sweep_id:  # a sweep records the arm that could not start as FAILED
            known = isinstance(error, InputError)
            reason = "input_error" if known else "exception"
            message = str(error) if known else f"{type(error).__name__}: {error}"
            write_run_files(output_dir, resolved, tags, "FAILED", None, None, {}, message)
            Tracker(cfg.tracking).start_run(run_name, tags, claimed).end("FAILED", reason, message)
        raise
    facts = dataset_facts(raw, splits)

    tracker = Tracker(cfg.tracking)  # opened (a fresh store created) only now: bad data leaves none
    record = tracker.start_run(run_name, tags, claimed)
    status, reason, error, outcome = "FAILED", None, None, None
    try:
        record.log_params(flatten(resolved) | flatten(facts, "dataset."))
        record.log_dataset(dataset_description(resolved["data"], fingerprint))
        profiler = profiler_callbacks(cfg.profile, output_dir)
        outcome = fit_and_evaluate(
            cfg, model, splits, pipelines, class_weight, [EpochLogger(record), *profiler]
        )
        if profiler:
            outcome.metrics.update(profile_metrics(written_trace(output_dir / PROFILE_FOLDER)))
        if cfg.quantize.name != "off":
            outcome.metrics.update(quantize_and_measure(cfg, model, splits, output_dir))
        record.log_metrics(outcome.metrics)
        if cfg.tracking.log_model:  # kept in the folder too: an upload logs it if unreached
            examples = splits.x_val[:MODEL_EXAMPLE_INPUTS]
            record.log_model(save_mlflow_model(model, output_dir, examples))
        raise_if_interrupted()  # a signal whose exception Python swallowed
        status = "FINISHED"
        return outcome.metrics
    except KeyboardInterrupt as interrupt:
        status, reason, error = "KILLED", "interrupted", str(interrupt) or "SIGINT"
        raise
    except DivergedError as diverged:
        reason, error = "diverged", str(diverged)
        raise
    except InputError as refused:  # after training: a model the TFLite converter cannot take
        reason, error = "input_error", str(refused)
        raise
    except Exception as failure:
        reason, error = "exception", f"{type(failure).__name__}: {failure}"
        raise
    finally:
        try:
            write_run_files(
                output_dir,
                resolved,
                tags | {RUN_ID_TAG: record.run_id or ""},
                status,
                outcome.history if outcome else None,
                outcome.metrics if outcome else None,
                facts,
                error,
            )
            record.log_artifacts(output_dir)
        finally:
            record.end(status, reason, error)
            if record.unreached:  # the store went away: the plain files wait for an upload
                write_upload_marker(output_dir, record.run_id, tracker.uri, record.unreached)


def reset_keras(seed: int, deterministic: bool) -> None:
    """Clears Keras state left by earlier jobs in this process and seeds every generator.

    The first job of a process has nothing to clear and skips `clear_session` (0.2 s).
    """
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    global _jobs_started_in_this_process
    if _jobs_started_in_this_process:
        keras.backend.clear_session()
    _jobs_started_in_this_process += 1
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:  # TensorFlow has no public switch back; this is the function the public one wraps.
        tf_config.disable_op_determinism()


def apply_training_split_techniques(cfg: DictConfig, splits: Splits) -> tuple[Splits, dict | None]:
    """Applies the techniques that change the training split's examples, in this order.

    The long-tailed subset (`data.imbalance`), then resampling or class weights (`balance`),
    then text augmentation (`augment=eda`, offline copies). Validation and test are untouched.

    Returns:
        The new splits and the `{class: weight}` of `balance=class_weight` (else None).

    Raises:
        InputError: if a technique cannot work on this data (e.g. SMOTE on a class smaller
            than its neighbours).
    """
    x, y = splits.x_train, splits.y_train
    if cfg.data.imbalance > 1.0:
        kept = balancing.long_tailed_indices(y, cfg.data.imbalance, cfg.seed)
        x, y = x[kept], y[kept]
    method, class_weight = cfg.balance.name, None
    if method == "class_weight":
        class_weight = balancing.class_weights(y, splits.num_classes)
    elif method in RESAMPLING:
        options = _options(cfg.balance)
        key = {"data": OmegaConf.to_container(cfg.data), "seed": cfg.seed, "source": _stamp(cfg)}
        if x.dtype.kind == "O":  # texts: fixed-width strings load back without pickling
            x = x.astype(str)
        x, y = balancing.cached_resample(cache_dir(), key, x, y, method, seed=cfg.seed, **options)
    if cfg.augment.name == "eda":
        from ablate.techniques.text_augmentation import augment_texts, load_synonyms

        options = _options(cfg.augment, "synonyms_path", "wordnet_dir")
        synonyms = load_synonyms(cfg.augment.synonyms_path, wordnet_dir=cfg.augment.wordnet_dir)
        x, y = augment_texts(x, y, synonyms, cfg.seed, **options)
    return dataclasses.replace(splits, x_train=x, y_train=y), class_weight


def build_pipelines(cfg: DictConfig, splits: Splits) -> Pipelines:
    """Builds the `tf.data` pipelines, with image augmentation mapped over training batches.

    Raises:
        InputError: if the batch size exceeds the training split, or `accumulation` exceeds
            the batches of an epoch.
    """
    batch_size, num_classes = cfg.training.batch_size, splits.num_classes
    check_batch_size(splits, batch_size)
    steps_per_epoch = int(np.ceil(len(splits.y_train) / batch_size))
    check_accumulation(cfg.accumulation, steps_per_epoch, batch_size)
    if cfg.profile.enabled:
        batches = cfg.accumulation * updates_per_epoch(steps_per_epoch, cfg.accumulation)
        check_profile_window(
            cfg.profile.start_step, cfg.profile.steps, batches, cfg.training.epochs
        )

    examples = example_dataset(splits.x_train, splits.y_train, num_classes)
    train_plain = batch_examples(examples, len(splits.y_train), batch_size)
    augment, share = None, None
    if cfg.augment.name not in ("none", "eda"):
        from ablate.techniques.augmentation import (
            augment_dataset,
            build_augmentation,
            changed_share,
        )

        options = _options(cfg.augment)
        if cfg.augment.name == "basic":
            options["horizontal_flip"] = horizontal_flip(cfg)
        shape = tuple(splits.x_train.shape[1:])
        augmentation = build_augmentation(
            cfg.augment.name, image_shape=shape, seed=cfg.seed, **options
        )
        augment = functools.partial(augment_dataset, augmentation=augmentation)
        # evidence, measured with its own copy so that training batches do not depend on it
        probe = build_augmentation(cfg.augment.name, image_shape=shape, seed=cfg.seed, **options)
        share = changed_share(train_plain, probe)

    def train():
        """A new dataset of the epochs' batches, drawing its shuffles from the start."""
        batches = batch_examples(examples, len(splits.y_train), batch_size, cfg.seed)
        return augment(batches) if augment else batches

    return Pipelines(
        train=train,
        train_plain=train_plain,
        val=to_tf_dataset(splits.x_val, splits.y_val, num_classes, batch_size),
        test=to_tf_dataset(splits.x_test, splits.y_test, num_classes, batch_size),
        steps_per_epoch=steps_per_epoch,
        changed_share=share,
    )


def fit_and_evaluate(
    cfg: DictConfig,
    model: keras.Model,
    splits: Splits,
    pipelines: Pipelines,
    class_weight: dict | None = None,
    callbacks=(),
) -> Outcome:
    """Trains `model` on the training split with validation, then evaluates on the test split.

    Args:
        cfg: the composed config.
        model: an uncompiled model from `ablate.models.build_model`.
        splits: the splits the pipelines were built from (test labels, training size).
        pipelines: from `build_pipelines`.
        class_weight: `{class: weight}` for `fit`, or None. Defaults to None.
        callbacks: extra Keras callbacks (e.g. a tracking logger). Defaults to none.

    Returns:
        The `Outcome`: history and the final metrics (`test_accuracy`, `train_time_s`, ...).

    Raises:
        DivergedError: if the loss became NaN or infinite.
    """
    strategy = model.distribute_strategy  # the one the model was built under
    with strategy.scope():  # the optimizer's variables (EMA, accumulation) and the metrics'
        model.compile(
            optimizer=build_optimizer(cfg, pipelines.steps_per_epoch),
            loss=build_loss(cfg.smoothing),
            # `nll`: plain cross-entropy, comparable across `smoothing` arms (the loss is smoothed)
            metrics=["accuracy", keras.metrics.CategoricalCrossentropy(name="nll")],
        )
    swa = swa_callbacks(cfg, pipelines)
    kept = cfg.accumulation * updates_per_epoch(pipelines.steps_per_epoch, cfg.accumulation)

    def endless():
        # One endless iterator for the whole run, `kept` batches an epoch (the shuffle before
        # `repeat` still reshuffles each epoch): Keras would otherwise make two iterators per
        # epoch, each preparing the augmentation's graph anew (0.3 s for AugMix).
        epoch = whole_updates(pipelines.train(), pipelines.steps_per_epoch, cfg.accumulation)
        return epoch.repeat()

    # Under a strategy Keras first takes a batch from an iterator of its own: replay from the
    # start for every iterator (0.2 s more for AugMix, nothing without a strategy).
    training = replayable(endless) if cfg.training.distribute == "mirrored" else endless()
    started = time.perf_counter()
    history = model.fit(
        training,
        steps_per_epoch=kept,
        validation_data=pipelines.val,
        epochs=cfg.training.epochs,
        class_weight=class_weight,
        callbacks=[
            StopOnInterrupt(),
            EpochClock(),
            StopOnDivergence(),
            *ema_callbacks(cfg.ema),
            *swa,
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

    scores = model.evaluate(pipelines.test, verbose=0, return_dict=True)
    probabilities = model.predict(pipelines.test, verbose=0)
    epoch_times = history["epoch_time_s"]
    epochs_run = len(epoch_times)
    metrics = {
        "test_accuracy": float(scores["accuracy"]),
        "test_loss": float(scores["loss"]),
        "test_nll": float(scores["nll"]),
        **classification_metrics(probabilities, splits.y_test),
        "train_time_s": train_time_s,
        "first_epoch_time_s": epoch_times[0],
        "steady_epoch_time_s": float(np.median(epoch_times[1:] if epochs_run > 1 else epoch_times)),
        "train_throughput": len(splits.y_train) * epochs_run / train_time_s,
        "num_params": float(model.count_params()),
        "num_replicas": float(strategy.num_replicas_in_sync),
        **learning_rate_summary(cfg, pipelines.steps_per_epoch),
        **(swa[0].metrics() if swa else {}),
        **attention_summary(model).metrics(),
        **({"augment_changed_share": pipelines.changed_share} if pipelines.changed_share else {}),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    return Outcome(
        history={k: [float(v) for v in vs] for k, vs in history.items()}, metrics=metrics
    )


def profiler_callbacks(profile: DictConfig, output_dir: Path) -> list[keras.callbacks.Callback]:
    """`[TensorBoard(profile_batch=...)]` writing to `<output_dir>/profile` with `profile=on`,
    else `[]`."""
    if not profile.enabled:
        return []
    return [profiler_callback(output_dir / PROFILE_FOLDER, profile.start_step, profile.steps)]


def written_trace(log_dir: Path) -> Path:
    """The trace `profiler_callbacks` wrote under `log_dir`.

    Raises:
        RuntimeError: if there is none: Keras only logs that it could not start the profiler
            (e.g. another profiler running in this process) and trains on.
    """
    trace = trace_file(log_dir)
    if trace is None:
        raise RuntimeError(f"profile=on: TensorBoard wrote no profiler trace under {log_dir}")
    return trace


def quantize_and_measure(
    cfg: DictConfig, model: keras.Model, splits: Splits, output_dir: Path
) -> dict[str, float]:
    """Converts the trained `model` as `quantize` asks, keeps `model.tflite` in `output_dir`
    and measures it on the test split (`ablate.techniques.quantization.quantization_metrics`).

    With `quantize=int8`, `quantize.calibration_examples` training examples, drawn with the
    run's seed, calibrate the activation ranges.
    """
    from ablate.techniques.quantization import quantization_metrics

    calibration = None
    if cfg.quantize.name == "int8":
        count = min(cfg.quantize.calibration_examples, len(splits.x_train))
        drawn = np.random.default_rng(cfg.seed).choice(len(splits.x_train), count, replace=False)
        calibration = splits.x_train[np.sort(drawn)].astype("float32")
    metrics, flatbuffer = quantization_metrics(
        model,
        cfg.quantize.name,
        calibration,
        splits.x_test.astype("float32"),
        splits.y_test,
        repeats=cfg.quantize.latency_runs,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / TFLITE_FILE).write_bytes(flatbuffer)
    return metrics


def swa_callbacks(cfg: DictConfig, pipelines: Pipelines) -> list[keras.callbacks.Callback]:
    """`[StochasticWeightAveraging(...)]` with `swa=on`, else `[]`."""
    if not cfg.swa.enabled:
        return []
    from ablate.techniques.swa import StochasticWeightAveraging, swa_start_epoch

    return [
        StochasticWeightAveraging(
            start_epoch=swa_start_epoch(cfg.swa.start, cfg.training.epochs),
            frequency=cfg.swa.frequency,
            bn_data=pipelines.train_plain,
        )
    ]


class EpochClock(keras.callbacks.Callback):
    """Adds `epoch_time_s` and `lr` to the logs of every epoch.

    `lr` is the learning rate of the epoch's last optimizer update (with `accumulation` too;
    `ablate.techniques.optimizer.last_update_learning_rate`), not Keras' rate of the next
    batch. Listed first among the callbacks, so that loggers and `History` see both values.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["epoch_time_s"] = time.perf_counter() - self._start
        logs["lr"] = last_update_learning_rate(self.model.optimizer)


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises, before the next batch, an interrupt that Python swallowed (see
    `ablate.interrupts`)."""

    def on_train_batch_begin(self, batch, logs=None):
        raise_if_interrupted()

    def on_test_batch_begin(self, batch, logs=None):
        raise_if_interrupted()


class StopOnDivergence(keras.callbacks.Callback):
    """Stops training after an epoch whose loss is NaN or infinite.

    Keras' `TerminateOnNaN` checks every batch, and a callback with a batch-end hook makes
    `fit` wait for each batch's results (no asynchronous dispatch): on the default run that
    was about 2 s of CPU over 10 epochs. A diverged run trains at most one epoch longer here.
    """

    def on_epoch_end(self, epoch, logs=None):
        if not np.isfinite((logs or {}).get("loss", 0.0)):
            self.model.stop_training = True


class EpochLogger(keras.callbacks.Callback):
    """Logs the per-epoch metrics (`EPOCH_METRICS`) of `fit` in one batched call per epoch.

    Args:
        record: the tracking run (`ablate.tracking.MlflowRun` or `NullRun`) to write to.
    """

    def __init__(self, record):
        super().__init__()
        self._record = record

    def on_epoch_end(self, epoch, logs=None):
        values = {k: logs[k] for k in EPOCH_METRICS if k in (logs or {})}
        self._record.log_metrics(values, step=epoch)


def horizontal_flip(cfg: DictConfig) -> bool:
    """`augment.horizontal_flip`, with null meaning: flip natural images, never digits."""
    if cfg.augment.horizontal_flip is not None:
        return cfg.augment.horizontal_flip
    data = cfg.data
    return data.name in FLIPPABLE_SOURCES or (
        data.name == "keras" and data.dataset in FLIPPABLE_KERAS_DATASETS
    )


def dataset_facts(raw, splits: Splits) -> dict:
    """What a reader needs to know about the data a run saw."""
    return {
        "modality": raw.modality,
        "num_classes": raw.num_classes,
        "input_shape": list(raw.input_shape),
        "class_names": list(raw.class_names),
        "class_counts": splits.class_counts(),
    }


def _options(group: DictConfig, *skipped: str) -> dict:
    """A technique's config group as keyword arguments: every key but `name` and `skipped`."""
    return {k: v for k, v in OmegaConf.to_container(group).items() if k not in ("name", *skipped)}


def _stamp(cfg: DictConfig) -> list | None:
    """Size and modification time of a user data file, so an edited file is resampled anew."""
    path = cfg.data.get("path")
    if not path or not os.path.exists(path):
        return None
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]
