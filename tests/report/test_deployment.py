"""The deployed-model table of a quantization sweep, its figure and its evidence, on a synthetic
sweep with exact numbers."""

import math

import pytest
from synthetic_sweeps import frame_of, run

from ablate.report import build_report, report_markdown, runs_from_dir
from ablate.report.deployment import (
    HEADERS,
    VERDICT_SAME_MODEL,
    deployment_table,
    format_deployment,
)
from ablate.report.evidence import applied_as
from conftest import TINY, run_cli

KNOBS = {"quantize": "off"}


def quantized(arm: str, seed: int, keras: float, tflite: float, size: float, latency: float):
    """A run of a `quantize=` arm: its Keras and TFLite accuracies, TFLite size and latency,
    beside a float32 TFLite model of 100 KB taking 0.01 ms."""
    return run(
        arm,
        seed,
        keras,
        knobs=KNOBS | {"quantize": arm.split("=")[1]},
        tflite_test_accuracy=tflite,
        tflite_size_bytes=size,
        tflite_latency_ms=latency,
        float32_tflite_size_bytes=102400.0,
        float32_tflite_latency_ms=0.01,
        tflite_int8_tensor_share=0.5 if arm.endswith("int8") else 0.0,
    )


@pytest.fixture(name="frame")
def quantization_sweep():
    baseline = [run("baseline", s, a, knobs=KNOBS) for s, a in enumerate([0.90, 0.92, 0.94])]
    int8 = [
        quantized("quantize=int8", 0, 0.90, 0.89, 32768.0, 0.005),
        quantized("quantize=int8", 1, 0.92, 0.90, 32768.0, 0.005),
        quantized("quantize=int8", 2, 0.94, 0.91, 32768.0, 0.005),
    ]
    float16 = [quantized("quantize=float16", s, a, a, 51200.0, 0.01) for s, a in [(0, 0.9)]]
    return frame_of(baseline + int8 + float16)


def test_each_quantized_arm_pairs_its_models_within_the_run_and_with_the_baseline(frame):
    table = deployment_table(frame).set_index("arm")
    assert list(table.index) == ["quantize=float16", "quantize=int8"]  # the baseline has none
    int8 = table.loc["quantize=int8"]
    assert int8["seeds"] == 3
    assert int8["size_kb"] == 32.0
    assert int8["size_ratio"] == pytest.approx(0.32)  # the same in every run: a zero-width CI
    assert int8["size_ratio_low"] == pytest.approx(0.32)
    assert int8["latency_ratio"] == pytest.approx(0.5)
    # drops -0.01, -0.02, -0.03: mean -0.02, t(0.975, 2) * 0.01 / sqrt(3) = 0.024841
    assert int8["drop"] == pytest.approx(-0.02)
    assert int8["drop_low"] == pytest.approx(-0.02 - 0.0248414, abs=1e-6)
    assert int8["drop_high"] == pytest.approx(-0.02 + 0.0248414, abs=1e-6)
    # deployed accuracy minus the baseline's Keras accuracy of the same seed: the same here
    assert int8["delta"] == pytest.approx(-0.02)
    float16 = table.loc["quantize=float16"]
    assert (float16["seeds"], float16["size_ratio"], float16["drop"]) == (1, 0.5, 0.0)
    assert math.isnan(float16["drop_low"])  # one seed: no interval


def test_the_shown_table_and_the_report_section(frame):
    shown = format_deployment(deployment_table(frame))
    assert list(shown.columns) == HEADERS
    assert shown.iloc[1].tolist() == [
        "quantize=int8",
        "3",
        "32.0",
        "0.320 [0.320, 0.320]",
        "0.0050",
        "0.500 [0.500, 0.500]",
        "-2.00 [-4.48, +0.48]",
        "-2.00 [-4.48, +0.48]",
    ]
    assert shown.iloc[0, 6] == "+0.00 [n/a]"
    report = build_report(frame)
    assert "size_accuracy" in report.figures
    axes = report.figures["size_accuracy"].axes[0]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "baseline: Keras float32",
        "quantize=float16: TFLite",
        "quantize=int8: TFLite",
    ]
    markdown = report_markdown(report)
    assert "## Deployed model: TFLite quantization (quantize=)" in markdown
    assert "plain float32 TFLite model (100.0 KB, 0.0100 ms per example" in markdown


def test_a_sweep_without_quantized_runs_has_no_deployment_section():
    frame = frame_of([run("baseline", 0, 0.9), run("swa=on", 0, 0.91)])
    report = build_report(frame)
    assert "size_accuracy" not in report.figures
    assert "Deployed model" not in report_markdown(report)


def test_evidence_shows_the_converted_size_and_flags_input_bound_arms(frame):
    profiled = {"profile_steps": 20.0, "profile_step_time_ms": 12.5}
    records = [
        run("baseline", 0, 0.9, profile_input_wait_share=0.02, **profiled),
        run("augment=randaugment", 0, 0.9, profile_input_wait_share=0.92, **profiled),
    ]
    table = applied_as(frame_of(records)).set_index("arm")["applied as"].to_dict()
    assert table["baseline"] == "profiled 20 steps: 12.5 ms/step, 2 % waiting for input"
    assert table["augment=randaugment"] == (
        "profiled 20 steps: 12.5 ms/step, 92 % waiting for input, input-bound"
    )
    notes = report_markdown(build_report(frame_of(records))).split("## Notes", 1)[1]
    assert "**Input-bound** (profile=on): augment=randaugment (92 %) of the profiled" in notes
    evidence = applied_as(frame).set_index("arm")["applied as"].to_dict()
    assert evidence["quantize=int8"] == "TFLite model 32.0 KB (0.32× float32), 50 % of tensors int8"


def test_a_quantized_arm_that_trained_the_baseline_model_is_not_called_inactive(frame):
    report = build_report(frame)
    verdicts = report.main.set_index("arm")["verdict"]
    assert verdicts["quantize=int8"] == VERDICT_SAME_MODEL  # every pair tied: the same training
    assert "**Inactive?**" not in report.footnote


@pytest.mark.slow
def test_a_quantization_sweep_reports_size_latency_and_accuracy_per_arm(tmp_path):
    result = run_cli(
        "-m", "quantize=off,dynamic,float16,int8", "ablation.seeds=2", *TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = [p.parent for p in tmp_path.glob("multirun/*/*/sweep.json")]
    assert (sweep_dir / "size_accuracy.png").stat().st_size > 0
    section = (sweep_dir / "report.md").read_text().split("## Deployed model", 1)[1]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| quantize=")]
    assert [(row[0], row[1]) for row in rows] == [
        ("| quantize=dynamic", "2"),
        ("| quantize=float16", "2"),
        ("| quantize=int8", "2"),
    ]
    size_ratios = [float(row[3].split()[0]) for row in rows]
    assert size_ratios[0] < 0.4 and 0.45 < size_ratios[1] < 0.6 and size_ratios[2] < 0.35
    frame = runs_from_dir(sweep_dir).set_index(["arm", "seed"])
    for arm in ("quantize=dynamic", "quantize=float16", "quantize=int8"):
        runs = frame.loc[arm]
        drop = runs["tflite_test_accuracy"] - runs["test_accuracy"]
        assert (drop.abs() < 0.05).all(), drop  # within a few points of the Keras model
        for path in sweep_dir.glob("*/model.tflite"):
            assert path.stat().st_size > 0
    assert frame.loc["baseline", "tflite_size_bytes"].isna().all()  # quantize=off converts nothing
