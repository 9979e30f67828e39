"""Tests for `ablate.report.headline`: a sweep's numbers for its parent run."""

import pytest
from synthetic_sweeps import frame_of, paired, run

from ablate.report.headline import headline, mlflow_name
from ablate.report.tables import main_table


def test_headline_has_the_baseline_and_each_arms_delta_pairs_and_verdict():
    records = paired("swa=on", [0.90, 0.91, 0.92], [0.92, 0.93, 0.94])
    records += [run("smoothing=0.1", seed, 0.91 + 0.01 * (seed - 1)) for seed in range(3)]
    metrics, tags = headline(main_table(frame_of(records)))
    assert metrics == {
        "baseline_test_accuracy": pytest.approx(0.91),
        "delta_pp/swa:on": 2.0,
        "pairs/swa:on": 3.0,
        "delta_pp/smoothing:0.1": 0.0,
        "pairs/smoothing:0.1": 3.0,
    }
    assert tags == {
        "verdict/swa:on": "no verdict (<5 non-tied pairs)",
        "verdict/smoothing:0.1": "no effect: technique inactive?",  # every pair tied
    }


def test_an_arm_without_pairs_gets_its_verdict_but_no_numbers():
    records = [run("baseline", seed, 0.9) for seed in range(2)]
    records += [run("swa=on", seed, status="FAILED") for seed in range(2)]
    metrics, tags = headline(main_table(frame_of(records)))
    assert set(metrics) == {"baseline_test_accuracy"}
    assert list(tags) == ["verdict/swa:on"]


@pytest.mark.parametrize(
    "arm, name",
    [
        ("swa=on", "swa:on"),
        ("optimizer=adamw,schedule=cosine", "optimizer:adamw_schedule:cosine"),
        ("data.path=/data/x y", "data.path:_data_x y"),
    ],
)
def test_arm_labels_become_names_mlflow_accepts(arm, name):
    from mlflow.utils.validation import validate_param_and_metric_name

    assert mlflow_name(arm) == name
    assert validate_param_and_metric_name(f"delta_pp/{mlflow_name(arm)}")
