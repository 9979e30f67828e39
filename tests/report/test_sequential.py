"""Adaptive seeding (`ablate.report.sequential`): decisions and their error rates.

The boundaries themselves are checked exactly in `test_sequential_boundaries.py`; here, the
decisions of one round, and simulation with fixed seeds where exact computation is out of
reach (several arms, the whole procedure with its futility and equivalence stops). The
simulations are those of `benchmarks/sequential_simulation.py`, which produces the tables of
docs/statistics.md with more repeats.
"""

import math

import numpy as np
import pytest

from ablate.errors import InputError
from ablate.report.sequential import (
    closed_holm,
    look_schedule,
    next_seeds,
    sequential_decisions,
)
from ablate.report.sequential_boundaries import OBRIEN_FLEMING, POCOCK, spending_function
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
from conftest import REPO, load_script

simulation = load_script(REPO / "benchmarks" / "sequential_simulation.py")

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


# --- The design -------------------------------------------------


def test_look_schedule_ends_at_max_seeds():
    assert look_schedule(5, 20, 1) == list(range(5, 21))
    assert look_schedule(5, 15, 2) == [5, 7, 9, 11, 13, 15]
    assert look_schedule(3, 10, 4) == [3, 7, 10]
    assert look_schedule(4, 4, 3) == [4]


@pytest.mark.parametrize("design", [(0, 10, 1), (5, 4, 1), (5, 10, 0), (5.0, 10, 1), (True, 10, 1)])
def test_look_schedule_rejects_a_bad_design(design):
    with pytest.raises(InputError):
        look_schedule(*design)


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
