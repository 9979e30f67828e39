"""Paired, seed-matched comparison of every arm with the baseline.

Replicate i runs the baseline and every arm with one seed bundle, so the analysis works on
the per-seed differences d_i = arm_i - baseline_i. Only seeds where both runs FINISHED form
a pair; the other runs are counted, never dropped silently. Each pair is a win, a tie or a
loss for the arm. Test accuracies are quantised (a split of 360 examples moves in steps of
1/360), so ties are common; a tie says nothing about direction and is counted apart.

For each arm this module reports:

- Δ = mean(d_i) with a 95 % paired t interval, and the effect size d_z = Δ / sd(d_i).
- P(arm > baseline) = wins / (wins + losses) over the non-tied pairs, with a 95 %
  Clopper-Pearson interval; the number of ties beside it.
- A verdict from two families of tests, each Holm-corrected across the tested arms at 5 %:
  * better / worse: the exact two-sided sign test on the non-tied pairs,
    H0: P(arm > baseline) = 1/2. It tests the very quantity the table shows, is exact at
    every N whatever the distribution of d_i, and ties cannot inflate it.
  * equivalent: two one-sided paired t tests (TOST) against the region of practical
    equivalence ±`rope` (default ±0.5 pp of accuracy), each at half the level: the arm's
    (1 - alpha_Holm) t interval lies inside the ROPE (`equivalence_test`).
  An arm both significant and equivalent is "better (within ROPE)": real but negligible.
  Only arms with at least 5 non-tied pairs are tested (fewer can never reach 5 % with a
  sign test, 2^-4 > 0.05, and their t interval rests on too few distinct values): they get
  no verdict and their interval is marked unreliable. An arm with at least 2 pairs, all
  tied, gets "no effect: technique inactive?".

Measured error rates, coverage and power, and why these tests: `docs/statistics.md`.

References:
    Bouthillier et al., "Accounting for Variance in Machine Learning Benchmarks", MLSys 2021.
    Dixon & Mood, "The Statistical Sign Test", JASA 1946.
    Schuirmann, "A comparison of the two one-sided tests procedure ...", 1987 (TOST).
    Holm, "A Simple Sequentially Rejective Multiple Test Procedure", Scand. J. Stat. 1979.
    Clopper & Pearson, "The use of confidence or fiducial limits ...", Biometrika 1934.
"""

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ablate.report.frame import FINISHED, arm_order, baseline_arm, check_frame, run_counts

CONFIDENCE = 0.95
ROPE = 0.005  # region of practical equivalence: ±0.5 pp of accuracy
MIN_NONTIED_PAIRS = 5  # fewer: no verdict, the interval is marked unreliable
POWER = 0.8  # the power the seed planning aims for
DEFAULT_MIN_EFFECT = 0.01  # +1 pp: the effect to plan for when no claim and no --min-effect
MAX_PAIRS = 1000  # planning gives up (inf) beyond this many non-tied pairs
EXPLORATORY_PAIRS = 5
CLAIM_PAIRS = 10

VERDICT_NA = "n/a"
VERDICT_INACTIVE = "no effect: technique inactive?"
VERDICT_TOO_FEW = f"no verdict (<{MIN_NONTIED_PAIRS} non-tied pairs)"
BETTER = "better"
WORSE = "worse"
BETTER_NEGLIGIBLE = "better (within ROPE)"
WORSE_NEGLIGIBLE = "worse (within ROPE)"
EQUIVALENT = "equivalent (within ROPE)"
INCONCLUSIVE = "inconclusive"
DIRECTIONAL = (BETTER, WORSE, BETTER_NEGLIGIBLE, WORSE_NEGLIGIBLE)


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


