"""Adaptive seeding: group-sequential verdicts that decide when an arm needs no more seeds.

`ablation.seeds=auto` runs `min_seeds` pairs of every arm, then adds `step` paired seeds per
round, only to arms whose verdict is still open, until each arm is decided or reaches
`max_seeds` (or the time budget ends). Believing the report's fixed-N verdict at the first
look where it says better or worse would inflate the type-I error: with looks at 5, 6, ...,
20 pairs it calls a null arm better or worse 10.7 % of the time instead of at most 5 %
(exact, docs/statistics.md). This module keeps every claim at its nominal level:

- **better / worse** and **equivalent**: the report's exact sign test and its TOST, made
  group-sequential with Lan-DeMets alpha spending, each arm at its Holm share of alpha; the
  boundaries, and why they are exact, are in `ablate.report.sequential_boundaries`. Like the
  fixed report, equivalence needs `MIN_NONTIED_PAIRS` non-tied pairs.
- **Several arms**: Holm's procedure in closed-testing form (Maurer & Bretz 2013; Ye et al.
  2013). The intersection H_J of the arms in J is tested by a weighted Bonferroni
  group-sequential test: reject when some arm of J has ever crossed its boundary at level
  alpha / |J|. An arm's boundary holds its level whichever look it stops at, so H_J holds
  level alpha by the union bound, and the closed test keeps the family-wise error within
  alpha over the whole adaptive sweep. An arm's share of alpha passes to the others once it
  is decided, as in Holm's step-down. The closed test is evaluated exactly (`closed_holm`),
  without assuming the boundaries monotone in the level.
- **futility** (non-binding): an arm stops early as inconclusive when (1) it could not reach
  the better/worse boundary at level alpha (the most its Holm share can become) by
  `max_seeds` even if every remaining pair were a win (or every one a loss), and (2)
  equivalence is out of sight: with its current spread, the equivalence interval at
  `max_seeds` would not fit in the ROPE even if the mean moved one standard error towards
  0. (A future with ties can, rarely, reach a boundary the all-wins future misses, as the
  boundaries move in integer steps; (1) is about the all-wins future.)
- Every stop other than a crossing (futility, equivalence, an inactive technique whose
  every pair ties, `max_seeds`, the time budget) only removes chances to cross a boundary
  whose crossing probability is bounded over the whole schedule, so none can raise the
  type-I error of better/worse verdicts: the futility rule is non-binding (Jennison &
  Turnbull 2000). With `final=True` (the budget is spent) the open arms take their last look
  now and spend the alpha left (`t = 1`), valid when the budget does not depend on the signs
  of the differences.

Looks happen at `min_seeds, min_seeds + step, ...` pairs and at `max_seeds`
(`look_schedule`); pairs are taken in seed order. A pair count off the schedule (after a
failed run) is a look too, and the looks already taken can be passed (`looks=`): the
boundaries are valid for any look times that do not depend on the signs of the differences.
Measured error rates, power and seeds used: docs/statistics.md, "Adaptive seeding".

References:
    Maurer & Bretz, "Multiple testing in group sequential trials using graphical
        approaches", Statistics in Biopharmaceutical Research 2013.
    Ye, Li, Jiang & Wu, "Group sequential Holm and Hochberg procedures", Statistics in
        Medicine 2013.
    Jennison & Turnbull, "Group Sequential Methods with Applications to Clinical Trials",
        Chapman & Hall/CRC 2000 (stochastic curtailment, non-binding futility).

Example:

>>> table = sequential_decisions(
...     {"swa=on": [0.01] * 5, "ls=0.1": [0.01, -0.02, 0.0, 0.01, 0.0]},
...     min_seeds=5,
...     max_seeds=20,
... )
>>> print(table[["arm", "seeds", "state", "verdict"]].to_string(index=False))
   arm  seeds state                        verdict
swa=on      5  open                   inconclusive
ls=0.1      5  open no verdict (<5 non-tied pairs)
>>> next_seeds(table)
{'swa=on': 1, 'ls=0.1': 1}
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ablate.errors import InputError
from ablate.report.sequential_boundaries import (
    DEFAULT_SPENDING,
    SPENDING,
    efficacy_boundaries,
    equivalence_levels,
    spending_function,
)
from ablate.report.stats import (
    BETTER,
    BETTER_NEGLIGIBLE,
    CONFIDENCE,
    EQUIVALENT,
    INCONCLUSIVE,
    MIN_NONTIED_PAIRS,
    ROPE,
    VERDICT_INACTIVE,
    VERDICT_NA,
    VERDICT_TOO_FEW,
    WORSE,
    WORSE_NEGLIGIBLE,
    equivalence_test,
    sign_counts,
)

OPEN = "open"
STOPPED = "stopped"

# State codes of the vectorised decision (`decide_states`), in order of precedence.
WAITING, RUNNING, REJECTED, EQUIVALENT_CODE, INACTIVE, AT_MAX, BUDGET, FUTILE = range(8)
STOP_CODES = (REJECTED, EQUIVALENT_CODE, INACTIVE, AT_MAX, BUDGET, FUTILE)

COLUMNS = [
    "arm",
    "seeds",
    "wins",
    "ties",
    "losses",
    "looks",
    "state",
    "verdict",
    "reason",
    "level",
    "spent",
    "boundary",
    "next_seeds",
]


def look_schedule(min_seeds: int, max_seeds: int, step: int = 1) -> list[int]:
    """The pair counts at which the arms are looked at: `min_seeds`, `+ step`, ..., `max_seeds`.

    Args:
        min_seeds: pairs of the first look (at least 1).
        max_seeds: pairs of the last look (at least `min_seeds`); it is always a look, even
            when `max_seeds - min_seeds` is not a multiple of `step`.
        step: pairs added per round (at least 1). Defaults to 1.

    Returns:
        The increasing list of pair counts.

    Raises:
        InputError: if the three numbers are not as above.
    """
    _check_design(min_seeds, max_seeds, step)
    schedule = list(range(min_seeds, max_seeds + 1, step))
    return schedule if schedule[-1] == max_seeds else [*schedule, max_seeds]


def closed_holm(events) -> np.ndarray:
    """Holm's procedure as a closed test of weighted Bonferroni intersection tests.

    `events[..., i, r - 1]` is True when arm i has crossed its boundary at level alpha / r
    (r = 1..m) at some look so far. The intersection H_J is rejected when some arm of J
    has crossed at level alpha / |J|; arm i is rejected when every H_J with i in J is, i.e.
    for every r: arm i crossed at alpha / r, or fewer than r - 1 other arms did not.

    Args:
        events: booleans of shape `(..., m, m)`.

    Returns:
        The rejected arms, booleans of shape `(..., m)`.
    """
    events = np.asarray(events, bool)
    m = events.shape[-1]
    if m == 0:
        return np.zeros(events.shape[:-1], bool)
    missed = (~events).sum(axis=-2, keepdims=True) - ~events  # other arms without the event
    sizes = np.arange(1, m + 1)
    return (events | (missed < sizes - 1)).all(axis=-1)


def decide_states(
    crossed,
    equivalent,
    waiting,
    inactive,
    futile,
    at_max,
    final: bool = False,
) -> dict[str, np.ndarray]:
    """Combines each arm's flags at its current look into its state, across the arms.

    The one decision rule of adaptive seeding, vectorised so that the simulations run it on
    thousands of sweeps at once; `sequential_decisions` builds the flags from the data.

    Args:
        crossed: `(..., m, m)`: arm i has crossed its better/worse boundary at level
            alpha / r at some look so far (`[..., i, r - 1]`).
        equivalent: `(..., m, m)`: the same for the equivalence test.
        waiting: `(..., m)`: fewer than `min_seeds` pairs (no look yet).
        inactive: `(..., m)`: at a look, with at least 2 pairs, every one tied.
        futile: `(..., m)`: cannot cross the boundary at level alpha by `max_seeds`, and
            equivalence is out of sight (see the module docstring).
        at_max: `(..., m)`: the arm has `max_seeds` pairs.
        final: the time budget is spent: no arm gets more seeds. Defaults to False.

    Returns:
        `rejected` and `equivalent` (closed-testing decisions, `(..., m)`) and `state`, the
        state codes (`REJECTED`, `EQUIVALENT_CODE`, ..., `RUNNING`, `WAITING`).
    """
    rejected = closed_holm(crossed)
    shown = closed_holm(equivalent)
    waiting = np.asarray(waiting, bool)
    state = np.select(
        [
            rejected,
            shown & ~waiting,
            np.asarray(inactive, bool) & ~waiting,
            at_max,
            np.full(waiting.shape, bool(final)),
            np.asarray(futile, bool) & ~waiting,
            waiting,
        ],
        [REJECTED, EQUIVALENT_CODE, INACTIVE, AT_MAX, BUDGET, FUTILE, WAITING],
        default=RUNNING,
    )
    return {"rejected": rejected, "equivalent": shown, "state": state}


def verdict_words(state, direction, equivalent, pairs, nontied) -> np.ndarray:
    """The report's verdict for each state: the words of `ablate.report.stats`.

    Args:
        state: state codes from `decide_states`.
        direction: +1 / -1, the sign of wins - losses at the arm's first crossing.
        equivalent: the equivalence decisions (a rejected arm that is also equivalent is
            "better (within ROPE)").
        pairs: pairs so far.
        nontied: non-tied pairs so far.

    Returns:
        The verdict strings.
    """
    state, direction = np.asarray(state), np.asarray(direction)
    pairs, nontied = np.asarray(pairs), np.asarray(nontied)
    rejected = state == REJECTED
    return np.select(
        [
            rejected & (direction > 0) & equivalent,
            rejected & (direction > 0),
            rejected & equivalent,
            rejected,
            state == EQUIVALENT_CODE,
            pairs == 0,
            (pairs >= 2) & (nontied == 0),
            nontied < MIN_NONTIED_PAIRS,
        ],
        [
            BETTER_NEGLIGIBLE,
            BETTER,
            WORSE_NEGLIGIBLE,
            WORSE,
            EQUIVALENT,
            VERDICT_NA,
            VERDICT_INACTIVE,
            VERDICT_TOO_FEW,
        ],
        default=INCONCLUSIVE,
    )


def look_flags(
    differences,
    seeds_at,
    schedule,
    *,
    max_seeds: int,
    levels,
    rope: float = ROPE,
    spending: str = DEFAULT_SPENDING,
    futility: bool = True,
    final: bool = False,
    futility_at: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Every test of adaptive seeding, for arms that share their looks, as of each look.

    The flags at look k are those of an arm whose last look is k: they use only its first
    `seeds_at[k]` pairs. `sequential_decisions` takes the last look of each arm; the
    simulations run every arm to `max_seeds` once and read the flags at the look where the
    procedure stopped it.

    Args:
        differences: paired differences, shape `(arms, pairs)` with at least
            `seeds_at[-1]` pairs, in seed order.
        seeds_at: pairs at each look taken, increasing, at least 1.
        schedule: the design's `look_schedule` (the future looks for futility).
        max_seeds: the design's maximum.
        levels: alpha / r for r = 1..m (Holm's shares), shape `(m,)`.
        rope: the ROPE's half-width. Defaults to 0.005.
        spending: the spending function. Defaults to `"obrien-fleming"`.
        futility: compute futility stops. Defaults to True.
        final: the last look is the last one (time budget): it spends all the alpha left.
        futility_at: the looks (indices) at which to compute futility. Defaults to all.

    Returns:
        Arrays over `(arms, looks)`: `nontied`, `wins`, `top` (max of wins and losses),
        `boundary` (`(arms, looks, m)`, the better/worse boundary at each level),
        `crossed` and `equivalent` (`(arms, looks, m)`: at this look or before, at level
        alpha / r), `direction` (sign of wins - losses at the first crossing at level alpha,
        0 before), `inactive`, `futile`.
    """
    d = np.atleast_2d(np.asarray(differences, float))
    seeds_at = np.asarray(seeds_at, int)
    levels = np.atleast_1d(np.asarray(levels, float))
    num_a, num_k = d.shape[0], len(seeds_at)
    times = np.minimum(seeds_at / max_seeds, 1.0)
    if final:
        times[-1] = 1.0
    signs = np.sign(d)
    nontied = np.cumsum(signs != 0, axis=-1)[:, seeds_at - 1]
    wins = np.cumsum(signs > 0, axis=-1)[:, seeds_at - 1]
    top = np.maximum(wins, nontied - wins)
    boundary = efficacy_boundaries(nontied, times, levels, spending)
    crossed = np.logical_or.accumulate(top[..., None] >= boundary, axis=1)
    first = np.argmax(crossed[..., 0], axis=1)[:, None]
    first_sign = np.sign(
        2 * np.take_along_axis(wins, first, 1) - np.take_along_axis(nontied, first, 1)
    )
    direction = np.where(crossed[..., 0], first_sign, 0)
    p_equivalence = np.stack([equivalence_test(d[:, :s], rope) for s in seeds_at], axis=-1)
    thresholds = equivalence_levels(seeds_at, times, levels, spending)
    shown = (nontied >= MIN_NONTIED_PAIRS)[..., None] & (p_equivalence[..., None] < thresholds)
    equivalent = np.logical_or.accumulate(shown, axis=1)
    inactive = (nontied == 0) & (seeds_at >= 2)
    futile = np.zeros((num_a, num_k), bool)
    for k in (range(num_k) if futility_at is None else futility_at) if futility else ():
        k = k % num_k
        if seeds_at[k] >= max_seeds or (final and k == num_k - 1):
            continue
        future = np.array([p for p in schedule if p > seeds_at[k]])
        if len(future) == 0:
            continue
        added = future - seeds_at[k]
        looks = np.concatenate([seeds_at[: k + 1], future])
        later = np.concatenate([times[: k + 1], np.minimum(future / max_seeds, 1.0)])
        n_ext = np.concatenate([nontied[:, : k + 1], nontied[:, k, None] + added], axis=1)
        u_ext = efficacy_boundaries(n_ext, later, levels[0], spending)[:, k + 1 :]
        reachable = (top[:, k, None] + added >= u_ext).any(axis=1)
        # Equivalence in sight: with today's spread, the interval at max_seeds would fit in
        # the ROPE if the mean moved one standard error towards 0.
        threshold = equivalence_levels(looks, later, levels[0], spending)[-1]
        prefix = d[:, : seeds_at[k]]
        if seeds_at[k] >= 2:
            spread = prefix.std(axis=-1, ddof=1)
            closer = np.abs(prefix.mean(axis=-1)) - spread / math.sqrt(seeds_at[k])
            half = scipy_stats.t.isf(threshold / 2, future[-1] - 1) * spread
            in_sight = np.maximum(closer, 0.0) + half / math.sqrt(future[-1]) < rope
        else:
            in_sight = np.ones(num_a, bool)
        futile[:, k] = ~reachable & ~in_sight & ~crossed[:, k, 0]
    return {
        "nontied": nontied,
        "wins": wins,
        "top": top,
        "boundary": boundary,
        "crossed": crossed,
        "equivalent": equivalent,
        "direction": direction,
        "inactive": inactive,
        "futile": futile,
        "times": times,
    }


