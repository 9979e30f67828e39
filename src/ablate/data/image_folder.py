"""The `image_folder` source: one subfolder of images per class, read by Keras.

`keras.utils.image_dataset_from_directory` reads `data.path` at `data.image_size` (required:
the images of a folder can differ in size) and `data.color_mode`. Class names are the
subfolder names, sorted; the images are read in that order, without shuffling.
"""

import os
import re

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.data.image_size import image_size
from ablate.data.input_checks import existing_dir, one_line
from ablate.errors import InputError
from ablate.held_stderr import held_stderr

_FOLDER_BATCH = 256  # images decoded per batch when reading an image folder
_COLOR_MODES = ("grayscale", "rgb")


def load_image_folder(data_config) -> RawDataset:
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

    path = existing_dir(getattr(data_config, "path", None))
    size = image_size(data_config)
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
    # TensorFlow's first op logs in C++, and libjpeg prints its own line about a broken
    # file: held back, and dropped when the one-line InputError below says it all.
    with held_stderr():
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
                f"Received: data.path={path} ({one_line(err)}). "
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


def _tf_reason(err) -> str:
    """Returns the message of a TensorFlow op error without its graph and op annotations."""
    return one_line(re.sub(r"\{\{.*?\}\}|\[\[.*?\]\]|\[Op:.*", "", err.message, flags=re.S))
