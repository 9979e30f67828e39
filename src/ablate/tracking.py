"""MLflow runs: the store, tag names and a run's records (a sweep's side: `sweep_store`).

With `ablate.sweep_store` (a sweep's parent run, claims, resume and reuse) and
`ablate.tracking_transfer` (reading runs back, sending plain files), the only modules that
talk to a store (`ablate.mlflow_model` writes a model's files in MLflow's format), importing
`mlflow` always inside a function, so `tracking=none` and the report's folder reader never
load it. Runs are driven through `MlflowClient` with an
explicit run id rather than the fluent API: no global active run, no atexit hook that would
mark a crashed run FINISHED, and every terminal status (FINISHED, FAILED, KILLED) is set here;
a model is logged the same way (`log_model_folder`), not with `mlflow.keras.log_model`.

The store and the experiment of a sweep are created by the sweeping process
(`sweep_store.SweepStore`),
before any job starts: several processes creating a fresh SQLite store at once corrupt it (an
alembic migration race), while 4 parallel writers on an existing store are safe.
"""

import contextlib
import os
import platform
import subprocess
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig

import ablate
from ablate.config import config_hash
from ablate.errors import InputError
from ablate.identity import run_identity
from ablate.run_files import MODEL_FOLDER

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
MAX_TAG_LENGTH = 5000  # what we keep of an error message in a tag
PARAMS_PER_BATCH = 100  # MLflow's limit on params in one log_batch call
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
LOGGED_MODEL_NAME = "model"  # the name `mlflow.<flavor>.log_model` gives a model by default
LIBRARIES = ("tensorflow", "keras", "mlflow", "hydra-core", "numpy")

# Tag names. MLflow's own: a child run names its parent; a run's plain files name the run.
PARENT_RUN_TAG = "mlflow.parentRunId"
RUN_ID_TAG = "mlflow.runId"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # how MLflow 3's UI opens an experiment
MODEL_TRAINING = "custom_model_development"  # its model-training view (not GenAI)
# ablate's: what a run is, and which sweep, arm and seed it belongs to.
CONFIG_HASH_TAG = "ablate.config_hash"
SEED_TAG = "ablate.seed"
IDENTITY_TAG = "ablate.identity"  # ablate.identity.run_identity: same experiment, reusable
REUSED_FROM_TAG = "ablate.reused_from"
JOB_STARTED_TAG = "ablate.job_started_ms"  # when a job took over the run its sweeper claimed
FAILURE_REASON_TAG = "ablate.failure_reason"
ERROR_TAG = "ablate.error"
SWEEP_TAGS = ("sweep_id", "arm", "role", "factor", "value", "design", "seeds", "knobs")  # ablate.*
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


def run_tags(resolved: dict, fingerprint: str | None = None) -> dict[str, str]:
    """Tags of a run: config hash, identity (`fingerprint`: its data's, when known), seed,
    library versions and the git commit if any."""
    tags = {
        CONFIG_HASH_TAG: config_hash(resolved),
        IDENTITY_TAG: run_identity(resolved, fingerprint),
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


def check_reachable(uri: str, timeout_s: float = 5) -> None:
    """Fails fast, before training, when the tracking store cannot be used."""
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s).close()
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


def open_client(uri: str, timeout_s: float = 5):
    """Returns an `MlflowClient` on `uri` with its store created and checked.

    Args:
        uri: a tracking URI (`sqlite:///...`, `http://...`, ...).
        timeout_s: how long the reachability check of a server may take. Defaults to 5.

    Returns:
        The `mlflow.MlflowClient`.

    Raises:
        InputError: if the store is unreachable, read-only, corrupt or half-migrated.
    """
    import mlflow

    check_reachable(uri, timeout_s)
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
    """Returns the id of experiment `name`, creating it (once, under the store's lock).

    The experiment is tagged as model training (`mlflow.experimentKind`): MLflow 3's UI opens
    an untagged experiment in its GenAI mode, where a sweep's parent run is listed under
    "Evaluations". An experiment that already has a kind keeps it.
    """
    with _store_lock(uri):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})
        if EXPERIMENT_KIND_TAG not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
        return experiment.experiment_id


def log_run_folder(client, run_id: str, folder: Path) -> None:
    """Logs a run's output folder as the run's artifacts, its `model/` folder excepted.

    The model (`tracking.log_model=true`) is logged as the run's model instead
    (`log_model_folder`), so it is stored once.
    """
    for path in sorted(folder.iterdir()):
        if path.is_dir() and path.name != MODEL_FOLDER:
            client.log_artifacts(run_id, str(path), artifact_path=path.name)
        elif path.is_file():
            client.log_artifact(run_id, str(path))


def log_dataset_input(client, run_id: str, dataset, attempts: int = 3) -> None:
    """Links `dataset` (an MLflow `DatasetInput`) to run `run_id`, created in its experiment
    on first use.

    MLflow's store looks the dataset up and inserts it when absent, in two steps: on a database
    server, the runs of a parallel sweep logging the same data at once race, and all but one
    fail on the unique key `dataset_pk` (4 runs at a time against PostgreSQL: 12 failures in 40
    calls). The dataset then exists, so the call is made again; a retry succeeded every time.
    """
    for attempt in range(attempts):
        try:
            client.log_inputs(run_id, datasets=[dataset])
            return
        except Exception as error:  # MlflowException, the unique-key violation under it
            if attempt + 1 == attempts or not _duplicate_key(error):
                raise


def _duplicate_key(error: Exception) -> bool:
    """Whether `error` is a database's unique-key violation (PostgreSQL, MySQL or SQLite)."""
    text = str(error)
    return any(
        marker in text
        for marker in ("duplicate key value", "Duplicate entry", "UNIQUE constraint failed")
    )


