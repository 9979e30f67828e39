"""Tests for `ablate.text`: the text CSV loader, its errors, and the text baseline model."""

import re

import numpy as np
import pandas as pd
import pytest

from ablate.errors import InputError
from ablate.text import build_text_model, load_text_csv, text_words


def match(*parts):
    """A `pytest.raises` pattern matching the literal `parts` in this order."""
    return ".*".join(re.escape(str(part)) for part in parts)


def write_csv(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "texts.csv"
    frame.to_csv(path, index=False)
    return str(path)


def separable_texts(num_texts: int, seed: int = 0):
    """Filler sentences holding one sentiment word: good/great (1) or bad/awful (0)."""
    rng = np.random.default_rng(seed)
    filler = "the movie was a film and it this plot actor story scene with of"
    filler = filler.split()
    texts, labels = [], []
    for index in range(num_texts):
        label = index % 2
        words = [str(word) for word in rng.choice(filler, size=rng.integers(4, 9))]
        cue = ("good", "great")[rng.integers(2)] if label else ("bad", "awful")[rng.integers(2)]
        words.insert(int(rng.integers(len(words) + 1)), cue)
        texts.append(" ".join(words))
        labels.append(label)
    return np.array(texts, dtype=object), np.array(labels, dtype=np.int64)


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


# -- build_text_model --------------------------------------------------------------------------


def test_build_text_model_vocabulary_and_shapes():
    x = np.array(["good film", "bad film", "a GOOD, good one"], dtype=object)
    model = build_text_model(x, 3, sequence_length=5, embedding_dim=4)
    vectorizer = model.get_layer("vectorize")
    # padding, out-of-vocabulary, then the 5 distinct training words by frequency
    assert vectorizer.get_vocabulary()[:3] == ["", "[UNK]", "good"]
    assert sorted(vectorizer.get_vocabulary()[3:]) == ["a", "bad", "film", "one"]
    assert model.output_shape == (None, 3)
    assert model.get_layer("embed").input_dim == 7
    probabilities = np.asarray(model(np.array(["good unseen words", "film"])))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_build_text_model_caps_vocabulary():
    x = np.array([f"word{i} word{i} common" for i in range(50)], dtype=object)
    model = build_text_model(x, 2, max_tokens=10)
    assert model.get_layer("vectorize").vocabulary_size() == 10


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"max_tokens": 2}, "model.max_tokens=2"),
        ({"sequence_length": 0}, "model.sequence_length=0"),
        ({"embedding_dim": 1.5}, "model.embedding_dim=1.5"),
        ({"dropout": 1.0}, "model.dropout=1.0"),
        ({"num_classes": 1}, "num_classes=1"),
    ],
)
def test_build_text_model_rejects_bad_arguments(kwargs, key):
    arguments = {"num_classes": 2, **kwargs}
    with pytest.raises(InputError, match=match(key)):
        build_text_model(np.array(["a b"], dtype=object), **arguments)


def test_build_text_model_rejects_non_text():
    with pytest.raises(InputError, match=match("`x_train`", "float")):
        build_text_model(np.zeros(3), 2)


def test_build_text_model_learns_separable_texts_from_tf_data():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x, y = separable_texts(200)
    model = build_text_model(x, 2, embedding_dim=16)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((x.astype(str), keras.utils.to_categorical(y, 2)))
        .shuffle(len(x), seed=0)
        .batch(32)
    )
    model.fit(dataset, epochs=5, shuffle=False, verbose=0)  # the dataset shuffles
    x_new, y_new = separable_texts(100, seed=1)
    predicted = model.predict(x_new, verbose=0).argmax(axis=1)
    assert (predicted == y_new).mean() > 0.9
