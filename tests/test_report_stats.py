"""Paired statistics of `ablate.report.stats` on hand-made frames, with exact numbers."""

import math

import numpy as np
import pytest

from ablate.errors import InputError
from ablate.report.stats import (
    bootstrap,
    bootstrap_p_value,
    compare_arms,
    evidence,
    holm,
    minimum_detectable_effect,
    pairs,
    time_to_reach,
    wins,
)
from test_report_support import frame_of, paired, run

BASE5 = [0.90, 0.91, 0.92, 0.93, 0.94]


def test_delta_probability_and_detectable_effect_are_exact():
    # d = [+0.01, 0, +0.03, -0.01, +0.02]: mean 0.01, P = (1 + 0.5 + 1 + 0 + 1) / 5 = 0.7.
    frame = frame_of(paired("swa=on", BASE5, [0.91, 0.91, 0.95, 0.92, 0.96]))
    row = compare_arms(frame).iloc[0]
    assert row["n_pairs"] == 5
    assert row["delta"] == pytest.approx(0.01)
    assert row["p_better"] == pytest.approx(0.7)
    assert row["mean"] == pytest.approx(0.93)
    assert row["std"] == pytest.approx(np.std([0.91, 0.91, 0.95, 0.92, 0.96], ddof=1))
    # s_d = sqrt(0.001 / 4); t(0.975, 4) = 2.776445; MDE = t * s_d / sqrt(5).
    assert row["mde"] == pytest.approx(2.776445 * math.sqrt(0.00025) / math.sqrt(5), rel=1e-6)
    assert row["delta_low"] <= row["delta"] <= row["delta_high"]
    assert row["delta_low"] >= -0.01 and row["delta_high"] <= 0.03
    assert row["evidence"] == "exploratory (<10 pairs)"


def test_bootstrap_is_seeded_vectorised_and_pairs_resample_together():
    d = np.array([0.02, -0.01, 0.0, 0.03])
    means, probabilities = bootstrap(d, resamples=10_000, seed=0)
    index = np.random.default_rng(0).integers(0, 4, size=(10_000, 4))
    np.testing.assert_array_equal(means, d[index].mean(axis=1))
    np.testing.assert_array_equal(probabilities, wins(d)[index].mean(axis=1))
    again, _ = bootstrap(d, resamples=10_000, seed=0)
    other, _ = bootstrap(d, resamples=10_000, seed=1)
    np.testing.assert_array_equal(means, again)
    assert not np.array_equal(means, other)


def test_constant_difference_gives_a_degenerate_interval():
    frame = frame_of(paired("swa=on", [0.9] * 10, [0.91] * 10))
    row = compare_arms(frame).iloc[0]
    assert (row["delta_low"], row["delta"], row["delta_high"]) == pytest.approx((0.01,) * 3)
    assert (row["p_better_low"], row["p_better"], row["p_better_high"]) == (1.0, 1.0, 1.0)
    assert row["p_value"] == 2.0**-9  # the bootstrap says 0; the sign test's floor is 2^(1-N)
    assert row["verdict"] == "better"
    assert row["evidence"] == "claim (>=10 pairs)"


def test_verdicts_with_holm_levels_for_better_null_and_worse_arms():
    base = [0.90 + 0.005 * s for s in range(10)]
    records = [run("baseline", s, a) for s, a in enumerate(base)]
    records += [run("swa=on", s, a + 0.01) for s, a in enumerate(base)]  # wins 10/10
    records += [
        run("smoothing=0.1", s, a + (0.01 if s % 2 else -0.01)) for s, a in enumerate(base)
    ]  # wins 5/10
    records += [
        run("smoothing=0.2", s, a - 0.02, knobs={"swa": "off", "smoothing": "0.2"})
        for s, a in enumerate(base)
    ]  # loses 10/10
    table = compare_arms(frame_of(records)).set_index("arm")
    assert table.loc["swa=on", "verdict"] == "better"
    assert table.loc["smoothing=0.1", "verdict"] == "inconclusive"
    assert table.loc["smoothing=0.2", "verdict"] == "worse"
    assert table.loc["smoothing=0.1", "p_better"] == 0.5
    assert table.loc["smoothing=0.1", "p_value"] == 1.0
    # Holm ranks by p-value (ties by name): smoothing=0.2 and swa=on (p = 2^-9), the null.
    assert table.loc["smoothing=0.2", "ci_level"] == pytest.approx(1 - 0.05 / 3)
    assert table.loc["swa=on", "ci_level"] == pytest.approx(1 - 0.05 / 2)
    assert table.loc["smoothing=0.1", "ci_level"] == pytest.approx(0.95)
    # In frame order smoothing=0.1, smoothing=0.2, swa=on: 1, 3 * 2^-9, max(3, 2) * 2^-9.
    assert table["p_holm"].tolist() == pytest.approx([1.0, 3 * 2.0**-9, 3 * 2.0**-9])


