"""Reads a sweep into the tidy table, from its output folder or from the MLflow store.

Both readers return the same columns (see `ablate.report.frame`). `runs_from_dir` never
imports MLflow, so a report works from a folder alone.
"""

import json
import os
from pathlib import Path

import pandas as pd

from ablate.errors import InputError
from ablate.report.frame import FINISHED, KNOB_PREFIX, make_frame
from ablate.run_record import EPOCH_METRICS

SWEEP_KIND = "sweep"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class SweepNotFoundError(InputError):
    """No sweep matches: an empty folder or store, or an unknown sweep id."""


def _identity(tags: dict, run_id: str, status: str, error: str | None) -> dict:
    """The identity columns and knob columns of one run, from its tags."""
    try:
        knobs = json.loads(tags.get("ablate.knobs") or "{}")
    except json.JSONDecodeError:
        knobs = {}
    record = {
        "sweep_id": tags.get("ablate.sweep_id", ""),
        "run_id": run_id,
        "arm": tags.get("ablate.arm", ""),
        "role": tags.get("ablate.role", "arm"),
        "factor": tags.get("ablate.factor", ""),
        "value": tags.get("ablate.value", ""),
        "design": tags.get("ablate.design", ""),
        "seed": int(tags.get("ablate.seed", 0)),
        "status": status,
        "error": error,
        "config_hash": tags.get("ablate.config_hash", ""),
    }
    record.update({f"{KNOB_PREFIX}{name}": str(value) for name, value in knobs.items()})
    return record


def _drop_superseded(records: list[dict]) -> list[dict]:
    """Drops unfinished runs that a rerun of the same arm and seed replaced.

    A resumed sweep reruns FAILED and KILLED runs; when a FINISHED run of the same sweep,
    arm and seed exists, the earlier attempts are superseded (the sweeper tags them
    `ablate.superseded=true` in MLflow; a folder can only tell by the status).
    """
    finished = {(r["sweep_id"], r["arm"], r["seed"]) for r in records if r["status"] == FINISHED}
    return [
        r
        for r in records
        if r["status"] == FINISHED or (r["sweep_id"], r["arm"], r["seed"]) not in finished
    ]


def _select_sweep(records: list[dict], sweep_id: str | None, where: str) -> list[dict]:
    """Keeps the runs of one sweep: `sweep_id`, or the only one in `records`."""
    found = sorted({r["sweep_id"] for r in records})
    if sweep_id is not None:
        if sweep_id not in found:
            raise SweepNotFoundError(
                f"`sweep` must name a sweep in {where}. Received: sweep={sweep_id} "
                f"(found: {', '.join(found) or 'none'})."
            )
        return [r for r in records if r["sweep_id"] == sweep_id]
    if len(found) > 1:
        raise InputError(
            f"{where} holds runs of several sweeps: {', '.join(found)}. Received: no sweep id. "
            "Pass one (`--sweep <id>`, or `sweep_id=`)."
        )
    return records


def runs_from_dir(sweep_dir: Path | str, sweep_id: str | None = None) -> pd.DataFrame:
    """Reads every `metrics.json` under `sweep_dir` into the tidy table.

    Each job of a sweep writes `<sweep_dir>/<job>/metrics.json` with its status, its
    `ablate.*` tags, its final metrics and its per-epoch history. Files without an
    `ablate.arm` tag (runs outside a sweep) are skipped, and so are unfinished runs that a
    FINISHED rerun of the same arm and seed replaced (a resumed sweep's restored runs live
    under `resumed/`). MLflow is not imported.

    Args:
        sweep_dir: the sweep's output folder (searched recursively).
        sweep_id: which sweep to keep when the folder holds several. Defaults to `None`:
            the folder must hold one sweep.

    Returns:
        The tidy table, one row per run.

    Raises:
        SweepNotFoundError: if the folder does not exist or holds no sweep run, or
            `sweep_id` is not among its sweeps.
        InputError: if a `metrics.json` cannot be read, or the folder mixes sweeps and no
            `sweep_id` was given.

    Example:

    >>> frame = runs_from_dir("multirun/2026-11-25/12-05-01")  # doctest: +SKIP
    """
    folder = Path(sweep_dir)
    if not folder.is_dir():
        raise SweepNotFoundError(
            f"`--from-dir` must be a sweep's output folder. Received: {folder} (not a folder)."
        )
    records = []
    for path in sorted(folder.rglob("metrics.json")):
        try:
            record = json.loads(path.read_text())
            tags = record.get("tags") or {}
        except (OSError, json.JSONDecodeError, AttributeError) as error:
            raise InputError(
                f"Every `metrics.json` of a sweep must be a JSON object. Received: {path} "
                f"({error}). Delete or repair that file."
            ) from None
        if not tags.get("ablate.arm"):
            continue
        relative = path.parent.relative_to(folder).as_posix()
        row = _identity(
            tags,
            tags.get("mlflow.runId") or relative,
            record.get("status") or "",
            record.get("error"),
        )
        row.update({k: v for k, v in (record.get("metrics") or {}).items() if _is_number(v)})
        history = record.get("history") or {}
        row["history.val_accuracy"] = history.get("val_accuracy") or []
        row["history.epoch_time_s"] = history.get("epoch_time_s") or []
        records.append(row)
    if not records:
        raise SweepNotFoundError(
            "`--from-dir` must be a sweep's output folder with its runs' `metrics.json` "
            f"files. Received: {folder} (no metrics.json with an `ablate.arm` tag)."
        )
    return make_frame(_drop_superseded(_select_sweep(records, sweep_id, f"folder {folder}")))


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def default_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, else the SQLite store `mlflow.db` in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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


