"""Tests for `ablate.datasets`: every source, and every bad input reported as `InputError`."""

import gzip
import re
import socket
import struct
import types

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from ablate.datasets import RawDataset, load_dataset
from ablate.errors import InputError


def cfg(**fields):
    """A data config with attribute access, as the Hydra `data` section provides."""
    return types.SimpleNamespace(**fields)


def npz_file(tmp_path, **arrays):
    """Writes `arrays` to `data.npz` under `tmp_path` and returns a config for it."""
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return cfg(name="npz", path=str(path))


def match(*parts):
    """A `pytest.raises` pattern matching the literal `parts` in this order."""
    return ".*".join(re.escape(str(part)) for part in parts)


# -- Built-in sources ------------------------------------------------------------------------


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


def test_digits_rescaled_to_0_255():
    data = load_dataset(cfg(name="digits"))
    assert data.x.shape == (1797, 8, 8, 1)
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert (data.x.min(), data.x.max()) == (0.0, 255.0)
    assert data.class_names == tuple("0123456789")
    assert data.modality == "image" and data.x_test is None


def test_image_size_resizes_from_an_omegaconf_config():
    data = load_dataset(OmegaConf.create({"name": "digits", "image_size": 16}))
    assert data.x.shape == (1797, 16, 16, 1)
    assert data.x.dtype == np.float32
    assert data.x.min() >= 0.0 and data.x.max() <= 255.0
    assert data.input_shape == (16, 16, 1)


def test_unknown_name_lists_valid_names():
    with pytest.raises(InputError, match=match("data.name", "digits", "data.name=imagenet")):
        load_dataset(cfg(name="imagenet"))


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "32"])
def test_invalid_image_size(size):
    with pytest.raises(InputError, match=match("data.image_size", f"data.image_size={size}")):
        load_dataset(cfg(name="digits", image_size=size))


def test_raw_dataset_properties():
    data = RawDataset(
        x=np.zeros((4, 3), np.float32),
        y=np.array([0, 1, 2, 0]),
        class_names=("a", "b", "c"),
        modality="tabular",
    )
    assert (data.num_classes, data.input_shape) == (3, (3,))


# -- npz -------------------------------------------------------------------------------------


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


# -- image_folder ----------------------------------------------------------------------------


