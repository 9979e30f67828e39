"""Measures the report's statistics by simulation: error rates, coverage, power.

Every figure in `docs/statistics.md` comes from this script, which runs the report's own
decision code (`ablate.report.stats`) on thousands of simulated sweeps at once:

- type-I error: the chance that a sweep of m arms without any effect calls some arm better or
  worse (family-wise, Holm across the m arms), for N = 3..20 pairs and m = 1..8 arms;
- coverage of the 95 % paired t interval of the mean difference, N = 5..20;
- power at N = 10 pairs and d_z = 1, beside the paired t test and Wilcoxon's signed-rank test
  on the same data;
- the equivalence verdict's error rate: the chance of calling an arm equivalent when its true
  mean difference sits on the edge of the ROPE.

How paired differences d = arm - baseline are simulated (`KINDS`):

- `normal`: accuracy = 0.9 + seed effect + run noise; arms share the baseline run of their
  seed, so their differences are correlated as in a real sweep; sd(d) = 1 pp.
- `quantised`: each run's accuracy is Binomial(1000, p_seed) / 1000: steps of 1/1000, and the
  true mean difference is exactly the difference of the p's.
- `ties`: arm and baseline disagree on a Poisson(4) number of the 360 test examples of a
  digits split (Skellam differences, steps of 1/360): about a fifth of the pairs tie.
- `skewed` (coverage only): d = Δ + s (Gamma(4) - 4) / 2, skewness 1.
- `heavy skew` (coverage only): d = Δ + s (Exponential(1) - 1), skewness 2.

    python benchmarks/statistics_simulation.py              # 20,000 sweeps per cell, ~20 s
    python benchmarks/statistics_simulation.py --repeats 4000 --seed 1

`tests/report/test_statistics_simulation.py` runs the same functions with fewer repeats and
asserts the bounds.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ablate.report.stats import (  # noqa: E402
    BETTER,
    BETTER_NEGLIGIBLE,
    CONFIDENCE,
    DIRECTIONAL,
    ROPE,
    decide,
    equivalence_test,
    holm,
    sign_counts,
    sign_test,
    sign_test_power,
    t_interval,
)

KINDS = ("normal", "quantised", "ties")
COVERAGE_KINDS = ("normal", "quantised", "ties", "skewed", "heavy skew")
SD = 0.01  # sd of the paired differences in the `normal` and skewed kinds: 1 pp
EQUIVALENCE_SD = 0.0025  # 0.25 pp: small against the ROPE, the TOST's worst case
TEST_EXAMPLES = {"quantised": 1000, "ties": 360}
DISAGREEMENTS = 4.0  # mean number of test examples arm and baseline disagree on (`ties`)
NUMBER_OF_PAIRS = tuple(range(3, 21))
NUMBER_OF_ARMS = tuple(range(1, 9))
COVERAGE_PAIRS = (5, 10, 20)


def differences(
    rng: np.random.Generator,
    kind: str,
    repeats: int,
    num_arms: int,
    num_pairs: int,
    effect: float = 0.0,
    sd: float = SD,
) -> np.ndarray:
    """Simulated paired differences of `repeats` sweeps, shape `(repeats, arms, pairs)`.

    Args:
        rng: the generator.
        kind: one of `COVERAGE_KINDS` (see the module docstring).
        repeats: sweeps to simulate.
        num_arms: arms per sweep (besides the baseline).
        num_pairs: seeds per arm.
        effect: the true mean difference of every arm (a fraction: 0.01 = +1 pp).
        sd: the sd of the differences of the `normal` and skewed kinds (the quantised kinds
            have the sd of their model). Defaults to 1 pp.

    Returns:
        The differences; their true mean is exactly `effect`.
    """
    shape = (repeats, num_arms, num_pairs)
    if kind == "normal":
        seed_level = 0.9 + rng.normal(0, 0.01, (repeats, 1, num_pairs))
        run_sd = sd / math.sqrt(2)
        baseline = seed_level + rng.normal(0, run_sd, (repeats, 1, num_pairs))
        arms = seed_level + effect + rng.normal(0, run_sd, shape)
        return arms - baseline
    if kind == "quantised":
        examples = TEST_EXAMPLES[kind]
        level = np.clip(0.9 + rng.normal(0, 0.01, (repeats, 1, num_pairs)), 0, 1 - effect)
        baseline = rng.binomial(examples, level) / examples
        arms = rng.binomial(examples, np.broadcast_to(level + effect, shape)) / examples
        return arms - baseline
    if kind == "ties":
        examples = TEST_EXAMPLES[kind]
        shift = effect * examples / 2  # E[wins - losses] = effect * examples
        won = rng.poisson(DISAGREEMENTS / 2 + shift, shape)
        lost = rng.poisson(DISAGREEMENTS / 2 - shift, shape)
        return (won - lost) / examples
    if kind == "skewed":
        return effect + sd * (rng.gamma(4.0, 1.0, shape) - 4.0) / 2
    if kind == "heavy skew":
        return effect + sd * (rng.exponential(1.0, shape) - 1.0)
    raise ValueError(f"`kind` must be one of {list(COVERAGE_KINDS)}. Received: kind={kind}")


def _raw_tests(d: np.ndarray, rope: float) -> tuple[np.ndarray, ...]:
    wins, _, losses = sign_counts(d)
    return wins, losses, sign_test(wins, losses), equivalence_test(d, rope)


def family_error(
    rng, kind: str, repeats: int, num_pairs: int, arms=NUMBER_OF_ARMS, effect: float = 0.0
) -> dict[int, float]:
    """Share of sweeps with at least one better/worse verdict, for each number of arms.

    With `effect = 0` this is the family-wise type-I error of the verdict. One set of
    simulated sweeps with `max(arms)` arms serves every m: the first m arms form the family.
    """
    d = differences(rng, kind, repeats, max(arms), num_pairs, effect)
    wins, losses, p_sign, p_equivalence = _raw_tests(d, ROPE)
    n_pairs = np.full(wins.shape, num_pairs)
    found = {}
    for m in arms:
        verdict = decide(
            n_pairs[:, :m], wins[:, :m], losses[:, :m], p_sign[:, :m], p_equivalence[:, :m]
        )["verdict"]
        found[m] = float(np.isin(verdict, DIRECTIONAL).any(axis=-1).mean())
    return found


def equivalence_error(
    rng,
    kind: str,
    repeats: int,
    num_pairs: int,
    arms=NUMBER_OF_ARMS,
    rope: float = ROPE,
    sd: float = EQUIVALENCE_SD,
    textbook: bool = False,
) -> dict[int, float]:
    """Share of sweeps calling some arm equivalent when every arm's true |Δ| equals the ROPE.

    Half the arms sit at +rope, half at -rope (every kind is symmetric in the sign of the
    effect). "Within ROPE" verdicts (significant but negligible) count as equivalence
    claims too. The `normal` kind uses sd(d) = `sd`, small against the ROPE: the worst
    case, where the test on the far side of the ROPE always rejects. `textbook=True` runs
    each one-sided test at the full level (a 90 % interval inside the ROPE) instead of the
    report's half level, to show why the report does not.
    """
    m_max = max(arms)
    signs = np.where(np.arange(m_max) % 2 == 0, 1.0, -1.0)[None, :, None]
    d = signs * differences(rng, kind, repeats, m_max, num_pairs, rope, sd)
    wins, losses, p_sign, p_equivalence = _raw_tests(d, rope)
    if textbook:
        p_equivalence = p_equivalence / 2  # = max of the one-sided p-values, below 1/2
    n_pairs = np.full(wins.shape, num_pairs)
    found = {}
    for m in arms:
        verdict = decide(
            n_pairs[:, :m], wins[:, :m], losses[:, :m], p_sign[:, :m], p_equivalence[:, :m]
        )["verdict"]
        claims = np.char.find(verdict.astype(str), "within ROPE") >= 0
        found[m] = float(claims.any(axis=-1).mean())
    return found


def coverage(rng, kind: str, repeats: int, num_pairs: int, effect: float = 0.003) -> float:
    """Share of simulated arms whose 95 % paired t interval holds the true mean difference."""
    d = differences(rng, kind, repeats, 1, num_pairs, effect)[:, 0, :]
    _, low, high = t_interval(d, CONFIDENCE)
    tolerance = 1e-12  # quantised differences: a degenerate interval on the true value
    return float(((low <= effect + tolerance) & (effect - tolerance <= high)).mean())


def power(rng, repeats: int, num_pairs: int = 10, d_z: float = 1.0, num_arms: int = 1) -> dict:
    """Share of arms called better when every arm's d_z is `d_z` (normal differences).

    Beside it, on the same data: the paired t test and Wilcoxon's signed-rank test (scipy,
    exact), both Holm-corrected across the arms; and the sign test's exact power.
    """
    d = differences(rng, "normal", repeats, num_arms, num_pairs, d_z * SD)
    wins, losses, p_sign, p_equivalence = _raw_tests(d, ROPE)
    verdict = decide(np.full(wins.shape, num_pairs), wins, losses, p_sign, p_equivalence)
    alpha = 1 - CONFIDENCE
    others = {
        "t test": scipy_stats.ttest_1samp(d, 0.0, axis=-1).pvalue,
        "Wilcoxon": scipy_stats.wilcoxon(d, axis=-1, method="exact").pvalue,
    }
    better = np.isin(verdict["verdict"], (BETTER, BETTER_NEGLIGIBLE))
    found = {"sign test (the verdict)": float(better.mean())}
    for name, p in others.items():
        found[name] = float((holm(p) < alpha).mean())
    exact = sign_test_power(num_pairs, scipy_stats.norm.cdf(d_z), alpha / num_arms)
    found["sign test, exact at 5 % / arms"] = float(exact)
    return found


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20_000, help="sweeps per cell")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    repeats = args.repeats
    error = 3 * math.sqrt(0.05 * 0.95 / repeats)
    print(f"repeats={repeats}, seed={args.seed}; 3 Monte Carlo SE at 5 %: {error:.4f}\n")

    ties = differences(rng, "ties", repeats, 1, 20)
    quantised = differences(rng, "quantised", repeats, 1, 20)
    print(
        f"Tied pairs under no effect: ties kind {np.mean(ties == 0):.3f}, "
        f"quantised kind {np.mean(quantised == 0):.3f}\n"
    )
    for kind in KINDS:
        print(f"Type-I error (any better/worse verdict, no effect), kind={kind}\n")
        rows = []
        for num_pairs in NUMBER_OF_PAIRS:
            found = family_error(rng, kind, repeats, num_pairs)
            rows.append([str(num_pairs), *(f"{found[m]:.4f}" for m in NUMBER_OF_ARMS)])
        print(_table(["N pairs", *(f"m={m}" for m in NUMBER_OF_ARMS)], rows) + "\n")

    print("Coverage of the 95 % paired t interval (true Δ = +0.3 pp)\n")
    rows = [
        [kind, *(f"{coverage(rng, kind, repeats, n):.4f}" for n in (5, 6, 8, 10, 15, 20))]
        for kind in COVERAGE_KINDS
    ]
    print(_table(["kind", *(f"N={n}" for n in (5, 6, 8, 10, 15, 20))], rows) + "\n")

    print("Power at N = 10 pairs, d_z = 1 (every arm has the effect; share of arms detected)\n")
    rows = []
    for num_arms in (1, 3, 8):
        found = power(rng, max(repeats // num_arms, 1000), num_arms=num_arms)
        rows.append([str(num_arms), *(f"{v:.3f}" for v in found.values())])
    print(_table(["arms", *found], rows) + "\n")

    print(f"Equivalence error (every arm's true |Δ| = ROPE = {100 * ROPE:g} pp)\n")
    rows = []
    for kind in KINDS:
        for num_pairs in (5, 10, 20):
            found = equivalence_error(rng, kind, repeats, num_pairs, arms=(1, 3, 8))
            rows.append([kind, str(num_pairs), *(f"{found[m]:.4f}" for m in (1, 3, 8))])
    print(_table(["kind", "N pairs", "m=1", "m=3", "m=8"], rows) + "\n")

    print("The same with the textbook TOST (each side at 5 %: a 90 % interval in the ROPE)\n")
    rows = []
    for num_pairs in (10, 20, 30):
        found = equivalence_error(rng, "ties", repeats, num_pairs, (1, 3, 8), textbook=True)
        rows.append(["ties", str(num_pairs), *(f"{found[m]:.4f}" for m in (1, 3, 8))])
    print(_table(["kind", "N pairs", "m=1", "m=3", "m=8"], rows) + "\n")

    print("Equivalence shown when Δ = 0 (power of the equivalence verdict, one arm)\n")
    rows = []
    for kind in KINDS:
        shown = []
        for num_pairs in (5, 10, 20):
            d = differences(rng, kind, repeats, 1, num_pairs)
            wins, losses, p_sign, p_equivalence = _raw_tests(d, ROPE)
            verdict = decide(np.full(wins.shape, num_pairs), wins, losses, p_sign, p_equivalence)
            shown.append(f"{np.mean(verdict['verdict'] == 'equivalent (within ROPE)'):.3f}")
        rows.append([kind, *shown])
    print(_table(["kind", "N=5", "N=10", "N=20"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
