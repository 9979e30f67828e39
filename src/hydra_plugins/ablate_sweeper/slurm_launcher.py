"""`hydra/launcher=slurm` (`pip install 'ablate[slurm]'`): every job as a SLURM job, through
submitit; `hydra/launcher=slurm_local` runs the same jobs on this machine (submitit's local
executor) to rehearse a sweep before a cluster sees it.

On SLURM the jobs are submitted at once as one job array, `array_parallelism` running at a
time; each asks for `cpus_per_task` CPUs (its TensorFlow threads), `gpus_per_node` GPUs and
`mem_gb` of memory on `partition`, within `timeout_min`. Locally, `array_parallelism` jobs run
at a time. submitit keeps each job's submission script, pickles and logs under `folder`.

Why not hydra-submitit-launcher: its `launch` collects the results with one
`job.results()` after another, so a job that SLURM killed (time limit, memory, a lost node)
raises out of the launch and the sweep loses every other job's result; an interrupt leaves
the job array queued. This launcher runs the same packed job as ablate's other launchers
(`jobs.py`): a job that ends without a result fails alone, with its SLURM state; Ctrl-C or
SIGTERM cancels the jobs (`scancel`), the running ones get `stop_timeout_s` to record their
runs KILLED.

SLURM's nodes must reach the tracking store, and the sweep folder must be on a file system
they share (a cluster's home or scratch): the sweeper refuses a local store (`sqlite:`, a
folder) with `hydra/launcher=slurm`; start a tracking server (`make server`).
"""

import collections
import contextlib
import importlib.util
import os
import shutil
import signal
import threading
import time

from hydra.core.utils import JobReturn

from ablate.interrupts import raise_if_interrupted
from hydra_plugins.ablate_sweeper.jobs import (
    JobLauncher,
    failed_job,
    pack_job,
    run_packed_job,
    settings_problem,
)

POLL_S = 1.0  # submitit asks SLURM (sacct) at most once a minute whatever this is


def _run_job(payload: bytes, overrides: list[str], threads: int | None) -> JobReturn:
    """A submitit job: one packed job, with `threads` TensorFlow threads (None: all)."""
    if threads:  # read when TensorFlow starts, which the packed job does
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    try:
        return run_packed_job(payload)
    except SystemExit as exit_:  # e.g. after an interrupt: the job has recorded its run
        return failed_job(overrides, f"the job exited (exit status {exit_.code})")