def sign_counts(differences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wins (d > 0), ties (d == 0) and losses (d < 0) along the last axis."""
    d = np.asarray(differences, float)
    return (d > 0).sum(axis=-1), (d == 0).sum(axis=-1), (d < 0).sum(axis=-1)


def sign_test(wins, losses) -> np.ndarray:
    """Exact two-sided sign test of H0: P(win | not tied) = 1/2, vectorised.

    Ties are left out (Dixon & Mood 1946): with n = wins + losses non-tied pairs the p-value
    is `min(1, 2 * BinomCDF(min(wins, losses); n, 1/2))`, equal to
    `scipy.stats.binomtest(wins, n).pvalue` (the null is symmetric); 1 when n = 0.
    """
    wins, losses = np.asarray(wins), np.asarray(losses)
    tail = scipy_stats.binom.cdf(np.minimum(wins, losses), wins + losses, 0.5)
    return np.minimum(1.0, 2 * tail)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis; NaN marks an untested arm.

    scipy has no Holm procedure (statsmodels' `multipletests` does, but is a heavy
    dependency for a few lines), so it is written out here. With m the number of finite
    p-values in a row, sorted ascending: `p_holm(k) = max_{j <= k} min(1, (m - j + 1) p(j))`.

    Args:
        p_values: the raw p-values, shape `(..., m_max)`.

    Returns:
        The adjusted p-values in the order given (NaN stays NaN).
    """
    p = np.asarray(p_values, float)
    order = np.argsort(p, axis=-1, kind="stable")  # NaN sorts last
    ranked = np.take_along_axis(p, order, axis=-1)
    tested = np.isfinite(p).sum(axis=-1, keepdims=True)
    scaled = np.minimum(1.0, (tested - np.arange(p.shape[-1])) * ranked)
    stepped = np.where(np.isnan(ranked), np.nan, np.fmax.accumulate(scaled, axis=-1))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, stepped, axis=-1)
    return adjusted


def t_interval(differences, confidence: float = CONFIDENCE):
    """Mean and two-sided paired t interval along the last axis (NaN bounds below 2 values).

    Equal to `scipy.stats.ttest_rel(arm, baseline).confidence_interval(confidence)`.
    """
    d = np.asarray(differences, float)
    n = d.shape[-1]
    mean = d.mean(axis=-1) if n else np.full(d.shape[:-1], math.nan)
    if n < 2:
        nan = np.full(np.shape(mean), math.nan)
        return mean, nan, nan
    half = scipy_stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * d.std(axis=-1, ddof=1)
    half = half / math.sqrt(n)
    return mean, mean - half, mean + half


def effect_size(differences) -> np.ndarray:
    """d_z = mean(d) / sd(d) along the last axis; NaN below 2 values or when sd(d) = 0.

    An sd below 1e-4 of the largest |d| (and below 1e-12) counts as 0: metrics are stored as
    float32, so equal differences (two pairs that each gain one test example) differ by
    rounding only, about 1.5e-5 of their size, and would give a meaningless d_z of 65,000.
    """
    d = np.asarray(differences, float)
    if d.shape[-1] < 2:
        return np.full(d.shape[:-1], math.nan)
    sd = d.std(axis=-1, ddof=1)
    rounding = 1e-4 * np.abs(d).max(axis=-1) + 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > rounding, d.mean(axis=-1) / sd, math.nan)


def equivalence_test(differences, rope: float = ROPE) -> np.ndarray:
    """p-value of the paired equivalence test of H0: |mean(d)| >= rope, along the last axis.

    Two one-sided t tests (TOST), `mean > -rope` and `mean < rope`, each at half the level:
    the p-value is `min(1, 2 * max(p_above, p_below))`, so p < alpha exactly when the
    two-sided (1 - alpha) t interval of the mean lies inside ±rope. Each side at the full
    level (the textbook 90 % interval) calls 6 % of arms equivalent at the ROPE's edge on
    quantised, tie-heavy differences (docs/statistics.md); half the level stays under 3.5 %.
    The one-sided p-values are those of `scipy.stats.ttest_1samp(d, -rope,
    alternative="greater")` and `ttest_1samp(d, rope, alternative="less")`. NaN below 2
    values.
    """
    d = np.asarray(differences, float)
    n = d.shape[-1]
    if n < 2:
        return np.full(d.shape[:-1], math.nan)
    mean = d.mean(axis=-1)
    error = d.std(axis=-1, ddof=1) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        above = scipy_stats.t.sf((mean + rope) / error, n - 1)
        below = scipy_stats.t.cdf((mean - rope) / error, n - 1)
    p = np.minimum(1.0, 2 * np.maximum(above, below))
    return np.where(np.isnan(p), 1.0, p)  # sd 0 with |mean| exactly at the ROPE's edge


