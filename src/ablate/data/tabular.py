"""The `csv` source: a table of numeric features and one label column.

The file (`data.path`) has a header row; `data.label_column` names the label column and
every other column must be numeric and finite. Labels, strings or numbers, are mapped to
0, 1, ... in sorted order, and the sorted values become the class names.
"""

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.data.input_checks import existing_file, one_line
from ablate.errors import InputError


def load_csv(data_config) -> RawDataset:
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

    path = existing_file(getattr(data_config, "path", None), ".csv")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(
            "`data.path` must be a CSV file with a header row and data rows. "
            f"Received: data.path={path} ({one_line(err)}). "
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
