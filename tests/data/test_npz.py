"""Tests for `ablate.data.npz`: a user's `.npz` file, and every bad input as `InputError`."""

import numpy as np
import pytest
from source_helpers import cfg, match

from ablate.data import load_dataset
from ablate.errors import InputError


def npz_file(tmp_path, **arrays):
    """Writes `arrays` to `data.npz` under `tmp_path` and returns a config for it."""
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return cfg(name="npz", path=str(path))


def test_npz_tabular_with_test_split(tmp_path):
    rng = np.random.default_rng(0)
    config = npz_file(
        tmp_path,
        x_train=rng.normal(size=(6, 4)),
        y_train=np.array([0, 1, 2, 0, 1, 2]),
        x_test=rng.normal(size=(3, 4)),
        y_test=np.array([2, 1, 0]),
    )
    data = load_dataset(config)
    assert data.modality == "tabular"
    assert data.x.shape == (6, 4) and data.x.dtype == np.float32
    assert data.y.tolist() == [0, 1, 2, 0, 1, 2] and data.y.dtype == np.int64
    assert data.x_test.shape == (3, 4) and data.x_test.dtype == np.float32
    assert data.y_test.tolist() == [2, 1, 0] and data.y_test.dtype == np.int64
    assert data.class_names == ("0", "1", "2")


def test_npz_unit_range_images_scaled_and_float_labels_accepted(tmp_path):
    x = np.zeros((4, 5, 5))
    x[0, 0, 0] = 1.0
    x[1, 2, 2] = 0.5
    config = npz_file(tmp_path, x_train=x, y_train=np.array([0.0, 1.0, 3.0, 1.0]))
    data = load_dataset(config)
    assert data.modality == "image"
    assert data.x.shape == (4, 5, 5, 1)
    assert (data.x[0, 0, 0, 0], data.x[1, 2, 2, 0], data.x.max()) == (255.0, 127.5, 255.0)
    assert data.y.tolist() == [0, 1, 3, 1] and data.y.dtype == np.int64
    assert data.class_names == ("0", "1", "2", "3")
    assert data.x_test is None and data.y_test is None


def test_npz_rgb_uint8_images_kept_in_0_255_and_resized(tmp_path):
    x = np.full((2, 6, 6, 3), 200, np.uint8)
    config = npz_file(
        tmp_path,
        x_train=x,
        y_train=np.array([0, 1], np.uint8),
        x_test=x[:1],
        y_test=np.array([1]),
    )
    config.image_size = 3
    data = load_dataset(config)
    assert data.x.shape == (2, 3, 3, 3) and data.x_test.shape == (1, 3, 3, 3)
    assert np.all(data.x == 200.0) and np.all(data.x_test == 200.0)


