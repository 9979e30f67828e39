"""`hydra/launcher=ablate_process`: every job in a fresh process, `n_jobs` at a time.

Keras keeps memory that `clear_session()` does not return: measured on a 20-run sweep in one
process (Hydra's basic launcher), peak RSS grew by 7.4 MB per run, from 770 to 918 MB. A
fresh, spawned process per job keeps every run's memory and state independent of the runs
before it, at the cost of importing TensorFlow once per job (~5 s). The default launcher,
`hydra/launcher=ablate_pool`, gives the same results from warm workers it replaces every few
jobs; this one is the reference it is tested against.

Interrupts mean stop: on Ctrl-C or SIGTERM (raised in the sweeper as `KeyboardInterrupt`)
nothing more is launched, every running job gets SIGTERM (its run is recorded KILLED) and is
waited for up to `stop_timeout_s`, then killed; a second interrupt kills at once. Jobs never
outlive the sweeper: each asks Linux to send it SIGTERM when its parent dies
(`PR_SET_PDEATHSIG`), so a sweeper killed with SIGKILL leaves no orphan that could race a
rerun.
"""

import multiprocessing
import multiprocessing.connection
import os
import signal
import tempfile
from pathlib import Path

import cloudpickle
from hydra.core.utils import JobReturn

from ablate.interrupts import raise_if_interrupted
from hydra_plugins.ablate_sweeper.jobs import (
    JobLauncher,
    die_with_parent,
    failed_job,
    how_it_ended,
    pack_job,
    run_packed_job,
)


def _execute_job(payload: bytes, result_path: str) -> None:
    """Runs one packed Hydra job in this (fresh) process; writes its `JobReturn` to
    `result_path`, read by the sweeper once the process has exited."""
    die_with_parent()
    Path(result_path).write_bytes(cloudpickle.dumps(run_packed_job(payload)))


class FreshProcessLauncher(JobLauncher):
    """Launches each job in its own spawned process.

    Args:
        n_jobs: jobs running at once. Defaults to 1.
        stop_timeout_s: after an interrupt, how long running jobs get to record themselves
            KILLED before they are killed. Defaults to 30.
    """

    def __init__(self, n_jobs: int = 1, stop_timeout_s: float = 30.0):
        self.n_jobs = n_jobs
        self.stop_timeout_s = stop_timeout_s

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        how = f"each in a fresh process ({self.n_jobs} at a time)"
        self.start_launch(job_overrides, initial_job_idx, how)
        context = multiprocessing.get_context("spawn")
        results: list[JobReturn | None] = [None] * len(job_overrides)
        pending = list(enumerate(job_overrides))
        running: dict[int, tuple] = {}  # position -> (process, result file)
        with tempfile.TemporaryDirectory(prefix="ablate-jobs-") as scratch:
            try:
                while pending or running:
                    reason = self.launch_guard() if self.launch_guard and pending else None
                    for position, overrides in pending if reason else ():
                        results[position] = failed_job(overrides, f"not started: {reason}")
                    if reason:
                        pending = []
                    while pending and len(running) < self.n_jobs:
                        position, overrides = pending.pop(0)
                        payload = pack_job(initial_job_idx + position, overrides, self)
                        result_path = os.path.join(scratch, f"{position}.pkl")
                        process = context.Process(
                            target=_execute_job, args=(payload, result_path), daemon=False
                        )
                        process.start()
                        running[position] = (process, result_path)
                    if not running:  # the guard cancelled what was pending
                        break
                    sentinels = [process.sentinel for process, _ in running.values()]
                    multiprocessing.connection.wait(sentinels)
                    raise_if_interrupted()  # one Python swallowed (`ablate.interrupts`)
                    for position, (process, result_path) in list(running.items()):
                        if process.is_alive():
                            continue
                        process.join()
                        results[position] = _result(process, result_path, job_overrides[position])
                        del running[position]
            except KeyboardInterrupt:
                self._stop([process for process, _ in running.values()])
                raise
        return results

    def _stop(self, processes) -> None:
        """Sends SIGTERM to the running jobs and waits for them; kills them when time is up."""
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        try:
            for process in processes:
                process.join(self.stop_timeout_s)
        except KeyboardInterrupt:  # a second interrupt: no more waiting
            pass
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()


def _result(process, result_path: str, overrides) -> JobReturn:
    """The job's `JobReturn`, or a FAILED one naming how its process ended."""
    path = Path(result_path)
    if process.exitcode == 0 and path.exists():
        return cloudpickle.loads(path.read_bytes())
    return failed_job(overrides, f"the job's process died ({how_it_ended(process.exitcode)})")
