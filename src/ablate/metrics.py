"""The metrics a run records: their names, and the test-split ones `model.evaluate` lacks.

Beyond what `model.evaluate` reports, a run records macro-F1, balanced accuracy and the
expected calibration error on the test split.
"""

import numpy as np

# What every run logs: per epoch (MLflow step = epoch), and once at the end.
# `loss` includes label smoothing; `nll` is the plain cross-entropy, comparable across arms.
EPOCH_METRICS = (
    "loss",
    "accuracy",
    "nll",
    "val_loss",
    "val_accuracy",
    "val_nll",
    "lr",
    "epoch_time_s",
)
FINAL_METRICS = (
    "test_accuracy",
    "test_loss",
    "test_nll",
    "test_macro_f1",
    "test_balanced_accuracy",
    "test_ece",
    "train_time_s",
    "first_epoch_time_s",
    "steady_epoch_time_s",
    "train_throughput",
    "num_params",
    "optimizer_updates",
    "lr_first",
    "lr_peak",
    "lr_last",
    "attention_tokens",
    "attention_params",
    "augment_changed_share",
    "peak_rss_mb",
)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, num_bins=15) -> float:
    """Computes the expected calibration error of top-1 predictions.

    Predictions are grouped into `num_bins` equal-width confidence bins over (0, 1]; the ECE
    is the example-weighted mean of |accuracy - mean confidence| over the bins.

    References:
        - [Guo et al., 2017](https://arxiv.org/abs/1706.04599)

    Args:
        probabilities: `(n, num_classes)` predicted class probabilities.
        labels: `(n,)` integer class indices.
        num_bins: number of confidence bins. Defaults to 15.

    Returns:
        The ECE, in [0, 1].
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bin_index = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    error = 0.0
    for b in range(num_bins):
        in_bin = bin_index == b
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Returns `test_macro_f1`, `test_balanced_accuracy` and `test_ece` for a test split."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    predicted = probabilities.argmax(axis=1)
    return {
        "test_macro_f1": float(f1_score(labels, predicted, average="macro")),
        "test_balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "test_ece": expected_calibration_error(probabilities, labels),
    }
