"""Everything MLflow: runs, tag names, a sweep's parent run, reading runs back, uploading files.

This is the one module that imports `mlflow`, always inside a function, so `tracking=none` and
the report's folder reader never load it. Runs are driven through `MlflowClient` with an
explicit run id rather than the fluent API: no global active run, no atexit hook that would
mark a crashed run FINISHED, and every terminal status (FINISHED, FAILED, KILLED) is set here.

The store and the experiment of a sweep are created by the sweeping process (`SweepStore`),
before any job starts: several processes creating a fresh SQLite store at once corrupt it (an
alembic migration race), while 4 parallel writers on an existing store are safe.
"""

import contextlib
import os
import platform
import socket
import subprocess
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig

import ablate
from ablate.config import config_hash
from ablate.errors import InputError, SweepNotFoundError

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
MAX_TAG_LENGTH = 5000  # what we keep of an error message in a tag
PARAMS_PER_BATCH = 100  # MLflow's limit on params in one log_batch call
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
LIBRARIES = ("tensorflow", "keras", "mlflow", "hydra-core", "numpy")

# Tag names. MLflow's own: a child run names its parent; a run's plain files name the run.
PARENT_RUN_TAG = "mlflow.parentRunId"
RUN_ID_TAG = "mlflow.runId"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
# ablate's: what a run is, and which sweep, arm and seed it belongs to.
CONFIG_HASH_TAG = "ablate.config_hash"
SEED_TAG = "ablate.seed"
FAILURE_REASON_TAG = "ablate.failure_reason"
ERROR_TAG = "ablate.error"
SWEEP_TAGS = ("sweep_id", "arm", "role", "factor", "value", "design", "knobs")  # "ablate.<key>"
KIND_TAG = "ablate.kind"  # "sweep" on a sweep's parent run
SWEEP_KEY_TAG = "ablate.sweep_key"
SUPERSEDED_TAG = "ablate.superseded"
SWEEPER_PID_TAG = "ablate.sweeper_pid"
SWEEPER_HOST_TAG = "ablate.sweeper_host"
SWEEP_KIND = "sweep"


def sweep_tag(key: str) -> str:
    """The tag that holds a sweep fact of a run (`SWEEP_TAGS`): `ablate.<key>`."""
    return f"ablate.{key}"


SWEEP_ID_TAG = sweep_tag("sweep_id")
ARM_TAG = sweep_tag("arm")


def default_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, else the SQLite store `mlflow.db` in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def run_tags(resolved: dict) -> dict[str, str]:
    """Tags of a run: config hash, seed, library versions and the git commit if any."""
    tags = {
        CONFIG_HASH_TAG: config_hash(resolved),
        SEED_TAG: str(resolved["seed"]),
        "ablate.version": ablate.__version__,
        "python.version": platform.python_version(),
    }
    for library in LIBRARIES:
        tags[f"{library}.version"] = metadata.version(library)
    commit = _git_commit()
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    ablation = resolved.get("ablation") or {}
    if ablation.get("sweep_id"):
        if ablation.get("parent_run_id"):
            tags[PARENT_RUN_TAG] = ablation["parent_run_id"]
        for key in SWEEP_TAGS:
            tags[sweep_tag(key)] = str(ablation[key] or "")
    return tags


def _check_reachable(uri: str) -> None:
    """Fails fast, before training, when the tracking store cannot be used."""
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).close()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise InputError(
                "`tracking.uri` must point to a reachable MLflow tracking server. Received: "
                f"tracking.uri={uri} ({reason}). Start one with `mlflow server --host "
                "127.0.0.1`, or use tracking=none."
            ) from None
    elif uri.startswith("sqlite:///"):
        _check_sqlite_store(uri, Path(uri.removeprefix("sqlite:///")))


