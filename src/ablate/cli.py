"""The command line of `python -m ablate`: fast-fail composition, exit codes and signals.

Exit codes: 0 for a FINISHED run, 2 for bad input (one line on stderr, nothing recorded),
1 for a failed run (recorded FAILED), 130/143 for SIGINT/SIGTERM (recorded KILLED). Hydra
reports composition errors over several lines (and `--cfg job` prints a config without running
any job), so the command line is composed here first (`precheck`), with the same
`--config-dir` and `--config-name` Hydra will use; a single run is also validated and its
output folder and tracking folder checked before any data is loaded, while the sweeper checks
every arm of a sweep (`-m`) with the same helpers (`ablate.preflight`). The task function
lives in this importable module so that launchers can pickle it by name.
"""

import atexit
import os
import signal
import sys
import threading
from pathlib import Path

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ablate.config import config_dir, validate
from ablate.errors import DivergedError, InputError
from ablate.held_stderr import held_stderr, hidden_by_tf_log_level
from ablate.interrupts import interruptible
from ablate.preflight import (
    check_output_folder,
    check_tracking_folder,
    hydra_error_message,
)
from ablate.validation import shown

# Hydra's flags that do something other than run jobs: `precheck` leaves them to Hydra.
NOT_RUNS = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun")


def compose_command_line(
    overrides: list[str],
    config_name: str | None = None,
    extra_config_dir: str | None = None,
    multirun: bool = False,
) -> DictConfig:
    """Composes the config of a command line, with its `hydra` node, as `python -m ablate`
    would.

    Args:
        overrides: the `key=value` overrides.
        config_name: `--config-name`/`-cn`; None: `config`.
        extra_config_dir: `--config-dir`/`-cd`, a folder Hydra adds to the search path (after
            the shipped `conf/`, as Hydra does); None: none.
        multirun: compose a sweep's (`-m`) config, as Hydra does before its sweeper starts:
            the swept overrides are left to the sweeper. Defaults to False.

    Raises:
        InputError: if `extra_config_dir` is not a folder.
        HydraException, OmegaConfBaseException: as Hydra raises them for a bad command line.
    """
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from hydra.types import RunMode

    search_path = create_config_search_path(str(config_dir()))
    if extra_config_dir is not None:  # as hydra._internal.utils._run_hydra adds it
        folder = os.path.abspath(extra_config_dir)
        if not os.path.isdir(folder):
            raise InputError(
                "`--config-dir` must name an existing folder of config files. Received: "
                f"--config-dir={shown(extra_config_dir)} (no folder {shown(folder)}). "
                "Check the path."
            )
        search_path.prepend(
            provider="command-line",
            path=f"file://{folder}",
            anchor=SearchPathQuery(provider="schema"),
        )
    backup = get_gh_backup()
    try:
        hydra_app = Hydra.create_main_hydra2(
            task_name=run_from_cli.__module__.rpartition(".")[2], config_search_path=search_path
        )
        mode = RunMode.MULTIRUN if multirun else RunMode.RUN
        return hydra_app.compose_config(config_name or "config", overrides, run_mode=mode)
    finally:
        restore_gh_from_backup(backup)


def job_config(cfg: DictConfig) -> DictConfig:
    """The config a job sees: `cfg` without its `hydra` node."""
    return OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])


def check_run_folders(cfg: DictConfig, key: str) -> None:
    """Checks the output folder `key` (`hydra.run.dir` or `hydra.sweep.dir`) of a config with
    its `hydra` node, and the tracking folder, before anything runs."""
    try:
        folder = OmegaConf.select(cfg, key, throw_on_missing=True)
    except OmegaConfBaseException:  # an interpolation only a running Hydra job can resolve
        folder = None
    if folder is not None:
        check_output_folder(key, folder)
    check_tracking_folder(cfg.tracking)


