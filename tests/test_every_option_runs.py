"""A one-epoch run of every option of every group finishes (slow: real training, ~3 min)."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from ablate.run import run
from conftest import REPO, compose

FAST = ("training.epochs=1", "training.batch_size=16", "tracking=none")
WORDS = {0: ["good", "great", "fine", "nice"], 1: ["bad", "awful", "poor", "sad"]}


def text_csv(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    rows = ["text,label"]
    for i in range(120):
        label = i % 2
        words = list(rng.choice(WORDS[label], 3)) + ["the", "film", "was"]
        rows.append(f"{' '.join(rng.permutation(words))},{'pos' if label == 0 else 'neg'}")
    (folder / "texts.csv").write_text("\n".join(rows))
    (folder / "synonyms.txt").write_text("good: fine, nice\nbad: poor, awful\nfilm: movie\n")
    return ["data=text_csv", f"data.path={folder}/texts.csv", "model=text_embedding"]


def fashion_mnist_files() -> list[str]:
    """Tiny fashion-MNIST files in Keras' exact cache format (gzipped idx), under KERAS_HOME."""
    folder = Path(os.environ["KERAS_HOME"]) / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 200), ("t10k", 50)):
        arrays = {
            "images-idx3": rng.integers(0, 256, (count, 28, 28)),
            "labels-idx1": np.arange(count) % 10,
        }
        for kind, array in arrays.items():
            header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(
                f">{array.ndim}I", *array.shape
            )
            with gzip.open(folder / f"{prefix}-{kind}-ubyte.gz", "wb") as file:
                file.write(header + array.astype(np.uint8).tobytes())
    return ["data=keras", "data.dataset=fashion_mnist"]


def data_files(folder: Path, option: str) -> list[str]:
    """Overrides (and files) that let a data option run on tiny local data."""
    rng = np.random.default_rng(0)
    if option == "npz":
        np.savez(
            folder / "d.npz", x_train=rng.integers(0, 256, (120, 8, 8)), y_train=np.arange(120) % 3
        )
        return ["data=npz", f"data.path={folder}/d.npz"]
    if option == "image_folder":
        from PIL import Image

        for name in ("a", "b"):
            (folder / "images" / name).mkdir(parents=True)
            for i in range(30):
                pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / "images" / name / f"{i}.png")
        return ["data=image_folder", f"data.path={folder}/images", "data.image_size=16"]
    if option == "csv":
        rows = ["f1,f2,label"] + [f"{i % 7},{i % 5},{i % 2}" for i in range(120)]
        (folder / "t.csv").write_text("\n".join(rows))
        return ["data=csv", f"data.path={folder}/t.csv", "model=mlp"]
    if option == "text_csv":
        return text_csv(folder)
    if option == "keras":
        return fashion_mnist_files()
    if option == "fashion_mnist":  # the same tiny files, read by ablate's own IDX reader
        fashion_mnist_files()
        return [
            "data=fashion_mnist",
            f"data.path={os.environ['KERAS_HOME']}/datasets/fashion-mnist",
        ]
    return [f"data={option}"]


def options():
    for path in sorted((REPO / "conf").glob("*/*.yaml")):
        group, option = path.parent.name, path.stem
        if group not in ("experiment", "tracking", "training"):
            yield group, option


@pytest.mark.slow
@pytest.mark.parametrize("group, option", list(options()))
def test_one_epoch_of_every_option_finishes(tmp_path, group, option):
    overrides = ["data=digits"]
    if group == "data":
        overrides = data_files(tmp_path, option)
    elif option in ("text_embedding", "eda"):
        overrides = text_csv(tmp_path)
    elif option == "mobilenet_v3_small":
        overrides = ["data=mnist5k", "data.val_fraction=0.5", "data.test_fraction=0.3"]
    elif group == "balance":
        overrides += ["data.imbalance=5"]
    if (group, option) == ("swa", "on"):  # SWA needs 2 snapshots: 2 epochs, from the first
        overrides += ["training.epochs=2", "swa.start=0"]
    cfg = compose(*FAST, *overrides, f"{group}={option}")
    if option == "eda":
        cfg.augment.synonyms_path = str(tmp_path / "synonyms.txt")
    metrics = run(cfg, tmp_path / "out", f"{group}={option}")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["num_params"] > 0 and metrics["train_time_s"] > 0
