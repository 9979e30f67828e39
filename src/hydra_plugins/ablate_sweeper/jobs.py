"""What ablate's launchers share: Hydra's launcher set-up, a Hydra job packed for another
process, run there, and the failed `JobReturn` that stands for a job whose process died.

Arguments and results travel cloudpickled: Hydra's global state holds OmegaConf resolvers
that are local functions, which the standard pickle refuses (joblib's loky does the same).
"""

import logging
import os
import signal
import sys
from pathlib import Path

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from omegaconf import open_dict

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
log = logging.getLogger(__name__)


class JobLauncher(Launcher):
    """A Hydra launcher of ablate: keeps what Hydra sets up, and starts each launch alike.

    `launch_guard`, set by the sweeper, returns why no further job should start (a dead
    store), or None.
    """

    config = task_function = hydra_context = launch_guard = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def start_launch(self, job_overrides, initial_job_idx: int, how: str) -> Path:
        """Sets up Hydra's globals and logging, creates the sweep folder, logs `how` the jobs
        will run and each job's overrides; returns the sweep folder."""
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs {how}")
        for index, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + index} : {' '.join(filter_overrides(overrides))}")
        return sweep_dir


def settings_problem(limits: dict[str, tuple]) -> str | None:
    """The first `hydra.launcher.<key>` below its lowest allowed value, as one line, or None.

    Args:
        limits: `{key: (value, lowest, meaning)}`; a None value is allowed.
    """
    for key, (value, lowest, meaning) in limits.items():
        if value is not None and value < lowest:
            return f"hydra.launcher.{key}={value}: expected a number >= {lowest} ({meaning})."
    return None


def die_with_parent() -> None:
    """Asks Linux to send this process SIGTERM when its parent (the sweeper) dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the sweeper died before the call: nobody will collect this job
        os.kill(os.getpid(), signal.SIGTERM)


def pack_job(index: int, overrides, launcher) -> bytes:
    """One job of `launcher` (set up by Hydra), with Hydra's global state, as bytes."""
    return cloudpickle.dumps(
        (
            index,
            list(overrides),
            launcher.hydra_context,
            launcher.config,
            launcher.task_function,
            Singleton.get_state(),
        )
    )


def run_packed_job(payload: bytes) -> JobReturn:
    """Runs a job packed by `pack_job` in this process, as Hydra's own launchers do."""
    index, overrides, hydra_context, config, task_function, singleton_state = cloudpickle.loads(
        payload
    )
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{index}"
        sweep_config.hydra.job.num = index
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def failed_job(overrides, reason: str) -> JobReturn:
    """A FAILED `JobReturn` whose error says why the job has no result of its own."""
    return JobReturn(
        overrides=list(overrides), status=JobStatus.FAILED, _return_value=RuntimeError(reason)
    )


def how_it_ended(exitcode: int | None) -> str:
    """`signal SIGKILL` or `exit status 3`, from a `multiprocessing` exit code."""
    if exitcode is not None and exitcode < 0:
        return f"signal {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"
