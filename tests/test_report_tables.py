"""Tables of the report: main table, claim check, factorial effects, formatting."""

import math

import pandas as pd
import pytest

from ablate.errors import InputError
from ablate.report.claims import claim_check
from ablate.report.factorial import cell_means, interactions, main_effects
from ablate.report.tables import (
    ACCURACY_HEADERS,
    COST_HEADERS,
    footnote,
    format_main_table,
    main_table,
    markdown_table,
)
from test_report_support import demo_records, frame_of, paired, run


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
    assert (base["runs_finished"], base["runs_failed"], base["n_pairs"]) == (3, 0, 3)
    assert (smoothing["runs_finished"], smoothing["runs_failed"]) == (2, 1)
    assert smoothing["n_pairs"] == 2
    assert swa["test_accuracy_mean"] == pytest.approx(0.92)
    assert swa["test_accuracy_std"] == pytest.approx(0.01)
    assert swa["delta_accuracy"] == pytest.approx(0.01)
    assert swa["delta_macro_f1"] == pytest.approx(0.01)
    assert swa["delta_ece"] == pytest.approx(0.0)
    assert swa["steady_epoch_time_s"] == 1.0 and swa["delta_steady_epoch_time_pct"] == 0.0
    assert swa["train_time_s"] == pytest.approx(11.0)
    # smoothing=0.1 pairs seeds 0 and 2: train time 10 and 12 in both arms.
    assert smoothing["delta_train_time_pct"] == pytest.approx(0.0)
    assert smoothing["train_time_s"] == pytest.approx(11.0)
    assert swa["first_epoch_time_s"] == 3.0 and swa["delta_num_params"] == 0.0
    # swa=on's val accuracy [a+0.9-0.1, a-0.02, a] with a = base + 0.01 reaches the
    # baseline's final value at epoch 3 (after 3+1+1 s), like the baseline itself.
    assert (swa["reach_epochs"], swa["reach_seconds"], swa["reach_seeds"]) == (3.0, 5.0, 3)
    assert math.isinf(smoothing["reach_epochs"])


def test_formatted_table_marks_the_baseline_and_unavailable_values():
    records = paired("swa=on", [0.9], [0.93])
    records += [run("smoothing=0.1", 0, status="FAILED")]
    shown = format_main_table(main_table(frame_of(records)))
    assert list(shown.columns) == ACCURACY_HEADERS + COST_HEADERS[1:]
    rows = shown.set_index("arm")
    assert rows.loc["baseline", "Δ acc. pp [95 % CI]"] == "ref."
    assert rows.loc["baseline", "verdict (Holm)"] == "baseline"
    assert rows.loc["swa=on", "Δ acc. pp [95 % CI]"] == "+3.00 [n/a]"
    assert rows.loc["swa=on", "P(arm>base) [Holm CI]"] == "1.00 [n/a]"
    assert rows.loc["swa=on", "verdict (Holm)"] == "inconclusive (1 seed)"
    assert rows.loc["smoothing=0.1", "runs ok/failed"] == "0/1"
    assert rows.loc["smoothing=0.1", "Δ acc. pp [95 % CI]"] == "n/a"
    assert rows.loc["smoothing=0.1", "verdict (Holm)"] == "n/a"
    assert rows.loc["swa=on", "test acc. % (mean ± std)"] == "93.00"


def test_formatted_intervals_and_footnote():
    table = main_table(frame_of(paired("swa=on", [0.9] * 6, [0.91] * 6)))
    shown = format_main_table(table).set_index("arm")
    assert shown.loc["swa=on", "Δ acc. pp [95 % CI]"] == "+1.00 [+1.00, +1.00]"
    assert shown.loc["swa=on", "P(arm>base) [Holm CI]"] == "1.00 [1.00, 1.00]"
    assert shown.loc["swa=on", "verdict (Holm)"] == "better"
    note = footnote(table)
    assert "swa=on ±0.00 pp (N=6)" in note
    assert "**Exploratory**: 5-9 pairs" in note
    assert "did not finish" not in note


def test_footnote_labels_fewer_than_five_pairs_and_failed_runs():
    note = footnote(main_table(frame_of(demo_records())))
    assert "**Exploratory**: fewer than 5 pairs" in note
    assert "smoothing=0.1 ±" in note and "(N=2)" in note
    assert "1 run(s) did not finish" in note


def test_markdown_table_escapes_pipes():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": ["1"]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_claim_check_for_one_factor_arms():
    records = paired("swa=on", [0.9, 0.91, 0.92], [0.905, 0.915, 0.925])
    records += [
        run("smoothing=0.1", s, a, knobs={"swa": "off", "smoothing": "0.1"}, test_ece=0.02)
        for s, a in enumerate([0.9, 0.91, 0.92])
    ]
    for record in records:
        record.setdefault("test_ece", 0.05)
    claims = claim_check(frame_of(records)).set_index("technique")
    swa = claims.loc["SWA"]
    assert swa["arm"] == "swa=on" and swa["claimed"] == "+1-2 % on CIFAR-10"
    assert "+0.27..0.48 pp" in swa["literature"]
    assert swa["effect"] == pytest.approx(0.005)
    assert swa["measured"] == "acc. +0.50 pp [+0.50, +0.50]; train time n/a (N=3)"
    assert swa["assessment"] == "below the claim (CI under +1 pp)"
    smoothing = claims.loc["label smoothing"]
    assert "ECE -3.00 pp [-3.00, -3.00]" in smoothing["measured"]
    assert smoothing["assessment"] == "no figure claimed"


