"""Tests for `ablate.data.tabular`: the `csv` source, and every bad table as `InputError`."""

import numpy as np
import pytest
from source_helpers import cfg, match

from ablate.data import load_dataset
from ablate.errors import InputError


def csv_file(tmp_path, text, label_column="label"):
    """Writes `text` to `data.csv` under `tmp_path` and returns a config for it."""
    path = tmp_path / "data.csv"
    path.write_text(text)
    return cfg(name="csv", path=str(path), label_column=label_column)


def test_csv_string_labels_mapped_in_sorted_order(tmp_path):
    config = csv_file(tmp_path, "a,label,b\n1,dog,2.5\n3,cat,4\n5,emu,6\n7,cat,8\n")
    data = load_dataset(config)
    assert data.modality == "tabular"
    assert data.x.tolist() == [[1.0, 2.5], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]
    assert data.x.dtype == np.float32
    assert data.y.tolist() == [1, 0, 2, 0] and data.y.dtype == np.int64
    assert data.class_names == ("cat", "dog", "emu")
    assert data.x_test is None


def test_csv_numeric_labels_sorted_numerically(tmp_path):
    config = csv_file(tmp_path, "a,label\n1,10\n2,9\n3,10\n")
    data = load_dataset(config)
    assert data.y.tolist() == [1, 0, 1]
    assert data.class_names == ("9", "10")


def test_csv_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(InputError, match=match(".csv file", f"data.path={path}")):
        load_dataset(cfg(name="csv", path=str(path), label_column="label"))


def test_csv_empty_file(tmp_path):
    config = csv_file(tmp_path, "")
    with pytest.raises(InputError, match=match("CSV", f"data.path={config.path}")):
        load_dataset(config)


def test_csv_header_only(tmp_path):
    config = csv_file(tmp_path, "a,label\n")
    with pytest.raises(InputError, match=match("data rows", f"data.path={config.path}", "0 rows")):
        load_dataset(config)


def test_csv_missing_label_column(tmp_path):
    config = csv_file(tmp_path, "a,b\n1,2\n3,4\n", label_column="target")
    with pytest.raises(InputError, match=match("data.label_column=target", "['a', 'b']")):
        load_dataset(config)


def test_csv_non_numeric_feature(tmp_path):
    config = csv_file(tmp_path, "a,colour,label\n1,red,0\n2,blue,1\n")
    with pytest.raises(
        InputError, match=match("numeric", f"data.path={config.path}", "['colour']")
    ):
        load_dataset(config)


def test_csv_nan_feature(tmp_path):
    config = csv_file(tmp_path, "a,b,label\n1,,0\n2,3,1\n")
    with pytest.raises(InputError, match=match("finite", f"data.path={config.path}", "['b']")):
        load_dataset(config)


def test_csv_missing_labels(tmp_path):
    config = csv_file(tmp_path, "a,label\n1,x\n2,\n3,y\n")
    with pytest.raises(InputError, match=match("data.label_column=label", "1 empty cells")):
        load_dataset(config)


def test_csv_single_class(tmp_path):
    config = csv_file(tmp_path, "a,label\n1,x\n2,x\n")
    with pytest.raises(InputError, match=match("2 distinct", "data.label_column=label", "['x']")):
        load_dataset(config)