def log_model_folder(client, run_id: str, folder: Path) -> str:
    """Logs an MLflow Model folder (`ablate.mlflow_model`) as the model of run `run_id`.

    What `mlflow.keras.log_model` does, without an active run: a logged model named `model`,
    created in the run's experiment with the run as its source, the folder as its artifacts,
    status READY, then listed among the run's outputs, last, so that a run lists only a
    complete model. It loads as `models:/<model id>` or `runs:/<run id>/model`.

    Returns:
        The logged model's id.
    """
    from mlflow.entities import LoggedModelOutput

    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(experiment_id, name=LOGGED_MODEL_NAME, source_run_id=run_id)
    client.log_model_artifacts(model.model_id, str(folder))
    client.finalize_logged_model(model.model_id, "READY")
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    return model.model_id


class NullRun:
    """A run that records nothing (`tracking=none`)."""

    run_id = None
    unreached = None

    def log_params(self, params: dict) -> None:
        pass

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        pass

    def log_artifacts(self, folder: Path) -> None:
        pass

    def log_dataset(self, description: dict[str, str]) -> None:
        pass

    def log_model(self, folder: Path) -> None:
        pass

    def end(self, status: str, reason: str | None = None, error: str | None = None) -> None:
        pass


class MlflowRun:
    """One MLflow run, addressed by id; every write is one batched call.

    A store that stops answering (a dead tracking server, a full disk) does not stop training:
    the first failed call is kept in `unreached` and every later call is skipped. The run's
    plain files hold everything, and `python -m ablate.upload` sends them once the store is
    back (`upload_run`).
    """

    def __init__(self, client, run_id: str):
        self._client = client
        self.run_id = run_id
        self.unreached: str | None = None

    def _call(self, method, *args, **kwargs) -> None:
        if self.unreached is not None:
            return
        try:
            method(*args, **kwargs)
        except Exception as error:  # MlflowException, or the HTTP/database error under it
            text = getattr(error, "message", None) or str(error) or type(error).__name__
            self.unreached = " ".join(text.split())[:500]

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            batch = items[start : start + PARAMS_PER_BATCH]
            self._call(self._client.log_batch, self.run_id, params=batch)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self._call(self._client.log_batch, self.run_id, metrics=items)

    def log_artifacts(self, folder: Path) -> None:
        self._call(log_run_folder, self._client, self.run_id, folder)

    def log_model(self, folder: Path) -> None:
        """Logs the MLflow Model in `folder` as the run's model (`log_model_folder`)."""
        self._call(log_model_folder, self._client, self.run_id, folder)

    def log_dataset(self, description: dict[str, str]) -> None:
        """Logs the training data as the run's dataset input (`identity.dataset_description`)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = DatasetInput(
            Dataset(**description), [InputTag("mlflow.data.context", "training")]
        )
        self._call(log_dataset_input, self._client, self.run_id, dataset)

    def end(self, status: str, reason: str | None = None, error: str | None = None) -> None:
        """Sets the terminal status, with `ablate.failure_reason` and `ablate.error` tags."""
        from mlflow.entities import RunTag

        tags = {FAILURE_REASON_TAG: reason, ERROR_TAG: error}
        items = [RunTag(k, v[:MAX_TAG_LENGTH]) for k, v in tags.items() if v]
        if items:
            self._call(self._client.log_batch, self.run_id, tags=items)
        self._call(self._client.set_terminated, self.run_id, status=status)


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

        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(tracking_cfg.timeout_s)
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(tracking_cfg.retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        self.uri = tracking_cfg.uri or mlflow.get_tracking_uri()
        self.client = open_client(self.uri, tracking_cfg.timeout_s)

    def experiment_id(self) -> str:
        """Returns the id of the configured experiment, creating it if needed."""
        return get_or_create_experiment(self.client, self.uri, self._experiment)

    def start_run(self, run_name: str, tags: dict[str, str], claimed_run_id: str | None = None):
        """Starts a RUNNING run with `tags` (a `PARENT_RUN_TAG` tag nests it).

        Args:
            run_name: the run's name.
            tags: its tags.
            claimed_run_id: the run a sweeper created for this job before launching it
                (`SweepStore.claim`), which the job takes over; None creates a new run.

        Returns:
            An `MlflowRun`, or a `NullRun` with `tracking=none`.
        """
        if not self.enabled:
            return NullRun()
        if claimed_run_id:
            from mlflow.entities import RunTag

            started = {JOB_STARTED_TAG: str(int(time.time() * 1000))}
            items = [RunTag(k, v[:MAX_TAG_LENGTH]) for k, v in {**tags, **started}.items()]
            self.client.log_batch(claimed_run_id, tags=items)
            self.client.update_run(claimed_run_id, status="RUNNING")
            return MlflowRun(self.client, claimed_run_id)
        run = self.client.create_run(self.experiment_id(), run_name=run_name, tags=tags)
        return MlflowRun(self.client, run.info.run_id)


def runs_table_link(uri: str, experiment_id: str) -> str:
    """The MLflow UI's runs table of an experiment in the store at `uri`, as a link.

    MLflow 3.17's UI opens an experiment in its GenAI view unless the browser chose "Model
    training" once (it ignores `mlflow.experimentKind`); `workflowType=machine_learning` opens
    the runs table. A local store is served by `make ui` on port 5000.
    """
    route = f"/#/experiments/{experiment_id}?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/") + route
    return f"http://127.0.0.1:5000{route} (after `make ui`)"
