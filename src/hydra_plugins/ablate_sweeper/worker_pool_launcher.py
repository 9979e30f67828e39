"""`hydra/launcher=ablate_pool` (the default): warm worker processes that run jobs in turn.

Starting a fresh Python process per job costs about 6 s on 2 cores (TensorFlow, MLflow and
Matplotlib imports), more than a small run's training. A worker is spawned once, imports
all that once (`ablate.cli.warm_up`), then takes jobs one after another. Each job starts
from the same state as in a fresh process: `ablate.run.reset_keras` clears the Keras session
and re-seeds Python, NumPy and TensorFlow, so results are bitwise identical to
`hydra/launcher=ablate_process` (tested).

Keras keeps memory that `clear_session()` does not return (about 7 MB per run), so a worker
is retired after `jobs_per_worker` jobs, or as soon as its resident memory exceeds
`max_rss_mb`, and a fresh one takes its place. A worker that dies during a job (killed by
the OOM killer, a crash in native code) fails that job only, with the reason; the sweep goes
on with a new worker. Each job's worker, its place in that worker's life, its resident
memory and threads are appended to `workers.jsonl` in the sweep folder.

`workers` run jobs in parallel; each gets `threads` TensorFlow intra- and inter-op threads
(default: the cores this process may use, divided by `workers`; with one worker TensorFlow's
own default, all cores).

Interrupts mean stop, as in `ablate_process`: nothing more is launched, busy workers get
SIGTERM (their run is recorded KILLED) and `stop_timeout_s` to exit, then are killed.
Workers never outlive the sweeper (`PR_SET_PDEATHSIG`).
"""

import atexit
import collections
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
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
    settings_problem,
)

log = logging.getLogger(__name__)
WORKER_LOG = "workers.jsonl"


