"""Adaptive seeding (`ablate.report.sequential`): exact boundaries and error rates, decisions.

Exact computation where it is possible (one arm: every sign sequence, every history of
ties), simulation with fixed seeds where it is not (several arms, the whole procedure with
its futility and equivalence stops). The simulations are those of
`benchmarks/sequential_simulation.py`, which produces the tables of docs/statistics.md with
more repeats.
"""

import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ablate.errors import InputError
from ablate.report.sequential import (
    OBRIEN_FLEMING,
    POCOCK,
    closed_holm,
    crossing_probability,
    efficacy_boundaries,
    equivalence_levels,
    look_schedule,
    next_seeds,
    sequential_decisions,
    spending_function,
)
from ablate.report.stats import (
    BETTER,
    CONFIDENCE,
    EQUIVALENT,
    INCONCLUSIVE,
    VERDICT_INACTIVE,
    VERDICT_TOO_FEW,
    WORSE,
    holm,
)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sequential_simulation.py"
_spec = importlib.util.spec_from_file_location("sequential_simulation", SCRIPT)
simulation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(simulation)

ALPHA = 1 - CONFIDENCE  # 0.05, as the module computes it
REPEATS = 2000
ALLOWANCE = 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPEATS)  # 0.015


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([2027, *key])


def _decide(differences, **design):
    design = {"min_seeds": 5, "max_seeds": 20, "step": 1, **design}
    return sequential_decisions(differences, **design).set_index("arm")


def _run(differences: dict, **design):
    """Runs the rounds as the sweeper will: each arm's next pairs come from `differences`."""
    design = {"min_seeds": 5, "max_seeds": 20, "step": 1, **design}
    seeds = dict.fromkeys(differences, design["min_seeds"])
    while True:
        table = sequential_decisions(
            {arm: np.asarray(d)[: seeds[arm]] for arm, d in differences.items()}, **design
        )
        more = next_seeds(table)
        if not more:
            return table.set_index("arm")
        for arm, n in more.items():
            seeds[arm] += n


# --- The design and the spending functions -------------------------------------------------


def test_look_schedule_ends_at_max_seeds():
    assert look_schedule(5, 20, 1) == list(range(5, 21))
    assert look_schedule(5, 15, 2) == [5, 7, 9, 11, 13, 15]
    assert look_schedule(3, 10, 4) == [3, 7, 10]
    assert look_schedule(4, 4, 3) == [4]


@pytest.mark.parametrize("design", [(0, 10, 1), (5, 4, 1), (5, 10, 0), (5.0, 10, 1), (True, 10, 1)])
def test_look_schedule_rejects_a_bad_design(design):
    with pytest.raises(InputError):
        look_schedule(*design)


def test_spending_functions_exact_values():
    t = np.array([0.0, 0.25, 0.5, 1.0, 1.5])
    z = scipy_stats.norm.isf(ALPHA / 2)
    np.testing.assert_allclose(
        spending_function(t, ALPHA, OBRIEN_FLEMING),
        [
            0.0,
            2 * scipy_stats.norm.sf(2 * z),
            2 * scipy_stats.norm.sf(z * math.sqrt(2)),
            ALPHA,
            ALPHA,
        ],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        spending_function(t, ALPHA, POCOCK),
        [
            0.0,
            ALPHA * math.log(1 + (math.e - 1) / 4),
            ALPHA * math.log((1 + math.e) / 2),
            ALPHA,
            ALPHA,
        ],
        rtol=1e-12,
    )
    with pytest.raises(InputError, match="spending"):
        spending_function(t, ALPHA, "haybittle")


# --- Exact boundaries and their exact type-I error -----------------------------------------


def test_boundaries_without_ties_for_5_to_20_pairs():
    # Wins (or losses) needed among n non-tied pairs; n + 1 means "cannot cross at this look".
    n = np.arange(5, 21)
    obf = efficacy_boundaries(n, n / 20, ALPHA, OBRIEN_FLEMING)
    pocock = efficacy_boundaries(n, n / 20, ALPHA, POCOCK)
    assert obf.tolist() == [6, 7, 8, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 16]
    assert pocock.tolist() == [6, 7, 7, 8, 9, 9, 10, 11, 12, 12, 13, 13, 14, 15, 16, 16]
    # The fixed design's sign test needs 15 of 20 at 5 %; the sequential one 16 at the end.
    assert simulation.fixed_boundary([20]).tolist() == [15]


