"""Class imbalance on the training split: making it (for study) and fixing it.

`long_tailed_indices` makes a long-tailed training split (Cui et al. 2019) so that the
balancing techniques have something to fix; the validation and test splits stay as they are.
The techniques, one value of `balance` each:

| `balance`           | what it does                                                    |
|---------------------|-----------------------------------------------------------------|
| `none`              | nothing (the baseline)                                          |
| `class_weight`      | no resampling; `class_weights` feeds Keras `fit(class_weight=)` |
| `oversample`        | imblearn `RandomOverSampler`: duplicates up to the majority     |
| `smote`             | imblearn `SMOTE`: interpolates up to the majority               |
| `undersample`       | imblearn `RandomUnderSampler`: drops down to the minority       |
| `smote_undersample` | the practitioner article's recipe, an imblearn `Pipeline`: SMOTE up |
|                     | to `smote_ratio` of the majority, then `RandomUnderSampler`     |
|                     | down to `undersample_ratio` minority-to-majority                |

Only the arrays passed in are resampled; callers pass the training split alone, so the
evaluation splits keep the real class distribution. The evidence for SMOTE is tabular:
every data set of Chawla et al. (2002) is a table of features. On images it interpolates
the pixels of two neighbours, which `ablate` measures rather than assumes to help. Any
resampling trades majority-class accuracy for minority-class recall, so read balanced
accuracy and macro-F1 beside accuracy, never accuracy alone.

References:
    - Chawla et al., 2002. [SMOTE: Synthetic Minority Over-sampling Technique](
      https://arxiv.org/abs/1106.1813). JAIR 16.
    - Cui et al., 2019. [Class-Balanced Loss Based on Effective Number of Samples](
      https://arxiv.org/abs/1901.05555). CVPR.

Example:

```python
kept = long_tailed_indices(splits.y_train, imbalance_factor=10, seed=0)
x, y = resample(splits.x_train[kept], splits.y_train[kept], "smote_undersample", seed=0)
```
"""

import inspect
import pathlib

import numpy as np

from ablate.config import check_knob
from ablate.disk_cache import cached_arrays
from ablate.errors import InputError
from ablate.technique_config import BALANCE_METHODS


def long_tailed_indices(y: np.ndarray, imbalance_factor: float, seed: int) -> np.ndarray:
    """Picks a long-tailed subset: class counts fall off exponentially by class index.

    Class `c` (the `c`-th smallest label present, `c = 0..C-1`) keeps
    `n_c = floor(n_max * (1 / imbalance_factor) ** (c / (C - 1)))` examples, at least one,
    drawn at random without replacement, as in Cui et al. (2019) and their code. `n_max` is
    the smallest class count of `y`, not the largest, so that every class has enough examples
    to supply its quota; on a balanced split (the usual case) the two are equal. Class 0 is
    the head, class `C - 1` the tail with `n_max / imbalance_factor` examples; with two
    classes `n_1 = n_max / imbalance_factor`. An `imbalance_factor` of 1 returns every index,
    leaving the split as it is (it does not cut an imbalanced split down to a balanced one).

    References:
        - Cui et al., 2019. [Class-Balanced Loss Based on Effective Number of Samples](
          https://arxiv.org/abs/1901.05555). CVPR.

    Args:
        y: integer class labels of the training split.
        imbalance_factor: ratio of the largest to the smallest class count, at least 1
            (`data.imbalance`; Cui et al. use 10, 20, 50, 100, 200).
        seed: random state of the draw.

    Returns:
        The chosen indices into `y`, sorted ascending (int64).

    Raises:
        InputError: if `imbalance_factor` is not a finite number of at least 1.

    Example:

    >>> y = np.repeat(np.arange(3), 100)
    >>> np.bincount(y[long_tailed_indices(y, imbalance_factor=4, seed=0)]).tolist()
    [100, 50, 25]
    """
    if not (np.isfinite(imbalance_factor) and imbalance_factor >= 1):
        raise InputError(
            "`data.imbalance` must be a finite number >= 1 (the largest class count divided "
            f"by the smallest). Received: data.imbalance={imbalance_factor}. Use 1 to keep "
            "the split as is, or e.g. 10 or 100 for a long tail."
        )
    if imbalance_factor == 1:
        return np.arange(len(y), dtype="int64")
    classes, counts = np.unique(y, return_counts=True)
    n_max = int(counts.min())
    exponent_scale = max(len(classes) - 1, 1)
    rng = np.random.default_rng(seed)
    chosen = []
    for rank, label in enumerate(classes):
        quota = max(1, int(n_max * (1.0 / imbalance_factor) ** (rank / exponent_scale)))
        chosen.append(rng.choice(np.flatnonzero(y == label), size=quota, replace=False))
    return np.sort(np.concatenate(chosen)).astype("int64")


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """Weights each class inversely to its frequency, for Keras `fit(class_weight=)`.

    This is scikit-learn's `compute_class_weight("balanced")`: class `c` gets
    `len(y) / (num_classes * count_c)`, so every class contributes the same total weight
    to the loss.

    Args:
        y: integer class labels of the training split.
        num_classes: number of classes; every one of `0..num_classes-1` must occur in `y`.

    Returns:
        A dict `{class_index: weight}` with one entry per class.

    Raises:
        InputError: if a class has no example in `y` (its weight would be infinite).

    Example:

    >>> class_weights(np.array([0, 0, 0, 1]), num_classes=2)
    {0: 0.6666666666666666, 1: 2.0}
    """
    from sklearn.utils.class_weight import compute_class_weight

    counts = np.bincount(y, minlength=num_classes)
    if (counts == 0).any():
        missing = int(np.flatnonzero(counts == 0)[0])
        raise InputError(
            "`balance=class_weight` needs every class in the training split, but class "
            f"{missing} has no example. Received: balance=class_weight. Lower data.imbalance "
            "or use more data."
        )
    weights = compute_class_weight("balanced", classes=np.arange(num_classes), y=y)
    return {int(label): float(weight) for label, weight in enumerate(weights)}


