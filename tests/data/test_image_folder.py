"""Tests for `ablate.data.image_folder`: class subfolders read by Keras, and their errors."""

import numpy as np
import pytest
from PIL import Image
from source_helpers import cfg, match

from ablate.data import load_dataset
from ablate.errors import InputError


def save_pngs(folder, count, value, size=(5, 4)):
    """Writes `count` constant grey PNGs of `value` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.full(size, value, np.uint8)).save(folder / f"{index}.png")


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3)])
def test_image_folder_loads_classes_in_sorted_order(tmp_path, color_mode, channels):
    save_pngs(tmp_path / "dog", 2, 200)
    save_pngs(tmp_path / "cat", 3, 10)
    data = load_dataset(
        cfg(name="image_folder", path=str(tmp_path), image_size=4, color_mode=color_mode)
    )
    assert data.x.shape == (5, 4, 4, channels) and data.x.dtype == np.float32
    assert data.y.tolist() == [0, 0, 0, 1, 1] and data.y.dtype == np.int64
    assert data.class_names == ("cat", "dog")
    assert np.all(data.x[:3] == 10.0) and np.all(data.x[3:] == 200.0)
    assert data.modality == "image" and data.x_test is None


def test_image_folder_missing_path(tmp_path):
    path = tmp_path / "nowhere"
    with pytest.raises(InputError, match=match("data.path", f"data.path={path}", "no such")):
        load_dataset(cfg(name="image_folder", path=str(path), image_size=4))


def test_image_folder_empty(tmp_path):
    with pytest.raises(InputError, match=match("subfolder", f"data.path={tmp_path}", "[]")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_class_dirs_without_images(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(
        InputError, match=match("image files", f"data.path={tmp_path}", "No images")
    ):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_one_class(tmp_path):
    save_pngs(tmp_path / "cat", 2, 10)
    with pytest.raises(InputError, match=match("at least 2", f"data.path={tmp_path}", "['cat']")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_class_without_images(tmp_path):
    save_pngs(tmp_path / "cat", 2, 10)
    (tmp_path / "dog").mkdir()
    with pytest.raises(InputError, match=match("at least one image", tmp_path, "['dog']")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))


def test_image_folder_unreadable_image(tmp_path):
    save_pngs(tmp_path / "cat", 1, 10)
    save_pngs(tmp_path / "dog", 1, 200)
    (tmp_path / "dog" / "broken.png").write_text("not a png")
    with pytest.raises(
        InputError, match=match("readable image", f"data.path={tmp_path} (Unknown image file")
    ) as raised:
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4))
    assert "{{" not in str(raised.value) and "[[" not in str(raised.value)


def test_image_folder_needs_image_size(tmp_path):
    save_pngs(tmp_path / "cat", 1, 10)
    save_pngs(tmp_path / "dog", 1, 200)
    with pytest.raises(InputError, match=match("data.image_size", "data.image_size=None")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path)))


def test_image_folder_bad_color_mode(tmp_path):
    with pytest.raises(InputError, match=match("data.color_mode", "data.color_mode=rgba")):
        load_dataset(cfg(name="image_folder", path=str(tmp_path), image_size=4, color_mode="rgba"))
