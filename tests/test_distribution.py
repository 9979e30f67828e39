"""`training.distribute=mirrored`: one run on several devices equals the run on one device."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ablate.config import validate
from ablate.data.splits import batch_examples, example_dataset
from ablate.distribution import replayable
from ablate.errors import InputError
from ablate.run import run
from conftest import REPO, TINY, compose

# Each optimizer's run with each value of `training.distribute`, in a fresh interpreter whose CPU
# is split into two logical devices before TensorFlow initialises (GPUs hidden). Dropout off:
# Keras draws the same mask on every replica, where one device draws one per example.
TWO_DEVICES = """
import json, pathlib, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from conftest import compose
from ablate.run import run
folder, overrides = pathlib.Path(sys.argv[1]), sys.argv[2:] + ["tracking=none", "model.dropout=0"]
results = {}
for optimizer in ("adam", "sgd"):
    for distribute in ("none", "mirrored"):
        cfg = compose(*overrides, f"optimizer={optimizer}", f"training.distribute={distribute}")
        results[f"{optimizer} {distribute}"] = run(cfg, folder / optimizer / distribute, "job")
print("RESULTS " + json.dumps(results))
"""
TEST_EXAMPLES = 360  # digits' test split


def run_on_two_devices(folder, *overrides: str) -> dict[str, dict[str, float]]:
    """The final metrics of `<optimizer> <distribute>` runs on two logical CPU devices."""
    completed = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, str(folder), *overrides],
        cwd=REPO / "tests",
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    return json.loads(line.removeprefix("RESULTS "))


@pytest.mark.slow
def test_two_replicas_train_as_one_device(tmp_path):
    results = run_on_two_devices(tmp_path, *TINY)
    # Measured (one device, two): Adam, accuracy 0.7944 both, test loss 1.710719 and 1.710667;
    # SGD, 234 and 233 of 360 right, test loss 2.191046 and 2.191058. Float rounding of the
    # summed gradients, and the last batch of each epoch (41 of 1257 examples) split unevenly.
    # SGD's update is proportional to the gradient (Adam's is not): a gradient twice or half
    # as large moves its test loss by 9 % or 3 %; Adam's catches a different data order (the
    # shuffles moved by an epoch: 7e-3).
    for optimizer in ("adam", "sgd"):
        one, two = results[f"{optimizer} none"], results[f"{optimizer} mirrored"]
        assert (one["num_replicas"], two["num_replicas"]) == (1.0, 2.0)
        right = [round(job["test_accuracy"] * TEST_EXAMPLES) for job in (one, two)]
        assert abs(right[0] - right[1]) <= 1
        assert two["test_loss"] == pytest.approx(one["test_loss"], rel=1e-3)
        assert two["optimizer_updates"] == one["optimizer_updates"] == 40.0


@pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")),
    reason="on a GPU `none` compiles with XLA and the strategy does not",
)
def test_on_one_device_mirrored_trains_exactly_as_none(tmp_path):
    single = run(compose(*TINY, "tracking=none"), tmp_path / "none", "none")
    mirrored = run(
        compose(*TINY, "tracking=none", "training.distribute=mirrored"), tmp_path / "m", "m"
    )
    assert (single["num_replicas"], mirrored["num_replicas"]) == (1.0, 1.0)
    assert mirrored["test_accuracy"] == single["test_accuracy"]
    assert mirrored["test_loss"] == single["test_loss"]


def batches_of(dataset) -> list[np.ndarray]:
    """The batches of a new iterator of `dataset`, each's features and labels in one array."""
    return [np.concatenate([x.numpy().ravel(), y.numpy().ravel()]) for x, y in dataset]


def same_batches(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(map(np.array_equal, first, second))


def test_every_iterator_of_a_replayable_dataset_yields_what_a_first_iterator_yields():
    x, y = np.arange(40, dtype="float32").reshape(20, 2), np.arange(20) % 2
    examples = example_dataset(x, y, 2)

    def epochs():
        return batch_examples(examples, len(y), 4, shuffle_seed=0).repeat(3)

    plain = epochs()
    first = batches_of(plain)
    assert not same_batches(batches_of(plain), first)  # a second iterator draws anew
    assert not same_batches(first[:5], first[5:10])  # and every epoch is reshuffled
    replay = replayable(epochs)
    assert same_batches(batches_of(replay), first)
    assert same_batches(batches_of(replay), first)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["accumulation=2"],
            "`accumulation=2` cannot be combined with `training.distribute=mirrored`: Keras "
            "updates the variables inside a conditional, where MirroredStrategy cannot "
            "synchronize the replicas. Received: accumulation=2 with "
            "training.distribute=mirrored. Raise training.batch_size (the global batch, split "
            "across the replicas) instead, or use training.distribute=none.",
        ),
        (
            ["ema=on", "ema.overwrite_frequency=5"],
            "`ema.overwrite_frequency=5` cannot be combined with `training.distribute=mirrored`",
        ),
        (
            ["data=text_csv", "data.path=x", "model=text_embedding"],
            "`model=text_embedding` cannot be combined with `training.distribute=mirrored`: "
            "Keras averages a first batch over the replicas",
        ),
    ],
    ids=["accumulation", "ema_overwrite", "text_model"],
)
def test_mirrored_refuses_what_keras_cannot_run_on_several_replicas(overrides, message):
    with pytest.raises(InputError) as raised:
        validate(compose(*overrides, "training.distribute=mirrored"))
    assert str(raised.value).startswith(message)


def test_the_refused_settings_run_without_distribution():
    validate(compose("accumulation=2", "ema=on", "ema.overwrite_frequency=5"))
