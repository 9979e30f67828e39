"""Tests for `ablate.data.text`: the text CSV loader, its errors, and the word splitter."""

import numpy as np
import pandas as pd
import pytest
from source_helpers import match

from ablate.data.text import load_text_csv, text_words
from ablate.errors import InputError


def write_csv(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "texts.csv"
    frame.to_csv(path, index=False)
    return str(path)


# -- text_words ------------------------------------------------------------------------------


def test_text_words_matches_text_vectorization_standardization():
    words = ["dont", "panic", "arthur", "42", "Étoile"]  # only ASCII letters lowercased
    assert text_words("Don't PANIC, Arthur!  42\tÉtoile") == words
    assert text_words(" ?! ") == []


# -- load_text_csv -----------------------------------------------------------------------------


def test_load_text_csv_maps_sorted_string_labels(tmp_path):
    path = write_csv(
        tmp_path,
        pd.DataFrame(
            {
                "text": ["a good film", "NA", "awful, truly", "123"],
                "label": ["pos", "neg", "neg", "pos"],
                "other": [1, 2, 3, 4],
            }
        ),
    )
    data = load_text_csv(path)
    assert data.modality == "text"
    assert data.x.dtype == object and data.x.shape == (4,)
    assert data.x.tolist() == ["a good film", "NA", "awful, truly", "123"]
    assert all(type(text) is str for text in data.x)
    assert data.y.dtype == np.int64 and data.y.tolist() == [1, 0, 0, 1]
    assert data.class_names == ("neg", "pos")
    assert data.num_classes == 2 and data.x_test is None and data.y_test is None


def test_load_text_csv_custom_columns_and_numeric_labels(tmp_path):
    frame = pd.DataFrame({"stars": [10, 2, 2, 1], "review": ["w", "x", "y", "z"]})
    data = load_text_csv(write_csv(tmp_path, frame), text_column="review", label_column="stars")
    assert data.class_names == ("1", "2", "10")  # sorted as numbers, not as strings
    assert data.y.tolist() == [2, 1, 1, 0]


def test_load_text_csv_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(InputError, match=match("`data.path`", f"data.path={path}", "no such")):
        load_text_csv(str(path))


def test_load_text_csv_not_a_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError, match=match("`data.path`", f"data.path={path}")):
        load_text_csv(str(path))


def test_load_text_csv_missing_text_column_lists_columns(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"review": ["a", "b"], "label": [0, 1]}))
    with pytest.raises(
        InputError,
        match=match("`data.text_column`", "data.text_column=text", "['review', 'label']"),
    ):
        load_text_csv(path)


def test_load_text_csv_missing_label_column(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"text": ["a", "b"], "y": [0, 1]}))
    with pytest.raises(
        InputError, match=match("`data.label_column`", "data.label_column=label", "['text', 'y']")
    ):
        load_text_csv(path)


def test_load_text_csv_same_column_twice(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}))
    with pytest.raises(InputError, match=match("data.text_column=text", "data.label_column=text")):
        load_text_csv(path, label_column="text")


def test_load_text_csv_counts_empty_texts(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text('text,label\nfine,a\n,b\n"   ",a\nok,b\n?!,a\n')
    with pytest.raises(
        InputError,
        match=match("`data.text_column`", "data.text_column=text", "3 empty", "rows [2, 3, 5]"),
    ):
        load_text_csv(str(path))


def test_load_text_csv_counts_empty_labels(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text,label\nfine,a\nok,\nsure,b\n")
    with pytest.raises(
        InputError,
        match=match("`data.label_column`", "data.label_column=label", "1 empty", "rows [2]"),
    ):
        load_text_csv(str(path))


def test_load_text_csv_needs_two_classes(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"text": ["a", "b"], "label": ["pos", "pos"]}))
    with pytest.raises(InputError, match=match("at least 2", "data.label_column=label", "['pos']")):
        load_text_csv(path)


def test_load_text_csv_header_only(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text,label\n")
    with pytest.raises(InputError, match=match("`data.path`", "no rows")):
        load_text_csv(str(path))