def test_single_look_is_the_fixed_sign_test():
    n = np.arange(1, 41)
    u = efficacy_boundaries(n[:, None], np.ones((40, 1)), ALPHA)[:, 0]
    np.testing.assert_array_equal(u, simulation.fixed_boundary(n))  # p < 5 %, else n + 1
    assert u[:5].tolist() == [2, 3, 4, 5, 6]  # 5 pairs or fewer can never reach 5 %


@pytest.mark.parametrize("spending", [OBRIEN_FLEMING, POCOCK])
@pytest.mark.parametrize("design", [(3, 1, 10), (4, 2, 12), (2, 3, 11)])
def test_type_one_error_equals_an_enumeration_of_every_sign_sequence(spending, design):
    min_seeds, step, max_seeds = design
    schedule = np.array(look_schedule(min_seeds, max_seeds, step))
    u, spent = efficacy_boundaries(schedule, schedule / max_seeds, ALPHA, spending, True)
    signs = np.array(list(itertools.product((0, 1), repeat=max_seeds)))  # every sequence
    wins = np.cumsum(signs, axis=1)[:, schedule - 1]
    top = np.maximum(wins, schedule - wins)
    rejected = (top >= u).any(axis=1).mean()  # exact: each sequence has probability 2^-n
    assert spent == pytest.approx(rejected, abs=1e-12)
    assert crossing_probability(schedule, u, 0.5)[-1] == pytest.approx(rejected, abs=1e-12)
    assert rejected <= ALPHA


@pytest.mark.parametrize("spending", [OBRIEN_FLEMING, POCOCK])
@pytest.mark.parametrize("design", [(3, 1, 10), (4, 2, 14), (5, 5, 20)])
def test_type_one_error_given_every_history_of_ties_is_at_most_alpha(spending, design):
    worst, average = simulation.exact_with_ties(design[0], design[2], design[1], 0.2, spending)
    assert worst <= ALPHA
    assert average < worst


def test_naive_repeated_testing_exceeds_alpha_exactly():
    # The fixed-N verdict believed at the first of the looks 5, 6, ..., 20.
    sequential, naive = simulation.exact_one_arm(5, 20, 1)
    assert naive == pytest.approx(0.10662, abs=1e-5)
    assert sequential == pytest.approx(0.03842, abs=1e-5)


def test_e_value_needs_eight_straight_wins():
    # 2^n / (n + 1) >= 20 first at n = 8: the fixed sign test needs 6, the boundary above 10.
    assert simulation.evalue_boundary(np.arange(5, 10)).tolist() == [6, 7, 8, 8, 9]
    power, seeds = simulation.exact_efficacy((5, 1, 20), scipy_stats.norm.cdf(1.0), "e-value")
    obf, obf_seeds = simulation.exact_efficacy(
        (5, 1, 20), scipy_stats.norm.cdf(1.0), OBRIEN_FLEMING
    )
    assert power < obf - 0.1
    assert obf_seeds < 15


# --- Repeated confidence intervals for equivalence ----------------------------------------


def test_single_look_equivalence_is_the_fixed_report_rule():
    assert equivalence_levels([10], [1.0], ALPHA).tolist() == pytest.approx([ALPHA])


def test_equivalence_boundaries_match_published_pocock_values():
    # Lan-DeMets Pocock-type, five equal looks, one side at 2.5 %: 2.438, 2.427, 2.410,
    # 2.397, 2.386 (as in ldbounds and gsDesign).
    thresholds = equivalence_levels([1, 2, 3, 4, 5], [0.2, 0.4, 0.6, 0.8, 1.0], ALPHA, POCOCK)
    z = scipy_stats.norm.isf(thresholds / 2)
    np.testing.assert_allclose(z, [2.438, 2.427, 2.410, 2.397, 2.386], atol=1.5e-3)


