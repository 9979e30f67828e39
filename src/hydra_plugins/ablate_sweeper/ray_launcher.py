"""`hydra/launcher=ray` (`pip install 'ablate[ray]'`): every job as a task on Ray.

With `address: null` a local Ray is started for the sweep, with the cores this process may
use (`num_cpus` to choose), and stopped at its end; `address: auto` or `ray://host:10001`
joins a running cluster. Each job is a task that reserves `cpus_per_job` CPUs (its
TensorFlow threads too) and `gpus_per_job` GPUs, in a fresh worker process (`max_calls=1`):
no Keras state or memory carries over from job to job, as with `ablate_process`. Every task
is submitted at once and Ray runs as many as the cluster's resources allow.

Why not hydra-ray-launcher: its `launch` collects the results with one `ray.get` after
another, so a job whose worker died (the OOM killer, a lost node) raises out of the launch
and the sweep loses every other job's result; an interrupt leaves its tasks running; and it
pins `cloudpickle<3`, which joblib 1.6 (scikit-learn's) refuses. This launcher runs the same
packed job as ablate's other launchers (`jobs.py`): one job that dies fails alone, with the
reason; Ctrl-C or SIGTERM cancels the queued tasks and interrupts the running ones (their
runs are recorded KILLED), which get `stop_timeout_s` before they are killed.

Jobs on a cluster's other machines must reach the tracking store, and their files land in
the sweep folder only where it is on a shared file system: the sweeper refuses a local
store (`sqlite:`, a folder) with `address` set; start a tracking server (`make server`).
"""

import contextlib
import importlib.util
import os
import signal

from hydra.core.utils import JobReturn

from ablate.interrupts import raise_if_interrupted
from hydra_plugins.ablate_sweeper.jobs import (
    JobLauncher,
    failed_job,
    pack_job,
    run_packed_job,
    settings_problem,
)

# The object store only carries the small packed jobs and results; Ray's default (30% of
# memory in /dev/shm) fails in containers with a small /dev/shm.
OBJECT_STORE_BYTES = 100 * 2**20
WAIT_S = 0.2


def _run_job(payload: bytes, overrides: list[str]) -> JobReturn:
    """A Ray task: one packed job in this fresh worker process."""
    try:
        return run_packed_job(payload)
    except SystemExit as exit_:  # e.g. after an interrupt: the job has recorded its run
        return failed_job(overrides, f"the job exited (exit status {exit_.code})")


