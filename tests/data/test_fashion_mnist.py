"""Tests for `ablate.data.fashion_mnist`: tiny IDX files, every bad file, the subset, a run."""

import gzip
import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from source_helpers import cfg

from ablate.config import validate
from ablate.data import load_dataset
from ablate.data.splits import split_dataset
from ablate.errors import InputError
from ablate.run import horizontal_flip, run
from conftest import compose, missing_service, run_cli

REAL = Path("/usr/share/datasets/fashion-mnist")
NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
INSTALL = (
    "Install the files with `apt-get install dataset-fashion-mnist` on Debian/Ubuntu (they go "
    "to /usr/share/datasets/fashion-mnist), put the four files of "
    "https://github.com/zalandoresearch/fashion-mnist in the folder, or point data.path at "
    "Keras' cache ~/.keras/datasets/fashion-mnist."
)
REPLACE = (
    "Replace it with the original file of https://github.com/zalandoresearch/fashion-mnist "
    "(or `apt-get install --reinstall dataset-fashion-mnist`)."
)


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """`array` (uint8) in the IDX format: magic number, big-endian dimensions, the bytes."""
    magic = 0x800 + array.ndim if magic is None else magic
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(folder: Path, name: str, data: bytes, gzipped: bool = True) -> Path:
    """Writes `data` to `folder/name.gz` (gzipped) or `folder/name`."""
    path = folder / (f"{name}.gz" if gzipped else name)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def tiny_arrays():
    """40 train and 20 test images, 4 and 2 per class; pixel `[i, 0, 0]` of train image i is i."""
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (40, 28, 28))
    x_train[:, 0, 0] = np.arange(40)
    x_train[3, 5, 7] = 255
    x_test = rng.integers(0, 256, (20, 28, 28))
    return x_train, np.arange(40) % 10, x_test, np.arange(20)[::-1] % 10


def tiny_folder(folder: Path, gzipped: bool = True) -> Path:
    """Writes the four files of `tiny_arrays` into `folder` and returns it."""
    folder.mkdir(exist_ok=True)
    x_train, y_train, x_test, y_test = tiny_arrays()
    for prefix, images, labels in (("train", x_train, y_train), ("t10k", x_test, y_test)):
        write(folder, f"{prefix}-images-idx3-ubyte", idx_bytes(images), gzipped)
        write(folder, f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gzipped)
    return folder


def load(folder, train_size=None):
    return load_dataset(cfg(name="fashion_mnist", path=str(folder), train_size=train_size))


def refused(folder, train_size=None) -> str:
    """The message of the `InputError` that loading `folder` raises, checked to be one line."""
    with pytest.raises(InputError) as raised:
        load(folder, train_size)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("gzipped", [True, False])
def test_reads_the_tiny_files_exactly(tmp_path, gzipped):
    data = load(tiny_folder(tmp_path / "f", gzipped))
    x_train, y_train, x_test, y_test = tiny_arrays()
    assert data.modality == "image" and data.class_names == NAMES
    assert data.x.shape == (40, 28, 28, 1) and data.x.dtype == np.float32
    assert np.array_equal(data.x[..., 0], x_train) and data.x[3, 5, 7, 0] == 255.0
    assert data.y.tolist() == y_train.tolist() and data.y.dtype == np.int64
    assert data.x_test.shape == (20, 28, 28, 1) and data.x_test.dtype == np.float32
    assert np.array_equal(data.x_test[..., 0], x_test)
    assert data.y_test.tolist() == y_test.tolist() and data.y_test.dtype == np.int64


def test_gzipped_file_preferred_to_plain_and_resized(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "train-labels-idx1-ubyte", idx_bytes(np.zeros(40)), gzipped=False)
    data = load_dataset(cfg(name="fashion_mnist", path=str(folder), image_size=14))
    assert data.y.tolist() == tiny_arrays()[1].tolist()
    assert data.x.shape == (40, 14, 14, 1) and data.x_test.shape == (20, 14, 14, 1)


def test_the_test_split_is_kept_whole(tmp_path):
    data = load(tiny_folder(tmp_path / "f"))
    splits = split_dataset(data, val_fraction=0.25, test_fraction=0.2, seed=3)
    assert np.array_equal(splits.x_test, data.x_test)
    assert splits.class_counts() == {"train": [3] * 10, "val": [1] * 10, "test": [2] * 10}