def test_holm_correction_turns_a_borderline_win_inconclusive():
    # 8 pairs, 7 wins and 1 loss: P = 0.875, bootstrap p = 0.0202 with seed 0.
    base = [0.9] * 8
    arm = [0.91] * 7 + [0.89]
    alone = compare_arms(frame_of(paired("swa=on", base, arm))).iloc[0]
    assert alone["p_value"] == pytest.approx(0.0202)
    assert alone["verdict"] == "better"
    assert alone["p_better_low"] > 0.5

    records = paired("swa=on", base, arm)
    for name in ("smoothing=0.1", "smoothing=0.2"):
        records += [
            run(name, s, a, knobs={"swa": "off", "smoothing": "0"}) for s, a in enumerate(arm)
        ]
    table = compare_arms(frame_of(records))
    assert table["p_holm"].tolist() == pytest.approx([3 * 0.0202] * 3)
    assert set(table["verdict"]) == {"inconclusive"}


def test_two_or_five_agreeing_pairs_are_never_significant():
    for n in (2, 5):
        row = compare_arms(frame_of(paired("swa=on", [0.9] * n, [0.92] * n))).iloc[0]
        assert (row["p_better_low"], row["p_better_high"]) == (1.0, 1.0)  # degenerate bootstrap
        assert row["p_value"] == 2.0 ** (1 - n)
        assert row["verdict"] == "inconclusive"
    row = compare_arms(frame_of(paired("swa=on", [0.9] * 6, [0.92] * 6))).iloc[0]
    assert row["p_value"] == 2.0**-5 and row["verdict"] == "better"


def test_holm_adjusts_in_step_down_order():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.001]), [0.5, 0.002])
    np.testing.assert_allclose(holm([0.4, 0.9]), [0.8, 0.9])


def test_bootstrap_p_value_counts_both_tails():
    assert bootstrap_p_value(np.array([0.6, 0.7, 0.8, 0.5])) == 0.5
    assert bootstrap_p_value(np.array([0.5, 0.5])) == 1.0
    assert bootstrap_p_value(np.array([0.1, 0.2, 0.3, 0.6])) == 0.5


def test_failed_runs_are_counted_and_left_out_of_pairs():
    records = paired("swa=on", BASE5, [0.91, 0.92, 0.93, 0.94, 0.95])
    records[2 + 5] = run("swa=on", 2, status="FAILED")  # arm seed 2 failed
    records[3] = run("baseline", 3, status="KILLED")  # baseline seed 3 killed
    frame = frame_of(records)
    assert pairs(frame, "test_accuracy", "swa=on")["seed"].tolist() == [0, 1, 4]
    row = compare_arms(frame).iloc[0]
    assert (row["runs_finished"], row["runs_failed"]) == (4, 1)
    assert (row["n_pairs"], row["unpaired"]) == (3, 2)
    assert row["delta"] == pytest.approx(0.01)
    assert row["mean"] == pytest.approx(np.mean([0.91, 0.92, 0.94, 0.95]))


def test_a_single_seed_reports_no_interval_and_no_verdict():
    row = compare_arms(frame_of(paired("swa=on", [0.9], [0.93]))).iloc[0]
    assert row["n_pairs"] == 1
    assert row["delta"] == pytest.approx(0.03)
    assert row["p_better"] == 1.0
    for column in ("delta_low", "delta_high", "p_better_low", "p_better_high", "p_value", "mde"):
        assert math.isnan(row[column]), column
    assert row["verdict"] == "inconclusive (1 seed)"
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
    assert row["verdict"] == "n/a"
    assert math.isnan(row["delta"]) and math.isnan(row["mean"])
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
        "powered (>=29 pairs)",
    ]
    assert math.isnan(minimum_detectable_effect(np.array([0.1])))


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
