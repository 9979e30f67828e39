"""Reads a sweep into the tidy table, from its output folder or from the MLflow store.

Both readers return the same columns (see `ablate.report.frame`) from the same records (a
run's `metrics.json`). `runs_from_dir` never imports MLflow, so a report works from a folder
alone; `runs_from_mlflow` reads the records through `ablate.tracking`.
"""

import json
from pathlib import Path

import pandas as pd

from ablate.errors import InputError, SweepNotFoundError
from ablate.report.frame import FINISHED, KNOB_PREFIX, make_frame
from ablate.tracking import CONFIG_HASH_TAG, RUN_ID_TAG, SEED_TAG, sweep_tag

DECISIONS_FILE = "adaptive.csv"  # an adaptive sweep's decisions, in its folder and parent run


def _identity(tags: dict, run_id: str, status: str, error: str | None) -> dict:
    """The identity columns and knob columns of one run, from its tags."""
    try:
        knobs = json.loads(tags.get(sweep_tag("knobs")) or "{}")
    except json.JSONDecodeError:
        knobs = {}
    record = {
        "sweep_id": tags.get(sweep_tag("sweep_id"), ""),
        "run_id": run_id,
        "arm": tags.get(sweep_tag("arm"), ""),
        "role": tags.get(sweep_tag("role"), "arm"),
        "factor": tags.get(sweep_tag("factor"), ""),
        "value": tags.get(sweep_tag("value"), ""),
        "design": tags.get(sweep_tag("design"), ""),
        "seeds": tags.get(sweep_tag("seeds"), ""),
        "seed": int(tags.get(SEED_TAG, 0)),
        "status": status,
        "error": error,
        "config_hash": tags.get(CONFIG_HASH_TAG, ""),
    }
    record.update({f"{KNOB_PREFIX}{name}": str(value) for name, value in knobs.items()})
    return record


def _row(tags: dict, run_id: str, record: dict) -> dict:
    """One row of the tidy table from a run's record (a `metrics.json`, or read from MLflow)."""
    row = _identity(tags, run_id, record.get("status") or "", record.get("error"))
    row["_started"] = record.get("start_time") or 0
    row.update({k: v for k, v in (record.get("metrics") or {}).items() if _is_number(v)})
    history = record.get("history") or {}
    row["history.val_accuracy"] = history.get("val_accuracy") or []
    row["history.epoch_time_s"] = history.get("epoch_time_s") or []
    return row


def _drop_superseded(records: list[dict]) -> list[dict]:
    """Drops the runs that another run of the same sweep, arm and seed replaced.

    A resumed sweep reruns FAILED and KILLED runs; when a FINISHED run of the same sweep,
    arm and seed exists, the earlier attempts are superseded (the sweeper tags them
    `ablate.superseded=true` in MLflow; a folder can only tell by the status). A store written
    by an older version can hold two FINISHED runs of one arm and seed (a job that outlived
    its killed sweeper and a rerun): the later one is kept.
    """
    latest = {}
    for r in sorted(records, key=lambda r: r.get("_started", 0)):
        if r["status"] == FINISHED:
            latest[(r["sweep_id"], r["arm"], r["seed"])] = id(r)
    kept = [r for r in records if latest.get((r["sweep_id"], r["arm"], r["seed"]), id(r)) == id(r)]
    for r in kept:
        r.pop("_started", None)
    return kept


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
        if not tags.get(sweep_tag("arm")):
            continue
        relative = path.parent.relative_to(folder).as_posix()
        record.setdefault("start_time", path.stat().st_mtime * 1000)
        records.append(_row(tags, tags.get(RUN_ID_TAG) or relative, record))
    if not records:
        raise SweepNotFoundError(
            "`--from-dir` must be a sweep's output folder with its runs' `metrics.json` "
            f"files. Received: {folder} (no metrics.json with an `ablate.arm` tag)."
        )
    return make_frame(_drop_superseded(_select_sweep(records, sweep_id, f"folder {folder}")))


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    from ablate.tracking_transfer import read_sweep_runs

    records = [
        _row(record["tags"], record["run_id"], record)
        for record in read_sweep_runs(tracking_uri, sweep_id, experiment)
    ]
    return make_frame(_drop_superseded(records))


def decisions_from_dir(sweep_dir: Path | str) -> pd.DataFrame | None:
    """An adaptive sweep's group-sequential decisions (`adaptive.csv`), or None."""
    path = Path(sweep_dir) / DECISIONS_FILE
    return pd.read_csv(path) if path.exists() else None


def decisions_from_mlflow(
    tracking_uri: str | None = None, sweep_id: str | None = None, experiment: str | None = None
) -> pd.DataFrame | None:
    """An adaptive sweep's decisions as its parent run holds them, or None (a fixed-seed
    sweep). The sweep is found as in `runs_from_mlflow`, with the same arguments."""
    import io

    from ablate.tracking_transfer import read_sweep_file

    text = read_sweep_file(DECISIONS_FILE, tracking_uri, sweep_id, experiment)
    return None if text is None else pd.read_csv(io.StringIO(text))