def test_missing_folder(tmp_path):
    assert refused(tmp_path / "none") == (
        "`data.path` must be a folder holding the four Fashion-MNIST files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte, each gzipped or not). Received: data.path={tmp_path}/none "
        f"(no such folder). {INSTALL}"
    )


def test_missing_file(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    assert refused(folder) == (
        "`data.path` must hold the Fashion-MNIST file t10k-labels-idx1-ubyte.gz or "
        f"t10k-labels-idx1-ubyte. Received: data.path={folder} (neither file is there). "
        f"{INSTALL}"
    )


def test_wrong_magic_number(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "train-labels-idx1-ubyte", idx_bytes(np.arange(40) % 10, magic=0x0803))
    assert refused(folder) == (
        "train-labels-idx1-ubyte.gz in `data.path` must be an IDX labels file (magic number "
        f"0x00000801). Received: data.path={folder} with magic number 0x00000803 in "
        f"train-labels-idx1-ubyte.gz. {REPLACE}"
    )


def test_truncated_file(tmp_path):
    folder = tiny_folder(tmp_path / "f", gzipped=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    assert refused(folder) == (
        "t10k-images-idx3-ubyte in `data.path` must hold 15696 bytes (the header and the "
        f"20x28x28 bytes it announces). Received: data.path={folder} with 15596 bytes in "
        f"t10k-images-idx3-ubyte (truncated). {REPLACE}"
    )


def test_trailing_bytes(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "t10k-labels-idx1-ubyte", idx_bytes(np.arange(20) % 10) + b"\0")
    assert refused(folder) == (
        "t10k-labels-idx1-ubyte.gz in `data.path` must hold 28 bytes (the header and the 20 "
        f"bytes it announces). Received: data.path={folder} with 29 bytes in "
        f"t10k-labels-idx1-ubyte.gz (trailing bytes). {REPLACE}"
    )


def test_file_shorter_than_its_header(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "train-images-idx3-ubyte", b"\0\0\x08\x03\0\0")
    assert refused(folder) == (
        "train-images-idx3-ubyte.gz in `data.path` must hold 16 bytes (its IDX header). "
        f"Received: data.path={folder} with 6 bytes in train-images-idx3-ubyte.gz "
        f"(truncated). {REPLACE}"
    )


def test_images_not_28x28(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "train-images-idx3-ubyte", idx_bytes(np.zeros((40, 32, 28))))
    assert refused(folder) == (
        "train-images-idx3-ubyte.gz in `data.path` must hold 28x28 images. Received: "
        f"data.path={folder} with 32x28 images in train-images-idx3-ubyte.gz. {REPLACE}"
    )


def test_image_and_label_counts_differ(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "train-labels-idx1-ubyte", idx_bytes(np.arange(39) % 10))
    assert refused(folder) == (
        "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz in `data.path` must hold "
        f"as many images as labels. Received: data.path={folder} with 40 images in "
        "train-images-idx3-ubyte.gz and 39 labels in train-labels-idx1-ubyte.gz. Replace both "
        "with the original files of https://github.com/zalandoresearch/fashion-mnist."
    )


def test_label_outside_0_to_9(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "t10k-labels-idx1-ubyte", idx_bytes(np.array([3] * 19 + [12])))
    assert refused(folder) == (
        "t10k-labels-idx1-ubyte.gz in `data.path` must hold labels 0..9. Received: "
        f"data.path={folder} with labels up to 12 in t10k-labels-idx1-ubyte.gz. {REPLACE}"
    )


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda data: b"not a gzip stream", "Not a gzipped file (b'no')"),
        (
            lambda data: data[:-30],
            "Compressed file ended before the end-of-stream marker was reached",
        ),
    ],
)
def test_corrupt_gzip(tmp_path, damage, reason):
    folder = tiny_folder(tmp_path / "f")
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    assert refused(folder) == (
        "train-images-idx3-ubyte.gz in `data.path` must be a valid gzip file. Received: "
        f"data.path={folder} with a corrupt train-images-idx3-ubyte.gz ({reason}). {REPLACE}"
    )


