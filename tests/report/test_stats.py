"""Paired statistics of `ablate.report.stats`: exact numbers against scipy, regressions."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from synthetic_sweeps import frame_of, paired, run

from ablate.errors import InputError
from ablate.report.stats import (
    BETTER,
    BETTER_NEGLIGIBLE,
    EQUIVALENT,
    INCONCLUSIVE,
    ROPE,
    VERDICT_INACTIVE,
    VERDICT_NA,
    VERDICT_TOO_FEW,
    WORSE,
    clopper_pearson,
    compare_arms,
    effect_size,
    equivalence_test,
    evidence,
    holm,
    pairs,
    ratio_interval,
    seeds_needed,
    sign_counts,
    sign_test,
    sign_test_power,
    t_interval,
    time_to_reach,
    verdicts,
)

BASE5 = [0.90, 0.91, 0.92, 0.93, 0.94]
BASE10 = [0.90 + 0.005 * s for s in range(10)]
# Fixed difference vectors: continuous, with ties, with negative values, all tied, constant.
VECTORS = [
    [0.012, -0.004, 0.007, 0.021, 0.003, -0.009, 0.015, 0.006],
    [0.01, 0.0, 0.03, -0.01, 0.02],
    [0.002, 0.0, 0.0, 0.004, -0.002, 0.002, 0.0, 0.006, 0.002, 0.0],
    [-0.03, -0.01, -0.02, 0.005, -0.015, -0.025],
    [0.001, -0.001, 0.002, 0.0, -0.002, 0.001, -0.001, 0.0, 0.001, 0.0, -0.001, 0.002],
]


def _arm(frame, arm="swa=on"):
    return compare_arms(frame).set_index("arm").loc[arm]


def test_sign_test_equals_scipy_binomtest_for_every_count_up_to_twenty():
    wins, losses = np.meshgrid(np.arange(21), np.arange(21), indexing="ij")
    expected = [
        [scipy_stats.binomtest(w, w + n).pvalue if w + n else 1.0 for n in range(21)]
        for w in range(21)
    ]
    np.testing.assert_allclose(sign_test(wins, losses), expected, rtol=1e-12)


def test_clopper_pearson_equals_scipy_exact_interval():
    for trials in (1, 3, 8, 10, 17):
        for successes in range(trials + 1):
            expected = scipy_stats.binomtest(successes, trials).proportion_ci(0.95, "exact")
            low, high = clopper_pearson(successes, trials)
            assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    low, high = clopper_pearson(0, 0)
    assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize("d", VECTORS)
def test_t_interval_equals_scipy_ttest_rel(d):
    baseline = np.linspace(0.9, 0.95, len(d))
    arm = baseline + np.asarray(d)
    expected = scipy_stats.ttest_rel(arm, baseline).confidence_interval(0.95)
    mean, low, high = t_interval(arm - baseline)
    assert mean == pytest.approx(np.mean(arm - baseline))
    assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-9)
    assert effect_size(arm - baseline) == pytest.approx(
        np.mean(arm - baseline) / np.std(arm - baseline, ddof=1)
    )


def test_effect_size_is_undefined_for_differences_equal_up_to_float32_rounding():
    # Each seed gains one test example of 360 (+0.2778 pp); the float32 accuracies of the
    # demo's smoothing arm gave these differences, whose sd (4e-6) is rounding only.
    d = np.array([0.2777755, 0.2777815])
    assert math.isnan(effect_size(d))
    assert effect_size([0.28, 0.30]) == pytest.approx(0.29 / np.std([0.28, 0.30], ddof=1))


@pytest.mark.parametrize("d", VECTORS)
@pytest.mark.parametrize("rope", [0.005, 0.01, 0.002])
def test_equivalence_test_is_twice_scipy_tost_and_matches_the_interval(d, rope):
    d = np.asarray(d)
    above = scipy_stats.ttest_1samp(d, -rope, alternative="greater").pvalue
    below = scipy_stats.ttest_1samp(d, rope, alternative="less").pvalue
    assert equivalence_test(d, rope) == pytest.approx(min(1.0, 2 * max(above, below)))
    interval = scipy_stats.ttest_1samp(d, 0).confidence_interval(0.95)
    inside = -rope < interval.low and interval.high < rope
    assert (equivalence_test(d, rope) < 0.05) == inside


def test_equivalence_test_of_constant_differences():
    assert equivalence_test(np.full(6, 0.001)) == 0.0  # sd 0, inside the ROPE
    assert equivalence_test(np.full(6, 0.02)) == 1.0  # sd 0, outside
    assert equivalence_test(np.full(6, ROPE)) == 1.0  # sd 0, on the edge: not shown inside
    assert math.isnan(equivalence_test(np.array([0.001])))


def test_ratio_interval_equals_a_t_interval_on_scipy_log_ratios():
    arm = np.array([1.10, 1.25, 1.02, 1.18, 1.30, 0.0])  # the last pair has no time: left out
    base = np.array([1.00, 1.05, 1.01, 1.00, 1.10, 1.0])
    logs = np.log(arm[:5] / base[:5])
    expected = scipy_stats.ttest_1samp(logs, 0).confidence_interval(0.95)
    ratio, low, high = ratio_interval(arm, base)
    assert ratio == pytest.approx(math.exp(logs.mean()))
    assert (low, high) == pytest.approx((math.exp(expected.low), math.exp(expected.high)))
    assert all(math.isnan(v) for v in ratio_interval([0.0], [1.0]))


def test_sign_counts_along_the_last_axis():
    wins, ties, losses = sign_counts([[0.01, 0.0, -0.02, 0.03], [0.0, 0.0, 0.0, 0.0]])
    assert wins.tolist() == [2, 0] and ties.tolist() == [1, 4] and losses.tolist() == [1, 0]


def test_holm_adjusts_in_step_down_order_and_skips_untested_arms():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.001]), [0.5, 0.002])
    np.testing.assert_allclose(holm([0.4, 0.9]), [0.8, 0.9])
    np.testing.assert_allclose(holm([0.01, math.nan, 0.03]), [0.02, math.nan, 0.03])
    np.testing.assert_allclose(
        holm([[0.01, 0.04, 0.03], [0.2, math.nan, math.nan]]),
        [[0.03, 0.06, 0.06], [0.2, math.nan, math.nan]],
    )


# Regression tests for each case of issue 10 ("Honest statistics").


def test_nine_wins_of_ten_have_the_exact_sign_test_p_value():
    # The bootstrap read p = 0.0028 off P's distribution; the exact sign test says 0.021.
    row = _arm(frame_of(paired("swa=on", BASE10, [b + 0.01 for b in BASE10[:9]] + [0.9])))
    assert (row["wins"], row["ties"], row["losses"]) == (9, 0, 1)
    assert row["p_value"] == pytest.approx(0.021484375)
    assert row["p_value"] == pytest.approx(scipy_stats.binomtest(9, 10).pvalue)
    assert row["verdict"] == BETTER


def test_six_wins_of_seven_are_not_better():
    base = [0.9] * 7
    row = _arm(frame_of(paired("swa=on", base, [0.91] * 6 + [0.89])))
    assert row["p_value"] == pytest.approx(0.125)  # the bootstrap said 0.020
    assert row["p_holm"] == pytest.approx(0.125)
    assert row["verdict"] == INCONCLUSIVE


def test_four_wins_and_six_ties_are_not_evidence():
    row = _arm(frame_of(paired("swa=on", [0.9] * 10, [0.91] * 4 + [0.9] * 6)))
    assert (row["wins"], row["ties"], row["losses"]) == (4, 6, 0)
    assert row["p_value"] == pytest.approx(0.125)  # the sign test on the 4 informative pairs
    assert row["p_better"] == 1.0
    assert (row["p_better_low"], row["p_better_high"]) == pytest.approx((0.3976, 1.0), abs=1e-4)
    assert row["verdict"] == VERDICT_TOO_FEW
    assert not row["reliable"]
    assert math.isnan(row["p_holm"])  # not in Holm's family


def test_three_arms_of_six_wins_and_a_tie_are_not_all_better():
    base = [0.9] * 7
    records = [run("baseline", s, a) for s, a in enumerate(base)]
    for name in ("swa=on", "smoothing=0.1", "smoothing=0.2"):
        knobs = None if name == "swa=on" else {"swa": "off", "smoothing": name[-3:]}
        records += [run(name, s, a, knobs=knobs) for s, a in enumerate([0.91] * 6 + [0.9])]
    table = compare_arms(frame_of(records))
    assert table["p_value"].tolist() == pytest.approx([0.03125] * 3)
    assert table["p_holm"].tolist() == pytest.approx([0.09375] * 3)  # exact + Holm: 0.094
    assert set(table["verdict"]) == {INCONCLUSIVE}


def test_probability_intervals_are_exact_not_degenerate():
    three = _arm(frame_of(paired("swa=on", [0.9] * 3, [0.92] * 3)))
    assert three["p_better"] == 1.0
    assert (three["p_better_low"], three["p_better_high"]) == pytest.approx((0.2924, 1.0), abs=1e-4)
    none = _arm(frame_of(paired("swa=on", [0.9] * 8, [0.88] * 8)))
    assert none["p_better"] == 0.0
    assert (none["p_better_low"], none["p_better_high"]) == pytest.approx((0.0, 0.3694), abs=1e-4)
    assert none["verdict"] == WORSE


def test_every_pair_tied_flags_an_inactive_technique():
    row = _arm(frame_of(paired("swa=on", BASE5, BASE5)))
    assert (row["wins"], row["ties"], row["losses"]) == (0, 5, 0)
    assert row["verdict"] == VERDICT_INACTIVE
    assert math.isnan(row["p_better"]) and math.isnan(row["d_z"])
    # One tied pair is no sign of anything.
    assert _arm(frame_of(paired("swa=on", [0.9], [0.9])))["verdict"] == VERDICT_TOO_FEW


def test_means_use_the_same_seeds_as_the_delta():
    # Baseline seed 4 failed, arm seed 5 has no baseline run: both seeds leave the row.
    records = paired("swa=on", BASE5, [0.92, 0.93, 0.94, 0.95, 0.99])
    records[4] = run("baseline", 4, status="FAILED")
    records.append(run("swa=on", 5, 0.99))
    row = _arm(frame_of(records))
    assert row["n_pairs"] == 4 and row["unpaired"] == 2
    assert row["mean"] == pytest.approx(np.mean([0.92, 0.93, 0.94, 0.95]))
    assert row["baseline_mean"] == pytest.approx(np.mean(BASE5[:4]))
    assert row["delta"] == pytest.approx(row["mean"] - row["baseline_mean"])
    assert row["std"] == pytest.approx(np.std([0.92, 0.93, 0.94, 0.95], ddof=1))
    # Seed 5 has no baseline run at all: the baseline misses it (the frame has no row).
    assert (row["runs_finished"], row["runs_failed"], row["runs_missing"]) == (6, 0, 0)


def test_expected_runs_without_any_result_are_counted_missing():
    records = paired("swa=on", BASE5, [0.91, 0.92, 0.93, 0.94, 0.95])
    del records[7:]  # the arm's seeds 2, 3, 4 never wrote a result
    records.append(run("smoothing=0.1", 4, 0.9, knobs={"swa": "off", "smoothing": "0.1"}))
    table = compare_arms(frame_of(records)).set_index("arm")
    assert table.loc["swa=on", ["runs_finished", "runs_missing"]].tolist() == [2, 3]
    assert table.loc["smoothing=0.1", ["runs_finished", "runs_missing"]].tolist() == [1, 4]


def test_delta_interval_d_z_and_probability_are_exact():
    # d = [+0.01, 0, +0.03, -0.01, +0.02]: 3 wins, 1 tie, 1 loss.
    arm = [0.91, 0.91, 0.95, 0.92, 0.96]
    row = _arm(frame_of(paired("swa=on", BASE5, arm)))
    d = np.array(arm) - np.array(BASE5)
    expected = scipy_stats.ttest_rel(arm, BASE5).confidence_interval(0.95)
    assert row["delta"] == pytest.approx(0.01)
    assert (row["delta_low"], row["delta_high"]) == pytest.approx((expected.low, expected.high))
    assert row["s_d"] == pytest.approx(np.std(d, ddof=1))
    assert row["d_z"] == pytest.approx(0.01 / np.std(d, ddof=1))
    assert (row["wins"], row["ties"], row["losses"]) == (3, 1, 1)
    assert row["p_better"] == pytest.approx(0.75)
    assert row["p_value"] == pytest.approx(scipy_stats.binomtest(3, 4).pvalue)
    assert row["verdict"] == VERDICT_TOO_FEW  # 4 non-tied pairs
    assert row["evidence"] == "exploratory (<10 pairs)"


def test_constant_difference_is_better_with_an_exact_p_value():
    row = _arm(frame_of(paired("swa=on", [0.9] * 10, [0.91] * 10)))
    assert (row["delta_low"], row["delta"], row["delta_high"]) == pytest.approx((0.01,) * 3)
    assert row["p_better"] == 1.0
    assert row["p_better_low"] == pytest.approx(0.6915, abs=1e-4)
    assert row["p_value"] == 2.0**-9
    assert row["p_equivalence"] == 1.0  # +1 pp is outside the ROPE
    assert row["verdict"] == BETTER
    assert row["evidence"] == "claim (>=10 pairs)"


def test_verdicts_with_holm_for_better_null_and_worse_arms():
    records = [run("baseline", s, a) for s, a in enumerate(BASE10)]
    records += [run("swa=on", s, a + 0.01) for s, a in enumerate(BASE10)]  # wins 10/10
    records += [
        run("smoothing=0.1", s, a + (0.01 if s % 2 else -0.01)) for s, a in enumerate(BASE10)
    ]  # wins 5/10
    records += [
        run("smoothing=0.2", s, a - 0.02, knobs={"swa": "off", "smoothing": "0.2"})
        for s, a in enumerate(BASE10)
    ]  # loses 10/10
    table = compare_arms(frame_of(records)).set_index("arm")
    assert table.loc["swa=on", "verdict"] == BETTER
    assert table.loc["smoothing=0.1", "verdict"] == INCONCLUSIVE
    assert table.loc["smoothing=0.2", "verdict"] == WORSE
    assert table.loc["smoothing=0.1", "p_better"] == 0.5
    assert table.loc["smoothing=0.1", "p_value"] == 1.0
    # In frame order smoothing=0.1, smoothing=0.2, swa=on: 1, 3 * 2^-9, max(3, 2) * 2^-9.
    assert table["p_holm"].tolist() == pytest.approx([1.0, 3 * 2.0**-9, 3 * 2.0**-9])


def test_equivalence_separates_no_effect_shown_from_too_few_seeds():
    small = [0.005, -0.004, 0.006, -0.006, 0.003, -0.005, 0.004, -0.003, 0.006, -0.005]
    shown = _arm(
        frame_of(paired("swa=on", BASE10, [b + d for b, d in zip(BASE10, small, strict=True)]))
    )
    assert shown["verdict"] == EQUIVALENT
    assert shown["p_equivalence_holm"] < 0.05
    # The same spread with 5 pairs: not shown, and not better either.
    few = _arm(
        frame_of(paired("swa=on", BASE5, [b + d for b, d in zip(BASE5, small[:5], strict=True)]))
    )
    assert few["verdict"] == INCONCLUSIVE
    # A consistent gain smaller than the ROPE: real (10/10 wins) but negligible.
    tiny = _arm(frame_of(paired("swa=on", BASE10, [b + 0.001 for b in BASE10])))
    assert tiny["verdict"] == BETTER_NEGLIGIBLE
    # A wider ROPE turns a +1 pp arm from better to better-but-negligible.
    frame = frame_of(paired("swa=on", [0.9] * 10, [0.91] * 10))
    assert compare_arms(frame, rope=0.02).iloc[0]["verdict"] == BETTER_NEGLIGIBLE


def test_fewer_than_five_non_tied_pairs_give_no_verdict():
    for n in (2, 4):
        row = _arm(frame_of(paired("swa=on", [0.9] * n, [0.92] * n)))
        assert row["p_value"] == 2.0 ** (1 - n)
        assert row["verdict"] == VERDICT_TOO_FEW and not row["reliable"]
        assert math.isnan(row["p_holm"])
    five = _arm(frame_of(paired("swa=on", [0.9] * 5, [0.92] * 5)))
    assert five["reliable"] and five["p_holm"] == 2.0**-4 and five["verdict"] == INCONCLUSIVE
    six = _arm(frame_of(paired("swa=on", [0.9] * 6, [0.92] * 6)))
    assert six["p_value"] == 2.0**-5 and six["verdict"] == BETTER


ARMS = ("swa=on", "smoothing=0.1", "smoothing=0.2")


def test_verdicts_agree_with_a_reference_built_on_scipy():
    rng = np.random.default_rng(7)
    for _ in range(60):
        num_pairs = int(rng.integers(3, 16))
        effects = rng.choice([-0.008, 0.0, 0.002, 0.008], size=3)
        base = np.round(0.9 + rng.normal(0, 0.01, num_pairs), 3)
        arms = {
            name: np.round(base + effect + rng.normal(0, 0.004, num_pairs), 3)
            for name, effect in zip(
                ("swa=on", "smoothing=0.1", "smoothing=0.2"), effects, strict=True
            )
        }
        records = [run("baseline", s, a) for s, a in enumerate(base)]
        for name, values in arms.items():
            knobs = None if name == "swa=on" else {"swa": "off", "smoothing": name[-3:]}
            records += [run(name, s, a, knobs=knobs) for s, a in enumerate(values)]
        table = compare_arms(frame_of(records)).set_index("arm")
        assert table["verdict"].to_dict() == _scipy_verdicts(
            {name: values - base for name, values in arms.items()}
        )


def _scipy_verdicts(differences: dict[str, np.ndarray]) -> dict[str, str]:
    """The documented rule, written again with scipy's tests and a plain Holm loop."""
    signs, equivalence, verdict = {}, {}, {}
    for name, d in differences.items():
        wins, losses = int((d > 0).sum()), int((d < 0).sum())
        if wins + losses < 5:
            verdict[name] = VERDICT_INACTIVE if wins + losses == 0 else VERDICT_TOO_FEW
            continue
        signs[name] = (scipy_stats.binomtest(wins, wins + losses).pvalue, wins > losses)
        above = scipy_stats.ttest_1samp(d, -ROPE, alternative="greater").pvalue
        below = scipy_stats.ttest_1samp(d, ROPE, alternative="less").pvalue
        equivalence[name] = min(1.0, 2 * max(above, below))

    def holm_passed(p_values: dict[str, float]) -> set[str]:
        passed = set()
        for rank, name in enumerate(sorted(p_values, key=p_values.get)):
            if p_values[name] >= 0.05 / (len(p_values) - rank):
                break
            passed.add(name)
        return passed

    significant = holm_passed({name: p for name, (p, _) in signs.items()})
    equivalent = holm_passed(equivalence)
    for name, (_, up) in signs.items():
        direction = ("better" if up else "worse") if name in significant else None
        if direction and name in equivalent:
            verdict[name] = f"{direction} (within ROPE)"
        elif direction:
            verdict[name] = direction
        else:
            verdict[name] = EQUIVALENT if name in equivalent else INCONCLUSIVE
    return verdict


