"""Reading runs back from an MLflow store, and sending a run's plain files to one.

The report reads a sweep's runs as the records a run's `metrics.json` holds
(`read_sweep_runs`); `python -m ablate.upload` sends the results of runs whose store went away
(`upload_run`, `close_parent_run`); a sweep attaches its report to its parent run
(`upload_files`). With `ablate.tracking`, the only modules that talk to a store.
"""

import json
import time
from pathlib import Path

from ablate.errors import InputError, SweepNotFoundError
from ablate.run_files import MODEL_FOLDER
from ablate.tracking import (
    ARM_TAG,
    ERROR_TAG,
    KIND_TAG,
    MAX_PARAM_LENGTH,
    MAX_TAG_LENGTH,
    PARAMS_PER_BATCH,
    SUPERSEDED_TAG,
    SWEEP_ID_TAG,
    SWEEP_KIND,
    default_tracking_uri,
    log_model_folder,
    log_run_folder,
    open_client,
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
    uri = tracking_uri or default_tracking_uri()
    return _reading(uri, _read_sweep_runs, sweep_id, experiment)


def read_sweep_file(
    name: str,
    tracking_uri: str | None = None,
    sweep_id: str | None = None,
    experiment: str | None = None,
) -> str | None:
    """The text of a file the sweep logged to its parent run (e.g. `adaptive.csv`), or None.

    The sweep is found as in `read_sweep_runs`; the arguments after `name` are its.

    Raises:
        SweepNotFoundError: as `read_sweep_runs`.
    """
    uri = tracking_uri or default_tracking_uri()
    return _reading(uri, _read_parent_file, sweep_id, experiment, name)


def _reading(uri: str, reader, *arguments):
    """`reader(uri, *arguments)`, with MLflow's errors as one-line `InputError`s."""
    from mlflow.exceptions import MlflowException

    try:
        return reader(uri, *arguments)
    except MlflowException as error:
        reason = (error.message or str(error) or type(error).__name__).splitlines()[0]
        raise InputError(
            f"The MLflow store could not be read. Received: tracking_uri={uri} ({reason}). "
            "Pass --tracking-uri, or read a sweep folder with --from-dir."
        ) from None


def _read_parent_file(uri: str, sweep_id, experiment, name: str) -> str | None:
    import tempfile

    client, _, parent = _sweep_parent(uri, sweep_id, experiment)
    if name not in {artifact.path for artifact in client.list_artifacts(parent.info.run_id)}:
        return None
    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(parent.info.run_id, name, folder)).read_text()


def _sweep_parent(uri: str, sweep_id: str | None, experiment: str | None):
    """`(client, experiment ids, parent run)` of the sweep `sweep_id` (None: the newest)."""
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
    return client, experiment_ids, parents[0]


def _read_sweep_runs(uri: str, sweep_id: str | None, experiment: str | None) -> list[dict]:
    from ablate.metrics import EPOCH_METRICS

    client, experiment_ids, parent = _sweep_parent(uri, sweep_id, experiment)
    chosen = parent.data.tags.get(SWEEP_ID_TAG, "")
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
                "start_time": run.info.start_time,
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


def log_to_run(tracking_uri: str | None, run_id: str, metrics: dict, tags: dict) -> None:
    """Logs final `metrics` and `tags` on run `run_id` in one call (e.g. a sweep's headline)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    MlflowClient(tracking_uri=tracking_uri).log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        tags=[RunTag(k, str(v)) for k, v in tags.items()],
    )


def upload_run(tracking_uri: str, run_id: str, folder: Path) -> None:
    """Sends a run's plain files to its store: what the store lacks, nothing twice.

    Reads `metrics.json` and `resolved_config.yaml` from `folder` (the run's output folder),
    then logs the params if the run has none, the per-epoch metrics at the epochs the store
    lacks, the final metrics, the folder as artifacts, its `model/` as the run's model if the
    run has none (`tracking.log_model=true`), the failure tags, and the status.

    Args:
        tracking_uri: the run's store.
        run_id: the run, created when the job started.
        folder: the run's output folder.

    Raises:
        InputError: if the store cannot be reached.
    """
    from mlflow.entities import Metric, Param, RunTag
    from omegaconf import OmegaConf

    from ablate.config import flatten
    from ablate.metrics import EPOCH_METRICS

    client = open_client(tracking_uri)
    record = json.loads((folder / "metrics.json").read_text())
    stored = client.get_run(run_id)
    if not stored.data.params:
        resolved = OmegaConf.to_container(OmegaConf.load(folder / "resolved_config.yaml"))
        params = flatten(resolved) | flatten(record.get("dataset") or {}, "dataset.")
        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            client.log_batch(run_id, params=items[start : start + PARAMS_PER_BATCH])
    now = int(time.time() * 1000)
    metrics = []
    for name in EPOCH_METRICS:
        logged = {m.step for m in client.get_metric_history(run_id, name)}
        values = (record.get("history") or {}).get(name) or []
        metrics += [
            Metric(name, float(v), now, step) for step, v in enumerate(values) if step not in logged
        ]
    finals = record.get("metrics") or {}
    metrics += [
        Metric(k, float(v), now, 0) for k, v in finals.items() if k not in stored.data.metrics
    ]
    for start in range(0, len(metrics), 1000):  # MLflow takes 1000 metrics per call
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    log_run_folder(client, run_id, folder)
    model = folder / MODEL_FOLDER
    if (model / "MLmodel").exists() and not (stored.outputs and stored.outputs.model_outputs):
        log_model_folder(client, run_id, model)
    if record.get("error"):
        client.log_batch(run_id, tags=[RunTag(ERROR_TAG, record["error"][:MAX_TAG_LENGTH])])
    client.set_terminated(run_id, status=record["status"])


def close_parent_run(tracking_uri: str, parent_run_id: str, status: str) -> None:
    """Ends a sweep's parent run that its sweeper could not close (the store was away)."""
    open_client(tracking_uri).set_terminated(parent_run_id, status=status)