def save_pngs(folder, count, value, size=(5, 4)):
    """Writes `count` constant grey PNGs of `value` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.full(size, value, np.uint8)).save(folder / f"{index}.png")


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3)])
def test_image_folder_loads_classes_in_sorted_order(tmp_path, color_mode, channels):
    save_pngs(tmp_path / "dog", 2, 200)
    save_pngs(tmp_path / "cat", 3, 10)
    data = load_dataset(
        cfg(name="image_folder", path=str(tmp_path), image_size=4, color_mode=color_mode)
    )
    assert data.x.shape == (5, 4, 4, channels) and data.x.dtype == np.float32
    assert data.y.tolist() == [0, 0, 0, 1, 1] and data.y.dtype == np.int64
    assert data.class_names == ("cat", "dog")
    assert np.all(data.x[:3] == 10.0) and np.all(data.x[3:] == 200.0)
    assert data.modality == "image" and data.x_test is None


def test_image_folder_missing_path(tmp_path):
    path = tmp_path / "nowhere"
    with pytest.raises(InputError, match=match("data.path", f"data.path={path}", "no such")):
        load_dataset(cfg(name="image_folder", path=str(path), image_size=4))


def test_image_folder_empty(tmp_path):
    with pytest.raises(InputError, match=match("subfolder", f"data.path={tmp_path}", "[]")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_class_dirs_without_images(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(
        InputError, match=match("image files", f"data.path={tmp_path}", "No images")
    ):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_one_class(tmp_path):
    save_pngs(tmp_path / "cat", 2, 10)
    with pytest.raises(InputError, match=match("at least 2", f"data.path={tmp_path}", "['cat']")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_class_without_images(tmp_path):
    save_pngs(tmp_path / "cat", 2, 10)
    (tmp_path / "dog").mkdir()
    with pytest.raises(InputError, match=match("at least one image", tmp_path, "['dog']")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_unreadable_image(tmp_path):
    save_pngs(tmp_path / "cat", 1, 10)
    save_pngs(tmp_path / "dog", 1, 200)
    (tmp_path / "dog" / "broken.png").write_text("not a png")
    with pytest.raises(
        InputError, match=match("readable image", f"data.path={tmp_path} (Unknown image file")
    ) as raised:
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))
    assert "{{" not in str(raised.value) and "[[" not in str(raised.value)


def test_image_folder_needs_image_size(tmp_path):
    save_pngs(tmp_path / "cat", 1, 10)
    save_pngs(tmp_path / "dog", 1, 200)
    with pytest.raises(InputError, match=match("data.image_size", "data.image_size=None")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path)))


def test_image_folder_bad_color_mode(tmp_path):
    with pytest.raises(InputError, match=match("data.color_mode", "data.color_mode=rgba")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4, color_mode="rgba"))


# -- csv -------------------------------------------------------------------------------------


def csv_file(tmp_path, text, label_column="label"):
    """Writes `text` to `data.csv` under `tmp_path` and returns a config for it."""
    path = tmp_path / "data.csv"
    path.write_text(text)
    return cfg(name="csv", path=str(path), label_column=label_column)


def test_csv_string_labels_mapped_in_sorted_order(tmp_path):
    config = csv_file(tmp_path, "a,label,b\n1,dog,2.5\n3,cat,4\n5,emu,6\n7,cat,8\n")
    data = load_dataset(config)
    assert data.modality == "tabular"
    assert data.x.tolist() == [[1.0, 2.5], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]
    assert data.x.dtype == np.float32
    assert data.y.tolist() == [1, 0, 2, 0] and data.y.dtype == np.int64
    assert data.class_names == ("cat", "dog", "emu")
    assert data.x_test is None


def test_csv_numeric_labels_sorted_numerically(tmp_path):
    config = csv_file(tmp_path, "a,label\n1,10\n2,9\n3,10\n")
    data = load_dataset(config)
    assert data.y.tolist() == [1, 0, 1]
    assert data.class_names == ("9", "10")


def test_csv_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(InputError, match=match(".csv file", f"data.path={path}")):
        load_dataset(cfg(name="csv", path=str(path), label_column="label"))


def test_csv_empty_file(tmp_path):
    config = csv_file(tmp_path, "")
    with pytest.raises(InputError, match=match("CSV", f"data.path={config.path}")):
        load_dataset(config)


def test_csv_header_only(tmp_path):
    config = csv_file(tmp_path, "a,label\n")
    with pytest.raises(InputError, match=match("data rows", f"data.path={config.path}", "0 rows")):
        load_dataset(config)


def test_csv_missing_label_column(tmp_path):
    config = csv_file(tmp_path, "a,b\n1,2\n3,4\n", label_column="target")
    with pytest.raises(InputError, match=match("data.label_column=target", "['a', 'b']")):
        load_dataset(config)


def test_csv_non_numeric_feature(tmp_path):
    config = csv_file(tmp_path, "a,colour,label\n1,red,0\n2,blue,1\n")
    with pytest.raises(
        InputError, match=match("numeric", f"data.path={config.path}", "['colour']")
    ):
        load_dataset(config)


def test_csv_nan_feature(tmp_path):
    config = csv_file(tmp_path, "a,b,label\n1,,0\n2,3,1\n")
    with pytest.raises(InputError, match=match("finite", f"data.path={config.path}", "['b']")):
        load_dataset(config)


def test_csv_missing_labels(tmp_path):
    config = csv_file(tmp_path, "a,label\n1,x\n2,\n3,y\n")
    with pytest.raises(InputError, match=match("data.label_column=label", "1 empty cells")):
        load_dataset(config)


def test_csv_single_class(tmp_path):
    config = csv_file(tmp_path, "a,label\n1,x\n2,x\n")
    with pytest.raises(InputError, match=match("2 distinct", "data.label_column=label", "['x']")):
        load_dataset(config)


# -- keras.datasets --------------------------------------------------------------------------


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Points the Keras cache at a temporary `KERAS_HOME` and makes downloads fail at once.

    Keras reads `KERAS_HOME` when it is first imported, so the variable alone cannot move
    the cache of an already imported Keras; its private copy is patched too. Name lookups
    fail as they do offline, so no test ever downloads, whatever the machine's network.
    """
    from keras.src.backend import config as keras_config

    home = tmp_path / "keras_home"
    home.mkdir()  # as Keras does at import; get_file falls back to /tmp/.keras otherwise
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))

    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    return home


