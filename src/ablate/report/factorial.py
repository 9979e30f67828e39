"""Main effects and two-way interactions of a full factorial sweep, paired by seed.

In a factorial sweep every seed runs every cell of the grid of knob values, so an effect is
a contrast between cells computed within each seed, then averaged over seeds with a 95 %
percentile bootstrap CI (the same bootstrap as `ablate.report.stats`). Levels are measured
against the baseline's value of each knob (the reference level).

- Main effect of knob K at level l: mean of the cells with K=l minus mean of the cells with
  K=reference, the other knobs averaged over all their levels.
- Interaction of knobs A (level a) and B (level b): y(a, b) - y(ref, b) - y(a, ref) +
  y(ref, ref), averaged over the other knobs' levels; 0 when the effects simply add up.

Only seeds with every cell FINISHED enter (a failed cell drops its seed, counted in
`n_seeds`).
"""

import itertools
import math

import numpy as np
import pandas as pd

from ablate.errors import InputError
from ablate.report.frame import FINISHED, baseline_arm, check_frame, knob_columns
from ablate.report.stats import CONFIDENCE, RESAMPLES, SEED, bootstrap, percentile_interval


def swept_knobs(frame: pd.DataFrame) -> list[str]:
    """The `knob.*` columns that take more than one value in `frame`."""
    return [c for c in knob_columns(frame) if frame[c].nunique() > 1]


def is_full_grid(frame: pd.DataFrame) -> bool:
    """True when `frame` holds every combination of its swept knobs' values."""
    knobs = swept_knobs(frame)
    if len(knobs) < 2:
        return False
    cells = frame[knobs].drop_duplicates()
    return len(cells) == math.prod(frame[k].nunique() for k in knobs)


def _cells(frame: pd.DataFrame, metric: str) -> tuple[list[str], pd.DataFrame, dict, int]:
    """Per-seed cell values: (knobs, seeds x cells matrix, reference levels, n seeds)."""
    check_frame(frame)
    knobs = swept_knobs(frame)
    if not is_full_grid(frame):
        raise InputError(
            "Main effects and interactions need a full factorial grid of at least two "
            f"knobs. Received: knobs {[k.removeprefix('knob.') for k in knobs]} with "
            f"{len(frame[knobs].drop_duplicates()) if knobs else 0} cells. Run the sweep "
            "with ablation.design=factorial."
        )
    base = frame[frame["arm"] == baseline_arm(frame)].iloc[0]
    reference = {k: base[k] for k in knobs}
    finished = frame[(frame["status"] == FINISHED) & frame[metric].notna()]
    wide = finished.pivot_table(index="seed", columns=knobs, values=metric, aggfunc="first")
    grid = list(itertools.product(*(sorted(frame[k].unique()) for k in knobs)))
    wide = wide.reindex(columns=pd.MultiIndex.from_tuples(grid, names=knobs)).dropna()
    return knobs, wide, reference, len(wide)


