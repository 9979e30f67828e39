"""Record runs in MLflow (or nowhere, with `tracking=none`, which never imports mlflow).

Runs are driven through `MlflowClient` with an explicit run id rather than the fluent API:
no global active run, no atexit hook that would mark a crashed run FINISHED, and every
terminal status (FINISHED, FAILED, KILLED) is set by this module.
"""

import time
import urllib.error
import urllib.request
from pathlib import Path

from omegaconf import DictConfig

from ablate.errors import InputError

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
MAX_TAG_LENGTH = 5000  # what we keep of an error message in a tag
PARAMS_PER_BATCH = 100  # MLflow's limit on params in one log_batch call


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
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise InputError(
                "`tracking.uri` must name an SQLite file in an existing folder. Received: "
                f"tracking.uri={uri} (no folder {folder})."
            )


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

        tags = {"ablate.failure_reason": reason, "ablate.error": error}
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
        _check_reachable(self.uri)
        self._client = mlflow.MlflowClient(tracking_uri=self.uri)

    def experiment_id(self) -> str:
        """Returns the id of the configured experiment, creating it if needed."""
        experiment = self._client.get_experiment_by_name(self._experiment)
        if experiment is not None:
            return experiment.experiment_id
        return self._client.create_experiment(self._experiment)

    def start_run(self, run_name: str, tags: dict[str, str]):
        """Creates a RUNNING run with `tags` (a `mlflow.parentRunId` tag nests it)."""
        if not self.enabled:
            return NullRun()
        run = self._client.create_run(self.experiment_id(), run_name=run_name, tags=tags)
        return MlflowRun(self._client, run.info.run_id)
