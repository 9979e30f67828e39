"""One job from start to end: validate, load, train, record; and its command-line reporting.

The order matters: everything that can reject the user's input (config ranges, the tracking
store, the data files, split sizes, model/data fit) runs before a tracking run is opened, so
bad input never leaves a run behind. Once a run is open it is always closed: FINISHED,
FAILED (with `ablate.failure_reason` and `ablate.error`), or KILLED on SIGINT/SIGTERM.
"""

import contextlib
import signal
import sys
import threading
from pathlib import Path

from omegaconf import DictConfig

from ablate.config import validate
from ablate.errors import DivergedError, InputError
from ablate.run_record import flatten, resolved_dict, run_tags, write_run_files

_jobs_started_in_this_process = 0


def reset_keras(seed: int, deterministic: bool) -> None:
    """Clears Keras state left by earlier jobs in this process and seeds every generator.

    The first job of a process has nothing to clear and skips `clear_session` (0.2 s).
    """
    import keras
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


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Turns SIGTERM into `KeyboardInterrupt` (as SIGINT already is) while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def dataset_facts(raw, splits) -> dict:
    """What a reader needs to know about the data a run saw."""
    return {
        "modality": raw.modality,
        "num_classes": raw.num_classes,
        "input_shape": list(raw.input_shape),
        "class_names": list(raw.class_names),
        "class_counts": splits.class_counts(),
    }


def _prepare(cfg: DictConfig):
    """Loads and prepares the data and builds the model: everything that can reject input."""
    from ablate.config import validate_for_data
    from ablate.datasets import load_dataset
    from ablate.models import build_model
    from ablate.prepare import prepare_data
    from ablate.splits import split_dataset

    reset_keras(cfg.seed, cfg.deterministic)
    raw = load_dataset(cfg.data)
    validate_for_data(cfg, raw.modality)
    splits = split_dataset(raw, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed)
    data = prepare_data(cfg, splits)
    model = build_model(
        cfg.model,
        cfg.attention,
        raw.modality,
        raw.input_shape,
        raw.num_classes,
        data.splits.x_train,
    )
    return model, raw, data


def run_job(cfg: DictConfig, output_dir: Path, run_name: str) -> dict[str, float]:
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
    from ablate.tracking import Tracker

    tracker = Tracker(cfg.tracking)
    resolved = resolved_dict(cfg)
    tags = run_tags(resolved)
    try:
        model, raw, data = _prepare(cfg)
    except InputError as error:
        if cfg.ablation.sweep_id:  # a sweep records the arm that could not start as FAILED
            write_run_files(output_dir, resolved, tags, "FAILED", None, None, {}, str(error))
            tracker.start_run(run_name, tags).end("FAILED", "input_error", str(error))
        raise
    facts = dataset_facts(raw, data.splits)
    from ablate.train import EpochLogger, train_and_evaluate

    run = tracker.start_run(run_name, tags)
    status, reason, error, outcome = "FAILED", None, None, None
    try:
        run.log_params(flatten(resolved) | flatten(facts, "dataset."))
        with sigterm_as_interrupt():
            outcome = train_and_evaluate(cfg, model, data, callbacks=[EpochLogger(run)])
        run.log_metrics(outcome.metrics)
        status = "FINISHED"
        return outcome.metrics
    except KeyboardInterrupt as interrupt:
        status, reason, error = "KILLED", "interrupted", str(interrupt) or "SIGINT"
        raise
    except DivergedError as diverged:
        reason, error = "diverged", str(diverged)
        raise
    except Exception as failure:
        reason, error = "exception", f"{type(failure).__name__}: {failure}"
        raise
    finally:
        try:
            write_run_files(
                output_dir,
                resolved,
                tags | {"mlflow.runId": run.run_id or ""},
                status,
                outcome.history if outcome else None,
                outcome.metrics if outcome else None,
                facts,
                error,
            )
            run.log_artifacts(output_dir)
        finally:
            run.end(status, reason, error)


def run_from_cli(cfg: DictConfig) -> float:
    """Runs the Hydra job (the task function of `python -m ablate`), reporting failures.

    Expected failures become one-line messages and exit codes.

    Exit codes: 2 for bad input (nothing recorded), 1 for a failed run (recorded FAILED),
    130/143 for SIGINT/SIGTERM (recorded KILLED). In a multirun, a failed run is re-raised so
    that Hydra's launcher records it and carries on with the other jobs.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if cfg.ablation.arm:
        run_name = f"{cfg.ablation.arm} seed={cfg.seed}"
    else:
        run_name = hydra_cfg.job.override_dirname or "default"
    try:
        return run_job(cfg, output_dir, run_name)["test_accuracy"]
    except InputError as error:
        if cfg.ablation.sweep_id:  # recorded FAILED; the sweep goes on with the other runs
            raise
        print(f"ablate: error: {error}", file=sys.stderr)
        sys.exit(2)
    except DivergedError as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise
        print(f"ablate: run FAILED: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as interrupt:
        signal_name = str(interrupt) or "SIGINT"
        print(f"ablate: interrupted by {signal_name}; run recorded as KILLED", file=sys.stderr)
        sys.exit(128 + signal.Signals[signal_name].value)
