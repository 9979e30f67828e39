"""Tables of the report: main table, seed planning, claim check, factorial effects, formatting."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from synthetic_sweeps import demo_records, frame_of, paired, run

from ablate.errors import InputError
from ablate.report.claims import claim_check, claimed_effects
from ablate.report.factorial import cell_means, interactions, main_effects
from ablate.report.stats import VERDICT_INACTIVE, VERDICT_TOO_FEW, seeds_needed
from ablate.report.tables import (
    ACCURACY_HEADERS,
    COST_HEADERS,
    footnote,
    format_effects,
    format_main_table,
    main_table,
    markdown_table,
    plan_note,
    plan_table,
)

BASE6 = [0.90, 0.91, 0.92, 0.93, 0.94, 0.95]


def test_main_table_puts_the_baseline_first_then_arms_by_delta():
    records = paired("swa=on", [0.9, 0.91, 0.92], [0.91, 0.92, 0.93])
    records += [
        run(f"smoothing={v}", s, a + d, knobs={"swa": "off", "smoothing": str(v)})
        for v, d in ((0.1, -0.02), (0.2, 0.03))
        for s, a in enumerate([0.9, 0.91, 0.92])
    ]
    table = main_table(frame_of(records))
    assert table["arm"].tolist() == ["baseline", "smoothing=0.2", "swa=on", "smoothing=0.1"]
    assert table["role"].tolist() == ["baseline", "arm", "arm", "arm"]
    assert table["delta_accuracy"].tolist() == pytest.approx([0.0, 0.03, 0.01, -0.02])
    assert table.loc[0, "verdict"] == "baseline"
    assert table.loc[0, "knobs"] == "smoothing=0.0, swa=off"


def test_main_table_costs_counts_and_time_to_reach():
    table = main_table(frame_of(demo_records())).set_index("arm")
    base, swa, smoothing = (table.loc[a] for a in ("baseline", "swa=on", "smoothing=0.1"))
    assert (base["runs_finished"], base["runs_failed"], base["runs_missing"]) == (3, 0, 0)
    assert base["n_pairs"] == 3
    assert (smoothing["runs_finished"], smoothing["runs_failed"]) == (2, 1)
    assert smoothing["n_pairs"] == 2
    assert (swa["wins"], swa["ties"], swa["losses"]) == (3, 0, 0)
    assert swa["test_accuracy_mean"] == pytest.approx(0.92)
    assert swa["test_accuracy_std"] == pytest.approx(0.01)
    assert swa["baseline_accuracy_mean"] == pytest.approx(0.91)
    assert swa["delta_accuracy"] == pytest.approx(0.01)
    assert swa["delta_macro_f1"] == pytest.approx(0.01)
    assert swa["delta_ece"] == pytest.approx(0.0)
    assert swa["steady_epoch_time_s"] == 1.0
    assert (swa["steady_epoch_ratio"], swa["steady_epoch_ratio_low"]) == (1.0, 1.0)
    assert swa["train_time_s"] == pytest.approx(11.0)
    # smoothing=0.1 pairs seeds 0 and 2: train time 10 and 12 in both arms.
    assert smoothing["train_time_ratio"] == pytest.approx(1.0)
    assert smoothing["train_time_s"] == pytest.approx(11.0)
    assert smoothing["test_accuracy_mean"] == pytest.approx(np.mean([0.895, 0.915]))
    assert swa["first_epoch_time_s"] == 3.0 and swa["delta_num_params"] == 0.0
    # swa=on's val accuracy [a-0.1, a-0.02, a] with a = base + 0.01 reaches the
    # baseline's final value at epoch 3 (after 3+1+1 s), like the baseline itself.
    assert (swa["reach_epochs"], swa["reach_seconds"], swa["reach_seeds"]) == (3.0, 5.0, 3)
    assert math.isinf(smoothing["reach_epochs"])


def test_time_ratios_are_paired_with_log_ratio_intervals():
    factors = [1.10, 1.20, 1.05, 1.25, 1.15, 1.12]
    records = [
        run("baseline", s, a, train_time_s=10.0 + s, steady_epoch_time_s=1.0 + 0.1 * s)
        for s, a in enumerate(BASE6)
    ]
    records += [
        run(
            "swa=on",
            s,
            a,
            train_time_s=(10.0 + s) * f,
            steady_epoch_time_s=1.0 + 0.1 * s,
            first_epoch_time_s=4.0,
        )
        for (s, a), f in zip(enumerate(BASE6), factors, strict=True)
    ]
    row = main_table(frame_of(records)).set_index("arm").loc["swa=on"]
    logs = np.log(factors)
    expected = scipy_stats.ttest_1samp(logs, 0).confidence_interval(0.95)
    assert row["train_time_ratio"] == pytest.approx(math.exp(logs.mean()))
    assert (row["train_time_ratio_low"], row["train_time_ratio_high"]) == pytest.approx(
        (math.exp(expected.low), math.exp(expected.high))
    )
    assert row["steady_epoch_ratio"] == pytest.approx(1.0)
    assert row["first_epoch_time_s"] == 4.0
    shown = format_main_table(main_table(frame_of(records))).set_index("arm")
    low, high = (100 * (math.exp(v) - 1) for v in (expected.low, expected.high))
    assert shown.loc["swa=on", "train s (paired ratio)"] == (
        f"{row['train_time_s']:.2f} (+{100 * (row['train_time_ratio'] - 1):.1f} % "
        f"[+{low:.1f}, +{high:.1f}])"
    )
    assert shown.loc["baseline", "train s (paired ratio)"] == "12.50"


def test_formatted_table_marks_the_baseline_and_unavailable_values():
    records = paired("swa=on", [0.9], [0.93])
    records += [run("smoothing=0.1", 0, status="FAILED")]
    shown = format_main_table(main_table(frame_of(records)))
    assert list(shown.columns) == ACCURACY_HEADERS + COST_HEADERS[1:]
    rows = shown.set_index("arm")
    assert rows.loc["baseline", "Δ acc. pp [95 % CI]"] == "ref."
    assert rows.loc["baseline", "verdict (Holm)"] == "baseline"
    assert rows.loc["baseline", "W/T/L"] == "ref."
    assert rows.loc["swa=on", "Δ acc. pp [95 % CI]"] == "+3.00 [n/a]"
    assert rows.loc["swa=on", "P(arm>base) [95 % CI]"] == "1.00 [0.03, 1.00]"
    assert rows.loc["swa=on", "W/T/L"] == "1/0/0"
    assert rows.loc["swa=on", "d_z"] == "n/a"
    assert rows.loc["swa=on", "verdict (Holm)"] == VERDICT_TOO_FEW
    assert rows.loc["smoothing=0.1", "runs ok/failed/missing"] == "0/1/0"
    assert rows.loc["smoothing=0.1", "Δ acc. pp [95 % CI]"] == "n/a"
    assert rows.loc["smoothing=0.1", "P(arm>base) [95 % CI]"] == "n/a"
    assert rows.loc["smoothing=0.1", "verdict (Holm)"] == "n/a"
    assert rows.loc["swa=on", "test acc. % (mean ± std)"] == "93.00"


def test_formatted_intervals_verdict_and_footnote():
    table = main_table(frame_of(paired("swa=on", [0.9] * 6, [0.91] * 6)))
    shown = format_main_table(table).set_index("arm")
    assert shown.loc["swa=on", "Δ acc. pp [95 % CI]"] == "+1.00 [+1.00, +1.00]"
    assert shown.loc["swa=on", "P(arm>base) [95 % CI]"] == "1.00 [0.54, 1.00]"
    assert shown.loc["swa=on", "W/T/L"] == "6/0/0"
    assert shown.loc["swa=on", "verdict (Holm)"] == "better"
    note = footnote(table)
    assert "exact two-sided sign test on the non-tied pairs" in note
    assert "ROPE ±0.50 pp" in note
    # No noise: 6 wins of 6 suffice, and SWA's claimed +1 pp is the effect to detect.
    assert "swa=on: 6 to detect +1.00 pp (claim)" in note
    assert "**Exploratory**: 5-9 pairs" in note
    assert "did not finish" not in note and "left no result" not in note


def test_intervals_from_fewer_than_five_non_tied_pairs_are_marked_unreliable():
    table = main_table(frame_of(paired("swa=on", [0.9, 0.91, 0.92], [0.91, 0.93, 0.92])))
    shown = format_main_table(table).set_index("arm")
    expected = scipy_stats.ttest_rel([0.91, 0.93, 0.92], [0.9, 0.91, 0.92]).confidence_interval()
    assert shown.loc["swa=on", "Δ acc. pp [95 % CI]"] == (
        f"+1.00 [{100 * expected.low:+.2f}, {100 * expected.high:+.2f}]*"
    )
    assert shown.loc["swa=on", "W/T/L"] == "2/1/0"
    assert shown.loc["swa=on", "verdict (Holm)"] == VERDICT_TOO_FEW
    assert "marked * (unreliable)" in footnote(table)


def test_footnote_labels_few_pairs_failed_missing_and_inactive_runs():
    records = demo_records()
    records += [
        run("smoothing=0.2", s, 0.9 + 0.01 * s, knobs={"swa": "off", "smoothing": "0.2"})
        for s in range(2)
    ]  # seed 2 never wrote a result; seeds 0 and 1 equal the baseline
    note = footnote(main_table(frame_of(records)))
    assert "**Exploratory**: fewer than 5 pairs" in note
    assert "1 run(s) did not finish" in note
    assert "1 expected run(s) (arms × seeds seen in the sweep) left no result" in note
    assert "**Inactive?** smoothing=0.2" in note


def test_rows_use_one_seed_set_each():
    # The baseline has seeds 0-5; the arm's seed 5 failed: its mean uses seeds 0-4 only,
    # the baseline row all six, and the arm's Δ the same five seeds as its mean.
    records = paired("swa=on", BASE6, [b + 0.01 for b in BASE6])
    records[-1] = run("swa=on", 5, status="FAILED")
    table = main_table(frame_of(records)).set_index("arm")
    assert table.loc["baseline", "test_accuracy_mean"] == pytest.approx(np.mean(BASE6))
    assert table.loc["swa=on", "test_accuracy_mean"] == pytest.approx(np.mean(BASE6[:5]) + 0.01)
    assert table.loc["swa=on", "baseline_accuracy_mean"] == pytest.approx(np.mean(BASE6[:5]))
    assert table.loc["swa=on", "n_pairs"] == 5


def test_seed_planning_uses_the_claim_or_the_given_effect():
    arm = [0.912, 0.918, 0.93, 0.94, 0.948, 0.961]  # s_d about 0.5 pp, 1 tie-free pilot
    frame = frame_of(paired("swa=on", BASE6, arm))
    d = np.array(arm) - np.array(BASE6)
    table = main_table(frame)
    row = table.set_index("arm").loc["swa=on"]
    assert row["min_effect"] == 0.01 and row["min_effect_source"] == "claim"
    assert row["seeds_needed"] == seeds_needed(0.01, np.std(d, ddof=1), 1, 0.0)
    planned = plan_table(main_table(frame, min_effect=0.002)).set_index("arm").loc["swa=on"]
    assert planned["effect to detect pp"] == "+0.20 (--min-effect)"
    assert planned["seeds for 80 % power"] == str(
        int(seeds_needed(0.002, np.std(d, ddof=1), 1, 0.0))
    )
    assert planned["s_d pp"] == f"{100 * np.std(d, ddof=1):.2f}"
    assert "5 % / 1 arm(s)" in plan_note(table)
    assert claimed_effects(frame) == {"swa=on": 0.01}


def test_markdown_table_escapes_pipes():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": ["1"]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def _claim_records(arm: list[float], base: list[float], **extra) -> list[dict]:
    records = paired("swa=on", base, arm)
    for record in records:
        record.update(extra)
    return records


def test_claim_check_below_the_claim_needs_an_informative_interval():
    # Five varied pairs around +0.5 pp: the interval excludes SWA's claimed +1-2 pp.
    arm = [b + d for b, d in zip(BASE6[:5], [0.004, 0.006, 0.005, 0.005, 0.005], strict=True)]
    swa = claim_check(frame_of(_claim_records(arm, BASE6[:5]))).set_index("technique").loc["SWA"]
    assert swa["arm"] == "swa=on" and swa["claimed"] == "+1-2 % on CIFAR-10"
    assert "+0.27..0.48 pp" in swa["literature"]
    assert swa["effect"] == pytest.approx(0.005)
    assert swa["effect_high"] < 0.01
    assert swa["measured"].startswith("acc. +0.50 pp [+0.41, +0.59] (W/T/L 5/0/0); train time")
    assert swa["assessment"] == "below the claim (CI under +1 pp)"


def test_claim_check_zero_width_interval_from_three_pairs_is_inconclusive():
    records = paired("swa=on", [0.9, 0.91, 0.92], [0.905, 0.915, 0.925])
    records += [
        run("smoothing=0.1", s, a, knobs={"swa": "off", "smoothing": "0.1"}, test_ece=0.02)
        for s, a in enumerate([0.9, 0.91, 0.92])
    ]
    for record in records:
        record.setdefault("test_ece", 0.05)
    claims = claim_check(frame_of(records)).set_index("technique")
    swa = claims.loc["SWA"]
    assert swa["measured"] == "acc. +0.50 pp [+0.50, +0.50] (W/T/L 3/0/0); train time n/a (N=3)"
    assert swa["assessment"] == "inconclusive (<5 non-tied pairs)"  # was "below the claim"
    smoothing = claims.loc["label smoothing"]
    assert "ECE -3.00 pp [-3.00, -3.00]" in smoothing["measured"]
    assert smoothing["assessment"] == VERDICT_INACTIVE  # accuracy equals the baseline's
    assert smoothing["ties"] == 3


def test_claim_check_interval_including_zero_is_inconclusive():
    arm = [b + d for b, d in zip(BASE6, [0.03, -0.02, 0.025, -0.01, 0.02, 0.015], strict=True)]
    swa = claim_check(frame_of(_claim_records(arm, BASE6))).set_index("technique").loc["SWA"]
    assert swa["effect_low"] < 0 < 0.01 < swa["effect_high"]
    assert swa["assessment"] == "inconclusive (CI includes 0 and the claim)"  # was "consistent"


def test_claim_check_consistent_needs_the_interval_above_zero():
    arm = [b + d for b, d in zip(BASE6, [0.005, 0.02, 0.008, 0.025, 0.012, 0.016], strict=True)]
    swa = claim_check(frame_of(_claim_records(arm, BASE6))).set_index("technique").loc["SWA"]
    assert 0 < swa["effect_low"] < 0.01 < swa["effect_high"]
    assert swa["assessment"] == "consistent with the claim (CI above 0, overlaps the claim)"


def test_claim_check_negates_leave_one_out_arms():
    full = {"swa": "on", "smoothing": "0.1"}
    without = {"swa": "off", "smoothing": "0.1"}
    drops = [0.02, 0.025, 0.015, 0.02, 0.03, 0.02]
    base = [run("baseline", s, 0.92, knobs=full, design="loo") for s in range(6)]
    arm = [run("swa=off", s, 0.92 - d, knobs=without, design="loo") for s, d in enumerate(drops)]
    swa = claim_check(frame_of(base + arm)).set_index("technique").loc["SWA"]
    assert swa["effect"] == pytest.approx(np.mean(drops))  # with SWA minus without
    assert swa["effect_low"] > 0.01
    assert swa["measured"].startswith(f"acc. +{100 * np.mean(drops):.2f} pp [")
    assert "(W/T/L 0/0/6)" in swa["measured"]
    assert swa["assessment"] == "consistent with the claim (CI above 0, overlaps the claim)"


def test_claim_check_speed_claim_with_paired_ratios():
    knobs = {"model": "small_cnn"}
    mobile = {"model": "mobilenet_v3_small"}
    records = [
        run("baseline", s, 0.9 - 0.01 * s, knobs=knobs, steady_epoch_time_s=1.0 + 0.1 * s)
        for s in range(5)
    ]
    records += [
        run("model=mobilenet_v3_small", s, 0.85, knobs=mobile, steady_epoch_time_s=4.0 + s)
        for s in range(5)
    ]
    claims = claim_check(frame_of(records))
    assert claims["technique"].tolist() == ["MobileNetV3-Small"]
    assert claims.loc[0, "assessment"] == (
        "contradicted: steady epochs take longer (ratio CI above 1)"
    )
    ratios = np.array([4.0 + s for s in range(5)]) / np.array([1.0 + 0.1 * s for s in range(5)])
    expected = 100 * (math.exp(np.log(ratios).mean()) - 1)
    assert f"steady epoch time +{expected:.1f} % [" in claims.loc[0, "measured"]
    three = claim_check(frame_of([r for r in records if r["seed"] < 3]))
    assert three.loc[0, "assessment"] == "inconclusive (<5 pairs of epoch times)"
    other = [
        run("baseline", 0, 0.9, knobs={"ema": "off"}),
        run("ema=on", 0, 0.9, knobs={"ema": "on"}),
    ]
    assert claim_check(frame_of(other)).empty


def _factorial(failed_seed: int | None = None, seeds: int = 3) -> pd.DataFrame:
    """A 2x2 swa x smoothing grid, cell means 0.80/0.85/0.82/0.90 plus a seed shift."""
    cells = {("off", "0.0"): 0.80, ("on", "0.0"): 0.85, ("off", "0.1"): 0.82, ("on", "0.1"): 0.90}
    records = []
    for (swa, smoothing), accuracy in cells.items():
        changed = [
            f"{k}={v}"
            for k, v, ref in (("swa", swa, "off"), ("smoothing", smoothing, "0.0"))
            if v != ref
        ]
        arm = ",".join(changed) or "baseline"
        for seed in range(seeds):
            status = "FAILED" if (seed == failed_seed and arm == "swa=on") else "FINISHED"
            record = run(
                "baseline" if arm == "baseline" else "x=y",
                seed,
                accuracy + 0.01 * seed + (0.001 * (seed % 3) if arm == "swa=on" else 0),
                status=status,
                knobs={"swa": swa, "smoothing": smoothing},
                design="factorial",
            )
            record["arm"] = arm
            record["factor"] = ",".join(c.split("=")[0] for c in changed)
            record["value"] = ",".join(c.split("=")[1] for c in changed)
            records.append(record)
    return frame_of(records)


def test_factorial_main_effects_and_interaction_are_exact():
    frame = _factorial()
    effects = main_effects(frame).set_index("knob")
    # The swa=on cell adds 0, 0.001, 0.002 over seeds 0-2: a mean of 0.001. So swa:
    # (0.851 + 0.90) / 2 - (0.80 + 0.82) / 2; smoothing: (0.82 + 0.90) / 2 - (0.80 + 0.851) / 2.
    assert effects.loc["swa", "effect"] == pytest.approx(0.0655)
    assert effects.loc["smoothing", "effect"] == pytest.approx(0.0345)
    assert effects.loc["swa", ["level", "reference", "n_seeds"]].tolist() == ["on", "off", 3]
    per_seed = np.array([0.065, 0.0655, 0.066])
    expected = scipy_stats.ttest_1samp(per_seed, 0).confidence_interval(0.95)
    assert effects.loc["swa", "effect_low"] == pytest.approx(expected.low)
    assert effects.loc["swa", ["wins", "ties", "losses"]].tolist() == [3, 0, 0]
    assert effects.loc["swa", "verdict"] == VERDICT_TOO_FEW
    crossed = interactions(frame)
    assert len(crossed) == 1
    row = crossed.iloc[0]
    assert (row["knob_a"], row["level_a"], row["knob_b"], row["level_b"]) == (
        "smoothing",
        "0.1",
        "swa",
        "on",
    )
    assert row["interaction"] == pytest.approx(0.90 - 0.82 - 0.851 + 0.80)
    means = cell_means(frame, "swa", "smoothing")
    assert means.loc["on", "0.1"] == pytest.approx(0.91)
    assert means.loc["off", "0.0"] == pytest.approx(0.81)


def test_factorial_effects_get_holm_corrected_verdicts():
    frame = _factorial(seeds=8)
    effects = main_effects(frame).set_index("knob")
    # 8 wins of 8 for both knobs: p = 2^-7 each, Holm over the 2 main effects.
    assert effects["p_value"].tolist() == pytest.approx([2.0**-7] * 2)
    assert effects["p_holm"].tolist() == pytest.approx([2 * 2.0**-7] * 2)
    assert set(effects["verdict"]) == {"better"}
    shown = format_effects(main_effects(frame)).set_index("knob")
    assert shown.loc["swa", "W/T/L"] == "8/0/0"
    assert shown.loc["swa", "p (Holm)"] == f"{2 * 2.0**-7:.3g}"
    assert shown.loc["swa", "verdict"] == "better"
    assert shown.loc["swa", "effect pp [95 % CI]"].startswith("+6.")
    three = format_effects(main_effects(_factorial())).set_index("knob")
    assert three.loc["swa", "effect pp [95 % CI]"].endswith("*")  # 3 seeds: unreliable


def test_factorial_cell_means_use_the_complete_seeds_of_the_effects():
    frame = _factorial(failed_seed=1)
    assert main_effects(frame)["n_seeds"].tolist() == [2, 2]
    means = cell_means(frame, "swa", "smoothing")
    # Seeds 0 and 2 only (seed 1 lost its swa=on cell): 0.80 + 0.01 * mean(0, 2).
    assert means.loc["off", "0.0"] == pytest.approx(0.81)
    assert means.loc["off", "0.1"] == pytest.approx(0.83)
    assert means.loc["on", "0.0"] == pytest.approx(0.861)


def test_factorial_drops_seeds_with_a_failed_cell_and_reports_everything_together():
    frame = _factorial(failed_seed=1)
    claims = claim_check(frame).set_index("arm")
    together = claims.loc["swa=on,smoothing=0.1"]
    assert together["technique"] == "everything together"
    assert together["effect"] == pytest.approx(0.10)
    assert together["assessment"] == "inconclusive (<5 non-tied pairs)"  # 3 pairs
    assert claims.loc["swa=on", "technique"] == "SWA"


def test_factorial_effects_need_a_full_grid():
    frame = frame_of(paired("swa=on", [0.9, 0.91], [0.91, 0.92]))
    with pytest.raises(InputError, match="full factorial grid"):
        main_effects(frame)
    with pytest.raises(InputError, match="full factorial grid"):
        cell_means(frame, "swa", "smoothing")
