"""Adaptive seeding's rounds, planned from the runs a sweep folder holds (synthetic runs)."""

from ablate.sweep.adaptive import AdaptiveSeeding
from ablate.sweep.plan import make_plan
from report.synthetic_sweeps import run, write_sweep

ARMS = make_plan({"swa": ["on"], "smoothing": ["0.1"]}, {"swa": "off", "smoothing": "0.0"})


def adaptive(**settings) -> AdaptiveSeeding:
    design = dict(min_seeds=5, seeds_per_round=2, max_seeds=9, budget_s=None)
    return AdaptiveSeeding(ARMS, 10, order="blocked", **{**design, **settings})


def records(accuracies: dict[str, list[float]]) -> list[dict]:
    return [
        run(arm, 10 + i, accuracy, seeds="auto")
        for arm, values in accuracies.items()
        for i, accuracy in enumerate(values)
    ]


def test_the_first_round_runs_min_seeds_of_every_arm_from_the_first_seed():
    planned = adaptive().first_round()
    labels = [(arm.label, seed) for arm, seed in planned]
    assert labels[:5] == [("baseline", seed) for seed in range(10, 15)]
    assert len(planned) == 15


def test_only_the_open_arm_and_the_baseline_get_the_next_seeds(tmp_path):
    base = [0.90, 0.91, 0.92, 0.93, 0.94]
    seeding = adaptive()
    seeding.first_round()
    write_sweep(
        tmp_path,
        records(
            {
                "baseline": base,
                "swa=on": base,  # every pair tied: an inactive technique stops
                "smoothing=0.1": [a + 0.01 for a in base],  # 5 of 5 wins: not yet decided
            }
        ),
    )
    planned = seeding.next_round(tmp_path, elapsed_s=10.0, seconds_per_run=1.0)
    assert [(arm.label, seed) for arm, seed in planned] == [
        ("baseline", 15),
        ("baseline", 16),
        ("smoothing=0.1", 15),
        ("smoothing=0.1", 16),
    ]
    summary = seeding.summary().set_index("arm")
    assert summary.loc["swa=on", ["seeds", "verdict", "reason"]].tolist() == [
        5,
        "no effect: technique inactive?",
        "every pair tied: technique inactive?",
    ]
    assert summary.loc["smoothing=0.1", ["seeds", "wins", "verdict", "reason"]].tolist() == [
        5,
        5,
        "inconclusive",
        "open: 5 non-tied pairs cannot cross yet; next look at 7",
    ]


def test_a_round_that_would_overrun_the_budget_ends_the_sweep_with_a_final_look(tmp_path):
    base = [0.90, 0.91, 0.92, 0.93, 0.94]
    seeding = adaptive(budget_s=12.0)  # 10 s spent; the next round is 4 runs of 1 s
    seeding.first_round()
    better = [a + 0.01 for a in base]
    write_sweep(tmp_path, records({"baseline": base, "swa=on": base, "smoothing=0.1": better}))
    assert seeding.next_round(tmp_path, elapsed_s=10.0, seconds_per_run=1.0) == []
    summary = seeding.summary().set_index("arm")
    assert summary.loc["smoothing=0.1", ["seeds", "verdict", "reason"]].tolist() == [
        5,
        "inconclusive",
        "time budget reached",
    ]