def test_vectorised_verdicts_match_compare_arms():
    d = np.array([[0.01] * 10, [0.001] * 10, [0.0] * 10, [0.01] * 3 + [-0.01] * 7])
    expected = [BETTER, BETTER_NEGLIGIBLE, VERDICT_INACTIVE, INCONCLUSIVE]
    assert verdicts(d).tolist() == expected
    assert verdicts(np.stack([d, d])).shape == (2, 4)


def test_wilcoxon_would_call_what_the_sign_test_does_not():
    # The price of a test that ties and skew cannot fool: 8 wins of 10 with two small losses
    # convince Wilcoxon's signed-rank test (it weighs magnitudes), not the sign test.
    d = np.array([0.012, 0.015, 0.011, 0.02, 0.013, 0.018, 0.016, 0.014, -0.001, -0.002])
    assert scipy_stats.wilcoxon(d).pvalue < 0.01
    row = _arm(frame_of(paired("swa=on", BASE10, list(np.add(BASE10, d)))))
    assert row["p_value"] == pytest.approx(scipy_stats.binomtest(8, 10).pvalue)  # 0.109
    assert row["verdict"] == INCONCLUSIVE


def test_seeds_needed_matches_a_brute_force_power_search():
    q = scipy_stats.norm.cdf(1.0)  # d_z = 1

    def brute_power(n: int, alpha: float) -> float:
        return sum(
            scipy_stats.binom.pmf(k, n, q)
            for k in range(n + 1)
            if scipy_stats.binomtest(k, n).pvalue < alpha
        )

    for n in (5, 10, 17, 30):
        for alpha in (0.05, 0.05 / 3):
            assert sign_test_power(n, q, alpha) == pytest.approx(brute_power(n, alpha))
    needed = seeds_needed(0.01, 0.01, num_arms=1)
    assert brute_power(int(needed), 0.05) >= 0.8
    assert all(brute_power(n, 0.05) < 0.8 for n in range(5, int(needed)))
    assert needed == 17
    # More arms (a stricter level) and ties (uninformative pairs) need more seeds.
    assert seeds_needed(0.01, 0.01, num_arms=3) > needed
    assert seeds_needed(0.01, 0.01, tie_fraction=0.5) == math.ceil(needed / 0.5)
    assert seeds_needed(0.01, 0.0) == 6  # no noise: 6 wins of 6 give p = 2^-5 < 0.05
    assert math.isinf(seeds_needed(0.0001, 0.01))
    assert math.isinf(seeds_needed(0.01, 0.01, tie_fraction=1.0))
    assert math.isnan(seeds_needed(0.01, math.nan))


