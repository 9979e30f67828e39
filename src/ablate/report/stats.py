"""Paired, seed-matched comparison of every arm with the baseline (Bouthillier et al. 2021).

Replicate i runs the baseline and every arm with one seed bundle, so the analysis works on
the per-seed differences d_i = arm_i - baseline_i. Only seeds where both runs FINISHED
form a pair; the other runs are counted, never dropped silently.

For each arm this module reports n, the arm's mean and std, the mean of d_i with a 95 %
percentile bootstrap CI, P(arm > baseline) = mean_i(1[d_i > 0] + 0.5 * 1[d_i == 0]) with
its bootstrap CI, and a verdict (REFERENCES.md): better if CI_low(P) > 0.5 and
CI_high(P) > 0.75, worse if CI_high(P) < 0.5 and CI_low(P) < 0.25, else inconclusive.

How Holm's correction applies to this bootstrap test, concretely:

1. Each arm with at least 2 pairs tests H0: P(arm > baseline) = 0.5. Its two-sided
   bootstrap p-value is `min(1, 2 * min(mean(P* <= 0.5), mean(P* >= 0.5)))` over the
   resampled P* (the smallest level at which the percentile CI of P still holds 0.5),
   floored at 2^(1 - N), the exact sign test's p-value when all N pairs agree: when every
   pair wins, every resample has P* = 1 and the bootstrap alone would claim p = 0 from
   2 seeds. No test on N signs can honestly go below that floor, so fewer than 6 pairs
   can never be significant at 5 %.
2. The m tested arms are sorted by p-value; the arm of rank k (1-based) is tested at
   alpha / (m - k + 1), and its CI of P is widened to that level:
   confidence 1 - alpha / (m - k + 1). Holm-adjusted p-values are
   `p_holm(k) = max_{j <= k} min(1, (m - j + 1) * p(j))` (step-down: once an arm fails,
   every arm ranked after it fails too).
3. An arm is "better" when p_holm < alpha AND its widened CI has CI_low(P) > 0.5 AND
   CI_high(P) > 0.75 ("worse" symmetrically); otherwise "inconclusive".
The delta's CI stays a plain 95 % interval (it is an effect size, not the test).
Arms with one pair are not tested (their CI is NaN, verdict "inconclusive (1 seed)"),
arms with none get "n/a"; neither counts in m.

References:
    Bouthillier et al., "Accounting for Variance in Machine Learning Benchmarks", MLSys 2021.
    Agarwal et al., "Deep RL at the Edge of the Statistical Precipice", NeurIPS 2021.
    Holm, "A Simple Sequentially Rejective Multiple Test Procedure", Scand. J. Stat. 1979.
"""

import math

import numpy as np
import pandas as pd

from ablate.report.frame import FINISHED, arm_order, baseline_arm, check_frame

RESAMPLES = 10_000
CONFIDENCE = 0.95
SEED = 0
GAMMA = 0.75  # P(arm > baseline) an improvement must be able to reach to be meaningful
EXPLORATORY_PAIRS = 5
CLAIM_PAIRS = 10
POWERED_PAIRS = 29

VERDICT_NA = "n/a"
VERDICT_ONE_SEED = "inconclusive (1 seed)"


def pairs(frame: pd.DataFrame, metric: str, arm: str) -> pd.DataFrame:
    """Returns `seed, arm, baseline, difference` for the seeds where both runs FINISHED.

    A run whose `metric` is NaN is treated like an unfinished one.

    Args:
        frame: the tidy table.
        metric: a metric column, e.g. `"test_accuracy"`.
        arm: the arm to pair with the baseline.

    Returns:
        One row per pair, sorted by seed.
    """
    finished = frame[(frame["status"] == FINISHED) & frame[metric].notna()]
    by_seed = finished.pivot_table(index="seed", columns="arm", values=metric, aggfunc="first")
    base = baseline_arm(frame)
    if arm not in by_seed or base not in by_seed:
        return pd.DataFrame({"seed": [], "arm": [], "baseline": [], "difference": []})
    both = by_seed[[arm, base]].dropna()
    return pd.DataFrame(
        {
            "seed": both.index.astype(int),
            "arm": both[arm].to_numpy(float),
            "baseline": both[base].to_numpy(float),
            "difference": (both[arm] - both[base]).to_numpy(float),
        }
    ).reset_index(drop=True)


def wins(differences: np.ndarray) -> np.ndarray:
    """1 where the arm won a pair, 0.5 for a tie, 0 where it lost."""
    differences = np.asarray(differences, float)
    return (differences > 0) + 0.5 * (differences == 0)


