"""The `keras` source: `keras.datasets.<data.dataset>`, each with its own test split.

The datasets are those of `ablate.config.KERAS_DATASETS` (mnist, fashion_mnist, cifar10,
cifar100); `_KERAS_SOURCES` says where each one's files live and what its classes are.

Offline: `keras.datasets.<name>.load_data()` reads the Keras cache, `$KERAS_HOME/datasets`
(`~/.keras/datasets` by default; Keras reads `KERAS_HOME` once, at import), and downloads
whatever is missing. Without network the download fails at once and `load_keras` raises an
`InputError` naming each file to download and the exact cache path to put it at (the cifar
archives must be renamed, e.g. `cifar-10-python.tar.gz` becomes
`cifar-10-batches-py-target_archive`). mnist and cifar files are checked against a sha256
hash by `keras.utils.get_file`, which re-downloads a cached file that does not match (and
deletes it when that fails), so only the original files work offline. This module always
goes through Keras' own `load_data()`, hash check included, rather than reading cached
files itself: a second reader would duplicate Keras' format code and skip its integrity
check. As a consequence the whole Keras path can be tested on tiny hand-made files only for
fashion_mnist (gzipped idx files, no hash); for mnist and cifar the tests cover the offline
error and the conversion of arrays shaped like Keras' documented output.
"""

import dataclasses
import os
import tempfile

import numpy as np

from ablate.config import KERAS_DATASETS
from ablate.data.bundled import DIGIT_NAMES
from ablate.data.dataset import RawDataset
from ablate.data.fashion_mnist import CLASS_NAMES as FASHION_NAMES
from ablate.data.input_checks import not_one_of, one_line
from ablate.errors import InputError


@dataclasses.dataclass(frozen=True)
class _KerasSource:
    """Where one Keras dataset lives and what its classes are called.

    Args:
        files: `(url, path)` pairs: each file `load_data()` needs, where to download it
            from and its path under the Keras cache folder `$KERAS_HOME/datasets`.
        class_names: one name per class index.
    """

    files: tuple[tuple[str, str], ...]
    class_names: tuple[str, ...]


_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
_FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
# fmt: off
_CIFAR100_NAMES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
# fmt: on
_KERAS_SOURCES = {
    "mnist": _KerasSource(
        files=((f"{_KERAS_URL}mnist.npz", "mnist.npz"),),
        class_names=DIGIT_NAMES,
    ),
    "fashion_mnist": _KerasSource(
        files=tuple((f"{_KERAS_URL}{name}", f"fashion-mnist/{name}") for name in _FASHION_FILES),
        class_names=FASHION_NAMES,
    ),
    "cifar10": _KerasSource(
        files=((f"{_CIFAR_URL}cifar-10-python.tar.gz", "cifar-10-batches-py-target_archive"),),
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),  # fmt: skip
    ),
    "cifar100": _KerasSource(
        files=((f"{_CIFAR_URL}cifar-100-python.tar.gz", "cifar-100-python-target_archive"),),
        class_names=_CIFAR100_NAMES,
    ),
}


def load_keras(data_config) -> RawDataset:
    """Loads one of the `keras.datasets` image sets, with its own test split.

    Args:
        data_config: reads `dataset`, one of `ablate.config.KERAS_DATASETS`.

    Returns:
        An image `RawDataset` with `x_test` and `y_test`.

    Raises:
        InputError: if `dataset` is unknown, or Keras cannot read or download its files.
    """
    import keras

    name = getattr(data_config, "dataset", None)
    source = _KERAS_SOURCES.get(name) if isinstance(name, str) else None
    if source is None:
        raise not_one_of("data.dataset", name, KERAS_DATASETS)
    try:
        train, test = getattr(keras.datasets, name).load_data()
    except Exception as err:  # Keras raises a bare `Exception` when a download fails.
        raise InputError(_keras_fetch_message(name, source, err)) from err
    return _from_keras_arrays(source, train, test)


def _keras_fetch_message(name: str, source: _KerasSource, err: Exception) -> str:
    """Builds the error message for a Keras dataset that could not be loaded.

    Args:
        name: the `data.dataset` value.
        source: where the dataset's files come from and belong.
        err: what Keras raised.

    Returns:
        A one-line message naming every file to download and where to put it.
    """
    cache = _keras_cache_dir()
    copies = "; ".join(f"{url} to {os.path.join(cache, file)}" for url, file in source.files)
    return (
        f"`data.dataset={name}` needs its files in the Keras cache {cache} or network "
        f"access to download them. Received: data.dataset={name} ({one_line(err)}). "
        f"Without network, download {copies} (set KERAS_HOME to use another cache folder)."
    )


def _keras_cache_dir() -> str:
    """Returns the folder `keras.utils.get_file` caches datasets in.

    That is `datasets` under the Keras home (`$KERAS_HOME` as read when Keras was
    imported, else `~/.keras`), or under `/tmp/.keras` when the home is not writable.

    Returns:
        The absolute path of the cache folder.
    """
    from keras.src.backend.config import keras_home

    home = os.path.expanduser(keras_home())
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return os.path.join(home, "datasets")


def _from_keras_arrays(source: _KerasSource, train: tuple, test: tuple) -> RawDataset:
    """Converts the arrays a `keras.datasets` loader returns into a `RawDataset`.

    Args:
        source: the dataset's description, for its class names.
        train: `(x_train, y_train)` as returned by `load_data()`.
        test: `(x_test, y_test)` as returned by `load_data()`.

    Returns:
        An image `RawDataset` with float32 channels-last images and 1-D int64 labels.
    """
    (x, y), (x_test, y_test) = train, test
    return RawDataset(
        x=_keras_images(x),
        y=np.reshape(y, -1).astype(np.int64),
        class_names=source.class_names,
        modality="image",
        x_test=_keras_images(x_test),
        y_test=np.reshape(y_test, -1).astype(np.int64),
    )


def _keras_images(x: np.ndarray) -> np.ndarray:
    """Converts `keras.datasets` images to float32 channels-last `(n, h, w, c)`.

    Args:
        x: uint8 images, `(n, h, w)` for grey sets, else in Keras' image data format.

    Returns:
        The float32 images with a channel axis last.
    """
    import keras

    if x.ndim == 3:
        x = x[..., np.newaxis]
    elif keras.config.image_data_format() == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    return x.astype(np.float32)
