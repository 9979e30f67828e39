"""Boundaries of adaptive seeding (`ablate.report.sequential_boundaries`), computed exactly.

The sign-test boundaries are checked against an enumeration of every sign sequence and every
history of ties; the equivalence boundaries against published values and a multivariate
normal. The exact one-arm computations are those of `benchmarks/sequential_simulation.py`.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ablate.errors import InputError
from ablate.report.sequential import look_schedule
from ablate.report.sequential_boundaries import (
    OBRIEN_FLEMING,
    POCOCK,
    crossing_probability,
    efficacy_boundaries,
    equivalence_levels,
    spending_function,
)
from ablate.report.stats import CONFIDENCE
from conftest import REPO, load_script

simulation = load_script(REPO / "benchmarks" / "sequential_simulation.py")

ALPHA = 1 - CONFIDENCE  # 0.05, as the modules compute it


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