def bootstrap(
    differences: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Resamples the pairs with replacement, vectorised, with a seeded generator.

    Args:
        differences: the paired differences d_i.
        resamples: how many bootstrap samples. Defaults to 10,000.
        seed: the generator's seed. Defaults to 0, so reports are reproducible.

    Returns:
        The resampled mean differences and the resampled P(arm > baseline), each of
        shape `(resamples,)`; both come from the same resampled pairs.
    """
    differences = np.asarray(differences, float)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(differences), size=(resamples, len(differences)))
    return differences[index].mean(axis=1), wins(differences)[index].mean(axis=1)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The two-sided percentile interval of `samples` at `confidence`."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_p_value(probability_samples: np.ndarray) -> float:
    """Two-sided bootstrap p-value of H0: P(arm > baseline) = 0.5."""
    below = np.mean(probability_samples <= 0.5)
    above = np.mean(probability_samples >= 0.5)
    return float(min(1.0, 2 * min(below, above)))


def smallest_p_value(num_pairs: int) -> float:
    """2^(1 - N): the exact two-sided sign test's p-value when all N pairs agree."""
    return min(1.0, 2.0 ** (1 - num_pairs))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given.

    scipy has no Holm procedure (statsmodels' `multipletests` does, but is a heavy
    dependency for eight lines), so it is written out here.

    Args:
        p_values: the raw p-values of the m tests.

    Returns:
        `p_holm(k) = max_{j <= k} min(1, (m - j + 1) * p(j))` over the ascending order.
    """
    p_values = np.asarray(p_values, float)
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p_values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def minimum_detectable_effect(differences: np.ndarray, confidence: float = CONFIDENCE) -> float:
    """About the smallest mean difference the pairs can detect: t * s_d / sqrt(N).

    This is the half-width of the t confidence interval of the paired mean
    (REFERENCES.md); NaN with fewer than 2 pairs.
    """
    differences = np.asarray(differences, float)
    n = len(differences)
    if n < 2:
        return math.nan
    from scipy import stats as scipy_stats  # imported here: it adds 0.6 s to every start

    t = scipy_stats.t.ppf(1 - (1 - confidence) / 2, n - 1)
    return float(t * differences.std(ddof=1) / math.sqrt(n))


def evidence(num_pairs: int) -> str:
    """Labels what `num_pairs` pairs can support (REFERENCES.md, "Seeds")."""
    if num_pairs == 0:
        return "no pairs"
    if num_pairs < EXPLORATORY_PAIRS:
        return "exploratory (<5 pairs)"
    if num_pairs < CLAIM_PAIRS:
        return "exploratory (<10 pairs)"
    if num_pairs < POWERED_PAIRS:
        return "claim (>=10 pairs)"
    return "powered (>=29 pairs)"


def compare_arms(
    frame: pd.DataFrame,
    metric: str = "test_accuracy",
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Compares every arm with the baseline on `metric`, Holm-corrected across arms.

    See the module docstring for the test and for how Holm's correction is applied.
    Verdicts read "better" for a higher metric; use them for metrics where higher is better.

    Args:
        frame: the tidy table.
        metric: the metric column to compare. Defaults to `"test_accuracy"`.
        resamples: bootstrap samples. Defaults to 10,000.
        seed: bootstrap generator seed. Defaults to 0.
        confidence: the family-wise confidence (1 - alpha). Defaults to 0.95.

    Returns:
        One row per non-baseline arm, in order of appearance, with columns `arm, factor,
        value, runs_finished, runs_failed, n_pairs, unpaired, mean, std, delta, delta_low,
        delta_high, p_better, p_better_low, p_better_high, ci_level, p_value, p_holm,
        verdict, mde, evidence`.

    Raises:
        InputError: if the frame has no baseline (or is not a tidy table).

    Example:

    >>> compare_arms(frame)[["arm", "delta", "verdict"]]  # doctest: +SKIP
    """
    check_frame(frame)
    alpha = 1 - confidence
    rows, resampled = [], {}
    for arm in arm_order(frame)[1:]:
        runs = frame[frame["arm"] == arm]
        finished = runs[(runs["status"] == FINISHED) & runs[metric].notna()]
        paired = pairs(frame, metric, arm)
        d = paired["difference"].to_numpy()
        row = {
            "arm": arm,
            "factor": runs["factor"].iloc[0],
            "value": runs["value"].iloc[0],
            "runs_finished": int((runs["status"] == FINISHED).sum()),
            "runs_failed": int((runs["status"] != FINISHED).sum()),
            "n_pairs": len(d),
            "unpaired": len(runs) - len(d),
            "mean": float(finished[metric].mean()) if len(finished) else math.nan,
            "std": float(finished[metric].std(ddof=1)) if len(finished) > 1 else math.nan,
            "delta": float(d.mean()) if len(d) else math.nan,
            "delta_low": math.nan,
            "delta_high": math.nan,
            "p_better": float(wins(d).mean()) if len(d) else math.nan,
            "p_better_low": math.nan,
            "p_better_high": math.nan,
            "ci_level": math.nan,
            "p_value": math.nan,
            "p_holm": math.nan,
            "verdict": VERDICT_NA if len(d) == 0 else VERDICT_ONE_SEED,
            "mde": minimum_detectable_effect(d, confidence),
            "evidence": evidence(len(d)),
        }
        if len(d) >= 2:
            means, probabilities = bootstrap(d, resamples, seed)
            row["delta_low"], row["delta_high"] = percentile_interval(means, confidence)
            row["p_value"] = max(bootstrap_p_value(probabilities), smallest_p_value(len(d)))
            resampled[arm] = probabilities
        rows.append(row)
    table = pd.DataFrame(rows, columns=_COLUMNS)
    tested = table[table["arm"].isin(list(resampled))]
    if not tested.empty:
        order = tested.sort_values(["p_value", "arm"], kind="stable").index
        m = len(order)
        table.loc[tested.index, "p_holm"] = holm(tested["p_value"].to_numpy())
        for rank, index in enumerate(order):
            level = 1 - alpha / (m - rank)
            low, high = percentile_interval(resampled[table.at[index, "arm"]], level)
            table.loc[index, ["ci_level", "p_better_low", "p_better_high"]] = level, low, high
            table.at[index, "verdict"] = _verdict(low, high, table.at[index, "p_holm"], alpha)
    return table


_COLUMNS = [
    "arm",
    "factor",
    "value",
    "runs_finished",
    "runs_failed",
    "n_pairs",
    "unpaired",
    "mean",
    "std",
    "delta",
    "delta_low",
    "delta_high",
    "p_better",
    "p_better_low",
    "p_better_high",
    "ci_level",
    "p_value",
    "p_holm",
    "verdict",
    "mde",
    "evidence",
]


def _verdict(low: float, high: float, p_holm: float, alpha: float) -> str:
    significant = p_holm < alpha
    if significant and low > 0.5 and high > GAMMA:
        return "better"
    if significant and high < 0.5 and low < 1 - GAMMA:
        return "worse"
    return "inconclusive"


def time_to_reach(frame: pd.DataFrame) -> pd.DataFrame:
    """How long each arm takes to reach the baseline's final validation accuracy.

    For each seed where the baseline and the arm both FINISHED with a history, the target
    is the baseline's last `val_accuracy` of that seed; the arm reaches it at the first
    epoch whose `val_accuracy` is >= the target, after the cumulative `epoch_time_s` up to
    that epoch. A seed that never reaches it counts as infinitely slow, so the median is
    infinite ("never") when at most half of the seeds reach it. The baseline is compared
    with itself (it may peak before its last epoch).

    Args:
        frame: the tidy table.

    Returns:
        One row per arm (baseline first) with `arm, reach_pairs, reach_seeds,
        reach_epochs, reach_seconds` (medians over seeds; inf = never, NaN = no pairs).
    """
    check_frame(frame)
    base = baseline_arm(frame)
    finished = frame[frame["status"] == FINISHED]
    histories = {
        (row.arm, row.seed): (row.val, row.time)
        for row in finished[["arm", "seed", "history.val_accuracy", "history.epoch_time_s"]]
        .set_axis(["arm", "seed", "val", "time"], axis=1)
        .itertuples()
        if len(row.val)
    }
    rows = []
    for arm in arm_order(frame):
        epochs, seconds = [], []
        for (other, seed), (val, time) in histories.items():
            if other != arm or (base, seed) not in histories:
                continue
            target = histories[(base, seed)][0][-1]
            reached = np.flatnonzero(np.asarray(val) >= target)
            if len(reached) == 0:
                epochs.append(math.inf)
                seconds.append(math.inf)
                continue
            epoch = int(reached[0])
            epochs.append(epoch + 1)
            seconds.append(float(np.cumsum(time)[epoch]) if len(time) > epoch else math.nan)
        rows.append(
            {
                "arm": arm,
                "reach_pairs": len(epochs),
                "reach_seeds": int(np.isfinite(epochs).sum()) if epochs else 0,
                "reach_epochs": float(np.median(epochs)) if epochs else math.nan,
                "reach_seconds": float(np.median(seconds)) if seconds else math.nan,
            }
        )
    return pd.DataFrame(rows)
