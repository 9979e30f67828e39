"""The `fashion_mnist` source: Zalando's Fashion-MNIST, read from its original IDX files.

`data.path` is a folder holding the four files of https://github.com/zalandoresearch/fashion-mnist
(60,000 training and 10,000 test images, 28x28 grey, 10 balanced classes), each gzipped
(`<name>.gz`, preferred) or not (`<name>`). Debian's `dataset-fashion-mnist` package installs
them under `/usr/share/datasets/fashion-mnist` (the default), and Keras caches the same files in
`$KERAS_HOME/datasets/fashion-mnist`. Unlike `data=keras data.dataset=fashion_mnist`, which goes
through `keras.datasets.fashion_mnist.load_data()` and downloads what is missing, this source
reads a folder and nothing else, so a run works offline wherever the files are.

The IDX format (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"): a big-endian uint32 magic
number, 0x00000801 for labels and 0x00000803 for images (two zero bytes, 0x08 for unsigned
bytes, the number of dimensions), a big-endian uint32 per dimension, then the bytes in
row-major order. Every file is checked before anything is returned; each problem is a one-line
`InputError` naming `data.path` and the file.

`data.train_size` keeps a stratified subset of the training file, drawn with the fixed seed
`SUBSET_SEED`, so that every run seed of a sweep trains on the same pool (the run's seed still
draws the validation split from it, the initial weights and the order). The official test
split is always kept whole as the source's fixed test split.
"""

import gzip
import math
import os
import zlib

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.data.input_checks import one_line
from ablate.errors import InputError

