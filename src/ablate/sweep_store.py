"""MLflow side of one sweep: its parent run, the claims of its runs, resume and reuse.

The sweeping process opens the store and the experiment before any job starts (see
`ablate.tracking`: creating a fresh SQLite store from several processes at once corrupts it),
claims each run (status SCHEDULED) before its job is launched, so that a rerun never trains
an (arm, seed) twice, and copies a finished run of the same identity instead of training it.
"""

import os
import socket
import time

from ablate.errors import InputError
from ablate.tracking import (
    CONFIG_HASH_TAG,
    ERROR_TAG,
    FAILURE_REASON_TAG,
    IDENTITY_TAG,
    JOB_STARTED_TAG,
    KIND_TAG,
    MAX_TAG_LENGTH,
    PARAMS_PER_BATCH,
    PARENT_RUN_TAG,
    REUSED_FROM_TAG,
    SUPERSEDED_TAG,
    SWEEP_ID_TAG,
    SWEEP_KEY_TAG,
    SWEEP_KIND,
    SWEEPER_HOST_TAG,
    SWEEPER_PID_TAG,
    Tracker,
    check_reachable,
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SweepStore:
    """MLflow side of one sweep.

    Args:
        tracking_cfg: the `tracking` config group.
    """

    def __init__(self, tracking_cfg):
        tracker = Tracker(tracking_cfg)
        self._timeout_s = tracking_cfg.timeout_s
        self.uri = tracker.uri
        self.client = tracker.client
        self.experiment_id = tracker.experiment_id()

    def _search(self, filter_string: str, max_results: int = 50000):
        return self.client.search_runs(
            [self.experiment_id], filter_string=filter_string, max_results=max_results
        )

    def open_parent(self, sweep_key: str, sweep_id: str, tags: dict[str, str]) -> tuple[str, str]:
        """Reuses the parent run of an earlier sweep with the same key, or creates one.

        Returns:
            `(parent_run_id, sweep_id)`: an earlier sweep keeps its id.

        Raises:
            RuntimeError: if the earlier sweep's process is still alive on this host.
        """
        earlier = self._search(
            f"tags.`{KIND_TAG}` = '{SWEEP_KIND}' and tags.`{SWEEP_KEY_TAG}` = '{sweep_key}'"
        )
        mine = {SWEEPER_PID_TAG: str(os.getpid()), SWEEPER_HOST_TAG: socket.gethostname()}
        if earlier:
            parent = earlier[0]
            old_pid = int(parent.data.tags.get(SWEEPER_PID_TAG, "0"))
            same_host = parent.data.tags.get(SWEEPER_HOST_TAG) == socket.gethostname()
            if parent.info.status == "RUNNING" and same_host and _pid_alive(old_pid):
                raise RuntimeError(
                    f"sweep {parent.data.tags[SWEEP_ID_TAG]} is already running (pid "
                    f"{old_pid}); wait for it, or stop it, before running it again."
                )
            for key, value in mine.items():
                self.client.set_tag(parent.info.run_id, key, value)
            self.client.update_run(parent.info.run_id, status="RUNNING")
            return parent.info.run_id, parent.data.tags[SWEEP_ID_TAG]
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                **tags,
                **mine,
                KIND_TAG: SWEEP_KIND,
                SWEEP_KEY_TAG: sweep_key,
                SWEEP_ID_TAG: sweep_id,
            },
        )
        return run.info.run_id, sweep_id

    def children(self, parent_run_id: str):
        """Every child run of the parent, superseded ones excluded."""
        runs = self._search(f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'")
        return [r for r in runs if r.data.tags.get(SUPERSEDED_TAG) != "true"]

    def claim(self, parent_run_id: str, run_name: str, tags: dict[str, str]) -> str:
        """Creates a child run in SCHEDULED state before its job is launched; returns its id.

        The job takes the run over (`Tracker.start_run(claimed_run_id=...)`), so a concurrent
        or later rerun sees every (arm, seed) that is queued or training, never trains it twice.
        """
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags={**tags, PARENT_RUN_TAG: parent_run_id}
        )
        self.client.update_run(run.info.run_id, status="SCHEDULED")
        return run.info.run_id

    def kill_stale(self, children) -> int:
        """Marks RUNNING and SCHEDULED children KILLED: their sweeping process is gone (checked
        by the caller through `open_parent`). Returns how many were marked."""
        stale = [r for r in children if r.info.status in ("RUNNING", "SCHEDULED")]
        for run in stale:
            reason = "interrupted" if run.info.status == "RUNNING" else "not started"
            self.client.set_tag(run.info.run_id, FAILURE_REASON_TAG, reason)
            self.client.set_terminated(run.info.run_id, status="KILLED")
        return len(stale)

    def fail_unfinished(self, run_id: str, reason: str) -> bool:
        """Records a claimed run FAILED with `reason` if its job ended without closing it (its
        process died); returns whether it did."""
        if self.client.get_run(run_id).info.status not in ("RUNNING", "SCHEDULED"):
            return False
        self.client.set_tag(run_id, FAILURE_REASON_TAG, reason[:MAX_TAG_LENGTH])
        self.client.set_terminated(run_id, status="FAILED")
        return True

    def finished_with_identity(self, identity: str):
        """A FINISHED run of the experiment with this identity (not itself a copy), or None."""
        runs = self._search(
            f"tags.`{IDENTITY_TAG}` = '{identity}' and attributes.status = 'FINISHED'",
            max_results=20,
        )
        originals = [
            r
            for r in runs
            if not r.data.tags.get(REUSED_FROM_TAG) and r.data.tags.get(SUPERSEDED_TAG) != "true"
        ]
        return originals[0] if originals else None

    def reuse(self, parent_run_id: str, source, run_name: str, tags: dict[str, str]) -> str:
        """Records a FINISHED child run of this sweep whose results are copied from `source`.

        Params, every metric's full history and the source's tags (under this sweep's own
        sweep tags) are copied, and the source's logged model (`tracking.log_model`) is listed
        among the new run's outputs; `ablate.reused_from` names the source. Nothing is trained.

        Returns:
            The new run's id.
        """
        from mlflow.entities import LoggedModelOutput, Metric, Param, RunTag

        copied = {
            k: v
            for k, v in source.data.tags.items()
            if not k.startswith("mlflow.")
            and k not in (FAILURE_REASON_TAG, ERROR_TAG, JOB_STARTED_TAG)
        }
        tags = {**copied, **tags, PARENT_RUN_TAG: parent_run_id}
        tags[REUSED_FROM_TAG] = source.info.run_id
        run_id = self.client.create_run(self.experiment_id, run_name=run_name).info.run_id
        items = [RunTag(k, str(v)[:MAX_TAG_LENGTH]) for k, v in tags.items()]
        self.client.log_batch(run_id, tags=items)
        params = [Param(k, v) for k, v in source.data.params.items()]
        for start in range(0, len(params), PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=params[start : start + PARAMS_PER_BATCH])
        metrics = [
            Metric(name, m.value, m.timestamp, m.step)
            for name in source.data.metrics
            for m in self.client.get_metric_history(source.info.run_id, name)
        ]
        for start in range(0, len(metrics), 1000):  # MLflow takes 1000 metrics per call
            self.client.log_batch(run_id, metrics=metrics[start : start + 1000])
        outputs = self.client.get_run(source.info.run_id).outputs  # search results lack them
        models = [LoggedModelOutput(o.model_id, o.step) for o in outputs.model_outputs]
        if models:
            self.client.log_outputs(run_id, models)
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def supersede(self, runs) -> None:
        """Tags failed or killed runs that a rerun replaces (they stay in the store)."""
        for run in runs:
            self.client.set_tag(run.info.run_id, SUPERSEDED_TAG, "true")

    def mean_duration_s(self, config_hash: str) -> float | None:
        """Mean wall time of the FINISHED runs of a configuration in the experiment, if any.

        A run a sweeper claimed counts from when its job took it over (`JOB_STARTED_TAG`),
        not from the claim, which includes its wait in the queue; a reused copy, which
        trained nothing, does not count.
        """
        runs = self._search(
            f"tags.`{CONFIG_HASH_TAG}` = '{config_hash}' and attributes.status = 'FINISHED'",
            max_results=20,
        )
        durations = [
            (r.info.end_time - int(r.data.tags.get(JOB_STARTED_TAG, r.info.start_time))) / 1000
            for r in runs
            if r.info.end_time and REUSED_FROM_TAG not in r.data.tags
        ]
        return sum(durations) / len(durations) if durations else None

    def unanswered(self) -> str | None:
        """Why the store cannot take runs now (a tracking server that does not answer), or None."""
        try:
            check_reachable(self.uri, self._timeout_s)
        except InputError as error:
            return str(error)
        return None

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def close_parent(self, parent_run_id: str, status: str) -> None:
        """Ends the sweep's parent run: FINISHED, FAILED (a run failed) or KILLED."""
        self.client.set_terminated(parent_run_id, status=status, end_time=int(time.time() * 1000))