def test_failed_runs_are_counted_and_left_out_of_pairs():
    records = paired("swa=on", BASE5, [0.91, 0.92, 0.93, 0.94, 0.95])
    records[2 + 5] = run("swa=on", 2, status="FAILED")  # arm seed 2 failed
    records[3] = run("baseline", 3, status="KILLED")  # baseline seed 3 killed
    frame = frame_of(records)
    assert pairs(frame, "test_accuracy", "swa=on")["seed"].tolist() == [0, 1, 4]
    row = compare_arms(frame).iloc[0]
    assert (row["runs_finished"], row["runs_failed"], row["runs_missing"]) == (4, 1, 0)
    assert (row["n_pairs"], row["unpaired"]) == (3, 2)
    assert row["delta"] == pytest.approx(0.01)
    assert row["mean"] == pytest.approx(np.mean([0.91, 0.92, 0.95]))  # the 3 paired seeds


def test_a_single_seed_reports_no_interval_and_no_verdict():
    row = compare_arms(frame_of(paired("swa=on", [0.9], [0.93]))).iloc[0]
    assert row["n_pairs"] == 1
    assert row["delta"] == pytest.approx(0.03)
    assert row["p_better"] == 1.0
    for column in ("delta_low", "delta_high", "s_d", "d_z", "p_equivalence", "p_holm"):
        assert math.isnan(row[column]), column
    assert (row["p_better_low"], row["p_better_high"]) == pytest.approx((0.025, 1.0))
    assert row["verdict"] == VERDICT_TOO_FEW
    assert row["evidence"] == "exploratory (<5 pairs)"


