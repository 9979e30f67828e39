"""Stratified, seeded splits and the tf.data pipelines."""

import numpy as np
import pytest

from ablate.data import RawDataset, load_dataset
from ablate.data.splits import check_batch_size, split_dataset, to_tf_dataset
from ablate.errors import InputError


@pytest.fixture(scope="module")
def mnist5k():
    from types import SimpleNamespace

    return load_dataset(SimpleNamespace(name="mnist5k"))


def test_mnist5k_split_is_stratified_with_exact_counts(mnist5k):
    splits = split_dataset(mnist5k, val_fraction=0.1, test_fraction=0.2, seed=0)
    counts = splits.class_counts()
    assert counts["test"] == [100] * 10
    assert counts["val"] == [50] * 10
    assert counts["train"] == [350] * 10
    assert splits.x_train.shape == (3500, 28, 28, 1)


def test_same_seed_same_split_other_seed_other_split(mnist5k):
    first = split_dataset(mnist5k, 0.1, 0.2, seed=3)
    again = split_dataset(mnist5k, 0.1, 0.2, seed=3)
    other = split_dataset(mnist5k, 0.1, 0.2, seed=4)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.x_test, other.x_test)


def test_a_fixed_test_split_is_kept_and_validation_comes_from_train():
    x = np.repeat(np.arange(40, dtype="float32")[:, None], 3, axis=1)
    raw = RawDataset(
        x=x,
        y=np.arange(40) % 2,
        class_names=("a", "b"),
        modality="tabular",
        x_test=np.full((6, 3), -1.0, "float32"),
        y_test=np.array([0, 1] * 3),
    )
    splits = split_dataset(raw, val_fraction=0.25, test_fraction=0.5, seed=0)
    assert (splits.x_test == -1.0).all() and len(splits.y_test) == 6
    assert (len(splits.y_train), len(splits.y_val)) == (30, 10)
    seen = np.concatenate([splits.x_train[:, 0], splits.x_val[:, 0]])
    assert sorted(seen.tolist()) == list(range(40))


def test_too_small_for_a_stratified_split():
    raw = RawDataset(
        x=np.zeros((12, 2), "float32"),
        y=np.arange(12) % 4,
        class_names=tuple("abcd"),
        modality="tabular",
    )
    with pytest.raises(
        InputError,
        match=r"too small for `data.test_fraction`.*12 examples in "
        r"4 classes.*Received: data.test_fraction=0.1",
    ):
        split_dataset(raw, val_fraction=0.1, test_fraction=0.1, seed=0)


def test_batch_size_larger_than_the_training_split(mnist5k):
    splits = split_dataset(mnist5k, 0.1, 0.2, seed=0)
    check_batch_size(splits, 3500)
    with pytest.raises(InputError, match=r"\(3500 examples\). Received: training.batch_size=4000"):
        check_batch_size(splits, 4000)


def test_tf_dataset_batches_with_one_hot_float_labels():
    x = np.arange(10, dtype="float32").reshape(5, 2)
    y = np.array([0, 2, 1, 2, 0])
    batches = list(to_tf_dataset(x, y, num_classes=3, batch_size=2).as_numpy_iterator())
    assert [len(b[0]) for b in batches] == [2, 2, 1]
    labels = np.concatenate([b[1] for b in batches])
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(labels, np.eye(3)[y])
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)


def test_training_order_is_seeded_and_reshuffled_every_epoch():
    x = np.arange(64, dtype="float32")[:, None]
    y = np.zeros(64, "int64")

    def two_epochs(seed):
        dataset = to_tf_dataset(x, y, 1, batch_size=64, shuffle_seed=seed)
        return [next(iter(dataset))[0].numpy().ravel().tolist() for _ in range(2)]

    first, second = two_epochs(7)
    assert first != second and sorted(first) == list(range(64))
    assert two_epochs(7) == [first, second]
