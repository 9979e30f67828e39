"""Measures adaptive seeding (`ablate.report.sequential`) by exact computation and simulation.

Every figure of the "Adaptive seeding" section of `docs/statistics.md` comes from this script:

- exact type-I error of the better/worse boundaries for one arm: without ties (one walk), and
  with ties by enumerating every history of non-tied counts (the error given each history is
  at most alpha, so its average is too);
- the same for naive repeated testing: the fixed-N verdict (`stats.verdicts`) believed at the
  first look where it says better or worse;
- simulated family-wise type-I error of the whole adaptive procedure (boundaries, Holm across
  arms, equivalence, futility and max_seeds stops) for 1 and 3 arms, beside naive repeated
  testing on the same sweeps;
- power and seeds used at d_z = 1 (and 0.5, 0), against the fixed design at `max_seeds`;
- the chance of calling an arm equivalent when its true |Δ| is the ROPE's edge.

The simulated differences are those of `benchmarks/statistics_simulation.py` (`normal`,
`quantised`, `ties`). `run_adaptive` runs the decision code of `ablate.report.sequential`
(`efficacy_boundaries`, `decide_states`, `verdict_words`) on thousands of sweeps at once;
`tests/report/test_sequential.py` checks that it decides exactly as `sequential_decisions`
does round by round.

    python benchmarks/sequential_simulation.py              # 10,000 sweeps per cell
    python benchmarks/sequential_simulation.py --repeats 4000 --seed 1
"""

import argparse
import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ablate.report.sequential import (  # noqa: E402
    AT_MAX,
    FUTILE,
    STOP_CODES,
    decide_states,
    look_flags,
    look_schedule,
    verdict_words,
)
from ablate.report.sequential_boundaries import (  # noqa: E402
    DEFAULT_SPENDING,
    OBRIEN_FLEMING,
    POCOCK,
    crossing_probability,
    efficacy_boundaries,
)
from ablate.report.stats import (  # noqa: E402
    BETTER,
    BETTER_NEGLIGIBLE,
    CONFIDENCE,
    DIRECTIONAL,
    EQUIVALENT,
    MIN_NONTIED_PAIRS,
    ROPE,
    t_interval,
    verdicts,
)

_spec = importlib.util.spec_from_file_location(
    "statistics_simulation", Path(__file__).resolve().parent / "statistics_simulation.py"
)
statistics_simulation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(statistics_simulation)
differences = statistics_simulation.differences
KINDS = statistics_simulation.KINDS
SD = statistics_simulation.SD

ALPHA = 1 - CONFIDENCE
# (min_seeds, step, max_seeds) designs measured
SPENDING_ORDER = (OBRIEN_FLEMING, POCOCK)
DESIGNS = ((3, 1, 10), (5, 1, 20), (5, 2, 15), (4, 2, 20), (3, 1, 20), (5, 5, 20))


