"""The report's figures, one function each: `(frame, ...) -> matplotlib.figure.Figure`.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas, never through pyplot,
so drawing one touches no global state and needs no display. Accuracies are drawn in %,
their differences in percentage points, times in seconds; the baseline is always marked.
"""

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ablate.report.frame import FINISHED, arm_order, baseline_arm, check_frame
from ablate.report.stats import (
    BETTER,
    BETTER_NEGLIGIBLE,
    EQUIVALENT,
    ROPE,
    WORSE,
    WORSE_NEGLIGIBLE,
    compare_arms,
)

VERDICT_COLORS = {
    BETTER: "tab:green",
    BETTER_NEGLIGIBLE: "tab:olive",
    WORSE: "tab:red",
    WORSE_NEGLIGIBLE: "tab:orange",
    EQUIVALENT: "tab:blue",
}
BASELINE_COLOR = "black"


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _legend(axes, **kwargs) -> None:
    """Adds a legend when something is labelled, else says that there is nothing to show."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", **kwargs)
    else:
        axes.text(
            0.5,
            0.5,
            "no finished run has this data",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color="tab:gray",
        )


def _arm_colors(arms: list[str], base: str) -> dict[str, str]:
    palette = colormaps["tab10"]
    others = [arm for arm in arms if arm != base]
    return {base: BASELINE_COLOR} | {arm: palette(i % 10) for i, arm in enumerate(others)}


def forest(frame: pd.DataFrame, metric: str = "test_accuracy", rope: float = ROPE) -> Figure:
    """Forest plot: each arm's paired mean difference to the baseline with its 95 % t CI.

    One errorbar per arm with at least one pair, coloured by verdict; the marker is hollow
    when the interval is unreliable (fewer than 5 non-tied pairs) and there is no bar when
    one pair gives no interval. A vertical line at 0 marks the baseline, a grey band the
    region of practical equivalence.

    Args:
        frame: the tidy table.
        metric: the metric to compare. Defaults to `"test_accuracy"`.
        rope: half-width of the region of practical equivalence. Defaults to 0.005.

    Returns:
        The figure.
    """
    table = compare_arms(frame, metric, rope=rope).sort_values("delta", na_position="first")
    figure = _figure(7, 1.2 + 0.45 * max(len(table), 1))
    axes = figure.subplots()
    axes.axvline(0, color=BASELINE_COLOR, linestyle="--", linewidth=1, label="baseline")
    axes.axvspan(-100 * rope, 100 * rope, color="tab:gray", alpha=0.12, label="ROPE")
    labelled = set()
    for position, (_, row) in enumerate(table.iterrows()):
        if math.isnan(row["delta"]):
            continue
        delta = 100 * row["delta"]
        has_ci = not math.isnan(row["delta_low"])
        error = [[delta - 100 * row["delta_low"]], [100 * row["delta_high"] - delta]]
        verdict = row["verdict"]
        color = VERDICT_COLORS.get(verdict, "tab:gray")
        label = verdict if verdict not in labelled else None
        labelled.add(verdict)
        axes.errorbar(
            [delta],
            [position],
            xerr=error if has_ci else None,
            fmt="o",
            color=color,
            markerfacecolor=color if has_ci and row["reliable"] else "white",
            capsize=4,
            label=label,
        )
    axes.set_yticks(
        range(len(table)),
        [f"{row['arm']} (N={int(row['n_pairs'])})" for _, row in table.iterrows()],
    )
    axes.set_ylim(-0.7, len(table) - 0.3)
    name = metric.removeprefix("test_").replace("_", " ")
    axes.set_xlabel(f"Δ test {name} vs baseline (pp, paired; 95 % t CI)")
    axes.set_ylabel("arm (N = seed pairs)")
    axes.set_title("Paired difference to the baseline")
    _legend(axes, loc="best")
    return figure


def _pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both lower time and higher accuracy."""
    front = [
        (x, y)
        for x, y in points
        if not any(
            (ox <= x and oy >= y) and (ox < x or oy > y) for ox, oy in points if (ox, oy) != (x, y)
        )
    ]
    return sorted(front)


