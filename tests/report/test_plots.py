"""Each figure: a `Figure` with labelled axes and one series per arm, on synthetic frames."""

import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from synthetic_sweeps import demo_records, frame_of, paired, run

from ablate.report import plots


def _demo():
    records = demo_records()
    records += [
        run("smoothing=0.2", s, status="FAILED", knobs={"swa": "off", "smoothing": "0.2"})
        for s in range(3)
    ]
    return frame_of(records)


def test_forest_has_one_errorbar_per_arm_with_pairs_and_a_baseline_line():
    figure = plots.forest(_demo())
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    assert axes.get_xlabel() == "Δ test accuracy vs baseline (pp, paired; 95 % t CI)"
    assert axes.get_ylabel() == "arm (N = seed pairs)"
    containers = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert len(containers) == 2  # swa=on and smoothing=0.1; the all-failed arm has no pair
    assert [t.get_text() for t in axes.get_yticklabels()] == [
        "smoothing=0.2 (N=0)",
        "smoothing=0.1 (N=2)",
        "swa=on (N=3)",
    ]
    baseline = [line for line in axes.get_lines() if line.get_label() == "baseline"]
    assert len(baseline) == 1 and list(baseline[0].get_xdata()) == [0, 0]
    (rope,) = [patch for patch in axes.patches if patch.get_label() == "ROPE"]
    assert rope.get_x() == pytest.approx(-0.5) and rope.get_width() == pytest.approx(1.0)
    # Both arms have fewer than 5 non-tied pairs: hollow markers, unreliable intervals.
    assert [c.lines[0].get_markerfacecolor() for c in containers] == ["white", "white"]


def test_forest_fills_reliable_intervals_in_the_verdict_colour():
    frame = frame_of(paired("swa=on", [0.9] * 6, [0.91] * 6))
    (axes,) = plots.forest(frame, rope=0.002).axes
    (container,) = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert container.has_xerr is True
    assert container.lines[0].get_markerfacecolor() == "tab:green"  # better
    assert container.get_label() == "better"
    (rope,) = [patch for patch in axes.patches if patch.get_label() == "ROPE"]
    assert rope.get_width() == pytest.approx(0.4)


def test_forest_draws_a_single_pair_without_an_interval():
    (axes,) = plots.forest(frame_of(paired("swa=on", [0.9], [0.92]))).axes
    (container,) = axes.containers
    assert container.has_xerr is False
    assert container.lines[0].get_markerfacecolor() == "white"


def test_pareto_has_one_errorbar_per_arm_with_finished_runs_and_a_front():
    frame = _demo()
    frame.loc[frame["arm"] == "swa=on", "train_time_s"] += 5  # slower and better: on the front
    (axes,) = plots.pareto(frame).axes
    assert axes.get_xlabel() == "train time per run (s, mean ± std over seeds)"
    assert axes.get_ylabel() == "test accuracy (%, mean ± std over seeds)"
    containers = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in containers] == ["baseline", "smoothing=0.1", "swa=on"]
    assert containers[0].lines[0].get_marker() == "*"
    (front,) = [line for line in axes.get_lines() if line.get_label() == "Pareto front"]
    assert list(front.get_xdata()) == pytest.approx([11.0, 16.0])  # baseline, then swa=on
    assert list(front.get_ydata()) == pytest.approx([91.0, 92.0])


def test_learning_curves_have_a_line_and_a_band_per_arm_in_both_panels():
    by_epoch, by_time = plots.learning_curves(_demo()).axes
    assert by_epoch.get_xlabel() == "epoch"
    assert by_epoch.get_ylabel() == "validation accuracy (%, mean ± std over seeds)"
    assert by_time.get_xlabel() == "cumulative training time (s, mean over seeds)"
    for axes in (by_epoch, by_time):
        assert [line.get_label() for line in axes.get_lines()] == [
            "baseline",
            "smoothing=0.1",
            "swa=on",
        ]
        assert len(axes.collections) == 3  # every arm has at least two finished seeds
    baseline = by_epoch.get_lines()[0]
    assert baseline.get_linewidth() == 2.5
    assert list(baseline.get_xdata()) == [1, 2, 3]
    assert list(baseline.get_ydata()) == pytest.approx(
        [81.0, 89.0, 91.0]
    )  # (0.9 + 0.01 s) - 0.1 etc., in %
    assert list(by_time.get_lines()[0].get_xdata()) == [3.0, 4.0, 5.0]


def test_per_seed_has_one_strip_per_arm_plus_means_and_counts_failures():
    (axes,) = plots.per_seed(_demo()).axes
    assert axes.get_ylabel() == "test accuracy (%)"
    assert axes.get_xlabel() == "arm (points: runs, coloured by seed)"
    assert len(axes.collections) == 3 + 1  # three arms with runs, one series of means
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        "baseline",
        "swa=on",
        "smoothing=0.1\n(1 failed)",
        "smoothing=0.2\n(3 failed)",
    ]
    strips = [len(c.get_offsets()) for c in axes.collections[:3]]
    assert strips == [3, 3, 2]
    assert [line.get_label() for line in axes.get_lines()] == ["baseline mean"]