def write_idx(path, array):
    """Writes `array` (uint8) as a gzipped idx file, the format of the MNIST files."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def test_keras_fashion_mnist_from_cached_files(keras_home):
    folder = keras_home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    x_train = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    x_test = np.full((2, 28, 28), 7)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([9, 0, 3]))
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([1, 8]))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    data = load_dataset(cfg(name="keras", dataset="fashion_mnist"))
    assert data.x.shape == (3, 28, 28, 1) and data.x.dtype == np.float32
    assert np.array_equal(data.x[..., 0], x_train)
    assert data.y.tolist() == [9, 0, 3] and data.y.dtype == np.int64
    assert data.x_test.shape == (2, 28, 28, 1) and np.all(data.x_test == 7.0)
    assert data.y_test.tolist() == [1, 8] and data.y_test.dtype == np.int64
    assert data.class_names[0] == "T-shirt/top" and data.num_classes == 10
    assert data.modality == "image"


def test_keras_fashion_mnist_resized(keras_home):
    folder = keras_home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([1, 2]))
    write_idx(folder / "train-images-idx3-ubyte.gz", np.full((2, 28, 28), 255))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([3]))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.full((1, 28, 28), 255))
    data = load_dataset(cfg(name="keras", dataset="fashion_mnist", image_size=32))
    assert data.x.shape == (2, 32, 32, 1) and data.x_test.shape == (1, 32, 32, 1)
    assert np.allclose(data.x, 255.0) and np.allclose(data.x_test, 255.0)


def test_keras_offline_mnist_names_the_file_to_download(keras_home):
    target = keras_home / "datasets" / "mnist.npz"
    with pytest.raises(
        InputError,
        match=match(
            "data.dataset=mnist", "URL fetch failure", "tf-keras-datasets/mnist.npz", target
        ),
    ):
        load_dataset(cfg(name="keras", dataset="mnist"))


def test_keras_offline_cifar10_names_the_renamed_archive(keras_home):
    target = keras_home / "datasets" / "cifar-10-batches-py-target_archive"
    with pytest.raises(
        InputError, match=match("data.dataset=cifar10", "cifar-10-python.tar.gz to", target)
    ):
        load_dataset(cfg(name="keras", dataset="cifar10"))


@pytest.mark.parametrize(
    "dataset, file",
    [
        ("mnist", "mnist.npz"),
        ("cifar10", "cifar-10-batches-py-target_archive"),
        ("cifar100", "cifar-100-python-target_archive"),
    ],
)
def test_keras_hashed_file_found_where_the_message_says_but_refused(
    keras_home, capsys, dataset, file
):
    # Keras finds a file at the path the message names, checks its sha256 and, on a
    # mismatch, re-downloads it; so a hand-made file cannot stand in for the real one.
    cache = keras_home / "datasets"
    cache.mkdir()
    (cache / file).write_bytes(b"not the original file")
    with pytest.raises(InputError, match=match(f"data.dataset={dataset}", cache / file)):
        load_dataset(cfg(name="keras", dataset=dataset))
    assert "A local file was found" in capsys.readouterr().out
    assert not (cache / file).exists()  # Keras deletes it when the re-download fails


def test_keras_unknown_dataset_lists_valid_ones():
    with pytest.raises(
        InputError,
        match=match("mnist", "fashion_mnist", "cifar10", "cifar100", "data.dataset=svhn"),
    ):
        load_dataset(cfg(name="keras", dataset="svhn"))


def test_keras_cifar_arrays_converted_like_load_data_output():
    from ablate.datasets import _KERAS_SOURCES, _from_keras_arrays

    # cifar10.load_data() returns uint8 (n, 32, 32, 3) images and (n, 1) labels.
    x = np.arange(2 * 32 * 32 * 3).reshape(2, 32, 32, 3) % 256
    data = _from_keras_arrays(
        _KERAS_SOURCES["cifar10"],
        (x.astype(np.uint8), np.array([[3], [9]], np.uint8)),
        (x[:1].astype(np.uint8), np.array([[0]], np.uint8)),
    )
    assert data.x.shape == (2, 32, 32, 3) and data.x.dtype == np.float32
    assert np.array_equal(data.x, x)
    assert data.y.tolist() == [3, 9] and data.y.dtype == np.int64
    assert data.x_test.shape == (1, 32, 32, 3) and data.y_test.tolist() == [0]
    assert data.class_names[3] == "cat" and data.num_classes == 10


def test_keras_cifar100_class_names():
    from ablate.datasets import _KERAS_SOURCES

    names = _KERAS_SOURCES["cifar100"].class_names
    assert len(set(names)) == 100 and list(names) == sorted(names)
    assert (names[0], names[-1]) == ("apple", "worm")