def precheck(argv: list[str]) -> None:
    """Composes and validates a command line before Hydra does; exits 2 with one line on error.

    The command line is read by Hydra's own parser; `--config-dir`/`-cd` and
    `--config-name`/`-cn` are honoured. A single run is validated, and unless the command only
    prints the config (`--cfg`), its output folder and tracking folder are checked. A sweep
    (`-m`) is only composed, as Hydra composes it before its sweeper starts (a typo there
    would be Hydra's multi-line error); the sweeper checks its arms. `--help`, `--info`,
    `--config-path` and a command line Hydra cannot parse are left to Hydra.
    """
    if "--version" in argv:
        return
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def unparsable(message: str):
        raise ValueError(message)

    parser.error = unparsable  # Hydra prints its usage for such a command line
    try:
        args = parser.parse_args(argv)
    except ValueError:
        return
    if args.config_path is not None or any(getattr(args, flag) for flag in NOT_RUNS):
        return
    try:
        cfg = compose_command_line(
            args.overrides, args.config_name, args.config_dir, multirun=args.multirun
        )
        if not args.multirun:
            validate(job_config(cfg))
        if not args.multirun and args.cfg is None:
            check_run_folders(cfg, "hydra.run.dir")
    except InputError as error:
        message = str(error)
    except (HydraException, OmegaConfBaseException) as error:
        message = hydra_error_message(error, args.overrides)
    else:
        return
    print(f"ablate: error: {message}", file=sys.stderr)
    sys.exit(2)


def import_run():
    """Imports `ablate.run.run` (and TensorFlow) without TensorFlow's start-up lines, which
    ignore its log level; returns it."""
    with held_stderr(lambda line: not hidden_by_tf_log_level(line)):
        from ablate.run import run
    return run


def warm_up(threads: int | None = None) -> int:
    """Prepares a worker process that will run many jobs; returns its TensorFlow threads.

    Imports what every run needs once (TensorFlow and the run, MLflow's SQL store and
    Matplotlib: about 6 s on 2 cores), then sets TensorFlow's intra- and inter-op threads to
    `threads` (None: TensorFlow's default, all cores, returned as 0). The imported objects are
    then frozen out of the garbage collector's reach (`gc.freeze`): they live as long as the
    worker, and the full collection in each job's `keras.backend.clear_session()` no longer
    walks them (0.7 s per job measured on 2 cores, now a few ms).
    """
    import gc
    import importlib

    import_run()  # first: it hides TensorFlow's start-up lines
    import tensorflow as tf

    for module in ("mlflow", "mlflow.store.tracking.sqlalchemy_store", "matplotlib.figure"):
        importlib.import_module(module)
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    gc.collect()
    gc.freeze()
    return tf.config.threading.get_intra_op_parallelism_threads()


def exit_without_teardown() -> None:
    """Ends this process with status 0 after what the interpreter does first at exit (wait
    for threads and run their exit hooks, e.g. joblib's worker shutdown; then the `atexit`
    handlers: Hydra's log files flushed, MLflow closed), skipping its teardown of every module.

    With TensorFlow, MLflow and SQLAlchemy loaded, that teardown costs 1.8-2.0 s of CPU on 2
    cores after the work is done (1.3 s for a plain Keras script), more than everything else
    ablate adds to a run. Used after a run or a sweep that ended well, and by a warm worker
    told to stop; a failure exits the usual way.
    """
    # The first two steps of `Py_FinalizeEx`, in its order; only the teardown is skipped.
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_from_cli(cfg: DictConfig) -> float:
    """Runs the Hydra job (the task function of `python -m ablate`), reporting failures.

    Expected failures become one-line messages and exit codes. In a multirun, a failed run
    is re-raised so that Hydra's launcher records it and carries on with the other jobs.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    run = import_run()
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if cfg.ablation.arm:
        run_name = f"{cfg.ablation.arm} seed={cfg.seed}"
    else:
        run_name = hydra_cfg.job.override_dirname or "default"
    try:
        with interruptible(once=True):
            return run(cfg, output_dir, run_name)["test_accuracy"]
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