def test_claim_check_negates_leave_one_out_arms():
    full = {"swa": "on", "smoothing": "0.1"}
    base = [run("baseline", s, 0.92, knobs=full, design="loo") for s in range(3)]
    arm = [
        run("swa=off", s, 0.90, knobs={"swa": "off", "smoothing": "0.1"}, design="loo")
        for s in range(3)
    ]
    swa = claim_check(frame_of(base + arm)).set_index("technique").loc["SWA"]
    assert swa["effect"] == pytest.approx(0.02)  # with SWA minus without
    assert swa["measured"].startswith("acc. +2.00 pp [+2.00, +2.00]")
    assert swa["assessment"] == "consistent with the claim"


def test_claim_check_speed_claim_and_no_claims():
    knobs = {"model": "small_cnn"}
    records = [run("baseline", s, 0.9, knobs=knobs, steady_epoch_time_s=1.0) for s in range(3)]
    records += [
        run(
            "model=mobilenet_v3_small",
            s,
            0.85,
            knobs={"model": "mobilenet_v3_small"},
            steady_epoch_time_s=4.0 + s,
        )
        for s in range(3)
    ]
    claims = claim_check(frame_of(records))
    assert claims["technique"].tolist() == ["MobileNetV3-Small"]
    assert claims.loc[0, "assessment"] == "contradicted: steady epochs take longer (CI above 0)"
    assert "steady epoch time +400.0 %" in claims.loc[0, "measured"]
    other = [
        run("baseline", 0, 0.9, knobs={"ema": "off"}),
        run("ema=on", 0, 0.9, knobs={"ema": "on"}),
    ]
    assert claim_check(frame_of(other)).empty


def _factorial(failed_seed: int | None = None) -> pd.DataFrame:
    """A 2x2 swa x smoothing grid, 3 seeds, cell means 0.80/0.85/0.82/0.90 plus a seed shift."""
    cells = {("off", "0.0"): 0.80, ("on", "0.0"): 0.85, ("off", "0.1"): 0.82, ("on", "0.1"): 0.90}
    records = []
    for (swa, smoothing), accuracy in cells.items():
        changed = [
            f"{k}={v}"
            for k, v, ref in (("swa", swa, "off"), ("smoothing", smoothing, "0.0"))
            if v != ref
        ]
        arm = ",".join(changed) or "baseline"
        for seed in range(3):
            status = "FAILED" if (seed == failed_seed and arm == "swa=on") else "FINISHED"
            record = run(
                "baseline" if arm == "baseline" else "x=y",
                seed,
                accuracy + 0.01 * seed,
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
    # swa: (0.85 + 0.90) / 2 - (0.80 + 0.82) / 2; smoothing: (0.82 + 0.90) / 2 - (0.80 + 0.85) / 2.
    assert effects.loc["swa", "effect"] == pytest.approx(0.065)
    assert effects.loc["smoothing", "effect"] == pytest.approx(0.035)
    assert effects.loc["swa", ["level", "reference", "n_seeds"]].tolist() == ["on", "off", 3]
    assert effects.loc["swa", "effect_low"] == pytest.approx(0.065)
    crossed = interactions(frame)
    assert len(crossed) == 1
    row = crossed.iloc[0]
    assert (row["knob_a"], row["level_a"], row["knob_b"], row["level_b"]) == (
        "smoothing",
        "0.1",
        "swa",
        "on",
    )
    assert row["interaction"] == pytest.approx(0.90 - 0.82 - 0.85 + 0.80)
    means = cell_means(frame, "swa", "smoothing")
    assert means.loc["on", "0.1"] == pytest.approx(0.91)
    assert means.loc["off", "0.0"] == pytest.approx(0.81)


def test_factorial_drops_seeds_with_a_failed_cell_and_reports_everything_together():
    frame = _factorial(failed_seed=1)
    assert main_effects(frame)["n_seeds"].tolist() == [2, 2]
    claims = claim_check(frame).set_index("arm")
    together = claims.loc["swa=on,smoothing=0.1"]
    assert together["technique"] == "everything together"
    assert together["effect"] == pytest.approx(0.10)
    assert together["assessment"] == "consistent with the claim"
    assert claims.loc["swa=on", "technique"] == "SWA"


def test_factorial_effects_need_a_full_grid():
    frame = frame_of(paired("swa=on", [0.9, 0.91], [0.91, 0.92]))
    with pytest.raises(InputError, match="full factorial grid"):
        main_effects(frame)