def pareto(frame: pd.DataFrame, time_metric: str = "train_time_s") -> Figure:
    """Accuracy against training time per arm (mean ± std over seeds), with the Pareto front.

    Args:
        frame: the tidy table.
        time_metric: the time column on the x axis. Defaults to `"train_time_s"`.

    Returns:
        The figure: one errorbar per arm with finished runs, the baseline as a black star,
        and a dashed line through the arms that nothing beats on both axes.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    arms = arm_order(frame)
    colors = _arm_colors(arms, base)
    figure = _figure(7, 4.5)
    axes = figure.subplots()
    points = []
    for arm in arms:
        runs = frame[(frame["arm"] == arm) & (frame["status"] == FINISHED)]
        runs = runs[runs["test_accuracy"].notna() & runs[time_metric].notna()]
        if runs.empty:
            continue
        x, y = runs[time_metric].mean(), 100 * runs["test_accuracy"].mean()
        x_error = runs[time_metric].std(ddof=1) if len(runs) > 1 else None
        y_error = 100 * runs["test_accuracy"].std(ddof=1) if len(runs) > 1 else None
        axes.errorbar(
            [x],
            [y],
            xerr=x_error,
            yerr=y_error,
            fmt="*" if arm == base else "o",
            markersize=14 if arm == base else 7,
            color=colors[arm],
            capsize=3,
            label=f"{arm} (baseline)" if arm == base and arm != "baseline" else arm,
        )
        axes.annotate(arm, (x, y), textcoords="offset points", xytext=(6, 6), fontsize="small")
        points.append((x, y))
    front = _pareto_front(points)
    if len(front) > 1:
        axes.plot(*zip(*front, strict=True), "--", color="tab:gray", label="Pareto front")
    time_name = time_metric.removesuffix("_s").replace("_", " ")
    axes.set_xlabel(f"{time_name} per run (s, mean ± std over seeds)")
    axes.set_ylabel("test accuracy (%, mean ± std over seeds)")
    axes.set_title("Accuracy against training cost")
    _legend(axes, loc="best")
    return figure


def _stack(histories: list[list[float]]) -> np.ndarray:
    """Pads per-seed histories of unequal length with NaN into a seeds x epochs array."""
    length = max(len(h) for h in histories)
    return np.array([list(h) + [math.nan] * (length - len(h)) for h in histories], float)


def _mean_and_spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch mean over seeds, and std where at least two seeds have the epoch."""
    counts = np.isfinite(values).sum(axis=0)
    mean = np.nanmean(values, axis=0)
    spread = np.full(values.shape[1], math.nan)
    several = counts > 1
    spread[several] = np.nanstd(values[:, several], axis=0, ddof=1)
    return mean, spread