def resident_mb() -> float:
    """This process's resident memory now, in MiB (its peak where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(connection, threads: int | None) -> None:
    """A worker's life: warm up, then run each packed job received until told to stop.

    Replies per job: `("done", pickled JobReturn, facts)` or, when the job ended the
    process' Python (`sys.exit`, e.g. after an interrupt), `("exited", code, facts)`; the
    worker then stops.
    """
    die_with_parent()
    from ablate.cli import exit_without_teardown, warm_up

    try:
        budget = warm_up(threads)
        jobs = 0
        while (payload := connection.recv()) is not None:
            jobs += 1
            started = time.monotonic()
            try:
                reply = ("done", cloudpickle.dumps(run_packed_job(payload)))
            except SystemExit as exit_:
                reply = ("exited", exit_.code)
            facts = {
                "worker": os.getpid(),
                "job_in_worker": jobs,
                "seconds": round(time.monotonic() - started, 3),
                "rss_mb": round(resident_mb(), 1),
                "threads": budget or "all",
            }
            connection.send((*reply, facts))
            if reply[0] == "exited":
                return
    except (KeyboardInterrupt, EOFError):  # Ctrl-C to the process group, or the sweeper left
        return
    connection.close()
    exit_without_teardown()  # told to stop: the sweeper waits for this exit


@dataclasses.dataclass
class _Worker:
    process: multiprocessing.Process
    connection: multiprocessing.connection.Connection
    jobs: int = 0
    job: tuple | None = None  # (position, overrides, index) of the job it is running
    retiring: bool = False


class WorkerPoolLauncher(JobLauncher):
    """Runs jobs in long-lived worker processes that import TensorFlow once.

    Args:
        workers: jobs running at once, each in its own worker. Defaults to 1.
        threads: TensorFlow intra- and inter-op threads per worker (null: usable cores /
            `workers`; with 1 worker, TensorFlow's default). Defaults to null.
        jobs_per_worker: jobs a worker runs before it is replaced by a fresh one. Defaults
            to 10.
        max_rss_mb: a worker whose resident memory exceeds this after a job is replaced
            (null: no limit). Defaults to null.
        stop_timeout_s: after an interrupt, how long running jobs get to record themselves
            KILLED before they are killed. Defaults to 30.
    """

    def __init__(
        self,
        workers: int = 1,
        threads: int | None = None,
        jobs_per_worker: int = 10,
        max_rss_mb: float | None = None,
        stop_timeout_s: float = 30.0,
    ):
        self.workers, self.jobs_per_worker, self.threads = workers, jobs_per_worker, threads
        self.max_rss_mb, self.stop_timeout_s = max_rss_mb, stop_timeout_s
        self._pool: list[_Worker] = []
        self._retired: list[_Worker] = []
        self._handovers: dict[int, int] = {}
        atexit.register(self.close)

    def problem(self) -> str | None:
        """What is wrong with the settings, as one line naming the key, or None."""
        return settings_problem(
            {
                "workers": (self.workers, 1, "jobs running at once"),
                "jobs_per_worker": (self.jobs_per_worker, 1, "jobs before a worker is replaced"),
                "threads": (self.threads, 1, "TensorFlow threads per worker, or null"),
                "max_rss_mb": (self.max_rss_mb, 1, "MiB of resident memory, or null"),
                "stop_timeout_s": (self.stop_timeout_s, 0, "seconds"),
            }
        )

    def thread_budget(self) -> int | None:
        """TensorFlow threads per worker: `threads`, else usable cores / workers (None: all)."""
        if self.threads:
            return int(self.threads)
        if self.workers == 1:
            return None
        return max(1, len(os.sched_getaffinity(0)) // self.workers)

    def warm(self, count: int) -> None:
        """Starts workers (up to `workers`, `count` at most) so that they import meanwhile."""
        while len(self._pool) < min(count, self.workers):
            self._spawn()

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        threads = self.thread_budget()
        how = f"on {self.workers} warm worker(s), {threads or 'all'} thread(s) each"
        sweep_dir = self.start_launch(job_overrides, initial_job_idx, how)
        results: list[JobReturn | None] = [None] * len(job_overrides)
        self._handovers = {}  # position -> workers found dead when handed the job
        pending = collections.deque(
            (position, overrides, initial_job_idx + position)
            for position, overrides in enumerate(job_overrides)
        )
        try:
            with open(sweep_dir / WORKER_LOG, "a") as worker_log:
                while pending or any(worker.job for worker in self._pool):
                    reason = self.launch_guard() if self.launch_guard and pending else None
                    while reason and pending:
                        position, overrides, _ = pending.popleft()
                        results[position] = failed_job(overrides, f"not started: {reason}")
                    self.warm(len(pending) + sum(1 for w in self._pool if w.job))
                    for worker in list(self._pool):
                        if pending and worker.job is None:
                            self._assign(worker, pending, results)
                    busy = [worker for worker in self._pool if worker.job]
                    if not busy:  # the idle workers had died: fresh ones take the jobs
                        continue
                    multiprocessing.connection.wait(
                        [w.connection for w in busy] + [w.process.sentinel for w in busy]
                    )
                    raise_if_interrupted()  # one Python swallowed (`ablate.interrupts`)
                    for worker in busy:
                        self._collect(worker, results, worker_log)
        except KeyboardInterrupt:
            self._stop()
            raise
        return results

    def _collect(self, worker: _Worker, results: list, worker_log) -> None:
        """Takes a worker's finished job, if any: its result, its line in the worker log,
        and the worker's retirement when it is spent, dead or asked to leave."""
        position, overrides, index = worker.job
        try:
            if not worker.connection.poll():
                if worker.process.is_alive():
                    return
                raise EOFError
            kind, value, facts = worker.connection.recv()
        except (EOFError, OSError):  # the worker died during the job
            worker.process.join()
            how = how_it_ended(worker.process.exitcode)
            results[position] = failed_job(overrides, f"the worker process died ({how})")
            log.warning(f"job #{index}: the worker (pid {worker.process.pid}) died ({how})")
            worker.job = None
            self._pool.remove(worker)
            worker.connection.close()
            return
        worker.job, worker.jobs = None, worker.jobs + 1
        if kind == "done":
            results[position] = cloudpickle.loads(value)
        else:
            results[position] = failed_job(overrides, f"the job exited (exit status {value})")
        worker_log.write(json.dumps({"job": index, **facts}) + "\n")
        worker_log.flush()
        spent = worker.jobs >= self.jobs_per_worker
        swollen = self.max_rss_mb is not None and facts["rss_mb"] > self.max_rss_mb
        if kind == "exited" or spent or swollen:
            self._retire(worker)

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, self.thread_budget()), daemon=False, name="ablate-worker"
        )
        process.start()
        theirs.close()
        self._pool.append(_Worker(process, ours))

    def _assign(self, worker: _Worker, pending: collections.deque, results: list) -> None:
        """Sends the next pending job to an idle worker. A worker found dead is dropped and
        the job stays pending for a fresh one; a job no worker could take twice fails."""
        position, overrides, index = pending.popleft()
        try:
            worker.connection.send(pack_job(index, overrides, self))
            worker.job = (position, overrides, index)
            return
        except OSError:
            self._retire(worker)
        worker.process.join()
        how = how_it_ended(worker.process.exitcode)
        self._handovers[position] = self._handovers.get(position, 0) + 1
        if self._handovers[position] < 2:
            pending.appendleft((position, overrides, index))
        else:
            reason = f"not started: its workers died before taking it ({how})"
            results[position] = failed_job(overrides, reason)

    def _retire(self, worker: _Worker) -> None:
        """Tells a worker to stop once idle and forgets it (joined in `close`)."""
        with contextlib.suppress(OSError):  # already gone
            worker.connection.send(None)
        self._pool.remove(worker)
        self._retired.append(worker)

    def close(self) -> None:
        """Stops the idle workers and waits for retired ones; the sweeper calls it at the end."""
        for worker in [w for w in self._pool if w.job is None]:
            self._retire(worker)
        retired, self._retired = self._retired, []
        for worker in retired:
            if worker.jobs == 0 and worker.process.is_alive():  # never used: still importing
                worker.process.terminate()
            worker.process.join(self.stop_timeout_s)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()

    def _stop(self) -> None:
        """Sends SIGTERM to every worker and waits for them; kills them when time is up."""
        workers, self._pool, self._retired = self._pool + self._retired, [], []
        for worker in workers:
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        try:
            for worker in workers:
                worker.process.join(self.stop_timeout_s)
        except KeyboardInterrupt:  # a second interrupt: no more waiting
            pass
        for worker in workers:
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
