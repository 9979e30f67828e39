"""Plan generation and the confound guard: exact arm lists and counts."""

import pytest

from ablate.sweep.guard import allowed_prefixes, unexpected_differences
from ablate.sweep.plan import format_plan, make_plan, paired_runs


def labels(arms):
    return [arm.label for arm in arms]


def test_the_design_card_command_is_three_runs_not_four():
    arms = make_plan(
        {"swa": ["on", "off"], "smoothing": ["0", "0.1"]}, {"swa": "off", "smoothing": "0"}
    )
    assert labels(arms) == ["baseline", "swa=on", "smoothing=0.1"]
    assert [a.role for a in arms] == ["baseline", "arm", "arm"]
    assert arms[0].settings == {"swa": "off", "smoothing": "0"}
    assert arms[1].settings == {"swa": "on", "smoothing": "0"}
    assert (arms[2].factor, arms[2].value) == ("smoothing", "0.1")
    assert arms[2].overrides() == ["swa=off", "smoothing=0.1"]


@pytest.mark.parametrize("num_knobs", [1, 2, 3, 4])
@pytest.mark.parametrize("num_values", [2, 3])
def test_run_counts_per_design(num_knobs, num_values):
    knobs = {f"k{i}": [f"v{j}" for j in range(num_values)] for i in range(num_knobs)}
    baseline = {k: "v0" for k in knobs}
    assert len(make_plan(knobs, baseline, "ofat")) == 1 + num_knobs * (num_values - 1)
    assert len(make_plan(knobs, baseline, "factorial")) == num_values**num_knobs
    if num_values == 2:
        assert len(make_plan(knobs, baseline, "loo")) == 1 + num_knobs


def test_eight_binary_knobs_are_nine_ofat_runs_against_256_factorial():
    knobs = {f"k{i}": ["off", "on"] for i in range(8)}
    baseline = {k: "off" for k in knobs}
    assert len(make_plan(knobs, baseline, "ofat")) == 9
    assert len(make_plan(knobs, baseline, "factorial")) == 256


def test_a_listed_value_equal_to_the_baseline_is_not_run_twice():
    arms = make_plan({"smoothing": ["0.1", "0.0", "0.2", "0.1"]}, {"smoothing": "0.0"})
    assert labels(arms) == ["baseline", "smoothing=0.1", "smoothing=0.2"]


def test_an_unlisted_baseline_value_still_runs_as_the_baseline():
    arms = make_plan({"smoothing": ["0.1", "0.2"]}, {"smoothing": "0.0"})
    assert labels(arms) == ["baseline", "smoothing=0.1", "smoothing=0.2"]
    assert arms[0].settings == {"smoothing": "0.0"}


def test_three_valued_ofat_arms():
    arms = make_plan(
        {"schedule": ["constant", "cosine", "cosine_warmup"], "swa": ["off", "on"]},
        {"schedule": "constant", "swa": "off"},
    )
    assert labels(arms) == ["baseline", "schedule=cosine", "schedule=cosine_warmup", "swa=on"]


def test_leave_one_out_starts_from_everything_on():
    arms = make_plan(
        {"swa": ["on", "off"], "smoothing": ["0", "0.1"], "ema": ["off", "on"]},
        {"swa": "off", "smoothing": "0", "ema": "off"},
        "loo",
    )
    assert labels(arms) == ["full", "swa=off", "smoothing=0", "ema=off"]
    assert arms[0].role == "baseline"
    assert arms[0].settings == {"swa": "on", "smoothing": "0.1", "ema": "on"}
    assert arms[1].settings == {"swa": "off", "smoothing": "0.1", "ema": "on"}


def test_leave_one_out_needs_a_declared_full_value_for_three_valued_knobs():
    knobs = {"schedule": ["constant", "cosine", "cosine_warmup"]}
    with pytest.raises(ValueError, match=r"ablation.full"):
        make_plan(knobs, {"schedule": "constant"}, "loo")
    arms = make_plan(knobs, {"schedule": "constant"}, "loo", full={"schedule": "cosine"})
    assert labels(arms) == ["full", "schedule=constant"]


def test_factorial_labels_join_every_changed_knob():
    arms = make_plan(
        {"swa": ["off", "on"], "smoothing": ["0", "0.1"]},
        {"swa": "off", "smoothing": "0"},
        "factorial",
    )
    assert labels(arms) == ["baseline", "smoothing=0.1", "swa=on", "swa=on,smoothing=0.1"]
    assert (arms[3].factor, arms[3].value) == ("swa,smoothing", "on,0.1")


def test_unknown_design():
    with pytest.raises(ValueError, match=r"ablation.design.*Received: ablation.design=grid"):
        make_plan({"a": ["1"]}, {"a": "0"}, "grid")


def test_seeds_are_paired_across_arms():
    arms = make_plan({"swa": ["on"]}, {"swa": "off"})
    runs = paired_runs(arms, [0, 1, 2])
    assert [(a.label, s) for a, s in runs] == [
        ("baseline", 0),
        ("baseline", 1),
        ("baseline", 2),
        ("swa=on", 0),
        ("swa=on", 1),
        ("swa=on", 2),
    ]


BASE = {
    "training": {"batch_size": 32, "epochs": 10},
    "swa": {"enabled": False, "start": 0.75},
    "smoothing": 0.0,
    "seed": 0,
    "ablation": {"arm": "baseline"},
}


def test_the_guard_stays_quiet_on_a_clean_option():
    arm = {**BASE, "swa": {"enabled": True, "start": 0.5}, "seed": 3, "ablation": {"arm": "x"}}
    assert unexpected_differences(BASE, arm, allowed_prefixes("swa", {})) == []


def test_the_guard_fires_on_an_option_that_changes_the_batch_size():
    arm = {
        **BASE,
        "swa": {"enabled": True, "start": 0.75},
        "training": {"batch_size": 128, "epochs": 10},
    }
    assert unexpected_differences(BASE, arm, allowed_prefixes("swa", {})) == [
        "training.batch_size: 32 -> 128"
    ]
    declared = allowed_prefixes("swa", {"swa": ["training.batch_size"]})
    assert unexpected_differences(BASE, arm, declared) == []


def test_format_plan_lists_arms_runs_and_estimates():
    arms = make_plan({"swa": ["on", "off"]}, {"swa": "off"})
    text = format_plan(
        [(arms[0], "h0", []), (arms[1], "h1", ["swa.enabled"])],
        [0, 1],
        "ofat",
        {"h0": 10.0, "h1": None},
    )
    assert "2 configurations x 2 seed(s) [0, 1] = 4 runs" in text
    assert "| baseline | baseline | - | 2 | 20 s |" in text
    assert "| swa=on | arm | swa.enabled | 2 | unknown |" in text
    assert "Estimated wall time: 20 s for the 1 configuration(s)" in text
