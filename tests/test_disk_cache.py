"""Tests for `ablate.disk_cache`: the cache folder, and arrays computed once per key."""

from pathlib import Path

import numpy as np

from ablate.disk_cache import cache_dir, cached_arrays


def counting(values):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.asarray(values, dtype=np.float32), "y": np.arange(len(values))}

    return compute, calls


def test_arrays_are_computed_once_per_key_whatever_the_key_order(tmp_path):
    compute, calls = counting([1.5, 2.5])
    first = cached_arrays(tmp_path, {"a": 1, "b": [2, 3]}, compute)
    again = cached_arrays(tmp_path, {"b": [2, 3], "a": 1}, compute)
    assert len(calls) == 1
    assert len(list(tmp_path.glob("*.npz"))) == 1
    for name in ("x", "y"):
        np.testing.assert_array_equal(again[name], first[name])
    assert again["x"].dtype == np.float32 and again["x"].tolist() == [1.5, 2.5]


def test_another_key_gets_its_own_file(tmp_path):
    compute, calls = counting([1.0])
    cached_arrays(tmp_path, {"seed": 0}, compute)
    cached_arrays(tmp_path, {"seed": 1}, compute)
    assert len(calls) == 2 and len(list(tmp_path.glob("*.npz"))) == 2


def test_an_unreadable_file_is_computed_and_written_again(tmp_path):
    compute, calls = counting([4.0, 5.0])
    cached_arrays(tmp_path, "key", compute)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(path.read_bytes()[:40])  # cut short, as by a full disk
    again = cached_arrays(tmp_path, "key", compute)
    assert len(calls) == 2 and again["x"].tolist() == [4.0, 5.0]
    assert cached_arrays(tmp_path, "key", compute)["x"].tolist() == [4.0, 5.0]
    assert len(calls) == 2  # the rewritten file is read
    assert not list(tmp_path.glob("*.tmp"))


def test_the_folder_is_the_environment_variable_else_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
    monkeypatch.delenv("ABLATE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == Path(tmp_path) / ".cache" / "ablate"
