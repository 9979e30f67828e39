"""The command line of `python -m ablate`: fast-fail composition, exit codes and signals.

Exit codes: 0 for a FINISHED run, 2 for bad input (one line on stderr, nothing recorded),
1 for a failed run (recorded FAILED), 130/143 for SIGINT/SIGTERM (recorded KILLED). Hydra
reports composition errors over several lines (and `--cfg job` prints a config without running
any job), so a single run's command line is composed and validated here first (`precheck`);
sweeps (`-m`) are checked job by job by the sweeper. The task function lives in this
importable module so that launchers can pickle it by name.
"""

import contextlib
import signal
import sys
import threading
from pathlib import Path

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from ablate.config import config_dir, validate
from ablate.errors import DivergedError, InputError

SKIPPED_DETAILS = ("object_type", "reference_type", "Set the environment variable")


def one_line(error: Exception) -> str:
    """Joins the useful lines of a Hydra/OmegaConf error and its cause into one line."""
    lines = []
    for part in (error, error.__cause__):
        if part is None:
            continue
        text = str(part).split("Config search path")[0]
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith(SKIPPED_DETAILS) and line not in lines:
                lines.append(line)
    return " ".join(lines)


def overrides_of(argv: list[str]) -> list[str]:
    """Returns the `key=value` overrides of a Hydra command line."""
    return [arg for arg in argv if "=" in arg and not arg.startswith("-")]


def precheck(argv: list[str]) -> None:
    """Composes and validates a single-run command line; exits 2 with one line on error."""
    if {"-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "-i"} & set(argv):
        return
    try:
        with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
            validate(hydra.compose("config", overrides=overrides_of(argv)))
    except InputError as error:
        message = str(error)
    except (HydraException, OmegaConfBaseException) as error:
        message = one_line(error)
    else:
        return
    print(f"ablate: error: {message}", file=sys.stderr)
    sys.exit(2)


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


def run_from_cli(cfg: DictConfig) -> float:
    """Runs the Hydra job (the task function of `python -m ablate`), reporting failures.

    Expected failures become one-line messages and exit codes. In a multirun, a failed run
    is re-raised so that Hydra's launcher records it and carries on with the other jobs.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ablate.run import run

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if cfg.ablation.arm:
        run_name = f"{cfg.ablation.arm} seed={cfg.seed}"
    else:
        run_name = hydra_cfg.job.override_dirname or "default"
    try:
        with sigterm_as_interrupt():
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
