"""Tests for `ablate.data.load_dataset`: one loader per `data.name`, unknown names refused."""

import pytest
from source_helpers import cfg, match

from ablate.config import DATA_SOURCES, validate
from ablate.data import _LOADERS, load_dataset
from ablate.errors import InputError
from conftest import compose


def test_loaders_are_keyed_by_the_config_data_sources():
    assert tuple(_LOADERS) == DATA_SOURCES


def test_unknown_name_lists_valid_names():
    with pytest.raises(InputError, match=match("data.name", "digits", "data.name=imagenet")):
        load_dataset(cfg(name="imagenet"))


@pytest.mark.parametrize(
    "overrides",
    [("data=digits", "data.name=imagenet"), ("data=keras", "data.dataset=svhn")],
)
def test_unknown_source_refused_in_the_words_of_config_validate(overrides):
    config = compose(*overrides)
    with pytest.raises(InputError) as validated:
        validate(config)
    with pytest.raises(InputError) as loaded:
        load_dataset(config.data)
    assert str(loaded.value) == str(validated.value)


def test_text_csv_reads_the_text_and_label_columns(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("review,stars\ngood film,5\nbad film,1\n")
    data = load_dataset(
        cfg(name="text_csv", path=str(path), text_column="review", label_column="stars")
    )
    assert data.x.tolist() == ["good film", "bad film"]
    assert data.y.tolist() == [1, 0] and data.class_names == ("1", "5")
    assert data.modality == "text"