class SlurmLauncher(JobLauncher):
    """Launches each job through submitit, on SLURM or on this machine.

    Args:
        cluster: `slurm`, or `local` for the rehearsal on this machine. Defaults to `slurm`.
        partition: the SLURM partition (null: the cluster's default). Defaults to null.
        timeout_min: each job's time limit, in minutes. Defaults to 60.
        cpus_per_task: CPUs of each job, and its TensorFlow threads (null: all). Defaults to 2.
        gpus_per_node: GPUs of each job. Defaults to 0.
        mem_gb: memory of each job, in GB (null: the partition's default). Defaults to 8.
        array_parallelism: jobs running at once. Defaults to 16.
        account: the SLURM account to charge (null: yours). Defaults to null.
        qos: the SLURM quality of service (null: the default). Defaults to null.
        constraint: SLURM node features required (null: any). Defaults to null.
        additional_parameters: other `sbatch` options, e.g. `{"mail-type": "END"}`.
            Defaults to none.
        setup: shell lines run before each job, e.g. `module load cuda`. Defaults to none.
        folder: submitit's folder of scripts, pickles and logs (`%j`: the job id).
        stop_timeout_s: after an interrupt, how long running jobs get to record themselves
            KILLED before they are killed. Defaults to 30.
    """

    def __init__(
        self,
        cluster: str = "slurm",
        partition: str | None = None,
        timeout_min: int = 60,
        cpus_per_task: int | None = 2,
        gpus_per_node: int = 0,
        mem_gb: float | None = 8,
        array_parallelism: int = 16,
        account: str | None = None,
        qos: str | None = None,
        constraint: str | None = None,
        additional_parameters: dict | None = None,
        setup: list[str] | None = None,
        folder: str = ".submitit/%j",
        stop_timeout_s: float = 30.0,
    ):
        self.cluster, self.folder, self.stop_timeout_s = cluster, folder, stop_timeout_s
        self.cpus_per_task, self.array_parallelism = cpus_per_task, array_parallelism
        self.parameters = {
            "timeout_min": timeout_min,
            "cpus_per_task": cpus_per_task,
            "gpus_per_node": gpus_per_node,
            "mem_gb": mem_gb,
            "slurm_partition": partition,
            "slurm_array_parallelism": array_parallelism,
            "slurm_account": account,
            "slurm_qos": qos,
            "slurm_constraint": constraint,
            "slurm_additional_parameters": dict(additional_parameters or {}),
            "slurm_setup": list(setup or []),
            "local_setup": list(setup or []),
        }

    @property
    def remote(self) -> bool:
        """Whether jobs may run on other machines than the sweeper's."""
        return self.cluster == "slurm"

    def problem(self) -> str | None:
        """What is wrong with the settings, as one line naming the key, or None."""
        if importlib.util.find_spec("submitit") is None:
            return (
                "hydra/launcher=slurm needs submitit, which is not installed: "
                "pip install 'ablate[slurm]'."
            )
        if self.cluster not in ("slurm", "local"):
            return f"hydra.launcher.cluster={self.cluster}: expected slurm or local."
        return settings_problem(
            {
                "timeout_min": (self.parameters["timeout_min"], 1, "minutes"),
                "cpus_per_task": (self.cpus_per_task, 1, "CPUs of each job, or null"),
                "gpus_per_node": (self.parameters["gpus_per_node"], 0, "GPUs of each job"),
                "mem_gb": (self.parameters["mem_gb"], 0.01, "GB of each job, or null"),
                "array_parallelism": (self.array_parallelism, 1, "jobs running at once"),
                "stop_timeout_s": (self.stop_timeout_s, 0, "seconds"),
            }
        )

    def unavailable(self) -> str | None:
        """Why jobs cannot be submitted from this machine, or None."""
        if self.remote and shutil.which("sbatch") is None:
            return (
                "hydra/launcher=slurm: this machine has no SLURM (`sbatch` not found). Run the "
                "sweep on the cluster's login node, or rehearse it here with "
                "hydra/launcher=slurm_local."
            )
        return None

    def describe(self) -> str:
        """Where and how the jobs will run, for the sweep's plan."""
        if not self.remote:
            return (
                f"submitit's local executor on this machine, {self.array_parallelism} job(s) "
                f"at a time; files under {self.folder}."
            )
        p = self.parameters
        asked = [
            f"partition {p['slurm_partition'] or '(default)'}",
            f"{self.cpus_per_task or 'all'} CPU(s)",
            f"{p['gpus_per_node']} GPU(s)",
            f"{p['mem_gb']} GB" if p["mem_gb"] else "default memory",
            f"{p['timeout_min']} min",
        ]
        for key in ("account", "qos", "constraint"):
            if p[f"slurm_{key}"]:
                asked.append(f"{key} {p[f'slurm_{key}']}")
        asked += [f"--{k}={v}" for k, v in p["slurm_additional_parameters"].items()]
        return (
            f"SLURM through submitit: one job array, {self.array_parallelism} job(s) at a "
            f"time, each with {', '.join(asked)}; files under {self.folder}."
        )

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        how = f"with submitit ({self.cluster}, {self.array_parallelism} at a time), files under"
        self.start_launch(job_overrides, initial_job_idx, f"{how} {self.folder}")
        executor = self.executor(str(self.config.hydra.job.name))
        pending = collections.deque()
        for position, overrides in enumerate(job_overrides):
            payload = pack_job(initial_job_idx + position, overrides, self)
            pending.append((position, payload, list(overrides)))
        results: list[JobReturn | None] = [None] * len(job_overrides)
        submitted = {}  # submitit job -> position
        try:
            while pending or submitted:
                self._submit(executor, pending, submitted, results)
                finished = [job for job in submitted if job.done()]
                if not finished:
                    time.sleep(POLL_S)
                raise_if_interrupted()  # one Python swallowed (`ablate.interrupts`)
                for job in finished:
                    position = submitted.pop(job)
                    results[position] = _result(job, job_overrides[position])
        except KeyboardInterrupt:
            self._stop(list(submitted))
            raise
        return results

    def executor(self, name: str):
        """submitit's executor for this cluster, with every job's resources set."""
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(
            name=name, **{key: value for key, value in self.parameters.items() if value is not None}
        )
        return executor

    def _submit(self, executor, pending: collections.deque, submitted: dict, results) -> None:
        """Submits what may start now: every pending job on SLURM (an array that runs
        `array_parallelism` at a time), up to `array_parallelism` running ones locally."""
        reason = self.launch_guard() if self.launch_guard and pending else None
        while reason and pending:
            position, _, overrides = pending.popleft()
            results[position] = failed_job(overrides, f"not started: {reason}")
        room = len(pending) if self.remote else self.array_parallelism - len(submitted)
        batch = [pending.popleft() for _ in range(min(room, len(pending)))]
        if not batch:
            return
        positions, payloads, overrides = zip(*batch, strict=True)
        threads = [self.cpus_per_task] * len(batch)
        # A local job's submitit controller would die of a terminal's Ctrl-C with a traceback:
        # it is started with SIGINT ignored, and `_stop` sends it SIGTERM, which it forwards.
        ignore = not self.remote and threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignore else None
        try:
            jobs = executor.map_array(_run_job, payloads, overrides, threads)
        finally:
            if ignore:
                signal.signal(signal.SIGINT, previous)
        submitted.update(zip(jobs, positions, strict=True))

    def _stop(self, jobs) -> None:
        """Cancels the jobs (`scancel`; SIGTERM to a local job) and waits `stop_timeout_s` for
        the running ones to record their runs KILLED; local jobs still running are killed."""
        for job in jobs:
            process = getattr(job, "_process", None)  # a local job's submitit controller
            if process is None:
                job.cancel(check=False)
            elif process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + self.stop_timeout_s
        with contextlib.suppress(KeyboardInterrupt):  # a second interrupt: no more waiting
            while any(not job.done() for job in jobs) and time.monotonic() < deadline:
                time.sleep(POLL_S)
        for job in jobs:
            process = getattr(job, "_process", None)  # a local job's process
            if process is not None and process.poll() is None:
                process.kill()


def _result(job, overrides) -> JobReturn:
    """The job's `JobReturn`, or a FAILED one naming the job's final state."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        return job.result()
    except (UncompletedJobError, FailedJobError):  # killed, timed out, a lost node
        return failed_job(overrides, f"the job ended without a result ({job.state})")