CLASS_NAMES = (
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
IMAGE_SHAPE = (28, 28)
SUBSET_SEED = 0  # the `data.train_size` subset is the same for every run seed
MIN_PER_CLASS = 2  # a stratified validation split needs 2 images of each class in the pool
LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803

_INSTALL = (
    "Install the files with `apt-get install dataset-fashion-mnist` on Debian/Ubuntu (they go "
    "to /usr/share/datasets/fashion-mnist), put the four files of "
    "https://github.com/zalandoresearch/fashion-mnist in the folder, or point data.path at "
    "Keras' cache ~/.keras/datasets/fashion-mnist."
)
_REPLACE = (
    "Replace it with the original file of https://github.com/zalandoresearch/fashion-mnist "
    "(or `apt-get install --reinstall dataset-fashion-mnist`)."
)


def load_fashion_mnist(data_config) -> RawDataset:
    """Loads Fashion-MNIST from the IDX files in `data_config.path`.

    Args:
        data_config: reads `path`, the folder of the four files, and `train_size`, the
            number of training images to keep (a stratified subset drawn with
            `SUBSET_SEED`). `train_size` defaults to `None` (all of them).

    Returns:
        An image `RawDataset`: float32 `(n, 28, 28, 1)` pixels in [0, 255], int64 labels,
        `CLASS_NAMES`, and the `t10k` files as the fixed test split.

    Raises:
        InputError: if the folder or a file is missing, a file is not a valid (gzipped)
            IDX file of 28x28 images or labels 0..9, an images file and its labels file
            disagree on the count, or `train_size` is out of range.

    Example:

    >>> data = load_fashion_mnist(SimpleNamespace(path="/usr/share/datasets/fashion-mnist"))
    >>> data.x.shape, data.x_test.shape
    ((60000, 28, 28, 1), (10000, 28, 28, 1))
    """
    folder = _existing_folder(getattr(data_config, "path", None))
    x, y = _read_split(folder, "train")
    x, y = _training_subset(x, y, getattr(data_config, "train_size", None), folder)
    x_test, y_test = _read_split(folder, "t10k")
    return RawDataset(
        x=_pixels(x),
        y=y.astype(np.int64),
        class_names=CLASS_NAMES,
        modality="image",
        x_test=_pixels(x_test),
        y_test=y_test.astype(np.int64),
    )


def _existing_folder(path) -> str:
    """Returns `path`, with `~` expanded, if it is an existing folder.

    Raises:
        InputError: if `path` is unset or no folder exists there.
    """
    if path is None or not os.path.isdir(os.path.expanduser(str(path))):
        raise InputError(
            "`data.path` must be a folder holding the four Fashion-MNIST files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            f"t10k-labels-idx1-ubyte, each gzipped or not). Received: data.path={path} (no "
            f"such folder). {_INSTALL}"
        )
    return os.path.expanduser(str(path))


def _read_split(folder: str, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads and cross-checks the images and labels files of one split.

    Args:
        folder: the `data.path` folder.
        prefix: `"train"` or `"t10k"`.

    Returns:
        `(images, labels)`: uint8 `(n, 28, 28)` and uint8 `(n,)`.

    Raises:
        InputError: if a file is invalid, the images are not 28x28, the counts differ or
            a label is outside 0..9.
    """
    images, images_file = _read_idx(folder, f"{prefix}-images-idx3-ubyte", IMAGES_MAGIC)
    labels, labels_file = _read_idx(folder, f"{prefix}-labels-idx1-ubyte", LABELS_MAGIC)
    if images.shape[1:] != IMAGE_SHAPE:
        raise InputError(
            f"{images_file} in `data.path` must hold 28x28 images. Received: data.path="
            f"{folder} with {images.shape[1]}x{images.shape[2]} images in {images_file}. "
            f"{_REPLACE}"
        )
    if len(images) != len(labels):
        raise InputError(
            f"{images_file} and {labels_file} in `data.path` must hold as many images as "
            f"labels. Received: data.path={folder} with {len(images)} images in "
            f"{images_file} and {len(labels)} labels in {labels_file}. Replace both with the "
            "original files of https://github.com/zalandoresearch/fashion-mnist."
        )
    if np.any(labels >= len(CLASS_NAMES)):
        raise InputError(
            f"{labels_file} in `data.path` must hold labels 0..{len(CLASS_NAMES) - 1}. "
            f"Received: data.path={folder} with labels up to {labels.max()} in {labels_file}. "
            f"{_REPLACE}"
        )
    return images, labels


def _read_idx(folder: str, name: str, magic: int) -> tuple[np.ndarray, str]:
    """Reads one IDX file of `folder`, `<name>.gz` if present, else `<name>`.

    Args:
        folder: the `data.path` folder.
        name: the file's name without `.gz`.
        magic: the magic number it must start with; its last byte is the number of
            dimensions.

    Returns:
        `(array, file)`: the uint8 array shaped as the header says, and the name of the
        file read.

    Raises:
        InputError: if neither file exists, the gzip stream is corrupt, the magic number
            differs, or the file holds fewer or more bytes than its header announces.
    """
    path = _idx_path(folder, name)
    file = os.path.basename(path)
    data = _file_bytes(path, folder)
    num_dims = magic & 0xFF
    header_size = 4 * (1 + num_dims)
    _check_size(len(data), header_size, "its IDX header", file, folder)
    found, *shape = (int(value) for value in np.frombuffer(data, ">u4", count=1 + num_dims))
    if found != magic:
        kind = "labels" if magic == LABELS_MAGIC else "images"
        raise InputError(
            f"{file} in `data.path` must be an IDX {kind} file (magic number 0x{magic:08x}). "
            f"Received: data.path={folder} with magic number 0x{found:08x} in {file}. "
            f"{_REPLACE}"
        )
    expected = header_size + math.prod(shape)
    described = f"the header and the {'x'.join(map(str, shape))} bytes it announces"
    _check_size(len(data), expected, described, file, folder, exact=True)
    return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape), file


def _idx_path(folder: str, name: str) -> str:
    """Returns the path of `<name>.gz` in `folder` if it exists, else of `<name>`.

    Raises:
        InputError: if neither exists.
    """
    for candidate in (f"{name}.gz", name):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise InputError(
        f"`data.path` must hold the Fashion-MNIST file {name}.gz or {name}. Received: "
        f"data.path={folder} (neither file is there). {_INSTALL}"
    )


def _file_bytes(path: str, folder: str) -> bytes:
    """Returns the bytes of `path`, decompressed when its name ends in `.gz`.

    Raises:
        InputError: if a `.gz` file is not a valid gzip stream.
    """
    with open(path, "rb") as stream:
        data = stream.read()
    if not path.endswith(".gz"):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        file = os.path.basename(path)
        raise InputError(
            f"{file} in `data.path` must be a valid gzip file. Received: data.path={folder} "
            f"with a corrupt {file} ({one_line(err)}). {_REPLACE}"
        ) from err


def _check_size(size: int, expected: int, what: str, file: str, folder: str, exact=False):
    """Refuses a file shorter than `expected` bytes (or, with `exact`, of another length).

    Args:
        size: the file's length in bytes, decompressed.
        expected: the bytes it must hold.
        what: what those bytes are, for the message.
        file: the file's name.
        folder: the `data.path` folder.
        exact: refuse longer files too. Defaults to `False`.

    Raises:
        InputError: naming the file, its length and the expected one.
    """
    if size < expected or (exact and size != expected):
        state = "truncated" if size < expected else "trailing bytes"
        raise InputError(
            f"{file} in `data.path` must hold {expected} bytes ({what}). Received: "
            f"data.path={folder} with {size} bytes in {file} ({state}). {_REPLACE}"
        )


def _training_subset(x: np.ndarray, y: np.ndarray, train_size, folder: str) -> tuple:
    """Keeps a stratified subset of `train_size` training images, the same for every run.

    `sklearn.utils.resample(replace=False, stratify=y, random_state=SUBSET_SEED)`: each
    class keeps its share of `train_size` (exactly `train_size / 10` per class when that is
    a whole number, as the files are balanced).

    Args:
        x: the uint8 training images.
        y: their labels.
        train_size: the number of images to keep; `None` keeps all, in file order.
        folder: the `data.path` folder, for the error messages.

    Returns:
        `(x, y)` of the subset.

    Raises:
        InputError: if `train_size` exceeds the training images or leaves fewer than
            `MIN_PER_CLASS` images per class.
    """
    if train_size is None:
        return x, y
    minimum = MIN_PER_CLASS * len(CLASS_NAMES)
    if train_size < minimum:
        raise InputError(
            f"`data.train_size` must be at least {minimum} ({MIN_PER_CLASS} images of each of "
            f"the {len(CLASS_NAMES)} classes, for a stratified validation split). Received: "
            f"data.train_size={train_size}. Use {minimum} or more, or null for all images."
        )
    if train_size > len(y):
        raise InputError(
            f"`data.train_size` must be at most the {len(y)} images of "
            f"train-images-idx3-ubyte in `data.path`. Received: data.train_size={train_size} "
            f"with data.path={folder}. Use at most {len(y)}, or null for all images."
        )
    from sklearn.utils import resample

    index = resample(
        np.arange(len(y)),
        replace=False,
        n_samples=train_size,
        stratify=y,
        random_state=SUBSET_SEED,
    )
    return x[index], y[index]


def _pixels(images: np.ndarray) -> np.ndarray:
    """Returns uint8 `(n, 28, 28)` images as float32 `(n, 28, 28, 1)` in [0, 255]."""
    return images[..., np.newaxis].astype(np.float32)