@pytest.mark.parametrize("spending", [OBRIEN_FLEMING, POCOCK])
def test_equivalence_boundaries_spend_exactly_by_multivariate_normal(spending):
    seeds = np.array([3, 7, 12])
    z = scipy_stats.norm.isf(equivalence_levels(seeds, seeds / 12, ALPHA, spending) / 2)
    covariance = np.sqrt(np.minimum.outer(seeds, seeds) / np.maximum.outer(seeds, seeds))
    for k in range(1, 4):
        inside = scipy_stats.multivariate_normal(np.zeros(k), covariance[:k, :k]).cdf(z[:k])
        target = spending_function(seeds[k - 1] / 12, ALPHA, spending) / 2
        assert 1 - inside == pytest.approx(target, abs=2e-5)


# --- Holm as a closed test ------------------------------------------------------------------


def test_closed_holm_equals_holm_step_down_for_nested_events():
    # Arm i crossed at alpha / r for r <= strength_i: what a p-value of alpha / strength_i does.
    rng = _rng(1)
    for m in range(1, 6):
        strengths = rng.integers(0, m + 1, size=(500, m))
        events = strengths[..., None] >= np.arange(1, m + 1)
        p = np.where(strengths > 0, ALPHA / np.maximum(strengths, 1), 1.0) * (1 - 1e-9)
        np.testing.assert_array_equal(closed_holm(events), holm(p) < ALPHA)


def test_closed_holm_small_cases():
    assert closed_holm(np.zeros((0, 0), bool)).tolist() == []
    assert closed_holm([[True]]).tolist() == [True]
    # Two arms: one crossed alpha / 2, the other only alpha: Holm rejects both.
    assert closed_holm([[True, True], [True, False]]).tolist() == [True, True]
    assert closed_holm([[True, False], [True, False]]).tolist() == [False, False]


# --- Decisions on tiny inputs ---------------------------------------------------------------


def test_all_wins_at_min_seeds_is_not_enough_with_obrien_fleming():
    table = _decide({"swa=on": [0.01] * 5})
    row = table.loc["swa=on"]
    assert (row.state, row.verdict, row.looks, row.next_seeds) == ("open", INCONCLUSIVE, 1, 1)
    assert math.isnan(row.boundary)  # 5 of 5 cannot cross at t = 0.25
    assert row.spent == pytest.approx(spending_function(0.25, ALPHA, OBRIEN_FLEMING))
    assert row.reason == "open: 5 non-tied pairs cannot cross yet; next look at 6"


def test_ten_straight_wins_cross_at_the_sixth_look():
    table = _decide({"swa=on": [0.01] * 10})
    row = table.loc["swa=on"]
    assert (row.state, row.verdict, row.boundary, row.level) == ("stopped", BETTER, 10.0, ALPHA)
    assert (
        row.reason == "crossed the efficacy boundary at look 6 (10 seeds): 10 of 10 non-tied >= 10"
    )
    assert (
        next_seeds(sequential_decisions({"swa=on": [0.01] * 10}, min_seeds=5, max_seeds=20)) == {}
    )
    # Pocock-type spending crosses at 7 of 7; with a loss first, at 9 of 10 (boundary 9).
    assert _decide({"a": [0.01] * 7}, spending=POCOCK).loc["a", "verdict"] == BETTER
    assert _decide({"a": [0.01] * 6}, spending=POCOCK).loc["a", "state"] == "open"
    worse = _run({"a": [0.01] + [-0.01] * 19}, spending=POCOCK).loc["a"]
    assert (worse.seeds, worse.verdict, worse.boundary) == (10, WORSE, 9.0)
    assert worse.reason.startswith("crossed the efficacy boundary at look 6 (10 seeds)")


def test_ties_do_not_count_towards_the_boundary():
    row = _decide({"a": [0.01, 0.0] * 10}).loc["a"]  # 10 wins, 10 ties at max_seeds
    assert (row.wins, row.ties, row.losses, row.seeds) == (10, 10, 0, 20)
    assert row.verdict == BETTER  # 10 of 10 non-tied: the look at 20 pairs spends all alpha
    row = _decide({"a": [0.01, 0.0] * 5}).loc["a"]  # 5 of 5 non-tied at 10 pairs
    assert (row.state, row.verdict) == ("open", INCONCLUSIVE)


