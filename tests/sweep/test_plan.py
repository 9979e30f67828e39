"""Plan generation, run order and the confound guard: exact arm lists, counts and orders."""

import json
import random
import re
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobStatus
from omegaconf import OmegaConf

from ablate.sweep.guard import allowed_prefixes, unexpected_differences
from ablate.sweep.plan import format_order, format_plan, make_plan, paired_runs


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


def test_seeds_are_paired_across_arms_in_blocked_order():
    arms = make_plan({"swa": ["on"]}, {"swa": "off"})
    runs = paired_runs(arms, [0, 1, 2], "blocked")
    assert [(a.label, s) for a, s in runs] == [
        ("baseline", 0),
        ("baseline", 1),
        ("baseline", 2),
        ("swa=on", 0),
        ("swa=on", 1),
        ("swa=on", 2),
    ]


FOUR_ARMS = ({"swa": ["on"], "smoothing": ["0.1", "0.2"]}, {"swa": "off", "smoothing": "0"})


def test_interleaved_order_runs_seed_by_seed_with_arms_shuffled_by_the_seed():
    arms = make_plan(*FOUR_ARMS)
    seeds = [3, 4, 5, 6, 7]
    runs = paired_runs(arms, seeds)  # interleaved is the default
    assert [s for _, s in runs] == [s for s in seeds for _ in arms]  # seed by seed
    blocks = [[a.label for a, s in runs if s == seed] for seed in seeds]
    labels = [a.label for a in arms]
    for seed, block in zip(seeds, blocks, strict=True):
        assert sorted(block) == sorted(labels)  # every arm once per seed, baseline included
        expected = list(labels)
        random.Random(seed).shuffle(expected)
        assert block == expected  # seeded by the seed: deterministic
    assert len({tuple(b) for b in blocks}) > 1  # shuffled, not one fixed order
    assert any(block != labels for block in blocks)
    assert paired_runs(arms, seeds) == runs
    # A seed keeps its order when the sweep grows: resuming with more seeds is stable.
    assert paired_runs(arms, seeds + [8])[: len(runs)] == runs


def test_unknown_order():
    arms = make_plan({"swa": ["on"]}, {"swa": "off"})
    with pytest.raises(ValueError, match=r"ablation.order.*Received: ablation.order=random"):
        paired_runs(arms, [0], "random")


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
    assert "Run order: interleaved, seed by seed, arms shuffled by `random.Random(seed)`:" in text
    for seed in (0, 1):
        expected = [a.label for a, s in paired_runs(arms, [0, 1]) if s == seed]
        assert f"- seed {seed}: {', '.join(expected)}" in text
    blocked = format_plan([(arms[0], "h0", [])], [0, 1], "ofat", {}, "blocked")
    assert blocked.endswith(
        "Run order: blocked (every seed of one arm, then the next arm; "
        "time ratios are confounded with run order)."
    )


def test_format_order_lists_every_seed_in_launch_order():
    arms = make_plan(*FOUR_ARMS)
    lines = format_order(arms, [0, 1, 2]).splitlines()
    assert len(lines) == 4
    runs = paired_runs(arms, [0, 1, 2])
    assert [line.split(": ", 1)[1] for line in lines[1:]] == [
        ", ".join(a.label for a, s in runs if s == seed) for seed in (0, 1, 2)
    ]


class _RecordingLauncher:
    """Records the jobs it is given and reports each as completed, without running them."""

    def __init__(self):
        self.jobs = []

    def launch(self, batch, initial_job_idx):
        self.jobs += batch
        return [SimpleNamespace(status=JobStatus.COMPLETED) for _ in batch]


@pytest.mark.parametrize("order", ["interleaved", "blocked"])
def test_the_sweeper_launches_jobs_in_the_planned_order(tmp_path, order):
    from hydra_plugins.ablate_sweeper.ablate_sweeper import AblateSweeper

    arms = make_plan(*FOUR_ARMS)
    seeds = [0, 1, 2]
    sweeper = AblateSweeper()
    sweeper.launcher = _RecordingLauncher()
    sweeper.validate_batch_is_legal = lambda batch: None
    base = OmegaConf.create(
        {
            "seed": 0,
            "ablation": {
                "design": "ofat",
                "seeds": 3,
                "resume": True,
                "order": order,
                "report": False,
            },
        }
    )
    details = [(arm, f"hash-{arm.label}", []) for arm in arms]
    sweeper._run(base, ["data=digits"], details, seeds, None, tmp_path, "plan")

    def value(job, key):
        return next(o.split("=", 1)[1] for o in job if o.startswith(f"{key}="))

    launched = [
        (re.sub(r"^'|'$", "", value(job, "ablation.arm")), int(value(job, "seed")))
        for job in sweeper.launcher.jobs
    ]
    assert launched == [(a.label, s) for a, s in paired_runs(arms, seeds, order)]
    job = sweeper.launcher.jobs[0]
    arm = next(a for a in arms if a.label == launched[0][0])
    assert job[: 1 + len(arm.overrides())] == ["data=digits", *arm.overrides()]
    assert value(job, "ablation.knobs") == "'" + json.dumps(arm.settings) + "'"
    record = json.loads((tmp_path / "sweep.json").read_text())
    assert (record["launched"], record["skipped"], record["failed"]) == (12, 0, [])


@pytest.mark.parametrize("design", ["ofat", "loo", "factorial"])
def test_a_knob_listed_with_its_baseline_only_gives_no_arm_and_is_refused(design):
    with pytest.raises(ValueError) as raised:
        make_plan({"swa": ["on", "off"], "ema": ["off"]}, {"swa": "off", "ema": "off"}, design)
    assert str(raised.value) == (
        "`ema` must list a value other than its baseline, or it gives no arm. Received: "
        "ema=off (baseline ema=off). List the value to compare with it: ema=off,<value>."
    )


def test_a_loo_full_configuration_equal_to_the_baseline_is_refused():
    with pytest.raises(ValueError, match=r"`ablation.full` must differ from the baseline"):
        make_plan({"smoothing": ["0.0", "0.1"]}, {"smoothing": "0.0"}, "loo", {"smoothing": "0.0"})