def run_adaptive(
    d: np.ndarray,
    min_seeds: int,
    max_seeds: int,
    step: int,
    alpha: float = ALPHA,
    rope: float = ROPE,
    spending: str = DEFAULT_SPENDING,
    futility: bool = True,
) -> dict[str, np.ndarray]:
    """Runs adaptive seeding on simulated sweeps: every round, every look, every stop.

    Args:
        d: the differences each arm would get if it ran to `max_seeds`, shape
            `(sweeps, arms, max_seeds)`; an arm that stops uses a prefix.
        min_seeds, max_seeds, step: the design.
        alpha, rope, spending, futility: as in `sequential_decisions`.

    Returns:
        `seeds` (pairs each arm got), `state` (state codes) and `verdict` (the report's
        words), each of shape `(sweeps, arms)`.
    """
    num_b, m, num_s = d.shape
    schedule = np.array(look_schedule(min_seeds, max_seeds, step))
    num_k = len(schedule)
    flags = look_flags(
        d.reshape(-1, num_s),
        schedule,
        schedule,
        max_seeds=max_seeds,
        levels=alpha / np.arange(1, m + 1),
        rope=rope,
        spending=spending,
        futility=futility,
    )
    flags = {
        key: value.reshape(num_b, m, *value.shape[1:])
        for key, value in flags.items()
        if key != "times"
    }
    crossed_ever, eq_ever = flags["crossed"], flags["equivalent"]
    inactive, futile, nontied = flags["inactive"], flags["futile"], flags["nontied"]
    at_max = np.broadcast_to(schedule >= max_seeds, (num_b, m, num_k))
    look = np.zeros((num_b, m), int)
    for _ in range(num_k):
        at = look[..., None]
        decided = decide_states(
            np.take_along_axis(crossed_ever, at[..., None], 2)[:, :, 0],
            np.take_along_axis(eq_ever, at[..., None], 2)[:, :, 0],
            np.zeros((num_b, m), bool),
            np.take_along_axis(inactive, at, 2)[..., 0],
            np.take_along_axis(futile, at, 2)[..., 0],
            np.take_along_axis(at_max, at, 2)[..., 0],
        )
        running = ~np.isin(decided["state"], STOP_CODES)
        if not running.any():
            break
        look = np.where(running, look + 1, look)
    at = look[..., None]
    verdict = verdict_words(
        decided["state"],
        np.take_along_axis(flags["direction"], at, 2)[..., 0],
        decided["equivalent"],
        schedule[look],
        np.take_along_axis(nontied, at, 2)[..., 0],
    )
    return {"seeds": schedule[look], "state": decided["state"], "verdict": verdict}


def run_naive(d: np.ndarray, min_seeds: int, max_seeds: int, step: int) -> np.ndarray:
    """Naive repeated testing: the fixed-N verdict at every look; True where some arm of the
    sweep is called better or worse at some look (the error of believing the first one)."""
    hit = np.zeros(d.shape[0], bool)
    for s in look_schedule(min_seeds, max_seeds, step):
        hit |= np.isin(verdicts(d[..., :s]), DIRECTIONAL).any(axis=-1)
    return hit


