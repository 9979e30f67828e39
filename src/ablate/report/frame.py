"""The tidy table of a sweep: one row per run, the only input of every report table and figure.

`runs_from_dir` and `runs_from_mlflow` both return it; tests build it by hand with
`make_frame`. Columns:

- `sweep_id, run_id, arm, role, factor, value, design, seeds, seed, status, error,
  config_hash`: who the run is. `role` is `"baseline"` or `"arm"`; `seeds` is the sweep's
  `ablation.seeds` (`"auto"` for adaptive seeding); `seed` is an int; `status` is MLflow's
  (`FINISHED`, `FAILED`, `KILLED`, or `RUNNING` for a run that never ended).
- `knob.<name>`: the value (a string) of every swept knob in this run.
- the final metrics (`test_accuracy`, ..., `peak_rss_mb`), NaN where a run has none.
- `history.val_accuracy`, `history.epoch_time_s`: per-epoch lists (empty for a failed run).
"""

import math

import pandas as pd

from ablate.errors import InputError
from ablate.metrics import FINAL_METRICS

ID_COLUMNS = (
    "sweep_id",
    "run_id",
    "arm",
    "role",
    "factor",
    "value",
    "design",
    "seeds",
    "seed",
    "status",
    "error",
    "config_hash",
)
HISTORY_COLUMNS = ("history.val_accuracy", "history.epoch_time_s")
KNOB_PREFIX = "knob."
FINISHED = "FINISHED"


def knob_columns(frame: pd.DataFrame) -> list[str]:
    """Returns the `knob.<name>` columns of `frame`, in order."""
    return [column for column in frame.columns if column.startswith(KNOB_PREFIX)]


def _as_list(value) -> list[float]:
    if isinstance(value, list | tuple):
        return [float(v) for v in value]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [float(v) for v in value]


def make_frame(records: list[dict]) -> pd.DataFrame:
    """Builds the tidy table from one flat dict per run, filling what a run lacks.

    Missing identity fields become empty strings (`error`: None), missing metrics NaN,
    missing histories empty lists; columns come in the documented order.

    Args:
        records: one dict per run with the tidy table's column names as keys.

    Returns:
        The tidy table.

    Raises:
        InputError: if `records` is empty.
    """
    if not records:
        raise InputError("The tidy table needs at least one run. Received: no runs.")
    frame = pd.DataFrame.from_records(records)
    for column in ID_COLUMNS:
        if column not in frame.columns:
            frame[column] = None if column == "error" else ""
    for column in FINAL_METRICS:
        if column not in frame.columns:
            frame[column] = math.nan
    for column in HISTORY_COLUMNS:
        if column not in frame.columns:
            frame[column] = [[] for _ in range(len(frame))]
        frame[column] = [_as_list(value) for value in frame[column]]
    frame["seed"] = frame["seed"].astype(int)
    knobs = sorted(knob_columns(frame))
    for column in knobs:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    extra = sorted(set(frame.columns) - set(ID_COLUMNS) - set(FINAL_METRICS) - set(HISTORY_COLUMNS))
    extra = [column for column in extra if column not in knobs]
    for column in (*FINAL_METRICS, *extra):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    order = [*ID_COLUMNS, *knobs, *FINAL_METRICS, *extra, *HISTORY_COLUMNS]
    frame = frame[order].sort_values(["role", "arm", "seed"], key=_baseline_first)
    return frame.reset_index(drop=True)


def _baseline_first(column: pd.Series) -> pd.Series:
    return column.map(lambda v: (v != "baseline") if column.name == "role" else v)


def check_frame(frame: pd.DataFrame) -> None:
    """Checks that `frame` is a tidy table with exactly one baseline arm.

    Several unfinished runs of one arm and seed are allowed (each counts as a failure);
    two finished ones are not.

    Raises:
        InputError: if columns are missing, there is no baseline, or several arms claim to be
            the baseline, or an arm has two finished runs for one seed.
    """
    missing = [c for c in (*ID_COLUMNS, *FINAL_METRICS, *HISTORY_COLUMNS) if c not in frame]
    if missing:
        raise InputError(
            "The report needs the tidy table of `ablate.report.runs_from_dir` or "
            f"`runs_from_mlflow`. Received: a frame without columns {missing}."
        )
    if frame.empty:
        raise InputError("The report needs at least one run. Received: an empty frame.")
    baselines = sorted(frame.loc[frame["role"] == "baseline", "arm"].unique())
    if not baselines:
        arms = sorted(frame["arm"].unique())
        raise InputError(
            "A sweep needs a baseline run (tag `ablate.role=baseline`) to compare arms with. "
            f"Received: sweep {_sweep_ids(frame)} with arms {arms} and no baseline. "
            "Re-run the baseline of this sweep, or report a sweep that has one."
        )
    if len(baselines) > 1:
        raise InputError(
            "A sweep has exactly one baseline arm. Received: baseline arms "
            f"{baselines} in sweep {_sweep_ids(frame)}. Report one sweep at a time."
        )
    counts = frame[frame["status"] == FINISHED].groupby(["arm", "seed"]).size()
    doubled = counts[counts > 1]
    if not doubled.empty:
        arm, seed = doubled.index[0]
        raise InputError(
            "A sweep has one finished run per arm and seed. Received: "
            f"{doubled.iloc[0]} finished runs of arm={arm} seed={seed}. Report one sweep at a "
            "time."
        )


def _sweep_ids(frame: pd.DataFrame) -> str:
    return ",".join(sorted(str(s) for s in frame["sweep_id"].unique()))


def baseline_arm(frame: pd.DataFrame) -> str:
    """Returns the name of the baseline arm (after `check_frame`)."""
    return str(frame.loc[frame["role"] == "baseline", "arm"].iloc[0])


def arm_order(frame: pd.DataFrame) -> list[str]:
    """Returns the arms in the order they first appear, the baseline first."""
    base = baseline_arm(frame)
    return [base, *[arm for arm in dict.fromkeys(frame["arm"]) if arm != base]]


def run_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts each arm's finished, failed and missing runs.

    A sweep runs every arm with every seed, so the expected runs are arms x seeds, where the
    seeds are every seed that appears anywhere in the sweep; in an adaptive sweep
    (`seeds == "auto"`), where arms stop at different seeds, an arm's seeds up to its last.
    A run that never wrote a result has no row at all: it is counted as missing (a seed whose
    runs of this arm all failed counts as failed, not missing).

    Args:
        frame: the tidy table.

    Returns:
        One row per arm (baseline first) with `arm, runs_finished, runs_failed, runs_missing`.
    """
    seeds = set(frame["seed"])
    adaptive = bool((frame["seeds"] == "auto").any())
    rows = []
    for arm in arm_order(frame):
        runs = frame[frame["arm"] == arm]
        expected = {s for s in seeds if s <= runs["seed"].max()} if adaptive else seeds
        rows.append(
            {
                "arm": arm,
                "runs_finished": int((runs["status"] == FINISHED).sum()),
                "runs_failed": int((runs["status"] != FINISHED).sum()),
                "runs_missing": len(expected - set(runs["seed"])),
            }
        )
    return pd.DataFrame(rows, columns=["arm", "runs_finished", "runs_failed", "runs_missing"])
