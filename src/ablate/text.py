"""Text classification: load a CSV of labelled texts and build a bag-of-embeddings model.

`load_text_csv` reads a table with one text column and one label column into a
`RawDataset` with `modality="text"`: `x` is a 1-D object array of Python `str`, `y` holds
int64 indices of the sorted label values, as in the tabular `csv` source.

`build_text_model` is the text baseline: raw strings in, class probabilities out. Its
`TextVectorization` layer is adapted on the training texts only, so the vocabulary never
sees the validation or test split, and the model accepts a batch of string tensors (from
`tf.data` or a numpy array of `str`).

Example:

>>> data = load_text_csv("reviews.csv")
>>> model = build_text_model(data.x, data.num_classes)
>>> model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
"""

import os
import re
import string

import numpy as np

from ablate.datasets import RawDataset
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

    path = _existing_csv(path)
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
            f"Received: data.path={path} ({' '.join(str(err).split())}). "
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


def build_text_model(
    x_train: np.ndarray,
    num_classes: int,
    *,
    max_tokens: int = 10000,
    sequence_length: int = 64,
    embedding_dim: int = 64,
    dropout: float = 0.5,
):
    """Builds the text baseline: vectorize, embed, average, dropout, softmax.

    `TextVectorization` lowercases, strips punctuation, splits on whitespace and keeps the
    `max_tokens - 2` most frequent training tokens (index 0 is padding, 1 is
    out-of-vocabulary); each text becomes `sequence_length` token ids, truncated or
    zero-padded. The embedding masks padding (`mask_zero=True`), so the average is over
    the real tokens only: averaging the padding too dilutes a short text's words and, on
    a 200-text task, left accuracy at chance after 5 epochs where the masked average
    reached 1.0. A text with no word at all (`""`, `"?!"`) has nothing to average and
    gets NaN probabilities: `load_text_csv` rejects such texts, and EDA never produces
    one from a text with a word.

    Adapt on the texts the model trains on: with EDA augmentation, the augmented training
    split, so that the synonyms EDA inserts get their own embeddings.

    Args:
        x_train: 1-D array of the training texts (`str`), used only to build the
            vocabulary.
        num_classes: the number of softmax outputs, at least 2.
        max_tokens: vocabulary size, padding and out-of-vocabulary tokens included
            (`model.max_tokens`), at least 3. Defaults to `10000`.
        sequence_length: tokens kept per text (`model.sequence_length`). Defaults to `64`.
        embedding_dim: size of each token embedding (`model.embedding_dim`). Defaults to
            `64`.
        dropout: dropout rate before the softmax layer, in [0, 1) (`model.dropout`).
            Defaults to `0.5`.

    Returns:
        An uncompiled `keras.Model` named `"text_embedding"` mapping a batch of strings,
        shape `(batch,)`, to probabilities of shape `(batch, num_classes)`.

    Raises:
        InputError: if an argument is out of range or `x_train` is not a non-empty 1-D
            array of strings.

    Example:

    >>> model = build_text_model(np.array(["good film", "bad film"], dtype=object), 2)
    >>> model(np.array(["a good one"])).shape
    TensorShape([1, 2])
    """
    import keras

    x_train = np.asarray(x_train, dtype=object)
    if x_train.ndim != 1 or x_train.size == 0 or not all(isinstance(t, str) for t in x_train):
        raise InputError(
            "`x_train` must be a non-empty 1-D array of texts (str). "
            f"Received: x_train of shape {x_train.shape} with element types "
            f"{sorted({type(t).__name__ for t in x_train.ravel()})}. "
            "Load the texts with ablate.text.load_text_csv."
        )
    _check_int("num_classes", num_classes, 2)
    _check_int("model.max_tokens", max_tokens, 3)
    _check_int("model.sequence_length", sequence_length, 1)
    _check_int("model.embedding_dim", embedding_dim, 1)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise InputError(
            f"`model.dropout` must be a number in [0, 1). Received: model.dropout={dropout}. "
            "Use e.g. 0.5, or 0 for no dropout."
        )

    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_sequence_length=sequence_length, name="vectorize"
    )
    vectorizer.adapt(x_train)
    inputs = keras.Input(shape=(), dtype="string", name="text")
    x = vectorizer(inputs)
    x = keras.layers.Embedding(
        vectorizer.vocabulary_size(), embedding_dim, mask_zero=True, name="embed"
    )(x)
    x = keras.layers.GlobalAveragePooling1D(name="average")(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classify")(x)
    return keras.Model(inputs, outputs, name="text_embedding")


def _existing_csv(path) -> str:
    """Returns `path`, with `~` expanded, if it is an existing file.

    Raises:
        InputError: if `path` is unset or no file exists there.
    """
    if path is None or not os.path.isfile(os.path.expanduser(str(path))):
        raise InputError(
            "`data.path` must point to an existing .csv file. "
            f"Received: data.path={path} (no such file). Check the path."
        )
    return os.path.expanduser(str(path))


def _check_int(key: str, value, minimum: int) -> None:
    """Raises `InputError` unless `value` is an integer (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(
            f"`{key}` must be an integer >= {minimum}. Received: {key}={value}. "
            f"Set `{key}` to an integer of at least {minimum}."
        )
