"""The report's error rates and coverage, measured by simulation (vectorised, seconds).

The simulations are those of `benchmarks/statistics_simulation.py`, which produces the tables
of `docs/statistics.md` with more repeats; here they run with fewer and assert the bounds,
with an allowance of 3 Monte Carlo standard errors where the target is a rate.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ablate.report.stats import DIRECTIONAL, sign_test_power, verdicts
from conftest import REPO, load_script

simulation = load_script(REPO / "benchmarks" / "statistics_simulation.py")

REPEATS = 4000
ALPHA = 0.05
ALLOWANCE = 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPEATS)  # 0.010


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([2026, *key])


@pytest.mark.parametrize("kind", simulation.KINDS)
def test_type_one_error_of_the_verdict_is_at_most_five_percent(kind):
    worst = {}
    for num_pairs in simulation.NUMBER_OF_PAIRS:  # 3..20
        found = simulation.family_error(
            _rng(num_pairs, len(kind)), kind, REPEATS, num_pairs, simulation.NUMBER_OF_ARMS
        )
        worst[num_pairs] = max(found.values())
        assert all(rate <= ALPHA + ALLOWANCE for rate in found.values()), (num_pairs, found)
    assert max(worst[n] for n in (3, 4, 5)) == 0.0  # fewer than 6 pairs never decide
    assert np.mean(list(worst.values())) < ALPHA  # conservative on average


def test_ties_are_common_in_the_tie_heavy_kind():
    d = simulation.differences(_rng(1), "ties", REPEATS, 1, 20)
    assert 0.15 < np.mean(d == 0) < 0.25
    q = simulation.differences(_rng(2), "quantised", REPEATS, 1, 20)
    assert np.allclose(q * 1000, np.round(q * 1000))  # steps of 1/1000


@pytest.mark.parametrize("kind", ["normal", "quantised", "ties", "skewed"])
@pytest.mark.parametrize("num_pairs", simulation.COVERAGE_PAIRS)
def test_delta_interval_covers_at_least_93_percent(kind, num_pairs):
    # t interval coverage is a smooth function of N: many repeats keep the MC error small.
    repeats = 100_000
    covered = simulation.coverage(_rng(num_pairs, len(kind), 7), kind, repeats, num_pairs)
    assert covered >= 0.93, covered
    if kind != "skewed":
        assert abs(covered - 0.95) < 3 * math.sqrt(0.95 * 0.05 / repeats) + 0.005


def test_heavy_skew_is_the_documented_limit_of_the_t_interval():
    covered = simulation.coverage(_rng(9), "heavy skew", 100_000, 5)
    assert 0.87 < covered < 0.90  # docs/statistics.md: 0.88 at N = 5 for skewness 2


def test_power_at_ten_pairs_and_d_z_one():
    found = simulation.power(_rng(10), REPEATS, num_pairs=10, d_z=1.0, num_arms=1)
    exact = sign_test_power(10, scipy_stats.norm.cdf(1.0), ALPHA)
    assert exact == pytest.approx(0.5129, abs=1e-4)  # P(>= 9 of 10 wins) at P(win) = 0.841
    error = 3 * math.sqrt(0.25 / REPEATS)
    assert found["sign test (the verdict)"] == pytest.approx(exact, abs=error)
    # The price of exactness under ties: the t test and Wilcoxon detect d_z = 1 more often.
    assert found["t test"] > 0.75 and found["Wilcoxon"] > 0.7


@pytest.mark.parametrize("kind", simulation.KINDS)
def test_equivalence_verdict_error_at_the_rope_edge(kind):
    for num_pairs in (5, 10, 20):
        found = simulation.equivalence_error(
            _rng(num_pairs, len(kind), 3), kind, REPEATS, num_pairs, arms=(1, 3, 8)
        )
        assert all(rate <= ALPHA + ALLOWANCE for rate in found.values()), (num_pairs, found)
        assert max(found.values()) < 0.045


def test_equivalence_is_shown_with_enough_quiet_seeds():
    d = simulation.differences(_rng(11), "ties", REPEATS, 1, 20)
    verdict = verdicts(d)
    assert np.mean(verdict == "equivalent (within ROPE)") > 0.85
    assert np.mean(np.isin(verdict, DIRECTIONAL)) <= ALPHA + ALLOWANCE
