"""The deployed model of each quantized arm: TFLite size, latency and accuracy.

With `quantize=dynamic|float16|int8` a run converts its trained model with the TFLite
converter, once quantized and once plain float32, and measures both
(`ablate.techniques.quantization`). Each arm's row is paired twice, every figure a mean over
the arm's seeds with a 95 % t interval:

- **within a run**, the quantized model against the same run's float32 TFLite model (size and
  latency, as ratios: `stats.ratio_interval`) and against its Keras model (the accuracy drop):
  the cost of quantizing that very model, free of training noise;
- **by seed, against the baseline's Keras model**: the deployed model's test accuracy minus
  the baseline's, what a user would ship against what they had (`stats.t_interval`).
"""

import math

import pandas as pd

from ablate.report.frame import FINISHED, arm_order, baseline_arm
from ablate.report.stats import VERDICT_INACTIVE, ratio_interval, t_interval

QUANTIZED_SIZE = "tflite_size_bytes"
VERDICT_SAME_MODEL = "same Keras model: quantized after training (see Deployed model)"
HEADERS = [
    "arm",
    "seeds",
    "TFLite size (KB)",
    "× float32 size [95% CI]",
    "latency (ms)",
    "× float32 latency [95% CI]",
    "accuracy drop vs its Keras model (pp) [95% CI]",
    "Δ deployed accuracy vs baseline (pp) [95% CI]",
]


def has_quantized_runs(frame: pd.DataFrame) -> bool:
    """Whether any finished run of the sweep recorded a converted model."""
    if QUANTIZED_SIZE not in frame:
        return False
    return bool(frame.loc[frame["status"] == FINISHED, QUANTIZED_SIZE].notna().any())


def post_training_verdicts(main: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The main table with `VERDICT_SAME_MODEL` for quantized arms that trained the baseline's
    model exactly (every pair tied), rather than "technique inactive?": their difference is
    the converted model's, in the deployment table.

    Args:
        main: the numeric main table (`tables.main_table`), with `arm` and `verdict`.
        frame: the tidy table.
    """
    finished = frame[frame["status"] == FINISHED]
    quantized = set(finished.loc[finished[QUANTIZED_SIZE].notna(), "arm"])
    same = main["arm"].isin(quantized) & (main["verdict"] == VERDICT_INACTIVE)
    return main.assign(verdict=main["verdict"].mask(same, VERDICT_SAME_MODEL))


def deployment_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One numeric row per arm with quantized runs, in the report's arm order.

    Args:
        frame: the tidy table.

    Returns:
        Columns `arm`, `seeds`, `size_kb`, `size_ratio(_low, _high)`, `latency_ms`,
        `latency_ratio(_low, _high)`, `drop(_low, _high)` and `delta(_low, _high)` (fractions
        of accuracy); empty without quantized runs.
    """
    finished = frame[(frame["status"] == FINISHED) & frame[QUANTIZED_SIZE].notna()]
    base = baseline_arm(frame)
    baseline = frame[(frame["arm"] == base) & (frame["status"] == FINISHED)]
    baseline_accuracy = baseline.groupby("seed")["test_accuracy"].first()
    rows = []
    for arm in arm_order(frame):
        runs = finished[finished["arm"] == arm].sort_values("seed")
        if runs.empty:
            continue
        size = ratio_interval(runs[QUANTIZED_SIZE], runs["float32_tflite_size_bytes"])
        latency = ratio_interval(runs["tflite_latency_ms"], runs["float32_tflite_latency_ms"])
        drop = t_interval(runs["tflite_test_accuracy"] - runs["test_accuracy"])
        paired = runs.set_index("seed")["tflite_test_accuracy"] - baseline_accuracy
        delta = t_interval(paired.dropna())
        rows.append(
            {
                "arm": arm,
                "seeds": len(runs),
                "size_kb": runs[QUANTIZED_SIZE].mean() / 1024,
                "latency_ms": runs["tflite_latency_ms"].mean(),
                **_named("size_ratio", size),
                **_named("latency_ratio", latency),
                **_named("drop", drop),
                **_named("delta", delta),
            }
        )
    return pd.DataFrame(rows)


def _named(name: str, estimate) -> dict[str, float]:
    """`{name, name_low, name_high}` of an estimate and its interval."""
    value, low, high = (float(v) for v in estimate)
    return {name: value, f"{name}_low": low, f"{name}_high": high}


def _times(row: pd.Series, name: str) -> str:
    value, low, high = (row[f"{name}{end}"] for end in ("", "_low", "_high"))
    if math.isnan(value):
        return "n/a"
    interval = "n/a" if math.isnan(low) else f"{low:.3f}, {high:.3f}"
    return f"{value:.3f} [{interval}]"


def _points(row: pd.Series, name: str) -> str:
    # rounded first: a Keras accuracy is float32, a TFLite one float64; +0.0 turns -0.0 into 0
    value, low, high = (round(100 * row[f"{name}{end}"], 4) + 0.0 for end in ("", "_low", "_high"))
    if math.isnan(value):
        return "n/a"
    interval = "n/a" if math.isnan(low) else f"{low:+.2f}, {high:+.2f}"
    return f"{value:+.2f} [{interval}]"


def format_deployment(table: pd.DataFrame) -> pd.DataFrame:
    """The deployment table as the report shows it (`HEADERS`)."""
    rows = [
        [
            row["arm"],
            str(int(row["seeds"])),
            f"{row['size_kb']:.1f}",
            _times(row, "size_ratio"),
            f"{row['latency_ms']:.4f}",
            _times(row, "latency_ratio"),
            _points(row, "drop"),
            _points(row, "delta"),
        ]
        for _, row in table.iterrows()
    ]
    return pd.DataFrame(rows, columns=HEADERS)


def float32_reference(frame: pd.DataFrame) -> str:
    """One line on the plain float32 TFLite model the ratios divide by."""
    runs = frame[(frame["status"] == FINISHED) & frame[QUANTIZED_SIZE].notna()]
    size_kb = runs["float32_tflite_size_bytes"].mean() / 1024
    latency = runs["float32_tflite_latency_ms"].mean()
    return (
        f"Ratios divide by the same run's plain float32 TFLite model ({size_kb:.1f} KB, "
        f"{latency:.4f} ms per example, means over the quantized runs); latency is the median "
        "of single-example invocations on one interpreter thread. The accuracy drop compares "
        "each converted model with the Keras model it was converted from; the last column "
        "compares it with the baseline's Keras model, paired by seed."
    )
