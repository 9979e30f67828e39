"""Tests for `ablate.data.dataset`: the `RawDataset` every source returns."""

import numpy as np

from ablate.data.dataset import RawDataset


def test_raw_dataset_properties():
    data = RawDataset(
        x=np.zeros((4, 3), np.float32),
        y=np.array([0, 1, 2, 0]),
        class_names=("a", "b", "c"),
        modality="tabular",
    )
    assert (data.num_classes, data.input_shape) == (3, (3,))
