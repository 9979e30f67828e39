"""The `data.image_size` key: its validation, and the resizing of image datasets to it.

Images are resized bilinearly to `data.image_size` x `data.image_size`, train and test
split alike, in chunks that bound peak memory; pixels stay float32 in [0, 255].
"""

import dataclasses

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.errors import InputError

_RESIZE_CHUNK = 4096  # images resized per call, to bound peak memory


def image_size(data_config) -> int | None:
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


def resized(dataset: RawDataset, size: int) -> RawDataset:
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
