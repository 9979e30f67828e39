"""Main effects and two-way interactions of a full factorial sweep, paired by seed.

In a factorial sweep every seed runs every cell of the grid of knob values, so an effect is
a contrast between cells computed within each seed, then averaged over seeds with a 95 %
paired t interval. Each contrast gets the verdict of `ablate.report.stats` (exact sign test
on the seeds where the contrast is not 0, equivalence test against the ROPE), Holm-corrected
across the rows of its table. Levels are measured against the baseline's value of each knob
(the reference level).

- Main effect of knob K at level l: mean of the cells with K=l minus mean of the cells with
  K=reference, the other knobs averaged over all their levels.
- Interaction of knobs A (level a) and B (level b): y(a, b) - y(ref, b) - y(a, ref) +
  y(ref, ref), averaged over the other knobs' levels; 0 when the effects simply add up.

Only seeds with every cell FINISHED enter (a failed cell drops its seed, counted in
`n_seeds`), and the two-way tables of cell means use those same complete seeds.
"""

import itertools
import math

import numpy as np
import pandas as pd

from ablate.errors import InputError
from ablate.report.frame import FINISHED, baseline_arm, check_frame, knob_columns
from ablate.report.stats import (
    CONFIDENCE,
    ROPE,
    decide,
    effect_size,
    equivalence_test,
    sign_counts,
    sign_test,
    t_interval,
)


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


TIE_TOLERANCE = 1e-12  # a contrast of equal accuracies is a sum of floats: 0 up to rounding


def _contrast(values: np.ndarray, confidence: float, rope: float) -> dict:
    """Estimate, t interval and raw tests of one per-seed contrast."""
    values = np.where(np.abs(values) < TIE_TOLERANCE, 0.0, values)
    effect, low, high = (float(v) for v in t_interval(values, confidence))
    wins, ties, losses = (int(c) for c in sign_counts(values))
    return {
        "effect": effect,
        "effect_low": low,
        "effect_high": high,
        "d_z": float(effect_size(values)),
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "p_value": float(sign_test(wins, losses)) if len(values) else math.nan,
        "p_equivalence": float(equivalence_test(values, rope)),
    }


_TESTS = ["d_z", "wins", "ties", "losses", "p_value", "p_holm", "p_equivalence_holm", "verdict"]


def _decided(rows: list[dict], columns: list[str], n_seeds: int, confidence: float):
    """The rows as a table, with Holm-corrected tests and verdicts across them."""
    table = pd.DataFrame(rows, columns=[*columns, *_TESTS[:5], "p_equivalence"])
    decided = decide(
        np.full(len(table), n_seeds),
        table["wins"].to_numpy(int),
        table["losses"].to_numpy(int),
        table["p_value"].to_numpy(float),
        table["p_equivalence"].to_numpy(float),
        confidence,
    )
    for column, values in decided.items():
        table[column] = values
    return table[[*columns, *_TESTS]]


def main_effects(
    frame: pd.DataFrame,
    metric: str = "test_accuracy",
    confidence: float = CONFIDENCE,
    rope: float = ROPE,
) -> pd.DataFrame:
    """Main effect of every non-reference level of every swept knob.

    Args:
        frame: the tidy table of a full factorial sweep.
        metric: the metric column. Defaults to `"test_accuracy"`.
        confidence: 1 - alpha, family-wise across the rows. Defaults to 0.95.
        rope: half-width of the region of practical equivalence. Defaults to 0.005.

    Returns:
        Columns `knob, level, reference, effect, effect_low, effect_high, n_seeds, d_z,
        wins, ties, losses, p_value, p_holm, p_equivalence_holm, verdict`.

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
            rows.append(
                {
                    "knob": knob.removeprefix("knob."),
                    "level": level,
                    "reference": reference[knob],
                    "n_seeds": n_seeds,
                    **_contrast(wide.to_numpy() @ weights, confidence, rope),
                }
            )
    columns = ["knob", "level", "reference", "effect", "effect_low", "effect_high", "n_seeds"]
    return _decided(rows, columns, n_seeds, confidence)


def interactions(
    frame: pd.DataFrame,
    metric: str = "test_accuracy",
    confidence: float = CONFIDENCE,
    rope: float = ROPE,
) -> pd.DataFrame:
    """Two-way interaction of every pair of swept knobs, for each pair of non-reference levels.

    Args:
        frame: the tidy table of a full factorial sweep.
        metric: the metric column. Defaults to `"test_accuracy"`.
        confidence: 1 - alpha, family-wise across the rows. Defaults to 0.95.
        rope: half-width of the region of practical equivalence. Defaults to 0.005.

    Returns:
        Columns `knob_a, level_a, knob_b, level_b, interaction, interaction_low,
        interaction_high, n_seeds, d_z, wins, ties, losses, p_value, p_holm,
        p_equivalence_holm, verdict`.

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
            found = _contrast(wide.to_numpy() @ weights, confidence, rope)
            rows.append(
                {
                    "knob_a": knob_a.removeprefix("knob."),
                    "level_a": level_a,
                    "knob_b": knob_b.removeprefix("knob."),
                    "level_b": level_b,
                    "interaction": found.pop("effect"),
                    "interaction_low": found.pop("effect_low"),
                    "interaction_high": found.pop("effect_high"),
                    "n_seeds": n_seeds,
                    **found,
                }
            )
    columns = [
        "knob_a",
        "level_a",
        "knob_b",
        "level_b",
        "interaction",
        "interaction_low",
        "interaction_high",
        "n_seeds",
    ]
    return _decided(rows, columns, n_seeds, confidence)


def cell_means(
    frame: pd.DataFrame, knob_a: str, knob_b: str, metric: str = "test_accuracy"
) -> pd.DataFrame:
    """Mean of `metric` for each (knob_a, knob_b) cell over the complete seeds: the two-way table.

    The seeds are those of `main_effects` and `interactions` (every cell FINISHED), so the
    table and the effects describe the same runs; other swept knobs are averaged over their
    levels with equal weight.

    Args:
        frame: the tidy table of a full factorial sweep.
        knob_a: a knob name (rows), with or without the `knob.` prefix.
        knob_b: a knob name (columns), with or without the `knob.` prefix.
        metric: the metric column. Defaults to `"test_accuracy"`.

    Returns:
        A table indexed by knob_a's values with one column per value of knob_b (NaN when
        no seed is complete).

    Raises:
        InputError: if `frame` is not a full grid of at least two knobs, or has no baseline.
    """
    a, b = (k if k.startswith("knob.") else f"knob.{k}" for k in (knob_a, knob_b))
    _, wide, _, _ = _cells(frame, metric)
    per_cell = wide.mean(axis=0) if len(wide) else pd.Series(math.nan, index=wide.columns)
    means = per_cell.groupby(level=[a, b]).mean().unstack(b)
    means.columns.name = b
    return means
