"""The sweep's bookkeeping in MLflow: one parent run, its children, resume and stale runs.

The store and the experiment are created here, in the sweeping process, before any job
starts: several processes creating a fresh SQLite store at once corrupt it (an alembic
migration race), while 4 parallel writers on an existing store are safe.
"""

import os
import socket
import time

from ablate.tracking import Tracker

SWEEP_KIND = "sweep"


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
        self.uri = tracker.uri
        self.client = tracker._client
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
            f"tags.`ablate.kind` = '{SWEEP_KIND}' and tags.`ablate.sweep_key` = '{sweep_key}'"
        )
        mine = {"ablate.sweeper_pid": str(os.getpid()), "ablate.sweeper_host": socket.gethostname()}
        if earlier:
            parent = earlier[0]
            old_pid = int(parent.data.tags.get("ablate.sweeper_pid", "0"))
            same_host = parent.data.tags.get("ablate.sweeper_host") == socket.gethostname()
            if parent.info.status == "RUNNING" and same_host and _pid_alive(old_pid):
                raise RuntimeError(
                    f"sweep {parent.data.tags['ablate.sweep_id']} is already running (pid "
                    f"{old_pid}); wait for it, or stop it, before running it again."
                )
            for key, value in mine.items():
                self.client.set_tag(parent.info.run_id, key, value)
            self.client.update_run(parent.info.run_id, status="RUNNING")
            return parent.info.run_id, parent.data.tags["ablate.sweep_id"]
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                **tags,
                **mine,
                "ablate.kind": SWEEP_KIND,
                "ablate.sweep_key": sweep_key,
                "ablate.sweep_id": sweep_id,
            },
        )
        return run.info.run_id, sweep_id

    def children(self, parent_run_id: str):
        """Every child run of the parent, superseded ones excluded."""
        runs = self._search(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
        return [r for r in runs if r.data.tags.get("ablate.superseded") != "true"]

    def kill_stale(self, children) -> int:
        """Marks RUNNING children KILLED: their sweeping process is gone (checked by the caller
        through `open_parent`). Returns how many were marked."""
        stale = [r for r in children if r.info.status == "RUNNING"]
        for run in stale:
            self.client.set_tag(run.info.run_id, "ablate.failure_reason", "interrupted")
            self.client.set_terminated(run.info.run_id, status="KILLED")
        return len(stale)

    def supersede(self, runs) -> None:
        """Tags failed or killed runs that a rerun replaces (they stay in the store)."""
        for run in runs:
            self.client.set_tag(run.info.run_id, "ablate.superseded", "true")

    def mean_duration_s(self, config_hash: str) -> float | None:
        """Mean wall time of the FINISHED runs of a configuration in the experiment, if any."""
        runs = self._search(
            f"tags.`ablate.config_hash` = '{config_hash}' and attributes.status = 'FINISHED'",
            max_results=20,
        )
        durations = [(r.info.end_time - r.info.start_time) / 1000 for r in runs if r.info.end_time]
        return sum(durations) / len(durations) if durations else None

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def close_parent(self, parent_run_id: str, failed: bool) -> None:
        self.client.set_terminated(
            parent_run_id,
            status="FAILED" if failed else "FINISHED",
            end_time=int(time.time() * 1000),
        )