def resample(
    x: np.ndarray,
    y: np.ndarray,
    method: str,
    *,
    seed: int,
    k_neighbors: int = 5,
    smote_ratio: float = 0.5,
    undersample_ratio: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """Resamples a training split with imbalanced-learn.

    `oversample`, `smote` and `undersample` use the imblearn samplers' default strategy:
    every class is brought up to the majority count (or down to the minority count).
    `smote_undersample` is the practitioner article's recipe (docs/references.md),
    `SMOTE(sampling_strategy=0.5)` then `RandomUnderSampler(sampling_strategy=0.8)` in an
    imblearn `Pipeline`. imblearn
    accepts such float ratios for two classes only, so they are applied as per-class
    targets, with the same rounding as imblearn's floats, for any number of classes:

    1. SMOTE raises every class below `int(smote_ratio * n_majority)` to that count;
    2. RandomUnderSampler lowers every class above `int(n_minority / undersample_ratio)`
       (`n_minority` counted after step 1) to that count.

    With two classes this gives exactly imblearn's float behaviour; where imblearn would
    refuse a float because the split is already more balanced than the ratio, the step
    leaves those classes as they are. Images (`x.ndim > 2`) are flattened for imblearn and
    reshaped back. The original examples come first, new ones are appended (the training
    pipeline shuffles). The ratios and `k_neighbors` are checked whatever the method, so
    a bad value fails before a sweep starts, not when its arm comes up.

    Args:
        x: training features or images; left unmodified.
        y: integer class labels of `x`; left unmodified.
        method: one of `BALANCE_METHODS`. `"none"` and `"class_weight"` return `x` and
            `y` themselves, unchanged.
        seed: random state of the samplers.
        k_neighbors: neighbours SMOTE interpolates towards; every class SMOTE oversamples
            needs more examples than this. Defaults to `5` (imblearn's default).
        smote_ratio: minority-to-majority ratio SMOTE raises the small classes to, in
            (0, 1]; `smote_undersample` only. Defaults to `0.5`.
        undersample_ratio: minority-to-majority ratio the undersampler then lowers the
            large classes to, in (0, 1]; `smote_undersample` only. Defaults to `0.8`.

    Returns:
        New arrays `(x, y)` with the dtypes and trailing shape of the inputs.

    Raises:
        InputError: for an unknown `method`, a ratio outside (0, 1], a `k_neighbors`
            below 1, or a class too small for SMOTE's `k_neighbors`.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(90, 2)).astype("float32")
    >>> y = np.repeat([0, 1, 2], [60, 20, 10])
    >>> _, y_new = resample(x, y, "smote_undersample", seed=0)
    >>> np.bincount(y_new).tolist()
    [37, 30, 30]
    """
    _check_arguments(method, k_neighbors, smote_ratio, undersample_ratio)
    if method in ("none", "class_weight"):
        return x, y
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.pipeline import Pipeline
    from imblearn.under_sampling import RandomUnderSampler

    if method == "oversample":
        sampler = RandomOverSampler(random_state=seed)
    elif method == "undersample":
        sampler = RandomUnderSampler(random_state=seed)
    else:
        labels, label_counts = np.unique(y, return_counts=True)
        counts = dict(zip(labels.tolist(), label_counts.tolist(), strict=True))
        ratio = smote_ratio if method == "smote_undersample" else 1.0
        smote_targets = _raise_to(counts, ratio)
        _check_smote_classes(counts, smote_targets, k_neighbors)
        sampler = SMOTE(sampling_strategy=smote_targets, k_neighbors=k_neighbors, random_state=seed)
        if method == "smote_undersample":
            undersampler = RandomUnderSampler(
                sampling_strategy=_lower_to({**counts, **smote_targets}, undersample_ratio),
                random_state=seed,
            )
            sampler = Pipeline([("smote", sampler), ("undersample", undersampler)])
    x_new, y_new = sampler.fit_resample(x.reshape(len(x), -1), y)
    x_new = np.asarray(x_new, dtype=x.dtype).reshape(-1, *x.shape[1:])
    return x_new, np.asarray(y_new, dtype=y.dtype)


def cached_resample(
    cache_dir: pathlib.Path, key: dict, x: np.ndarray, y: np.ndarray, method: str, **kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """Returns `resample(x, y, method, **kwargs)`, computed once and kept on disk.

    Kept by `ablate.disk_cache.cached_arrays` under the JSON of `key`, `method` and every
    keyword argument of `resample` (defaults filled in, so leaving one out or passing its
    default hits the same file). The arrays themselves are not hashed: `key` must identify
    them (the caller passes the data config and the seed). `"none"` and `"class_weight"`
    change nothing and are never cached.

    Args:
        cache_dir: folder of the cache; created when missing.
        key: JSON-serializable description of the input arrays.
        x: training features or images.
        y: integer class labels of `x`.
        method: one of `BALANCE_METHODS`.
        **kwargs: the keyword arguments of `resample` (`seed` is required).

    Returns:
        The resampled `(x, y)`.

    Raises:
        InputError: as `resample`.
        TypeError: if `key` or `kwargs` is not JSON-serializable.
    """
    if method in ("none", "class_weight"):
        return resample(x, y, method, **kwargs)
    arguments = inspect.signature(resample).bind(x, y, method, **kwargs)
    arguments.apply_defaults()
    settings = {
        name: value for name, value in arguments.arguments.items() if name not in ("x", "y")
    }
    arrays = cached_arrays(
        cache_dir,
        {"key": key, "resample": settings},
        lambda: dict(zip(("x", "y"), resample(x, y, method, **kwargs), strict=True)),
    )
    return arrays["x"], arrays["y"]


def _check_arguments(method, k_neighbors, smote_ratio, undersample_ratio):
    """Raises `InputError` for a `resample` argument outside its domain.

    The ratios and `k_neighbors` are checked by their knobs' rules (`ablate.config`), in the
    words `validate` uses for `balance.smote_ratio`, `balance.undersample_ratio` and
    `balance.k_neighbors`.
    """
    if method not in BALANCE_METHODS:
        raise InputError(
            f"`balance` must be one of {', '.join(BALANCE_METHODS)}. Received: "
            f"balance={method!r}. Pick one of those."
        )
    check_knob("balance.smote_ratio", smote_ratio)
    check_knob("balance.undersample_ratio", undersample_ratio)
    check_knob("balance.k_neighbors", k_neighbors)


def _raise_to(counts, ratio):
    """Returns `{label: target}` for the classes below `int(ratio * n_majority)`."""
    target = int(ratio * max(counts.values()))
    return {label: target for label, count in counts.items() if count < target}


def _lower_to(counts, ratio):
    """Returns `{label: target}` for the classes above `int(n_minority / ratio)`."""
    target = int(min(counts.values()) / ratio)
    return {label: target for label, count in counts.items() if count > target}


def _check_smote_classes(counts, smote_targets, k_neighbors):
    """Refuses a class SMOTE must oversample that has no `k_neighbors` neighbours."""
    if not smote_targets:
        return
    smallest = min(smote_targets, key=lambda label: counts[label])
    if counts[smallest] <= k_neighbors:
        raise InputError(
            "`balance.k_neighbors` must be smaller than the smallest class that SMOTE "
            f"oversamples ({counts[smallest]} examples, class {smallest}). Received: "
            f"balance.k_neighbors={k_neighbors}. Lower balance.k_neighbors or "
            "data.imbalance, or use more data."
        )