def test_holm_shares_pass_to_the_other_arms():
    weaker = [0.01, -0.01] + [0.01] * 8  # 9 of 10 at the sixth look; no crossing before
    alone = _decide({"b": weaker}, spending=POCOCK).loc["b"]
    assert (alone.verdict, alone.boundary, alone.level) == (BETTER, 9.0, ALPHA)
    with_null = _decide({"b": weaker, "c": [0.01, -0.01] * 5}, spending=POCOCK)
    assert with_null.loc["b", "verdict"] == INCONCLUSIVE  # alpha / 2: 10 of 10 needed
    assert (with_null.loc["b", "level"], with_null.loc["b", "boundary"]) == (ALPHA / 2, 10.0)
    assert with_null.loc["b", "state"] == "open"  # it crossed at alpha: never futile
    together = _decide({"a": [0.01] * 10, "b": weaker}, spending=POCOCK)
    assert together["verdict"].tolist() == [BETTER, BETTER]  # a at alpha / 2, then b at alpha
    assert together["level"].tolist() == [ALPHA / 2, ALPHA]


def test_equivalence_stops_an_arm_with_small_differences():
    d = np.tile([0.001, -0.001, 0.0005, -0.0005, 0.0], 4)
    row = _run({"a": d}).loc["a"]
    assert (row.state, row.verdict) == ("stopped", EQUIVALENT)
    assert row.reason == f"equivalent within ±0.005 at look {row.seeds - 4} ({row.seeds} seeds)"
    assert row.seeds < 20


def test_inactive_arm_stops_and_few_non_tied_pairs_give_no_verdict():
    row = _decide({"a": [0.0] * 5}).loc["a"]
    assert (row.state, row.verdict, row.reason) == (
        "stopped",
        VERDICT_INACTIVE,
        "every pair tied: technique inactive?",
    )
    row = _decide({"a": [0.01, 0.0, 0.0, -0.02, 0.0]}).loc["a"]
    assert (row.state, row.verdict) == ("open", VERDICT_TOO_FEW)


def test_futility_max_seeds_budget_and_waiting():
    spread = np.tile([0.03, -0.03], 6)  # 6 wins, 6 losses, sd 3 pp: neither side is in reach
    row = _decide({"a": spread}).loc["a"]
    assert (row.state, row.verdict) == ("stopped", INCONCLUSIVE)
    assert row.reason.startswith("futile: cannot cross the boundary by max_seeds=20")
    row = _decide({"a": spread}, futility=False).loc["a"]
    assert row.state == "open"
    row = _decide({"a": np.tile([0.03, -0.03], 10)}, futility=False).loc["a"]
    assert (row.state, row.reason) == ("stopped", "reached max_seeds=20")
    row = _decide({"a": spread}, futility=False, final=True).loc["a"]
    assert (row.state, row.reason, row.spent) == ("stopped", "time budget reached", ALPHA)
    assert (row.boundary, row.looks) == (10.0, 8)  # 10 of 12 needed when all alpha is spent
    row = _decide({"a": [0.01, 0.02]}).loc["a"]
    assert (row.state, row.next_seeds, row.looks) == ("open", 3, 0)
    assert row.reason == "waiting for min_seeds=5 pairs"
    row = _decide({"a": [0.01, 0.02]}, final=True).loc["a"]
    assert row.reason == "time budget reached before min_seeds"


def test_a_final_look_spends_all_the_alpha_left():
    # 9 of 10 wins: not enough at t = 0.5 (10 needed), enough when t = 1 (budget spent).
    d = [0.01] * 9 + [-0.01]
    assert _decide({"a": d}).loc["a", "verdict"] == INCONCLUSIVE
    assert _decide({"a": d}, final=True).loc["a", "verdict"] == BETTER


def test_next_seeds_follows_the_schedule():
    d = [0.01] * 4 + [-0.01] + [0.01] * 2  # 6 of 7: open, 7 needed
    table = _decide({"a": d}, min_seeds=5, max_seeds=9, step=3)
    assert table.loc["a", "next_seeds"] == 1  # 7 pairs (a failed run): the next look is at 8
    table = sequential_decisions({"a": d[:5], "b": [0.0] * 5}, min_seeds=5, max_seeds=9, step=3)
    assert next_seeds(table) == {"a": 3}  # b: every pair tied, stopped


def test_looks_taken_can_be_given():
    d = [0.01, -0.01] * 4
    default = _decide({"a": d}).loc["a"]
    assert default.looks == 4  # 5, 6, 7, 8
    given = (
        sequential_decisions({"a": d}, min_seeds=5, max_seeds=20, looks={"a": [5, 7]})
        .set_index("arm")
        .loc["a"]
    )
    assert given.looks == 3  # 5, 7 and now 8


