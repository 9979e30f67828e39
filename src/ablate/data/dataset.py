"""The `RawDataset`: the arrays every data source is read into, before splitting.

Every loader of `ablate.data` returns one; `ablate.data.splits` splits it. It lives in its
own module so that the loaders and the splits depend on it, and not on each other.
"""

import dataclasses

import numpy as np


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
