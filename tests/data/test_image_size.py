"""Tests for `ablate.data.image_size`: `data.image_size` checked, image datasets resized."""

import numpy as np
import pytest
from omegaconf import OmegaConf
from source_helpers import cfg, match

from ablate.data import load_dataset
from ablate.data.dataset import RawDataset
from ablate.data.image_size import resized
from ablate.errors import InputError


def test_image_size_resizes_from_an_omegaconf_config():
    data = load_dataset(OmegaConf.create({"name": "digits", "image_size": 16}))
    assert data.x.shape == (1797, 16, 16, 1)
    assert data.x.dtype == np.float32
    assert data.x.min() >= 0.0 and data.x.max() <= 255.0
    assert data.input_shape == (16, 16, 1)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "32"])
def test_invalid_image_size(size):
    with pytest.raises(InputError, match=match("data.image_size", f"data.image_size={size}")):
        load_dataset(cfg(name="digits", image_size=size))


def test_resized_keeps_a_dataset_already_at_that_size():
    data = RawDataset(
        x=np.zeros((2, 4, 4, 1), np.float32),
        y=np.array([0, 1]),
        class_names=("a", "b"),
        modality="image",
    )
    assert resized(data, 4) is data
