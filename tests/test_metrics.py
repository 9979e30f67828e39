"""Exact values of the test-split metrics on hand-computed inputs."""

import numpy as np
import pytest

from ablate.metrics import classification_metrics, expected_calibration_error


def test_ece_one_example_per_bin():
    probabilities = np.array([[0.95, 0.05], [0.65, 0.35], [0.85, 0.15], [0.25, 0.75]])
    labels = np.array([0, 1, 0, 1])  # correct, wrong, correct, correct
    # (|1 - .95| + |0 - .65| + |1 - .85| + |1 - .75|) / 4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.275)


def test_ece_averages_inside_a_bin_before_taking_the_gap():
    probabilities = np.array([[0.61, 0.39], [0.65, 0.35]])  # both in the (0.6, 0.667] bin
    labels = np.array([0, 1])  # accuracy 0.5, mean confidence 0.63
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.13)


def test_ece_is_zero_for_perfectly_calibrated_certainty():
    probabilities = np.eye(3)
    assert expected_calibration_error(probabilities, np.arange(3)) == 0.0


def test_classification_metrics_on_an_imbalanced_prediction():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6]])
    labels = np.array([0, 0, 1, 1])  # predicted 0, 0, 0, 1
    metrics = classification_metrics(probabilities, labels)
    # class 0: precision 2/3, recall 1 -> F1 0.8; class 1: precision 1, recall 1/2 -> F1 2/3
    assert metrics["test_macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert metrics["test_balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    # confidences .9, .8, .7, .6 in four bins; correct, correct, wrong, correct
    assert metrics["test_ece"] == pytest.approx((0.1 + 0.2 + 0.7 + 0.4) / 4)