def test_invalid_inputs_are_input_errors():
    with pytest.raises(InputError, match="max_seeds"):
        _decide({"a": [0.01] * 21})
    with pytest.raises(InputError, match="finite"):
        _decide({"a": [0.01, math.nan, 0.0, 0.0, 0.0]})
    with pytest.raises(InputError, match="alpha"):
        _decide({"a": [0.01] * 5}, alpha=1.5)
    with pytest.raises(InputError, match="spending"):
        _decide({"a": [0.01] * 5}, spending="pocok")
    assert sequential_decisions({}, min_seeds=5, max_seeds=20).empty


# --- The simulation engine decides as `sequential_decisions` does ------------------------


@pytest.mark.parametrize("kind", simulation.KINDS)
def test_simulation_engine_matches_round_by_round_decisions(kind):
    rng = _rng(len(kind))
    effects = [0.0, 0.005, 0.01]
    for effect in effects:
        d = simulation.differences(rng, kind, 6, 3, 12, effect)
        found = simulation.run_adaptive(d, 3, 12, 2)
        for b in range(d.shape[0]):
            seeds = {f"a{i}": 3 for i in range(3)}
            while True:
                table = sequential_decisions(
                    {arm: d[b, i, :n] for i, (arm, n) in enumerate(seeds.items())},
                    min_seeds=3,
                    max_seeds=12,
                    step=2,
                )
                more = next_seeds(table)
                if not more:
                    break
                for arm, n in more.items():
                    seeds[arm] += n
            assert table["seeds"].tolist() == found["seeds"][b].tolist()
            assert table["verdict"].tolist() == found["verdict"][b].tolist()


# --- Simulated error rates, power and seeds ------------------------------------------------


@pytest.mark.parametrize("kind", simulation.KINDS)
@pytest.mark.parametrize("num_arms", [1, 3])
def test_family_wise_type_one_error_is_at_most_alpha(kind, num_arms):
    for design in ((5, 1, 20), (3, 2, 15)):
        found = simulation.family_error(
            _rng(num_arms, len(kind), design[1]), kind, REPEATS, num_arms, design
        )
        assert found["adaptive"] <= ALPHA + ALLOWANCE, (design, found)
        if design == (5, 1, 20):
            assert found["naive"] > ALPHA + ALLOWANCE, (design, found)  # peeking matters


def test_power_and_seeds_at_d_z_one():
    found = simulation.outcomes(_rng(3), REPEATS, (5, 1, 20), 1.0)
    assert found["better"] > 0.82  # exact without futility stops: 0.865; fixed at 20: 0.916
    assert found["better"] + found["futile"] + found["at max_seeds"] == pytest.approx(1.0)
    assert found["mean seeds"] < 15  # against 20 for the fixed design
    three = simulation.outcomes(_rng(4), REPEATS // 2, (5, 1, 20), 1.0, num_arms=3)
    assert three["better"] > 0.78 and three["mean seeds"] < 16.5


def test_null_arms_stop_early_or_show_equivalence():
    normal = simulation.outcomes(_rng(5), REPEATS, (5, 1, 20), 0.0)
    assert normal["mean seeds"] < 15  # futility stops most null arms with a wide spread
    ties = simulation.outcomes(_rng(6), REPEATS, (5, 1, 20), 0.0, kind="ties")
    assert ties["equivalent"] > 0.8  # quiet null arms run on until equivalent


@pytest.mark.parametrize("kind", simulation.KINDS)
def test_equivalence_error_at_the_rope_edge(kind):
    adaptive, naive = simulation.equivalence_error(_rng(7, len(kind)), kind, REPEATS, 3, (5, 1, 20))
    assert adaptive <= ALPHA + ALLOWANCE
    assert adaptive <= naive


def test_delta_interval_after_stopping_still_covers():
    # O'Brien-Fleming-type boundaries stop late enough for the report's t interval to hold.
    mean, covered = simulation.estimate_after_stopping(_rng(8), REPEATS, (5, 1, 20), 1.0)
    assert abs(mean - 1.0) < 0.05
    assert covered > 0.93