def fixed_boundary(informative) -> np.ndarray:
    """The fixed-N sign test at alpha as a boundary: smallest max(wins, losses) with p < alpha
    (n + 1 = never, also below `MIN_NONTIED_PAIRS` non-tied pairs)."""
    out = []
    for n in np.atleast_1d(informative):
        u = n + 1
        if n >= MIN_NONTIED_PAIRS:
            for c in range(n, n // 2, -1):
                if 2 * scipy_stats.binom.sf(c - 1, n, 0.5) < ALPHA:
                    u = c
        out.append(u)
    return np.array(out)


def exact_one_arm(min_seeds: int, max_seeds: int, step: int, spending: str = DEFAULT_SPENDING):
    """Exact type-I error for one arm without ties: the sequential boundaries and naive."""
    schedule = np.array(look_schedule(min_seeds, max_seeds, step))
    u = efficacy_boundaries(schedule, schedule / max_seeds, ALPHA, spending)
    sequential = crossing_probability(schedule, u, 0.5)[-1]
    naive = crossing_probability(schedule, fixed_boundary(schedule), 0.5)[-1]
    return float(sequential), float(naive)


def exact_with_ties(
    min_seeds: int, max_seeds: int, step: int, tie: float, spending: str = DEFAULT_SPENDING
) -> tuple[float, float]:
    """Exact type-I error for one arm when each pair ties with probability `tie`.

    Enumerates every history of non-tied counts at the looks; under H0 the signs of the
    non-tied pairs are fair coins whatever the history, so the error given a history is the
    alpha its boundaries spend. Returns (the worst history's error, the average error).
    """
    schedule = np.array(look_schedule(min_seeds, max_seeds, step))
    gaps = np.diff(schedule)
    choices = [range(schedule[0] + 1), *(range(g + 1) for g in gaps)]
    histories = np.array(list(itertools.product(*choices)))
    weights = scipy_stats.binom.pmf(histories[:, 0], schedule[0], 1 - tie)
    for k, gap in enumerate(gaps, start=1):
        weights = weights * scipy_stats.binom.pmf(histories[:, k], gap, 1 - tie)
    nontied = np.cumsum(histories, axis=1)
    _, errors = efficacy_boundaries(
        nontied, schedule / max_seeds, ALPHA, spending, return_spent=True
    )
    return float(errors.max()), float(np.sum(weights * errors))


def family_error(rng, kind: str, repeats: int, num_arms: int, design, effect: float = 0.0):
    """Share of sweeps without any effect in which some arm is called better or worse:
    adaptive seeding and naive repeated testing on the same simulated sweeps."""
    min_seeds, step, max_seeds = design
    d = differences(rng, kind, repeats, num_arms, max_seeds, effect)
    found = run_adaptive(d, min_seeds, max_seeds, step)
    adaptive = np.isin(found["verdict"], DIRECTIONAL).any(axis=-1).mean()
    naive = run_naive(d, min_seeds, max_seeds, step).mean()
    return {
        "adaptive": float(adaptive),
        "naive": float(naive),
        "mean seeds": float(found["seeds"].mean()),
    }


def outcomes(
    rng,
    repeats: int,
    design,
    d_z: float = 1.0,
    num_arms: int = 1,
    kind: str = "normal",
    spending: str = DEFAULT_SPENDING,
    futility: bool = True,
) -> dict[str, float]:
    """Shares of arms by outcome and mean seeds, when every arm has `d_z` (in sd(d) units of
    the `normal` kind: `d_z * 1 pp`); beside, the fixed design's power at `max_seeds`."""
    min_seeds, step, max_seeds = design
    d = differences(rng, kind, repeats, num_arms, max_seeds, d_z * SD)
    found = run_adaptive(d, min_seeds, max_seeds, step, spending=spending, futility=futility)
    better = np.isin(found["verdict"], (BETTER, BETTER_NEGLIGIBLE))
    return {
        "better": float(better.mean()),
        "equivalent": float((found["verdict"] == EQUIVALENT).mean()),
        "futile": float((found["state"] == FUTILE).mean()),
        "at max_seeds": float((found["state"] == AT_MAX).mean()),
        "mean seeds": float(found["seeds"].mean()),
        "fixed: better": float(np.isin(verdicts(d), (BETTER, BETTER_NEGLIGIBLE)).mean()),
    }


def exact_efficacy(design, win_probability: float, method: str) -> tuple[float, float]:
    """Exact (probability of better/worse, mean seeds) for one arm without ties, stopping
    only at a crossing: `method` is a spending function, `"e-value"` or `"fixed"`."""
    min_seeds, step, max_seeds = design
    schedule = np.array(look_schedule(min_seeds, max_seeds, step))
    if method == "fixed":
        schedule = schedule[-1:]
        u = fixed_boundary(schedule)
    elif method == "e-value":
        u = evalue_boundary(schedule)
    else:
        u = efficacy_boundaries(schedule, schedule / max_seeds, ALPHA, method)
    crossed = crossing_probability(schedule, u, win_probability)
    first = np.diff(np.concatenate([[0.0], crossed]))
    seeds = float(np.sum(schedule[:-1] * first[:-1]) + schedule[-1] * (1 - crossed[-2:-1].sum()))
    return float(crossed[-1]), seeds


def evalue_boundary(informative) -> np.ndarray:
    """An always-valid sign test: the uniform mixture of likelihood ratios
    `E = 2^n B(wins + 1, losses + 1)` (a test martingale under H0, Ville's inequality) rejects
    at `E >= 1 / alpha`; as a boundary on max(wins, losses)."""
    out = []
    for n in np.atleast_1d(informative):
        w = np.arange(n + 1)
        log_e = n * math.log(2) + special.betaln(w + 1, n - w + 1)
        ok = (log_e >= math.log(1 / ALPHA)) & (2 * w > n)
        out.append(int(w[ok][0]) if ok.any() else n + 1)
    return np.array(out)


def estimate_after_stopping(rng, repeats: int, design, d_z: float) -> tuple[float, float]:
    """Mean of Δ (in units of the true sd) and coverage of the report's 95 % t interval on
    the pairs an arm got, after adaptive stopping (one arm, normal differences)."""
    min_seeds, step, max_seeds = design
    d = differences(rng, "normal", repeats, 1, max_seeds, d_z * SD)[:, 0, :]
    seeds = run_adaptive(d[:, None, :], min_seeds, max_seeds, step)["seeds"][:, 0]
    total, covered = 0.0, 0
    for n in np.unique(seeds):
        mean, low, high = t_interval(d[seeds == n, :n])
        total += float(mean.sum())
        covered += int(((low <= d_z * SD) & (d_z * SD <= high)).sum())
    return total / repeats / SD, covered / repeats


def equivalence_error(rng, kind: str, repeats: int, num_arms: int, design, sd: float = 0.0025):
    """Share of sweeps calling some arm equivalent (or within ROPE) when every arm's true
    |Δ| is the ROPE (half at +ROPE, half at -ROPE); beside naive repeated testing."""
    min_seeds, step, max_seeds = design
    signs = np.where(np.arange(num_arms) % 2 == 0, 1.0, -1.0)[None, :, None]
    d = signs * differences(rng, kind, repeats, num_arms, max_seeds, ROPE, sd)
    found = run_adaptive(d, min_seeds, max_seeds, step)
    adaptive = (np.char.find(found["verdict"].astype(str), "within ROPE") >= 0).any(axis=-1)
    naive = np.zeros(repeats, bool)
    for s in look_schedule(min_seeds, max_seeds, step):
        words = verdicts(d[..., :s]).astype(str)
        naive |= (np.char.find(words, "within ROPE") >= 0).any(axis=-1)
    return float(adaptive.mean()), float(naive.mean())


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _name(design) -> str:
    return "{}/{}/{}".format(*design)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10_000, help="sweeps per cell")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    repeats = args.repeats
    error = 3 * math.sqrt(ALPHA * (1 - ALPHA) / repeats)
    print(f"repeats={repeats}, seed={args.seed}; 3 Monte Carlo SE at 5 %: {error:.4f}")
    print(f"Designs are min_seeds/step/max_seeds; default spending: {DEFAULT_SPENDING}.\n")

    print("Boundaries without ties: wins (or losses) needed, 5/1/20, one arm\n")
    schedule = np.array(look_schedule(5, 20, 1))
    rows = []
    for name, u in (
        (OBRIEN_FLEMING, efficacy_boundaries(schedule, schedule / 20, ALPHA, OBRIEN_FLEMING)),
        (POCOCK, efficacy_boundaries(schedule, schedule / 20, ALPHA, POCOCK)),
        ("e-value", evalue_boundary(schedule)),
        ("fixed-N at each look", fixed_boundary(schedule)),
    ):
        rows.append([name, *(str(b) if b <= n else "-" for b, n in zip(u, schedule, strict=True))])
    print(_table(["pairs", *map(str, schedule)], rows) + "\n")

    print(
        "Exact type-I error, one arm, better/worse boundaries alone (other stops only lower it)\n"
    )
    rows = []
    for design in DESIGNS:
        min_seeds, step, max_seeds = design
        cells = [f"{exact_one_arm(min_seeds, max_seeds, step, sp)[0]:.4f}" for sp in SPENDING_ORDER]
        worst, tied = exact_with_ties(min_seeds, max_seeds, step, 0.2)
        naive = exact_one_arm(min_seeds, max_seeds, step)[1]
        rows.append([_name(design), *cells, f"{worst:.4f}", f"{tied:.4f}", f"{naive:.4f}"])
    header = [
        "design",
        *(f"{sp}, no ties" for sp in SPENDING_ORDER),
        "worst tie history",
        "20 % ties",
        "naive, no ties",
    ]
    print(_table(header, rows) + "\n")

    print("Exact power and mean seeds, one arm, d_z = 1 (normal: P(win) = 0.841), no ties,")
    print("stopping only at a crossing (no futility or equivalence stop)\n")
    rows = []
    for design in DESIGNS:
        cells = []
        for method in (*SPENDING_ORDER, "e-value", "fixed"):
            found, seeds = exact_efficacy(design, scipy_stats.norm.cdf(1.0), method)
            cells.append(f"{found:.3f}; {seeds:.1f}")
        rows.append([_name(design), *cells])
    print(_table(["design", *SPENDING_ORDER, "e-value", "fixed at max_seeds"], rows) + "\n")

    for num_arms in (1, 3):
        print(
            f"Simulated family-wise type-I error, {num_arms} arm(s): adaptive (naive); mean seeds\n"
        )
        rows = []
        for design in DESIGNS:
            cells = []
            for kind in KINDS:
                found = family_error(rng, kind, repeats, num_arms, design)
                cells.append(
                    f"{found['adaptive']:.4f} ({found['naive']:.4f}); {found['mean seeds']:.1f}"
                )
            rows.append([_name(design), *cells])
        print(_table(["design", *KINDS], rows) + "\n")

    print("Outcomes at d_z = 1 (normal differences, every arm has the effect)\n")
    rows = []
    for num_arms in (1, 3):
        for design in DESIGNS:
            for spending in SPENDING_ORDER:
                found = outcomes(
                    rng, max(repeats // num_arms, 2000), design, 1.0, num_arms, spending=spending
                )
                rows.append([str(num_arms), _name(design), spending, *_cells(found)])
    print(_table(["arms", "design", "spending", *found], rows) + "\n")

    print("Outcomes by effect size, one arm, 5/1/20\n")
    rows = []
    for kind, effects in (("normal", (0.0, 0.5, 1.0, 1.5)), ("ties", (0.0, 0.25, 0.5, 0.75))):
        for effect in effects:
            found = outcomes(rng, repeats, (5, 1, 20), effect, kind=kind)
            rows.append([kind, f"{effect:g}", *_cells(found)])
        for effect in (0.0, effects[2]):
            found = outcomes(rng, repeats, (5, 1, 20), effect, kind=kind, futility=False)
            rows.append([kind, f"{effect:g}, no futility stop", *_cells(found)])
    print(_table(["kind", "Δ (pp)", *found], rows) + "\n")

    print("Δ after adaptive stopping: its mean and the coverage of its 95 % t interval,")
    print("one arm, normal differences (sd 1 pp)\n")
    rows = []
    for design in ((5, 1, 20), (3, 1, 10), (5, 5, 20)):
        for d_z in (0.0, 0.5, 1.0):
            mean, covered = estimate_after_stopping(rng, repeats, design, d_z)
            rows.append([_name(design), f"{d_z:g}", f"{mean:.3f}", f"{covered:.4f}"])
    print(_table(["design", "true Δ (pp)", "mean Δ (pp)", "coverage"], rows) + "\n")

    print("Equivalence error, every arm's true |Δ| = ROPE: adaptive (naive)\n")
    rows = []
    for kind in KINDS:
        for design in ((5, 1, 20), (3, 1, 10)):
            cells = []
            for num_arms in (1, 3):
                adaptive, naive = equivalence_error(rng, kind, repeats, num_arms, design)
                cells.append(f"{adaptive:.4f} ({naive:.4f})")
            rows.append([kind, _name(design), *cells])
    print(_table(["kind", "design", "1 arm", "3 arms"], rows))
    return 0


def _cells(found: dict[str, float]) -> list[str]:
    return [f"{v:.1f}" if k == "mean seeds" else f"{v:.3f}" for k, v in found.items()]


if __name__ == "__main__":
    sys.exit(main())