def test_a_missing_baseline_is_a_clear_error():
    frame = frame_of([run("swa=on", 0, 0.9), run("smoothing=0.1", 0, 0.9)])
    with pytest.raises(InputError, match="needs a baseline run.*Received: sweep"):
        compare_arms(frame)


def test_two_finished_runs_of_one_arm_and_seed_are_an_error():
    frame = frame_of(paired("swa=on", [0.9, 0.91], [0.91, 0.92]) + [run("swa=on", 0, 0.95)])
    with pytest.raises(InputError, match="2 finished runs of arm=swa=on seed=0"):
        compare_arms(frame)


def test_an_arm_whose_runs_all_failed_gets_a_row_with_nothing_paired():
    records = paired("swa=on", [0.9, 0.91, 0.92], [0.91, 0.92, 0.93])
    records += [run("smoothing=0.1", s, status="FAILED") for s in range(3)]
    table = compare_arms(frame_of(records)).set_index("arm")
    row = table.loc["smoothing=0.1"]
    assert (row["runs_finished"], row["runs_failed"], row["n_pairs"]) == (0, 3, 0)
    assert row["verdict"] == VERDICT_NA
    assert math.isnan(row["delta"]) and math.isnan(row["mean"]) and math.isnan(row["p_value"])
    assert table.loc["swa=on", "n_pairs"] == 3


