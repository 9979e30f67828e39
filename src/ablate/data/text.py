"""Text data: load a CSV of labelled texts, and split texts into words as Keras does.

`load_text_csv` reads a table with one text column and one label column into a
`RawDataset` with `modality="text"`: `x` is a 1-D object array of Python `str`, `y` holds
int64 indices of the sorted label values, as in the tabular `csv` source.

Example:

>>> data = load_text_csv("reviews.csv")
>>> text_words(data.x[0])
"""

import re
import string

import numpy as np

from ablate.data.dataset import RawDataset
from ablate.data.input_checks import existing_file, one_line
from ablate.errors import InputError

_SHOWN_ROWS = 5  # row numbers quoted when cells are empty
# TextVectorization's default standardization: `tf.strings.lower` (ASCII letters only), then
# every character of `string.punctuation` removed.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")


def text_words(text: str) -> list[str]:
    """Splits `text` into the words Keras' `TextVectorization` sees by default.

    Lowercases ASCII letters, removes the characters of `string.punctuation` (so `"don't"`
    becomes `"dont"`) and splits on whitespace: the `"lower_and_strip_punctuation"`
    standardization and `"whitespace"` split of `TextVectorization`.

    Args:
        text: any text.

    Returns:
        The words, possibly none.

    Example:

    >>> text_words("Don't panic, Arthur!")
    ['dont', 'panic', 'arthur']
    """
    return _PUNCTUATION.sub("", text.translate(_ASCII_LOWER)).split()


def load_text_csv(path: str, text_column: str = "text", label_column: str = "label") -> RawDataset:
    """Loads a CSV file of labelled texts.

    Only empty cells count as missing: a text or label that reads `NA`, `null` or `None`
    stays that string (pandas would otherwise turn it into NaN). A text counts as empty
    when it has no word once lowercased and stripped of punctuation (`text_words`), e.g.
    `"  "` or `"?!"`: the model would see only padding. Labels, strings or numbers, are
    mapped to 0, 1, ... in sorted order and the sorted values, as strings, become the class
    names.

    Args:
        path: the CSV file, with a header row (`data.path`).
        text_column: the column holding the texts (`data.text_column`). Defaults to
            `"text"`.
        label_column: the column holding the labels (`data.label_column`). Defaults to
            `"label"`.

    Returns:
        A `RawDataset` with `modality="text"`, `x` a 1-D object array of `str` and `y`
        int64 class indices.

    Raises:
        InputError: if the file is missing or not a CSV table, a column is absent, the two
            columns are the same, a text or label cell is empty, or fewer than 2 classes
            occur.

    Example:

    >>> data = load_text_csv("reviews.csv", text_column="review", label_column="stars")
    >>> data.class_names
    ('1', '2', '3', '4', '5')
    """
    import pandas as pd

    path = existing_file(path, ".csv")
    if text_column == label_column:
        raise InputError(
            "`data.text_column` and `data.label_column` must name two different columns. "
            f"Received: data.text_column={text_column} and data.label_column={label_column}. "
            "Point them at the text column and at the label column."
        )
    try:
        frame = pd.read_csv(path, dtype={text_column: str}, keep_default_na=False, na_values=[""])
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(
            "`data.path` must be a CSV file with a header row and data rows. "
            f"Received: data.path={path} ({one_line(err)}). "
            "Save the table with a header, e.g. with pandas.DataFrame.to_csv."
        ) from err
    columns = [str(column) for column in frame.columns]
    for key, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in frame.columns:
            raise InputError(
                f"`data.{key}` must name a column of `data.path`. "
                f"Received: data.{key}={column} with columns {columns} in data.path={path}. "
                f"Set `data.{key}` to one of these columns."
            )
    if frame.empty:
        raise InputError(
            "`data.path` must hold at least one data row. "
            f"Received: data.path={path} with a header and no rows. Add the samples."
        )
    texts = frame[text_column]
    empty = np.array([not isinstance(text, str) or not text_words(text) for text in texts])
    if empty.any():
        rows = (np.flatnonzero(empty) + 1)[:_SHOWN_ROWS].tolist()
        raise InputError(
            "`data.text_column` must hold a text with at least one word in every row. "
            f"Received: data.text_column={text_column} with {int(empty.sum())} empty "
            f"texts in data.path={path} (first at data rows {rows}, counted from 1 after the "
            "header; punctuation alone counts as empty). "
            "Fill in or drop those rows."
        )
    labels = frame[label_column]
    if labels.isna().any():
        rows = (np.flatnonzero(labels.isna().to_numpy()) + 1)[:_SHOWN_ROWS].tolist()
        raise InputError(
            "`data.label_column` must have a label in every row. "
            f"Received: data.label_column={label_column} with {int(labels.isna().sum())} "
            f"empty cells in data.path={path} (first at data rows {rows}, counted from 1 "
            "after the header). "
            "Fill in or drop those rows."
        )
    classes, y = np.unique(labels.to_numpy(), return_inverse=True)
    if classes.size < 2:
        raise InputError(
            "`data.label_column` must hold at least 2 distinct classes. "
            f"Received: data.label_column={label_column} with classes {classes.tolist()} "
            f"in data.path={path}. A classifier needs samples of several classes."
        )
    x = np.empty(len(texts), dtype=object)
    x[:] = [str(text) for text in texts]
    return RawDataset(
        x=x,
        y=y.reshape(-1).astype(np.int64),
        class_names=tuple(str(value) for value in classes),
        modality="text",
    )
