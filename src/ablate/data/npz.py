"""The `npz` source: a user's `.npz` file of arrays, read without unpickling and validated.

The file (`data.path`) holds `x_train`, `y_train` and optionally both `x_test` and
`y_test`. 2-D `x` is tabular; 3-D `x` is greyscale images (a channel axis is added); 4-D
`x` is channels-last images with 1 or 3 channels. Image pixels must lie in [0, 255]; if no
pixel (train or test) exceeds 1.0 they are taken to be in [0, 1] and multiplied by 255.
Labels must be integer-valued in [0, max label]; the number of classes is max label + 1.
Every problem with the file is reported as a one-line `InputError` naming the array.
"""

import zipfile

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.data.input_checks import existing_file
from ablate.errors import InputError


def load_npz(data_config) -> RawDataset:
    """Loads and validates a user `.npz` file.

    Args:
        data_config: reads `path`, the `.npz` file.

    Returns:
        A tabular `RawDataset` for 2-D `x_train`, else an image one; with a test split
        when the file holds `x_test` and `y_test`.

    Raises:
        InputError: if the file is missing or unreadable, or its arrays are invalid.
    """
    path = existing_file(getattr(data_config, "path", None), ".npz")
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