def test_evidence_labels_follow_the_seed_rules():
    labels = [evidence(n) for n in (0, 1, 4, 5, 9, 10, 28, 29)]
    assert labels == [
        "no pairs",
        "exploratory (<5 pairs)",
        "exploratory (<5 pairs)",
        "exploratory (<10 pairs)",
        "exploratory (<10 pairs)",
        "claim (>=10 pairs)",
        "claim (>=10 pairs)",
        "claim (>=10 pairs)",
    ]


def test_time_to_reach_on_hand_made_histories():
    records = [
        run("baseline", 0, 0.8, val_accuracy=[0.5, 0.7, 0.8], epoch_time_s=[2, 1, 1]),
        run("baseline", 1, 0.7, val_accuracy=[0.5, 0.6, 0.7], epoch_time_s=[2, 1, 1]),
        run("baseline", 2, 0.8, val_accuracy=[0.5, 0.9, 0.8], epoch_time_s=[2, 1, 1]),
        run("swa=on", 0, 0.85, val_accuracy=[0.6, 0.8, 0.85], epoch_time_s=[2, 1, 1]),
        run("swa=on", 1, 0.6, val_accuracy=[0.4, 0.5, 0.6], epoch_time_s=[2, 1, 1]),
        run("swa=on", 2, 0.9, val_accuracy=[0.85, 0.9, 0.9], epoch_time_s=[2.5, 1, 1]),
        run("smoothing=0.1", 0, 0.5, val_accuracy=[0.5, 0.5, 0.5], epoch_time_s=[2, 1, 1]),
        run("smoothing=0.1", 1, 0.5, val_accuracy=[0.5, 0.5, 0.5], epoch_time_s=[2, 1, 1]),
    ]
    table = time_to_reach(frame_of(records)).set_index("arm")
    # swa=on: seed 0 at epoch 2 (3 s), seed 1 never, seed 2 at epoch 1 (2.5 s).
    assert table.loc["swa=on"].to_dict() == {
        "reach_pairs": 3,
        "reach_seeds": 2,
        "reach_epochs": 2.0,
        "reach_seconds": 3.0,
    }
    # The baseline against itself: epochs 3, 3 and 2 (seed 2 peaks early).
    assert table.loc["baseline", "reach_epochs"] == 3.0
    assert table.loc["baseline", "reach_seconds"] == 4.0
    assert math.isinf(table.loc["smoothing=0.1", "reach_epochs"])
    assert table.loc["smoothing=0.1", "reach_seeds"] == 0