def runs_from_mlflow(
    tracking_uri: str | None = None,
    sweep_id: str | None = None,
    experiment: str | None = None,
) -> pd.DataFrame:
    """Reads one sweep's child runs from an MLflow store into the tidy table.

    The sweep is found by its parent run (tag `ablate.kind=sweep`): the one tagged
    `ablate.sweep_id=<sweep_id>`, or the newest one (latest start time) when `sweep_id`
    is None. Its runs are the runs tagged with the same `ablate.sweep_id` and an
    `ablate.arm`, less those a resumed sweep superseded (`ablate.superseded=true`, or an
    unfinished run with a FINISHED rerun of the same arm and seed). Final metrics are each
    run's last values; the per-epoch `val_accuracy` and `epoch_time_s` come from
    `MlflowClient.get_metric_history`.

    Args:
        tracking_uri: the MLflow store. Defaults to `None`: `MLFLOW_TRACKING_URI`, else
            `sqlite:///mlflow.db` in the working directory.
        sweep_id: the sweep to read. Defaults to `None`: the latest sweep.
        experiment: the experiment name to search in. Defaults to `None`: all experiments.

    Returns:
        The tidy table, one row per run.

    Raises:
        SweepNotFoundError: if the store does not exist or holds no sweep, or `sweep_id`
            or `experiment` is unknown.

    Example:

    >>> frame = runs_from_mlflow("sqlite:///mlflow.db")  # doctest: +SKIP
    """
    uri = tracking_uri or default_tracking_uri()
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
    parent_filter = f"tags.`ablate.kind` = '{SWEEP_KIND}'"
    if sweep_id is not None:
        parent_filter += f" and tags.`ablate.sweep_id` = '{_quote(sweep_id)}'"
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
                p.data.tags.get("ablate.sweep_id", "")
                for p in _search_all(client, experiment_ids, f"tags.`ablate.kind` = '{SWEEP_KIND}'")
            }
        )
        raise SweepNotFoundError(
            f"`sweep` must name a sweep of the store {uri}. Received: sweep={sweep_id} "
            f"(known: {', '.join(known) or 'none'})."
        )
    chosen = parents[0].data.tags.get("ablate.sweep_id", "")
    children = _search_all(
        client,
        experiment_ids,
        f"tags.`ablate.sweep_id` = '{_quote(chosen)}' and tags.`ablate.arm` != ''",
    )
    children = [
        run
        for run in children
        if run.data.tags.get("ablate.kind") != SWEEP_KIND
        and run.data.tags.get("ablate.superseded") != "true"
    ]
    if not children:
        raise SweepNotFoundError(
            f"Sweep {chosen} in the MLflow store {uri} has no runs yet. Received: a parent run "
            "without child runs tagged ablate.arm."
        )
    records = []
    for run in children:
        tags = run.data.tags
        row = _identity(tags, run.info.run_id, run.info.status, tags.get("ablate.error"))
        row.update({k: v for k, v in run.data.metrics.items() if k not in EPOCH_METRICS})
        for name in ("val_accuracy", "epoch_time_s"):
            history = client.get_metric_history(run.info.run_id, name)
            row[f"history.{name}"] = [m.value for m in sorted(history, key=lambda m: m.step)]
        records.append(row)
    return make_frame(_drop_superseded(records))


def _quote(text: str) -> str:
    return text.replace("'", "\\'")