class RayLauncher(JobLauncher):
    """Launches each job as a Ray task in a fresh worker process.

    Args:
        address: the Ray cluster to join (`auto`, `ray://host:10001`), or null to start a
            local Ray for the sweep. Defaults to null.
        num_cpus: CPUs of the local Ray (null: the cores this process may use). Defaults to
            null.
        cpus_per_job: CPUs each job reserves, and its TensorFlow threads. Defaults to 1.
        gpus_per_job: GPUs each job reserves. Defaults to 0.
        stop_timeout_s: after an interrupt, how long running jobs get to record themselves
            KILLED before they are killed. Defaults to 30.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_job: float = 1,
        gpus_per_job: float = 0,
        stop_timeout_s: float = 30.0,
    ):
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_job, self.gpus_per_job = cpus_per_job, gpus_per_job
        self.stop_timeout_s = stop_timeout_s
        self._started_ray = False

    @property
    def remote(self) -> bool:
        """Whether jobs may run on other machines than the sweeper's."""
        return self.address is not None

    def problem(self) -> str | None:
        """What is wrong with the settings, as one line naming the key, or None."""
        if importlib.util.find_spec("ray") is None:
            return (
                "hydra/launcher=ray needs Ray, which is not installed: pip install 'ablate[ray]'."
            )
        problem = settings_problem(
            {
                "num_cpus": (self.num_cpus, 1, "CPUs of the local Ray, or null"),
                "cpus_per_job": (self.cpus_per_job, 0.01, "CPUs each job reserves"),
                "gpus_per_job": (self.gpus_per_job, 0, "GPUs each job reserves"),
                "stop_timeout_s": (self.stop_timeout_s, 0, "seconds"),
            }
        )
        if problem:
            return problem
        if self.address is not None and self.num_cpus is not None:
            return (
                f"hydra.launcher.num_cpus={self.num_cpus}: sizes a local Ray only; with "
                f"hydra.launcher.address={self.address} set it to null."
            )
        return None

    def unavailable(self) -> str | None:
        """Starts the local Ray or joins the cluster; says why it could not, or None."""
        import ray

        try:
            self._start_ray(ray)
        except (ConnectionError, RuntimeError, ValueError) as error:
            detail = " ".join(str(error).split())[:300]
            where = f"hydra.launcher.address={self.address}"
            return f"hydra/launcher=ray: Ray did not start ({where}): {detail}"
        return None

    def describe(self) -> str:
        """Where and how the jobs will run, for the sweep's plan."""
        where = (
            f"the Ray cluster at {self.address}"
            if self.remote
            else f"a local Ray of {self.num_cpus or _usable_cores()} CPU(s) started for the sweep"
        )
        return (
            f"{where}; each job a task in a fresh process with {self.cpus_per_job:g} CPU(s) and "
            f"{self.gpus_per_job:g} GPU(s)."
        )

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        import ray

        self._start_ray(ray)
        how = f"on Ray ({ray.cluster_resources().get('CPU')} CPUs, {self.cpus_per_job} per job)"
        self.start_launch(job_overrides, initial_job_idx, how)
        threads = str(max(1, int(self.cpus_per_job)))
        task = ray.remote(
            max_calls=1,
            max_retries=0,  # a job whose worker died fails, as on every launcher; a rerun retries
            num_cpus=self.cpus_per_job,
            num_gpus=self.gpus_per_job,
            runtime_env={
                "env_vars": {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}
            },
        )(_run_job)
        running = {}  # task reference -> position
        for position, overrides in enumerate(job_overrides):
            payload = pack_job(initial_job_idx + position, overrides, self)
            running[task.remote(payload, list(overrides))] = position
        results: list[JobReturn | None] = [None] * len(job_overrides)
        try:
            while running:
                # Python runs signal handlers only between Ray's calls: a short wait lets an
                # interrupt cancel the tasks at once, not when the next one has finished.
                ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
                raise_if_interrupted()  # one Python swallowed (`ablate.interrupts`)
                for reference in ready:
                    position = running.pop(reference)
                    results[position] = _result(ray, reference, job_overrides[position])
        except KeyboardInterrupt:
            self._stop(ray, list(running))
            raise_if_interrupted()  # named after its signal: Ray raises a bare one in `wait`
            raise
        return results

    def _start_ray(self, ray) -> None:
        if ray.is_initialized():
            return
        # Ray's core replaces the SIGTERM handler with its crash reporter (which aborts):
        # the sweeper's own handlers are put back once Ray runs.
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._init_ray(ray)
        finally:
            for signal_number, handler in handlers.items():
                if handler is not None:
                    signal.signal(signal_number, handler)
        self._started_ray = True

    def _init_ray(self, ray) -> None:
        if self.address is not None:
            ray.init(address=self.address)
        else:
            ray.init(
                num_cpus=self.num_cpus or _usable_cores(),
                object_store_memory=OBJECT_STORE_BYTES,
                include_dashboard=False,
            )

    def _stop(self, ray, references) -> None:
        """Cancels the tasks: queued ones at once, running ones get an interrupt (their runs
        are recorded KILLED) and `stop_timeout_s`, then are killed."""
        for reference in references:
            ray.cancel(reference)
        with contextlib.suppress(KeyboardInterrupt):  # a second interrupt: no more waiting
            ray.wait(references, num_returns=len(references), timeout=self.stop_timeout_s)
        for reference in references:
            ray.cancel(reference, force=True)

    def close(self) -> None:
        """Stops the local Ray this launcher started; the sweeper calls it at the end."""
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False


def _usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _result(ray, reference, overrides) -> JobReturn:
    """The task's `JobReturn`, or a FAILED one saying why the task has none."""
    try:
        return ray.get(reference)
    except ray.exceptions.TaskCancelledError:
        return failed_job(overrides, "the job was cancelled")
    except ray.exceptions.WorkerCrashedError:
        return failed_job(overrides, "the job's Ray worker process died")
    except ray.exceptions.RayError as error:  # a lost node, an error outside the job
        return failed_job(overrides, " ".join(str(error).split())[:300])