def _estimate(values: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    if len(values) == 1:
        return float(values[0]), math.nan, math.nan
    means, _ = bootstrap(values, resamples, seed)
    return (float(values.mean()), *percentile_interval(means, CONFIDENCE))


def main_effects(
    frame: pd.DataFrame, metric: str = "test_accuracy", resamples: int = RESAMPLES, seed=SEED
) -> pd.DataFrame:
    """Main effect of every non-reference level of every swept knob.

    Args:
        frame: the tidy table of a full factorial sweep.
        metric: the metric column. Defaults to `"test_accuracy"`.
        resamples: bootstrap samples. Defaults to 10,000.
        seed: bootstrap generator seed. Defaults to 0.

    Returns:
        Columns `knob, level, reference, effect, effect_low, effect_high, n_seeds`.

    Raises:
        InputError: if `frame` is not a full grid of at least two knobs, or has no baseline.
    """
    knobs, wide, reference, n_seeds = _cells(frame, metric)
    columns = wide.columns.to_frame(index=False)
    rows = []
    for knob in knobs:
        for level in sorted(frame[knob].unique()):
            if level == reference[knob]:
                continue
            at_level = (columns[knob] == level).to_numpy()
            at_reference = (columns[knob] == reference[knob]).to_numpy()
            weights = at_level / at_level.sum() - at_reference / at_reference.sum()
            effect, low, high = _estimate(wide.to_numpy() @ weights, resamples, seed)
            rows.append(
                {
                    "knob": knob.removeprefix("knob."),
                    "level": level,
                    "reference": reference[knob],
                    "effect": effect,
                    "effect_low": low,
                    "effect_high": high,
                    "n_seeds": n_seeds,
                }
            )
    return pd.DataFrame(
        rows,
        columns=["knob", "level", "reference", "effect", "effect_low", "effect_high", "n_seeds"],
    )


def interactions(
    frame: pd.DataFrame, metric: str = "test_accuracy", resamples: int = RESAMPLES, seed=SEED
) -> pd.DataFrame:
    """Two-way interaction of every pair of swept knobs, for each pair of non-reference levels.

    Args:
        frame: the tidy table of a full factorial sweep.
        metric: the metric column. Defaults to `"test_accuracy"`.
        resamples: bootstrap samples. Defaults to 10,000.
        seed: bootstrap generator seed. Defaults to 0.

    Returns:
        Columns `knob_a, level_a, knob_b, level_b, interaction, interaction_low,
        interaction_high, n_seeds`.

    Raises:
        InputError: if `frame` is not a full grid of at least two knobs, or has no baseline.
    """
    knobs, wide, reference, n_seeds = _cells(frame, metric)
    columns = wide.columns.to_frame(index=False)
    rows = []
    for knob_a, knob_b in itertools.combinations(knobs, 2):
        ref_a, ref_b = reference[knob_a], reference[knob_b]
        for level_a, level_b in itertools.product(
            sorted(set(frame[knob_a]) - {ref_a}), sorted(set(frame[knob_b]) - {ref_b})
        ):
            weights = np.zeros(len(columns))
            for value_a, value_b, sign in (
                (level_a, level_b, 1),
                (ref_a, level_b, -1),
                (level_a, ref_b, -1),
                (ref_a, ref_b, 1),
            ):
                cell = ((columns[knob_a] == value_a) & (columns[knob_b] == value_b)).to_numpy()
                weights += sign * cell / cell.sum()
            effect, low, high = _estimate(wide.to_numpy() @ weights, resamples, seed)
            rows.append(
                {
                    "knob_a": knob_a.removeprefix("knob."),
                    "level_a": level_a,
                    "knob_b": knob_b.removeprefix("knob."),
                    "level_b": level_b,
                    "interaction": effect,
                    "interaction_low": low,
                    "interaction_high": high,
                    "n_seeds": n_seeds,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "knob_a",
            "level_a",
            "knob_b",
            "level_b",
            "interaction",
            "interaction_low",
            "interaction_high",
            "n_seeds",
        ],
    )


def cell_means(
    frame: pd.DataFrame, knob_a: str, knob_b: str, metric: str = "test_accuracy"
) -> pd.DataFrame:
    """Mean of `metric` over finished runs for each (knob_a, knob_b) cell: the two-way table.

    Args:
        frame: the tidy table.
        knob_a: a knob name (rows), with or without the `knob.` prefix.
        knob_b: a knob name (columns), with or without the `knob.` prefix.
        metric: the metric column. Defaults to `"test_accuracy"`.

    Returns:
        A table indexed by knob_a's values with one column per value of knob_b.
    """
    a, b = (k if k.startswith("knob.") else f"knob.{k}" for k in (knob_a, knob_b))
    finished = frame[(frame["status"] == FINISHED) & frame[metric].notna()]
    return finished.pivot_table(index=a, columns=b, values=metric, aggfunc="mean")