def learning_curves(frame: pd.DataFrame) -> Figure:
    """Validation accuracy per arm against epochs and against cumulative training time.

    Each arm is its mean over finished seeds, with a band of ± one std where at least two
    seeds have that epoch; the baseline is black and thicker.

    Args:
        frame: the tidy table.

    Returns:
        The figure, two panels: per epoch, and per second of training.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    arms = arm_order(frame)
    colors = _arm_colors(arms, base)
    figure = _figure(11, 4.2)
    by_epoch, by_time = figure.subplots(1, 2, sharey=True)
    for arm in arms:
        runs = frame[(frame["arm"] == arm) & (frame["status"] == FINISHED)]
        runs = runs[runs["history.val_accuracy"].map(len) > 0]
        if runs.empty:
            continue
        values = 100 * _stack(list(runs["history.val_accuracy"]))
        mean, spread = _mean_and_spread(values)
        style = {
            "color": colors[arm],
            "linewidth": 2.5 if arm == base else 1.5,
            "label": f"{arm} (baseline)" if arm == base and arm != "baseline" else arm,
        }
        band = {"color": colors[arm], "alpha": 0.15, "linewidth": 0}
        epochs = np.arange(1, len(mean) + 1)
        by_epoch.plot(epochs, mean, **style)
        if len(runs) > 1:
            by_epoch.fill_between(epochs, mean - spread, mean + spread, **band)
        timed = runs[runs["history.epoch_time_s"].map(len) == runs["history.val_accuracy"].map(len)]
        if timed.empty:
            continue
        seconds = np.nanmean(_stack([np.cumsum(t) for t in timed["history.epoch_time_s"]]), axis=0)
        timed_mean, timed_spread = _mean_and_spread(
            100 * _stack(list(timed["history.val_accuracy"]))
        )
        by_time.plot(seconds, timed_mean, **style)
        if len(timed) > 1:
            by_time.fill_between(
                seconds, timed_mean - timed_spread, timed_mean + timed_spread, **band
            )
    by_epoch.set_xlabel("epoch")
    by_epoch.set_ylabel("validation accuracy (%, mean ± std over seeds)")
    by_epoch.set_title("Validation accuracy per epoch")
    by_time.set_xlabel("cumulative training time (s, mean over seeds)")
    by_time.set_title("Validation accuracy per second of training")
    _legend(by_epoch, loc="lower right")
    if not by_time.get_lines():
        _legend(by_time)
    return figure


def per_seed(frame: pd.DataFrame) -> Figure:
    """Every run's test accuracy per arm (a strip plot), coloured by seed to show the pairs.

    Arms come baseline first, then by mean accuracy; each seed keeps its colour and its
    horizontal offset in every arm, so pairs line up. The arm's mean is a black bar, the
    baseline's mean a dashed line, and each tick counts the runs that did not finish.

    Args:
        frame: the tidy table.

    Returns:
        The figure: one scatter per arm with finished runs, plus one for the means.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    finished = frame[(frame["status"] == FINISHED) & frame["test_accuracy"].notna()]
    means = finished.groupby("arm")["test_accuracy"].mean()
    arms = [base] + sorted(arm_order(frame)[1:], key=lambda arm: -means.get(arm, -math.inf))
    seeds = sorted(frame["seed"].unique())
    palette = colormaps["viridis"]
    shade = {seed: palette(i / max(len(seeds) - 1, 1)) for i, seed in enumerate(seeds)}
    # A seed sits at the same place in every arm, so pairs line up across arms.
    offset = dict(
        zip(seeds, np.linspace(-0.2, 0.2, len(seeds)) if len(seeds) > 1 else [0.0], strict=True)
    )
    figure = _figure(max(6, 1.2 * len(arms) + 2), 4.5)
    axes = figure.subplots()
    if base in means:
        axes.axhline(
            100 * means[base],
            color=BASELINE_COLOR,
            linestyle="--",
            linewidth=1,
            label="baseline mean",
        )
    labels, mean_x, mean_y = [], [], []
    for position, arm in enumerate(arms):
        runs = frame[frame["arm"] == arm]
        done = finished[finished["arm"] == arm].sort_values("seed")
        failed = int((runs["status"] != FINISHED).sum())
        labels.append(arm + (f"\n({failed} failed)" if failed else ""))
        if done.empty:
            continue
        axes.scatter(
            [position + offset[s] for s in done["seed"]],
            100 * done["test_accuracy"],
            color=[shade[s] for s in done["seed"]],
            marker="*" if arm == base else "o",
            s=60 if arm == base else 30,
            edgecolors=BASELINE_COLOR if arm == base else "none",
            zorder=3,
        )
        mean_x.append(position)
        mean_y.append(100 * done["test_accuracy"].mean())
    axes.scatter(
        mean_x, mean_y, marker="_", s=800, color=BASELINE_COLOR, label="arm mean", zorder=4
    )
    axes.set_xticks(range(len(arms)), labels, rotation=20, ha="right")
    axes.set_xlim(-0.6, len(arms) - 0.4)
    axes.set_xlabel("arm (points: runs, coloured by seed)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("Test accuracy of every run")
    _legend(axes, loc="best")
    return figure


def size_accuracy(frame: pd.DataFrame) -> Figure:
    """Test accuracy against model size: the baseline's Keras model at the float32 TFLite size,
    and every quantized arm's converted model (`quantize=`), mean ± std over seeds.

    Args:
        frame: the tidy table, with runs that recorded `tflite_size_bytes`.

    Returns:
        The figure, its size axis in KB.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    arms = arm_order(frame)
    colors = _arm_colors(arms, base)
    finished = frame[frame["status"] == FINISHED]
    quantized = finished[finished["tflite_size_bytes"].notna()]
    figure = _figure(7, 4.5)
    axes = figure.subplots()
    baseline = finished[finished["arm"] == base]
    if not quantized.empty and not baseline.empty:
        size = quantized["float32_tflite_size_bytes"].mean() / 1024
        accuracy = 100 * baseline["test_accuracy"]
        spread = accuracy.std(ddof=1) if len(accuracy) > 1 else None
        axes.errorbar(
            [size], [accuracy.mean()], yerr=spread, fmt="*", markersize=14,
            color=BASELINE_COLOR, capsize=3, label=f"{base}: Keras float32",
        )  # fmt: skip
    for arm in arms:
        runs = quantized[quantized["arm"] == arm]
        if runs.empty:
            continue
        sizes, accuracy = runs["tflite_size_bytes"] / 1024, 100 * runs["tflite_test_accuracy"]
        many = len(runs) > 1
        axes.errorbar(
            [sizes.mean()], [accuracy.mean()], xerr=sizes.std(ddof=1) if many else None,
            yerr=accuracy.std(ddof=1) if many else None, fmt="o", color=colors[arm],
            capsize=3, label=f"{arm}: TFLite",
        )  # fmt: skip
    axes.set_xlabel("model size (KB)")
    axes.set_ylabel("test accuracy (%, mean ± std over seeds)")
    axes.set_title("Accuracy against deployed model size")
    _legend(axes, loc="best")
    return figure