def test_train_size_keeps_an_exact_stratified_subset(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    for train_size, per_class in ((20, 2), (30, 3), (40, 4)):
        data = load(folder, train_size)
        assert np.bincount(data.y, minlength=10).tolist() == [per_class] * 10
        ids = data.x[:, 0, 0, 0].astype(int)  # pixel [0, 0] of train image i is i
        assert len(set(ids)) == train_size and np.array_equal(data.y, ids % 10)
        assert data.x_test.shape == (20, 28, 28, 1)


def test_train_size_subset_is_the_same_for_every_run_seed(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    pools, vals = [], []
    for seed in (1, 2):
        np.random.seed(seed)
        splits = split_dataset(load(folder, 30), val_fraction=1 / 3, test_fraction=0.2, seed=seed)
        ids = np.concatenate([splits.x_train, splits.x_val])[:, 0, 0, 0].astype(int)
        pools.append(sorted(ids))
        vals.append(sorted(splits.x_val[:, 0, 0, 0].astype(int)))
    assert pools[0] == pools[1] and len(pools[0]) == 30
    assert vals[0] != vals[1]  # the run's seed still draws the validation split


def test_train_size_out_of_range(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    assert refused(folder, 41) == (
        "`data.train_size` must be at most the 40 images of train-images-idx3-ubyte in "
        f"`data.path`. Received: data.train_size=41 with data.path={folder}. Use at most 40, "
        "or null for all images."
    )
    assert refused(folder, 19) == (
        "`data.train_size` must be at least 20 (2 images of each of the 10 classes, for a "
        "stratified validation split). Received: data.train_size=19. Use 20 or more, or null "
        "for all images."
    )


@pytest.mark.parametrize("value", [19, 60_001])
def test_config_refuses_a_train_size_out_of_range(value):
    with pytest.raises(InputError) as raised:
        validate(compose("data=fashion_mnist", f"data.train_size={value}"))
    assert str(raised.value) == (
        "`data.train_size` must be null or an integer in [20, 60000] (at least 2 images per "
        f"class). Received: data.train_size={value}"
    )


def test_config_composes_with_its_defaults(tmp_path):
    cfg_ = compose("data=fashion_mnist", "augment=basic")
    validate(cfg_)
    assert horizontal_flip(cfg_)  # clothes may be mirrored, as for keras' fashion_mnist
    assert cfg_.data.path == str(REAL) and cfg_.data.train_size is None
    assert compose("data=fashion_mnist", f"data.path={tmp_path}").data.path == str(tmp_path)


def test_a_short_run_on_the_tiny_files(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    cfg_ = compose(
        "data=fashion_mnist",
        f"data.path={folder}",
        "data.val_fraction=0.25",
        "training.epochs=1",
        "training.batch_size=16",
        "tracking=none",
    )
    metrics = run(cfg_, tmp_path / "out", "x")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    record = json.loads((tmp_path / "out" / "metrics.json").read_text())
    counts = record["dataset"]["class_counts"]
    assert counts == {"train": [3] * 10, "val": [1] * 10, "test": [2] * 10}


def test_cli_refuses_a_bad_file_in_one_line(tmp_path):
    folder = tiny_folder(tmp_path / "f")
    write(folder, "t10k-labels-idx1-ubyte", idx_bytes(np.full(20, 10)))
    result = run_cli("data=fashion_mnist", f"data.path={folder}", "tracking=none", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "ablate: error: t10k-labels-idx1-ubyte.gz in `data.path` must hold labels 0..9. "
        f"Received: data.path={folder} with labels up to 10 in t10k-labels-idx1-ubyte.gz. "
        f"{REPLACE}"
    )
    assert "Traceback" not in result.stderr + result.stdout


def test_the_real_files():
    if not (REAL / "train-images-idx3-ubyte.gz").exists():
        missing_service(f"no {REAL}: `apt-get install dataset-fashion-mnist` on Debian/Ubuntu")
    start = time.perf_counter()
    data = load(REAL)
    seconds = time.perf_counter() - start
    print(f"loaded the 70,000 real Fashion-MNIST images in {seconds:.2f} s")
    assert seconds < 10
    assert data.x.shape == (60_000, 28, 28, 1) and data.x_test.shape == (10_000, 28, 28, 1)
    assert np.bincount(data.y).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert (data.x.min(), data.x.max()) == (0.0, 255.0)
    assert (data.x_test.min(), data.x_test.max()) == (0.0, 255.0)
    assert np.bincount(load(REAL, 1000).y).tolist() == [100] * 10
