"""What ablate's launchers share: a Hydra job packed for another process, run there, and
the failed `JobReturn` that stands for a job whose process died.

Arguments and results travel cloudpickled: Hydra's global state holds OmegaConf resolvers
that are local functions, which the standard pickle refuses (joblib's loky does the same).
"""

import os
import signal
import sys

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from omegaconf import open_dict

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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