def clopper_pearson(successes, trials, confidence: float = CONFIDENCE):
    """Exact (Clopper-Pearson) interval of a binomial proportion, vectorised; NaN for 0 trials.

    Equal to `scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact")`.
    """
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, scipy_stats.beta.ppf(tail, k, n - k + 1), 0.0)
        high = np.where(k < n, scipy_stats.beta.ppf(1 - tail, k + 1, n - k), 1.0)
    empty = n == 0
    return np.where(empty, math.nan, low), np.where(empty, math.nan, high)


def ratio_interval(arm, baseline, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Paired ratio arm / baseline: geometric mean with a t interval on the log ratios.

    Pairs with a value <= 0 are left out. NaN bounds below 2 pairs; all NaN with none.

    Returns:
        `(ratio, low, high)`.
    """
    arm, baseline = np.asarray(arm, float), np.asarray(baseline, float)
    kept = (arm > 0) & (baseline > 0)
    if not kept.any():
        return math.nan, math.nan, math.nan
    mean, low, high = t_interval(np.log(arm[kept] / baseline[kept]), confidence)
    return float(np.exp(mean)), float(np.exp(low)), float(np.exp(high))


def sign_test_power(num_pairs, win_probability: float, alpha: float) -> np.ndarray:
    """Power of the two-sided exact sign test at level `alpha` on `num_pairs` non-tied pairs.

    The test rejects when min(wins, losses) <= c, c the largest count with
    `2 * BinomCDF(c; n, 1/2) < alpha`; the power is the chance of that when a non-tied pair
    is a win with probability `win_probability`. Vectorised over `num_pairs`.
    """
    n = np.asarray(num_pairs)
    critical = scipy_stats.binom.ppf(alpha / 2, n, 0.5) - 1
    return scipy_stats.binom.cdf(critical, n, win_probability) + scipy_stats.binom.sf(
        n - critical - 1, n, win_probability
    )


def seeds_needed(
    min_effect: float,
    s_d: float,
    num_arms: int = 1,
    tie_fraction: float = 0.0,
    confidence: float = CONFIDENCE,
    power: float = POWER,
) -> float:
    """Seeds (pairs) a sweep needs for `power` to call an arm better, given a pilot sweep.

    Models d_i ~ Normal(min_effect, s_d): a non-tied pair is a win with probability
    q = Phi(|min_effect| / s_d). The verdict's sign test runs at alpha / num_arms at worst
    (Holm's first step, i.e. Bonferroni), so the plan uses that level. The smallest number
    of non-tied pairs n >= 5 with power >= `power` is divided by the pilot's share of
    non-tied pairs (ties carry no information) and rounded up.

    Args:
        min_effect: the mean difference to detect (a fraction: 0.01 is +1 pp).
        s_d: the pilot's standard deviation of the paired differences.
        num_arms: the arms tested together (Holm's family). Defaults to 1.
        tie_fraction: the pilot's share of tied pairs, in [0, 1). Defaults to 0.
        confidence: 1 - alpha, family-wise. Defaults to 0.95.
        power: the wanted power. Defaults to 0.8.

    Returns:
        The number of seeds; inf when more than `MAX_PAIRS` non-tied pairs would be needed
        (or every pilot pair tied, or `min_effect` is 0); NaN when `s_d` is unknown.
    """
    if math.isnan(s_d) or math.isnan(min_effect) or math.isnan(tie_fraction):
        return math.nan
    if min_effect == 0 or tie_fraction >= 1:
        return math.inf
    win = scipy_stats.norm.cdf(abs(min_effect) / s_d) if s_d > 0 else 1.0
    counts = np.arange(MIN_NONTIED_PAIRS, MAX_PAIRS + 1)
    alpha = (1 - confidence) / max(num_arms, 1)
    reached = np.flatnonzero(sign_test_power(counts, win, alpha) >= power)
    if len(reached) == 0:
        return math.inf
    return float(math.ceil(counts[reached[0]] / (1 - tie_fraction) - 1e-9))


def evidence(num_pairs: int) -> str:
    """Labels what `num_pairs` pairs can support (docs/references.md, "Noise")."""
    if num_pairs == 0:
        return "no pairs"
    if num_pairs < EXPLORATORY_PAIRS:
        return "exploratory (<5 pairs)"
    if num_pairs < CLAIM_PAIRS:
        return "exploratory (<10 pairs)"
    return "claim (>=10 pairs)"


def decide(
    n_pairs, wins, losses, p_sign, p_equivalence, confidence: float = CONFIDENCE
) -> dict[str, np.ndarray]:
    """Holm-corrects both families across the arms (last axis) and names each verdict.

    The one decision rule of the report, vectorised so that simulations run it unchanged.
    An arm is tested when it has at least `MIN_NONTIED_PAIRS` non-tied pairs; only tested
    arms count in Holm's m.

    Args:
        n_pairs: pairs per arm (ties included), shape `(..., arms)`.
        wins: won pairs per arm.
        losses: lost pairs per arm.
        p_sign: the sign test's raw p-values.
        p_equivalence: the equivalence test's raw p-values.
        confidence: 1 - alpha, family-wise for each family. Defaults to 0.95.

    Returns:
        `p_holm`, `p_equivalence_holm` (NaN where untested) and `verdict` (strings).
    """
    n_pairs, wins, losses = (np.asarray(a) for a in (n_pairs, wins, losses))
    alpha = 1 - confidence
    tested = wins + losses >= MIN_NONTIED_PAIRS
    p_holm = holm(np.where(tested, p_sign, math.nan))
    p_equivalence_holm = holm(np.where(tested, p_equivalence, math.nan))
    significant = tested & (p_holm < alpha)
    equivalent = tested & (p_equivalence_holm < alpha)
    up, down = significant & (wins > losses), significant & (wins < losses)
    verdict = np.select(
        [
            n_pairs == 0,
            (n_pairs >= 2) & (wins + losses == 0),
            ~tested,
            up & equivalent,
            up,
            down & equivalent,
            down,
            equivalent,
        ],
        [
            VERDICT_NA,
            VERDICT_INACTIVE,
            VERDICT_TOO_FEW,
            BETTER_NEGLIGIBLE,
            BETTER,
            WORSE_NEGLIGIBLE,
            WORSE,
            EQUIVALENT,
        ],
        default=INCONCLUSIVE,
    )
    return {"p_holm": p_holm, "p_equivalence_holm": p_equivalence_holm, "verdict": verdict}


def verdicts(differences, confidence: float = CONFIDENCE, rope: float = ROPE) -> np.ndarray:
    """Verdicts of arms that all have the same number of pairs, from their differences.

    What `compare_arms` decides, for arrays: `differences` has shape `(..., arms, pairs)`
    (the simulations of `benchmarks/statistics_simulation.py` pass thousands of sweeps at
    once); Holm runs across the `arms` axis.

    Returns:
        The verdict strings, shape `(..., arms)`.
    """
    d = np.asarray(differences, float)
    wins, _, losses = sign_counts(d)
    n_pairs = np.full(d.shape[:-1], d.shape[-1])
    p_sign, p_equivalence = sign_test(wins, losses), equivalence_test(d, rope)
    return decide(n_pairs, wins, losses, p_sign, p_equivalence, confidence)["verdict"]


def compare_arms(
    frame: pd.DataFrame,
    metric: str = "test_accuracy",
    confidence: float = CONFIDENCE,
    rope: float = ROPE,
) -> pd.DataFrame:
    """Compares every arm with the baseline on `metric`, Holm-corrected across arms.

    See the module docstring for the tests. Verdicts read "better" for a higher metric; use
    them for metrics where higher is better. Means and standard deviations are over the
    arm's pairs, the same seeds as Δ.

    Args:
        frame: the tidy table.
        metric: the metric column to compare. Defaults to `"test_accuracy"`.
        confidence: the family-wise confidence (1 - alpha). Defaults to 0.95.
        rope: half-width of the region of practical equivalence, in the metric's units.
            Defaults to 0.005 (±0.5 pp of accuracy).

    Returns:
        One row per non-baseline arm, in order of appearance, with columns `arm, factor,
        value, runs_finished, runs_failed, runs_missing, n_pairs, unpaired, wins, ties,
        losses, mean, std, baseline_mean, delta, delta_low, delta_high, reliable, s_d, d_z,
        p_better, p_better_low, p_better_high, p_value, p_holm, p_equivalence,
        p_equivalence_holm, verdict, evidence`.

    Raises:
        InputError: if the frame has no baseline (or is not a tidy table).

    Example:

    >>> compare_arms(frame)[["arm", "delta", "verdict"]]  # doctest: +SKIP
    """
    check_frame(frame)
    counts = run_counts(frame).set_index("arm")
    rows = []
    for arm in arm_order(frame)[1:]:
        runs = frame[frame["arm"] == arm]
        paired = pairs(frame, metric, arm)
        d = paired["difference"].to_numpy()
        wins, ties, losses = (int(c) for c in sign_counts(d))
        delta, low, high = (float(v) for v in t_interval(d, confidence))
        p_low, p_high = (float(v) for v in clopper_pearson(wins, wins + losses, confidence))
        rows.append(
            {
                "arm": arm,
                "factor": runs["factor"].iloc[0],
                "value": runs["value"].iloc[0],
                **counts.loc[arm].to_dict(),
                "n_pairs": len(d),
                "unpaired": len(runs) - len(d),
                "wins": wins,
                "ties": ties,
                "losses": losses,
                "mean": float(paired["arm"].mean()) if len(d) else math.nan,
                "std": float(paired["arm"].std(ddof=1)) if len(d) > 1 else math.nan,
                "baseline_mean": float(paired["baseline"].mean()) if len(d) else math.nan,
                "delta": delta,
                "delta_low": low,
                "delta_high": high,
                "reliable": wins + losses >= MIN_NONTIED_PAIRS,
                "s_d": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
                "d_z": float(effect_size(d)),
                "p_better": wins / (wins + losses) if wins + losses else math.nan,
                "p_better_low": p_low,
                "p_better_high": p_high,
                "p_value": float(sign_test(wins, losses)) if len(d) else math.nan,
                "p_equivalence": float(equivalence_test(d, rope)),
                "evidence": evidence(len(d)),
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in _COLUMNS if "holm" not in c and c != "verdict"])
    decided = decide(
        table["n_pairs"].to_numpy(int),
        table["wins"].to_numpy(int),
        table["losses"].to_numpy(int),
        table["p_value"].to_numpy(float),
        table["p_equivalence"].to_numpy(float),
        confidence,
    )
    for column, values in decided.items():
        table[column] = values
    return table[_COLUMNS]


_COLUMNS = [
    "arm",
    "factor",
    "value",
    "runs_finished",
    "runs_failed",
    "runs_missing",
    "n_pairs",
    "unpaired",
    "wins",
    "ties",
    "losses",
    "mean",
    "std",
    "baseline_mean",
    "delta",
    "delta_low",
    "delta_high",
    "reliable",
    "s_d",
    "d_z",
    "p_better",
    "p_better_low",
    "p_better_high",
    "p_value",
    "p_holm",
    "p_equivalence",
    "p_equivalence_holm",
    "verdict",
    "evidence",
]


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