def _check_sqlite_store(uri: str, path: Path) -> None:
    """Refuses an SQLite store that MLflow could not use, naming what is wrong and the fix.

    A missing or unwritable folder, an unwritable file, a file that is not an SQLite database
    or is corrupt, and a store whose schema migration was interrupted (a leftover
    `_alembic_tmp_*` table, which MLflow cannot recover from) are reported; nothing is
    repaired or deleted.
    """
    folder = path.parent
    if not folder.is_dir():
        raise InputError(
            "`tracking.uri` must name an SQLite file in an existing folder. Received: "
            f"tracking.uri={uri} (no folder {folder})."
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(
            "`tracking.uri` must name an SQLite store that can be written (SQLite needs the "
            f"file and its folder writable). Received: tracking.uri={uri} (read-only). "
            "Make it writable, or point tracking.uri at another file."
        )
    if not path.exists() or path.stat().st_size == 0:
        return
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    except sqlite3.DatabaseError as error:
        raise InputError(
            "`tracking.uri` must name an MLflow SQLite store. Received: "
            f"tracking.uri={uri} (corrupt or not an SQLite database: {error}). Move the file "
            "away (keep it: it may be recoverable with `sqlite3 .recover`) and rerun."
        ) from None
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    if leftovers:
        raise InputError(
            "`tracking.uri` names an MLflow store whose schema migration was interrupted. "
            f"Received: tracking.uri={uri} (leftover tables {leftovers}). Back the file up, "
            f"drop the leftovers (`sqlite3 {path} 'DROP TABLE {leftovers[0]}'`), then run "
            f"`mlflow db upgrade {uri}`."
        )


@contextlib.contextmanager
def _store_lock(uri: str):
    """Holds an exclusive lock on an SQLite store's `<file>.lock` (no-op for other stores).

    MLflow creates and migrates a fresh SQLite store on first use; two processes doing it at
    once corrupt it. Every first use of a store here (a run, a sweep, the report) happens
    under this lock, so the schema is created once.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    path = Path(uri.removeprefix("sqlite:///"))
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_client(uri: str):
    """Returns an `MlflowClient` on `uri` with its store created and checked.

    Args:
        uri: a tracking URI (`sqlite:///...`, `http://...`, ...).

    Returns:
        The `mlflow.MlflowClient`.

    Raises:
        InputError: if the store is unreachable, read-only, corrupt or half-migrated.
    """
    import mlflow

    _check_reachable(uri)
    with _store_lock(uri):
        try:  # the client creates and migrates a fresh store's schema
            client = mlflow.MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
        except Exception as error:  # MlflowException, or SQLAlchemy's for a broken database
            reason = (getattr(error, "message", None) or str(error)).splitlines()[0]
            raise InputError(
                f"`tracking.uri` must name a usable MLflow store. Received: tracking.uri={uri} "
                f"({reason}). Check the store, or use tracking=none."
            ) from None
    return client


def get_or_create_experiment(client, uri: str, name: str) -> str:
    """Returns the id of experiment `name`, creating it (once, under the store's lock)."""
    with _store_lock(uri):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(name)


class NullRun:
    """A run that records nothing (`tracking=none`)."""

    run_id = None

    def log_params(self, params: dict) -> None:
        pass

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        pass

    def log_artifacts(self, folder: Path) -> None:
        pass

    def end(self, status: str, reason: str | None = None, error: str | None = None) -> None:
        pass


class MlflowRun:
    """One MLflow run, addressed by id; every write is one batched call."""

    def __init__(self, client, run_id: str):
        self._client = client
        self.run_id = run_id

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self._client.log_batch(self.run_id, params=items[start : start + PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self._client.log_batch(self.run_id, metrics=items)

    def log_artifacts(self, folder: Path) -> None:
        self._client.log_artifacts(self.run_id, str(folder))

    def end(self, status: str, reason: str | None = None, error: str | None = None) -> None:
        """Sets the terminal status, with `ablate.failure_reason` and `ablate.error` tags."""
        from mlflow.entities import RunTag

        tags = {FAILURE_REASON_TAG: reason, ERROR_TAG: error}
        items = [RunTag(k, v[:MAX_TAG_LENGTH]) for k, v in tags.items() if v]
        if items:
            self._client.log_batch(self.run_id, tags=items)
        self._client.set_terminated(self.run_id, status=status)


class Tracker:
    """Opens runs in one MLflow experiment, or null runs when tracking is off.

    Args:
        tracking_cfg: the `tracking` config group.

    Raises:
        InputError: if the tracking store cannot be reached.
    """

    def __init__(self, tracking_cfg: DictConfig):
        self.enabled = tracking_cfg.backend == "mlflow"
        self._experiment = tracking_cfg.experiment
        if not self.enabled:
            return
        import mlflow

        self.uri = tracking_cfg.uri or mlflow.get_tracking_uri()
        self.client = open_client(self.uri)

    def experiment_id(self) -> str:
        """Returns the id of the configured experiment, creating it if needed."""
        return get_or_create_experiment(self.client, self.uri, self._experiment)

    def start_run(self, run_name: str, tags: dict[str, str]):
        """Creates a RUNNING run with `tags` (a `PARENT_RUN_TAG` tag nests it)."""
        if not self.enabled:
            return NullRun()
        run = self.client.create_run(self.experiment_id(), run_name=run_name, tags=tags)
        return MlflowRun(self.client, run.info.run_id)


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

    def kill_stale(self, children) -> int:
        """Marks RUNNING children KILLED: their sweeping process is gone (checked by the caller
        through `open_parent`). Returns how many were marked."""
        stale = [r for r in children if r.info.status == "RUNNING"]
        for run in stale:
            self.client.set_tag(run.info.run_id, FAILURE_REASON_TAG, "interrupted")
            self.client.set_terminated(run.info.run_id, status="KILLED")
        return len(stale)

    def supersede(self, runs) -> None:
        """Tags failed or killed runs that a rerun replaces (they stay in the store)."""
        for run in runs:
            self.client.set_tag(run.info.run_id, SUPERSEDED_TAG, "true")

    def mean_duration_s(self, config_hash: str) -> float | None:
        """Mean wall time of the FINISHED runs of a configuration in the experiment, if any."""
        runs = self._search(
            f"tags.`{CONFIG_HASH_TAG}` = '{config_hash}' and attributes.status = 'FINISHED'",
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


def _search_all(client, experiment_ids: list[str], filter_string: str, order_by=None) -> list:
    """Every run matching `filter_string`, across result pages."""
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            max_results=1000,
            order_by=order_by,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


def read_sweep_runs(
    tracking_uri: str | None = None,
    sweep_id: str | None = None,
    experiment: str | None = None,
) -> list[dict]:
    """Reads one sweep's child runs from an MLflow store, as the records of `metrics.json`.

    The sweep is found by its parent run (tag `ablate.kind=sweep`): the one tagged
    `ablate.sweep_id=<sweep_id>`, or the newest one (latest start time) when `sweep_id`
    is None. Its runs are the runs tagged with the same `ablate.sweep_id` and an
    `ablate.arm`, less those a resumed sweep superseded (`ablate.superseded=true`). Final
    metrics are each run's last values; the per-epoch `val_accuracy` and `epoch_time_s`
    come from `MlflowClient.get_metric_history`.

    Args:
        tracking_uri: the MLflow store. Defaults to `None`: `default_tracking_uri()`.
        sweep_id: the sweep to read. Defaults to `None`: the latest sweep.
        experiment: the experiment name to search in. Defaults to `None`: all experiments.

    Returns:
        One dict per run with `run_id`, `status`, `error`, `tags`, `metrics` (final values)
        and `history` (`val_accuracy` and `epoch_time_s` per epoch), as a run's
        `metrics.json` holds them.

    Raises:
        SweepNotFoundError: if the store does not exist or holds no sweep, or `sweep_id` or
            `experiment` is unknown.
    """
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or default_tracking_uri()
    try:
        return _read_sweep_runs(uri, sweep_id, experiment)
    except MlflowException as error:
        reason = (error.message or str(error) or type(error).__name__).splitlines()[0]
        raise InputError(
            f"The MLflow store could not be read. Received: tracking_uri={uri} ({reason}). "
            "Pass --tracking-uri, or read a sweep folder with --from-dir."
        ) from None


def _read_sweep_runs(uri: str, sweep_id: str | None, experiment: str | None) -> list[dict]:
    from ablate.metrics import EPOCH_METRICS

    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise SweepNotFoundError(
            "`tracking_uri` must name an existing MLflow store. Received: "
            f"tracking_uri={uri} (no such file). Run a sweep first, pass --tracking-uri, "
            "or read a sweep folder with --from-dir."
        )
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=uri)
    if experiment is None:
        experiment_ids = [
            e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
        ]
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise SweepNotFoundError(
                "`experiment` must name an experiment of the store. Received: "
                f"experiment={experiment} (store {uri})."
            )
        experiment_ids = [found.experiment_id]
    parent_filter = f"tags.`{KIND_TAG}` = '{SWEEP_KIND}'"
    if sweep_id is not None:
        parent_filter += f" and tags.`{SWEEP_ID_TAG}` = '{_quote(sweep_id)}'"
    parents = _search_all(
        client, experiment_ids, parent_filter, order_by=["attributes.start_time DESC"]
    )
    if not parents:
        if sweep_id is None:
            raise SweepNotFoundError(
                f"No sweep found in the MLflow store {uri}"
                + (f" (experiment {experiment})" if experiment else "")
                + ". Received: no run tagged ablate.kind=sweep. Run one with "
                "`python -m ablate -m ...`, or pass --tracking-uri or --from-dir."
            )
        known = sorted(
            {
                p.data.tags.get(SWEEP_ID_TAG, "")
                for p in _search_all(client, experiment_ids, f"tags.`{KIND_TAG}` = '{SWEEP_KIND}'")
            }
        )
        raise SweepNotFoundError(
            f"`sweep` must name a sweep of the store {uri}. Received: sweep={sweep_id} "
            f"(known: {', '.join(known) or 'none'})."
        )
    chosen = parents[0].data.tags.get(SWEEP_ID_TAG, "")
    children = _search_all(
        client,
        experiment_ids,
        f"tags.`{SWEEP_ID_TAG}` = '{_quote(chosen)}' and tags.`{ARM_TAG}` != ''",
    )
    children = [
        run
        for run in children
        if run.data.tags.get(KIND_TAG) != SWEEP_KIND and run.data.tags.get(SUPERSEDED_TAG) != "true"
    ]
    if not children:
        raise SweepNotFoundError(
            f"Sweep {chosen} in the MLflow store {uri} has no runs yet. Received: a parent run "
            "without child runs tagged ablate.arm."
        )
    records = []
    for run in children:
        tags = run.data.tags
        history = {}
        for name in ("val_accuracy", "epoch_time_s"):
            points = sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
            history[name] = [m.value for m in points]
        metrics = {k: v for k, v in run.data.metrics.items() if k not in EPOCH_METRICS}
        records.append(
            {
                "run_id": run.info.run_id,
                "status": run.info.status,
                "error": tags.get(ERROR_TAG),
                "tags": tags,
                "metrics": metrics,
                "history": history,
            }
        )
    return records


def upload_files(tracking_uri: str | None, run_id: str, paths, folder: str) -> None:
    """Logs `paths` as artifacts of run `run_id` under `folder` (e.g. a sweep's report)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path=folder)
