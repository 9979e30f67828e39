"""Long-tailed subsets, class weights and resampling of the training split, with exact counts."""

import functools
import math

import numpy as np
import pytest

from ablate.config import validate
from ablate.errors import InputError
from ablate.technique_config import BALANCE_METHODS
from ablate.techniques import balancing as balance
from ablate.techniques.balancing import (
    cached_resample,
    class_weights,
    long_tailed_indices,
    resample,
)
from conftest import compose


def blobs(counts, trailing_shape=(2,), seed=0):
    """Gaussian blobs, one per class, with `counts[c]` float32 examples of class `c`."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts).astype("int64")
    x = rng.normal(size=(len(y), *trailing_shape)) + 3.0 * y.reshape(-1, *[1] * len(trailing_shape))
    return x.astype("float32"), y


# --- long_tailed_indices --------------------------------------------------------------------


def test_long_tail_counts_follow_cui_et_al():
    y = np.random.default_rng(0).permutation(np.repeat(np.arange(10), 100))
    counts = np.bincount(y[long_tailed_indices(y, imbalance_factor=10, seed=0)]).tolist()
    assert counts == [math.floor(100 * 0.1 ** (c / 9)) for c in range(10)]
    assert counts == [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]


def test_long_tail_reproduces_the_published_cifar10_lt_counts():
    y = np.repeat(np.arange(10), 5000)
    counts = np.bincount(y[long_tailed_indices(y, imbalance_factor=100, seed=0)]).tolist()
    assert counts == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_long_tail_binary_keeps_a_quarter_of_the_second_class():
    y = np.repeat([0, 1], 100)
    counts = np.bincount(y[long_tailed_indices(y, imbalance_factor=4, seed=0)]).tolist()
    assert counts == [100, 25]


def test_long_tail_starts_from_the_smallest_class_and_keeps_at_least_one():
    y = np.repeat([0, 1, 2], [100, 80, 120])
    counts = np.bincount(y[long_tailed_indices(y, imbalance_factor=4, seed=0)]).tolist()
    assert counts == [80, 40, 20]
    y = np.repeat(np.arange(10), 100)
    counts = np.bincount(y[long_tailed_indices(y, imbalance_factor=1000, seed=0)]).tolist()
    assert counts == [max(1, math.floor(100 * 0.001 ** (c / 9))) for c in range(10)]
    assert counts[-1] == 1


def test_long_tail_indices_are_sorted_unique_and_int64():
    y = np.random.default_rng(1).permutation(np.repeat(np.arange(5), 40))
    indices = long_tailed_indices(y, imbalance_factor=10, seed=0)
    assert indices.dtype == np.int64
    assert (np.diff(indices) > 0).all()
    assert indices.min() >= 0 and indices.max() < len(y)


def test_imbalance_factor_one_is_a_no_op_even_on_imbalanced_data():
    y = np.repeat([0, 1, 2], [50, 7, 30])
    np.testing.assert_array_equal(long_tailed_indices(y, imbalance_factor=1, seed=3), np.arange(87))


def test_long_tail_same_seed_same_subset_other_seed_other_subset():
    y = np.repeat(np.arange(10), 100)
    first = long_tailed_indices(y, imbalance_factor=10, seed=5)
    np.testing.assert_array_equal(first, long_tailed_indices(y, imbalance_factor=10, seed=5))
    assert not np.array_equal(first, long_tailed_indices(y, imbalance_factor=10, seed=6))


@pytest.mark.parametrize("factor", [0.5, 0, -10, float("nan"), float("inf")])
def test_imbalance_factor_below_one_or_not_finite_is_refused(factor):
    with pytest.raises(
        InputError, match=r"^`data\.imbalance` must be .* Received: data\.imbalance="
    ):
        long_tailed_indices(np.repeat([0, 1], 10), imbalance_factor=factor, seed=0)


# --- class_weights --------------------------------------------------------------------------


def test_class_weights_are_sklearn_balanced():
    weights = class_weights(np.repeat([0, 1, 2], [6, 3, 1]), num_classes=3)
    assert list(weights) == [0, 1, 2]
    assert weights == pytest.approx({0: 10 / 18, 1: 10 / 9, 2: 10 / 3})
    assert all(type(key) is int and type(value) is float for key, value in weights.items())


def test_class_weights_refuse_a_missing_class():
    with pytest.raises(InputError, match="class 2 has no example"):
        class_weights(np.array([0, 1, 1]), num_classes=3)


# --- resample -------------------------------------------------------------------------------

MULTICLASS_COUNTS = {
    "none": [60, 20, 10],
    "class_weight": [60, 20, 10],
    "oversample": [60, 60, 60],
    "smote": [60, 60, 60],
    "undersample": [10, 10, 10],
    # SMOTE to int(0.5 * 60) = 30, then undersample to int(30 / 0.8) = 37.
    "smote_undersample": [37, 30, 30],
}
BINARY_COUNTS = {
    "none": [60, 10],
    "class_weight": [60, 10],
    "oversample": [60, 60],
    "smote": [60, 60],
    "undersample": [10, 10],
    "smote_undersample": [37, 30],
}


@pytest.mark.parametrize("method", BALANCE_METHODS)
def test_resample_exact_counts_multiclass(method):
    x, y = blobs([60, 20, 10])
    x_new, y_new = resample(x, y, method, seed=0)
    assert np.bincount(y_new).tolist() == MULTICLASS_COUNTS[method]
    assert x_new.shape == (len(y_new), 2)


@pytest.mark.parametrize("method", BALANCE_METHODS)
def test_resample_exact_counts_binary(method):
    x, y = blobs([60, 10])
    _, y_new = resample(x, y, method, seed=0)
    assert np.bincount(y_new).tolist() == BINARY_COUNTS[method]


def test_multiclass_ratios_only_move_the_classes_past_their_target():
    x, y = blobs([100, 40, 25, 8])
    _, y_new = resample(x, y, "smote_undersample", seed=0, smote_ratio=0.3, undersample_ratio=0.5)
    # SMOTE raises 25 and 8 to int(0.3 * 100) = 30; the undersampler lowers 100 to 30 / 0.5.
    assert np.bincount(y_new).tolist() == [60, 40, 30, 30]


@pytest.mark.parametrize(("counts", "ratios"), [([60, 10], (0.5, 0.8)), ([97, 13], (0.3, 0.9))])
def test_binary_recipe_equals_imblearns_float_pipeline(counts, ratios):
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline
    from imblearn.under_sampling import RandomUnderSampler

    x, y = blobs(counts)
    article = Pipeline(
        [
            ("smote", SMOTE(sampling_strategy=ratios[0], random_state=4)),
            ("undersample", RandomUnderSampler(sampling_strategy=ratios[1], random_state=4)),
        ]
    )
    x_expected, y_expected = article.fit_resample(x, y)
    x_new, y_new = resample(
        x, y, "smote_undersample", seed=4, smote_ratio=ratios[0], undersample_ratio=ratios[1]
    )
    np.testing.assert_array_equal(y_new, y_expected)
    np.testing.assert_array_equal(x_new, x_expected)


def test_recipe_leaves_an_already_balanced_binary_split_as_is():
    from imblearn.over_sampling import SMOTE

    x, y = blobs([50, 50])
    with pytest.raises(ValueError, match="ratio"):  # what a float strategy would do
        SMOTE(sampling_strategy=0.5).fit_resample(x, y)
    x_new, y_new = resample(x, y, "smote_undersample", seed=0)
    np.testing.assert_array_equal(x_new, x)
    np.testing.assert_array_equal(y_new, y)


@pytest.mark.parametrize("method", BALANCE_METHODS)
def test_images_keep_their_shape_and_dtype(method):
    x, y = blobs([30, 10], trailing_shape=(8, 8, 1))
    x_new, y_new = resample(x, y, method, seed=0)
    assert x_new.shape == (len(y_new), 8, 8, 1)
    assert (x_new.dtype, y_new.dtype) == (np.float32, np.int64)
    expected = {"oversample": [30, 30], "smote": [30, 30], "undersample": [10, 10]}
    # smote_undersample: SMOTE to int(0.5 * 30) = 15, then undersample to int(15 / 0.8) = 18.
    expected["smote_undersample"] = [18, 15]
    assert np.bincount(y_new).tolist() == expected.get(method, [30, 10])


def test_smote_samples_are_interpolations_within_their_class():
    x, y = blobs([60, 20, 10])
    x_new, y_new = resample(x, y, "smote", seed=0)
    np.testing.assert_array_equal(x_new[: len(x)], x)  # originals first, unchanged
    synthetic_x, synthetic_y = x_new[len(x) :], y_new[len(x) :]
    assert np.bincount(synthetic_y).tolist() == [0, 40, 50]
    for label in (1, 2):
        own = x[y == label]
        made = synthetic_x[synthetic_y == label]
        assert (made >= own.min(axis=0)).all() and (made <= own.max(axis=0)).all()
        assert not (made[:, None, :] == own[None, :, :]).all(axis=2).all(axis=1).any()


@pytest.mark.parametrize("method", BALANCE_METHODS)
def test_resample_leaves_its_inputs_untouched(method):
    x, y = blobs([60, 20, 10])
    x_before, y_before = x.copy(), y.copy()
    x_new, y_new = resample(x, y, method, seed=0)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    if method in ("none", "class_weight"):
        assert x_new is x and y_new is y
    else:
        assert not np.shares_memory(x_new, x) and not np.shares_memory(y_new, y)


def test_resample_same_seed_same_result():
    x, y = blobs([60, 20, 10])
    first = resample(x, y, "smote_undersample", seed=1)
    again = resample(x, y, "smote_undersample", seed=1)
    other = resample(x, y, "smote_undersample", seed=2)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("method", ["smote", "smote_undersample"])
def test_a_class_too_small_for_smote_is_refused_before_imblearn(method):
    x, y = blobs([60, 20, 3])
    with pytest.raises(InputError) as caught:
        resample(x, y, method, seed=0)
    assert str(caught.value) == (
        "`balance.k_neighbors` must be smaller than the smallest class that SMOTE oversamples "
        "(3 examples, class 2). Received: balance.k_neighbors=5. Lower balance.k_neighbors or "
        "data.imbalance, or use more data."
    )
    _, y_new = resample(x, y, method, seed=0, k_neighbors=2)
    assert np.bincount(y_new)[2] > 3


def test_a_small_class_that_smote_does_not_oversample_is_fine():
    x, y = blobs([60, 3])
    _, y_new = resample(x, y, "undersample", seed=0)
    assert np.bincount(y_new).tolist() == [3, 3]


@pytest.mark.parametrize("name", ["smote_ratio", "undersample_ratio"])
@pytest.mark.parametrize("value", [0, -0.5, 1.5, float("nan")])
def test_ratios_outside_zero_one_are_refused(name, value):
    x, y = blobs([60, 20, 10])
    with pytest.raises(InputError) as caught:
        resample(x, y, "smote_undersample", seed=0, **{name: value})
    expected = f"`balance.{name}` must be in (0, 1]. Received: balance.{name}={value}"
    assert str(caught.value) == expected


def test_a_ratio_of_one_is_accepted():
    x, y = blobs([60, 20, 10])
    _, y_new = resample(x, y, "smote_undersample", seed=0, smote_ratio=1.0, undersample_ratio=1.0)
    assert np.bincount(y_new).tolist() == [60, 60, 60]


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_k_neighbors_must_be_a_positive_integer(value):
    x, y = blobs([60, 20, 10])
    with pytest.raises(InputError) as caught:
        resample(x, y, "smote", seed=0, k_neighbors=value)
    expected = (
        f"`balance.k_neighbors` must be an integer >= 1. Received: balance.k_neighbors={value}"
    )
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    "override", ["balance.k_neighbors=0", "balance.smote_ratio=1.5", "balance.undersample_ratio=0"]
)
def test_resample_refuses_in_the_words_of_validate(override):
    key, value = override.split("=")
    arguments = {key.split(".")[1]: float(value) if "ratio" in key else int(value)}
    x, y = blobs([60, 20, 10])
    with pytest.raises(InputError) as by_resample:
        resample(x, y, "smote_undersample", seed=0, **arguments)
    with pytest.raises(InputError) as by_validate:
        validate(compose("balance=smote_undersample", override))
    assert str(by_resample.value) == str(by_validate.value)


def test_unknown_method_lists_the_valid_ones():
    x, y = blobs([6, 6])
    with pytest.raises(InputError) as caught:
        resample(x, y, "adasyn", seed=0)
    assert str(caught.value) == (
        "`balance` must be one of none, class_weight, oversample, smote, undersample, "
        "smote_undersample. Received: balance='adasyn'. Pick one of those."
    )


# --- cached_resample ------------------------------------------------------------------------


@pytest.fixture
def counting_resample(monkeypatch):
    """Replaces `balance.resample` by a spy with the same signature; returns its call list."""
    calls = []

    @functools.wraps(resample)
    def spy(*args, **kwargs):
        calls.append(args[2])
        return resample(*args, **kwargs)

    monkeypatch.setattr(balance, "resample", spy)
    return calls


def test_cache_computes_once_then_reads_the_file(tmp_path, counting_resample):
    x, y = blobs([60, 20, 10])
    key = {"data": {"name": "blobs", "imbalance": 6}, "seed": 0}
    x_first, y_first = cached_resample(tmp_path, key, x, y, "smote_undersample", seed=0)
    assert counting_resample == ["smote_undersample"]
    (cached,) = tmp_path.iterdir()
    assert cached.suffix == ".npz" and len(cached.stem) == 16
    modified = cached.stat().st_mtime_ns

    # Passing a default explicitly names the same entry.
    x_again, y_again = cached_resample(
        tmp_path, key, x, y, "smote_undersample", seed=0, k_neighbors=5
    )
    assert counting_resample == ["smote_undersample"]
    assert cached.stat().st_mtime_ns == modified
    np.testing.assert_array_equal(x_again, x_first)
    np.testing.assert_array_equal(y_again, y_first)
    assert (x_again.dtype, y_again.dtype) == (np.float32, np.int64)
    np.testing.assert_array_equal(x_first, resample(x, y, "smote_undersample", seed=0)[0])


def test_cache_separates_keys_methods_and_arguments(tmp_path, counting_resample):
    x, y = blobs([60, 20, 10])
    key = {"data": "blobs", "seed": 0}
    cached_resample(tmp_path, key, x, y, "smote", seed=0)
    cached_resample(tmp_path, {"data": "blobs", "seed": 1}, x, y, "smote", seed=0)
    cached_resample(tmp_path, key, x, y, "oversample", seed=0)
    cached_resample(tmp_path, key, x, y, "smote", seed=0, k_neighbors=3)
    assert len(counting_resample) == 4
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".npz"] * 4  # no temporary files


def test_cache_skips_methods_that_change_nothing(tmp_path):
    x, y = blobs([60, 20, 10])
    x_new, y_new = cached_resample(tmp_path / "cache", {"seed": 0}, x, y, "none", seed=0)
    assert x_new is x and y_new is y
    assert not (tmp_path / "cache").exists()