def test_npz_missing_file(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(InputError, match=match("data.path", f"data.path={path}", "no such file")):
        load_dataset(cfg(name="npz", path=str(path)))


def test_npz_not_an_npz(tmp_path):
    path = tmp_path / "renamed.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match=match(".npz archive", f"data.path={path} (not an .npz")):
        load_dataset(cfg(name="npz", path=str(path)))


def test_npz_single_npy_array(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(InputError, match=match(f"data.path={path}", "single .npy array")):
        load_dataset(cfg(name="npz", path=str(path)))


def test_npz_wrong_keys(tmp_path):
    config = npz_file(tmp_path, a=np.zeros(2), b=np.zeros(2))
    with pytest.raises(
        InputError, match=match("x_train", "y_train", f"data.path={config.path}", "['a', 'b']")
    ):
        load_dataset(config)


def test_npz_only_one_test_array(tmp_path):
    config = npz_file(tmp_path, x_train=np.zeros((2, 2)), y_train=[0, 1], x_test=np.zeros((1, 2)))
    with pytest.raises(InputError, match=match("both `x_test` and `y_test`", config.path)):
        load_dataset(config)


def test_npz_object_dtype(tmp_path):
    config = npz_file(
        tmp_path, x_train=np.array([[1, "a"], [None, 2]], dtype=object), y_train=[0, 1]
    )
    with pytest.raises(InputError, match=match("`x_train`", f"data.path={config.path}", "object")):
        load_dataset(config)


def test_npz_string_dtype(tmp_path):
    config = npz_file(tmp_path, x_train=np.array([["a", "b"], ["c", "d"]]), y_train=[0, 1])
    with pytest.raises(InputError, match=match("numeric", f"data.path={config.path}", "<U1")):
        load_dataset(config)


@pytest.mark.parametrize("shape", [(4,), (4, 2, 2, 2), (4, 2, 2, 2, 1)])
def test_npz_bad_x_shape(tmp_path, shape):
    config = npz_file(tmp_path, x_train=np.zeros(shape), y_train=[0, 1, 0, 1])
    with pytest.raises(InputError, match=match("`x_train`", config.path, f"shape {shape}")):
        load_dataset(config)


@pytest.mark.parametrize("y", [np.array([[0], [1]]), np.array([0.0, 1.5]), np.array(["a", "b"])])
def test_npz_bad_labels(tmp_path, y):
    config = npz_file(tmp_path, x_train=np.zeros((2, 3)), y_train=y)
    with pytest.raises(InputError, match=match("`y_train`", "integer", config.path, y.dtype)):
        load_dataset(config)


def test_npz_mismatched_lengths(tmp_path):
    config = npz_file(tmp_path, x_train=np.zeros((3, 2)), y_train=[0, 1])
    with pytest.raises(InputError, match=match("same length", config.path, "3 rows", "2 in")):
        load_dataset(config)


@pytest.mark.parametrize(
    "value, counts", [(np.nan, "1 NaN and 0 inf"), (np.inf, "0 NaN and 1 inf")]
)
def test_npz_non_finite_features(tmp_path, value, counts):
    x = np.zeros((2, 2))
    x[1, 1] = value
    config = npz_file(tmp_path, x_train=x, y_train=[0, 1])
    with pytest.raises(InputError, match=match("finite", f"data.path={config.path}", counts)):
        load_dataset(config)


def test_npz_negative_labels(tmp_path):
    config = npz_file(tmp_path, x_train=np.zeros((3, 2)), y_train=[-1, 0, 1])
    with pytest.raises(InputError, match=match(">= 0", config.path, "smallest label -1")):
        load_dataset(config)


def test_npz_single_class(tmp_path):
    config = npz_file(tmp_path, x_train=np.zeros((3, 2)), y_train=[2, 2, 2])
    with pytest.raises(InputError, match=match("2 distinct classes", config.path, "[2]")):
        load_dataset(config)


def test_npz_test_shape_differs(tmp_path):
    config = npz_file(
        tmp_path, x_train=np.zeros((2, 3)), y_train=[0, 1], x_test=np.zeros((1, 4)), y_test=[0]
    )
    with pytest.raises(InputError, match=match("same sample shape", config.path, "(4,)", "(3,)")):
        load_dataset(config)


def test_npz_test_labels_outside_train_range(tmp_path):
    config = npz_file(
        tmp_path, x_train=np.zeros((2, 3)), y_train=[0, 1], x_test=np.zeros((1, 3)), y_test=[2]
    )
    with pytest.raises(InputError, match=match("[0, 2)", config.path, "[2, 2]")):
        load_dataset(config)


def test_npz_empty_test_split(tmp_path):
    config = npz_file(
        tmp_path, x_train=np.zeros((2, 3)), y_train=[0, 1], x_test=np.zeros((0, 3)), y_test=[]
    )
    with pytest.raises(InputError, match=match("at least one sample", config.path)):
        load_dataset(config)


def test_npz_standardised_images_rejected(tmp_path):
    config = npz_file(tmp_path, x_train=np.full((2, 3, 3), -0.5), y_train=[0, 1])
    with pytest.raises(InputError, match=match("[0, 255]", config.path, "[-0.5, -0.5]")):
        load_dataset(config)