def sequential_decisions(
    differences_by_arm: Mapping[str, Sequence[float]],
    *,
    min_seeds: int,
    max_seeds: int,
    step: int = 1,
    alpha: float = 1 - CONFIDENCE,
    rope: float = ROPE,
    spending: str = DEFAULT_SPENDING,
    futility: bool = True,
    final: bool = False,
    looks: Mapping[str, Sequence[int]] | None = None,
) -> pd.DataFrame:
    """Decides, after a round of seeds, which arms stop and with which verdict.

    See the module docstring for the tests. The decision depends only on the differences,
    in seed order, and the design: calling it again on the same data gives the same table,
    and decisions never change back (a stopped arm stays stopped, a verdict once reached
    stays), except that Holm's step-down may later turn a stopped arm "better" or "worse"
    when another arm's rejection frees its share of alpha.

    Args:
        differences_by_arm: for each arm, its paired differences arm - baseline of the
            metric (higher is better), one per pair, in seed order; only pairs where both
            runs finished (`stats.pairs`). Every arm of the sweep belongs here: they form
            Holm's family.
        min_seeds: pairs of the first look.
        max_seeds: the most pairs an arm gets.
        step: pairs added per round. Defaults to 1.
        alpha: the family-wise type-I error of each family (better/worse, equivalent).
            Defaults to 0.05.
        rope: half-width of the region of practical equivalence, in the metric's units.
            Defaults to 0.005 (±0.5 pp of accuracy).
        spending: `"obrien-fleming"` (default) or `"pocock"`.
        futility: stop arms that can no longer be decided by `max_seeds` (see the module
            docstring). Defaults to True.
        final: the time budget is spent and no arm gets more seeds: the open arms take their
            last look now (spending the alpha left) and stop. Defaults to False.
        looks: for each arm, the pair counts at which it was looked at before, when they
            differ from `look_schedule` (e.g. after failed runs); the current count is
            always a look. Defaults to the schedule points below the current count.

    Returns:
        One row per arm, in the order given, with columns:
        `arm`; `seeds` (pairs so far); `wins, ties, losses`; `looks` (looks taken);
        `state` (`"open"` or `"stopped"`); `verdict` (the report's words: better, worse,
        better (within ROPE), worse (within ROPE), equivalent (within ROPE), inconclusive,
        no verdict (<5 non-tied pairs), no effect: technique inactive?, n/a); `reason`
        (why it stopped, or what it waits for); `level` (the arm's Holm share of alpha);
        `spent` (the alpha the spending function allows by this look, at that level);
        `boundary` (wins or losses among the non-tied pairs needed to cross at this look, at
        that level; NaN when no count can); `next_seeds` (pairs to add next round: 0 when
        stopped).

    Raises:
        InputError: for an invalid design, an arm with more than `max_seeds` pairs, or a
            non-finite difference.

    Example:

    >>> table = sequential_decisions({"swa=on": [0.01] * 10}, min_seeds=5, max_seeds=20)
    >>> row = table.iloc[0]
    >>> print(row.seeds, row.state, row.verdict, row.boundary)
    10 stopped better 10.0
    >>> row.reason
    'crossed the efficacy boundary at look 6 (10 seeds): 10 of 10 non-tied >= 10'
    """
    schedule = look_schedule(min_seeds, max_seeds, step)
    _check_level(alpha, spending)
    arms = list(differences_by_arm)
    m = len(arms)
    if m == 0:
        return pd.DataFrame(columns=COLUMNS)
    levels = alpha / np.arange(1, m + 1)
    histories = []
    for arm in arms:
        d = np.asarray(differences_by_arm[arm], float).reshape(-1)
        if not np.isfinite(d).all():
            raise InputError(f"Differences must be finite. Received: {arm}={d.tolist()}")
        if len(d) > max_seeds:
            raise InputError(
                f"An arm has at most `max_seeds` pairs. Received: {arm} has {len(d)} pairs, "
                f"{max_seeds=}. Pass only the first `max_seeds` pairs."
            )
        previous = None if looks is None else looks.get(arm)
        histories.append(
            _history(d, schedule, previous, max_seeds, final, levels, rope, spending, futility)
        )
    decided = decide_states(
        np.array([h["crossed"] for h in histories]),
        np.array([h["equivalent"] for h in histories]),
        np.array([h["waiting"] for h in histories]),
        np.array([h["inactive"] for h in histories]),
        np.array([h["futile"] for h in histories]),
        np.array([h["at_max"] for h in histories]),
        final,
    )
    state, rejected = decided["state"], decided["rejected"]
    verdict = verdict_words(
        state,
        np.array([h["direction"] for h in histories]),
        decided["equivalent"],
        np.array([h["pairs"] for h in histories]),
        np.array([h["nontied"] for h in histories]),
    )
    shares = _holm_shares(np.array([h["crossed"] for h in histories]), rejected)
    rows = []
    for i, (arm, h) in enumerate(zip(arms, histories, strict=True)):
        r = int(shares[i])
        stopped = int(state[i]) in STOP_CODES
        following = next((p for p in schedule if p > h["pairs"]), max_seeds)
        boundary = h["boundary"][r - 1] if h["boundary"] is not None else math.nan
        rows.append(
            {
                "arm": arm,
                "seeds": h["pairs"],
                "wins": h["wins"],
                "ties": h["pairs"] - h["nontied"],
                "losses": h["nontied"] - h["wins"],
                "looks": h["looks"],
                "state": STOPPED if stopped else OPEN,
                "verdict": str(verdict[i]),
                "reason": _reason(int(state[i]), h, r, min_seeds, max_seeds, rope, following),
                "level": float(levels[r - 1]),
                "spent": float(h["spent"][r - 1]) if h["spent"] is not None else 0.0,
                "boundary": float(boundary) if boundary <= h["nontied"] else math.nan,
                "next_seeds": 0 if stopped else following - h["pairs"],
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def next_seeds(decisions: pd.DataFrame) -> dict[str, int]:
    """How many paired seeds each open arm gets in the next round.

    Args:
        decisions: the table of `sequential_decisions`.

    Returns:
        `{arm: pairs to add}` for the open arms (never beyond `max_seeds`); empty when every
        arm has stopped: the sweep is done.

    Example:

    >>> differences = {"a": [0.01] * 5, "b": [0.0] * 5}
    >>> next_seeds(sequential_decisions(differences, min_seeds=5, max_seeds=9, step=2))
    {'a': 2}
    """
    open_arms = decisions[(decisions["state"] == OPEN) & (decisions["next_seeds"] > 0)]
    return {str(a): int(n) for a, n in zip(open_arms["arm"], open_arms["next_seeds"], strict=True)}


def _history(d, schedule, previous, max_seeds, final, levels, rope, spending, futility) -> dict:
    """One arm's flags at its current look (see `decide_states`) and what `_reason` needs."""
    m, s = len(levels), len(d)
    wins, ties, _ = sign_counts(d)
    out = {
        "pairs": s,
        "wins": int(wins),
        "nontied": int(s - ties),
        "waiting": s < schedule[0],
        "inactive": False,
        "futile": False,
        "at_max": s >= max_seeds,
        "crossed": np.zeros(m, bool),
        "equivalent": np.zeros(m, bool),
        "direction": 0,
        "looks": 0,
        "boundary": None,
        "spent": None,
    }
    if s < schedule[0]:
        return out
    if previous is None:
        seeds_at = [p for p in schedule if p < s] + [s]
    else:
        seeds_at = sorted({int(p) for p in previous if schedule[0] <= p < s}) + [s]
    flags = look_flags(
        d[None, :],
        seeds_at,
        schedule,
        max_seeds=max_seeds,
        levels=levels,
        rope=rope,
        spending=spending,
        futility=futility,
        final=final,
        futility_at=[-1],
    )
    flags = {key: value[0] if key != "times" else value for key, value in flags.items()}
    crossed, equivalent = flags["crossed"], flags["equivalent"]
    firsts = [int(np.argmax(crossed[:, r])) if crossed[-1, r] else None for r in range(m)]
    out.update(
        looks=len(seeds_at),
        crossed=crossed[-1],
        equivalent=equivalent[-1],
        inactive=bool(flags["inactive"][-1]),
        futile=bool(flags["futile"][-1]),
        direction=int(flags["direction"][-1]),
        boundary=flags["boundary"][-1],
        spent=spending_function(flags["times"][-1], levels, spending),
        cross_look=[
            None
            if k is None
            else (
                k + 1,
                seeds_at[k],
                int(flags["top"][k]),
                int(flags["nontied"][k]),
                int(flags["boundary"][k, r]),
            )
            for r, k in enumerate(firsts)
        ],
        equivalent_look=[
            (int(k) + 1, seeds_at[int(k)]) if equivalent[-1, r] else None
            for r, k in enumerate(np.argmax(equivalent, axis=0))
        ],
    )
    return out


def _holm_shares(crossed: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """r such that each arm's level is alpha / r: Holm's step-down order.

    Open arms get r = the arms without a better/worse verdict; rejected arms, taken from the
    one that crossed the strictest level, get m, m - 1, ... .
    """
    m = len(rejected)
    shares = np.full(m, m - int(rejected.sum()), int)
    strictest = np.array([np.flatnonzero(row).max() + 1 if row.any() else 0 for row in crossed])
    order = sorted(np.flatnonzero(rejected), key=lambda i: -strictest[i])
    for rank, i in enumerate(order):
        shares[i] = m - rank
    return np.maximum(shares, 1)


def _reason(state, h, r, min_seeds, max_seeds, rope, following) -> str:
    if state == REJECTED:
        look = h["cross_look"][r - 1] or next(c for c in h["cross_look"] if c)
        k, seeds, top, n, u = look
        return (
            f"crossed the efficacy boundary at look {k} ({seeds} seeds): "
            f"{top} of {n} non-tied >= {u}"
        )
    if state == EQUIVALENT_CODE:
        k, seeds = h["equivalent_look"][r - 1] or next(c for c in h["equivalent_look"] if c)
        return f"equivalent within ±{rope:g} at look {k} ({seeds} seeds)"
    if state == INACTIVE:
        return "every pair tied: technique inactive?"
    if state == AT_MAX:
        return f"reached max_seeds={max_seeds}"
    if state == BUDGET:
        return "time budget reached" + (" before min_seeds" if h["waiting"] else "")
    if state == FUTILE:
        return (
            f"futile: cannot cross the boundary by max_seeds={max_seeds} even winning (or "
            "losing) every remaining pair, and equivalence is out of sight"
        )
    if state == WAITING:
        return f"waiting for min_seeds={min_seeds} pairs"
    u = h["boundary"][r - 1]
    if u > h["nontied"]:
        return f"open: {h['nontied']} non-tied pairs cannot cross yet; next look at {following}"
    top = max(h["wins"], h["nontied"] - h["wins"])
    return f"open: {top} of {h['nontied']} non-tied, {u} needed; next look at {following}"


def _check_design(min_seeds, max_seeds, step) -> None:
    for name, value in (("min_seeds", min_seeds), ("max_seeds", max_seeds), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if max_seeds < min_seeds:
        raise InputError(
            "`max_seeds` must be at least `min_seeds`. "
            f"Received: min_seeds={min_seeds}, max_seeds={max_seeds}"
        )


def _check_level(alpha, spending) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"`alpha` must be in (0, 1). Received: {alpha=}")
    if spending not in SPENDING:
        raise InputError(f"`spending` must be one of {list(SPENDING)}. Received: {spending=}")
