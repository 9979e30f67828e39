"""Tests for `ablate.data.keras_datasets`: cached files, the offline error, array conversion."""

import gzip
import socket
import struct

import numpy as np
import pytest
from source_helpers import cfg, match

from ablate.config import KERAS_DATASETS
from ablate.data import load_dataset
from ablate.errors import InputError


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
    from ablate.data.keras_datasets import _KERAS_SOURCES, _from_keras_arrays

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
    from ablate.data.keras_datasets import _KERAS_SOURCES

    names = _KERAS_SOURCES["cifar100"].class_names
    assert len(set(names)) == 100 and list(names) == sorted(names)
    assert (names[0], names[-1]) == ("apple", "worm")


def test_keras_sources_are_the_config_keras_datasets():
    from ablate.data.keras_datasets import _KERAS_SOURCES

    assert tuple(_KERAS_SOURCES) == KERAS_DATASETS
