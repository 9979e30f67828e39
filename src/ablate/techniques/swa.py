"""Stochastic weight averaging (SWA) for Keras 3: a callback, its learning-rate schedule, a helper.

Hand-written because nothing maintained provides it: Keras 3 and TensorFlow have no SWA;
tensorflow-addons' `SWA` optimizer does not import under Keras 3 (`No module named
'keras.src.engine'`); and `keras.callbacks.SwapEMAWeights` swaps in an *exponential* moving
average, not the equal-weight average of the snapshots that the SWA paper takes.

The three pieces fit together like this, for `epochs` epochs of `updates_per_epoch` optimizer
updates:

    start_epoch = swa_start_epoch(0.5, epochs)
    schedule = SwaLearningRate(base, start_step=start_epoch * updates_per_epoch,
                               swa_learning_rate=0.01)
    swa = StochasticWeightAveraging(start_epoch, bn_data=train_data)

so that every averaged epoch runs entirely at the SWA learning rate (constant, or with
`cycle_steps=updates_per_epoch` one cycle per epoch, each snapshot at the cycle's lowest rate).

What the paper does and how this differs:
    - The paper averages many snapshots: its official code averages every epoch from epoch
      161 of 300 (VGG16, WideResNet) or 126 of 225 (PreResNet), the last 44-47 % of training,
      at a constant SWA rate; the cyclic variant averages at the end of each cycle. ablate's
      default (`swa.start=0.5`, every epoch) averages the second half: epochs 6-10 of 10, 5
      snapshots. Fewer than 2 snapshots are refused (`ablate.validation.
      check_swa_snapshots`): the "average" would be the last epoch's weights.
    - Before the SWA phase the official code decays the rate linearly to the SWA rate; here the
      run's own schedule goes on until the SWA rate takes over (`swa.learning_rate`), or to
      the end when no SWA rate is set (with the default constant schedule that is a constant
      rate, as in the paper; with a cosine schedule the averaged weights are those of a
      decaying rate).
    - Snapshots are taken at epoch ends (every `frequency` epochs), and a cycle is one epoch.

Reference:
    Izmailov, Podoprikhin, Garipov, Vetrov, Wilson. "Averaging Weights Leads to Wider Optima and
    Better Generalization", UAI 2018. https://arxiv.org/abs/1803.05407 (official code:
    https://github.com/timgaripov/swa, whose `bn_update` the BatchNormalization pass follows).
"""

import math
import numbers
import warnings

import keras
import numpy as np
import tensorflow as tf

from ablate.config import check_knob
from ablate.validation import check_swa_start, swa_snapshot_epochs


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Averages the weights of late epochs with equal weight and swaps the average in at the end.

    From the end of epoch `start_epoch` on, every `frequency` epochs, the callback adds the
    model's trainable weights to a running equal-weight average (`avg += (w - avg) / (n + 1)`,
    kept in float64 on the host). Training itself is untouched: the model keeps its own weights
    until `on_train_end`, which assigns the average and then recomputes the moving mean and
    variance of every BatchNormalization layer for the averaged weights, as the paper does.

    Snapshots are taken at the end of the 0-based epochs `start_epoch`, `start_epoch + frequency`,
    `start_epoch + 2 * frequency`, ... and nowhere else, as in the official code: the final epoch
    is included only when it falls on that grid (`(epochs - 1 - start_epoch) % frequency == 0`).
    With 6 epochs, `start_epoch=2` and `frequency=2` the snapshots are epochs 2 and 4, not 5.

    Only trainable weights are averaged. Non-trainable ones keep their final values, except the
    BatchNormalization moving statistics, which are recomputed: moving statistics of one set of
    weights do not describe the activations of the averaged weights (averaging them instead gives
    a model that is accurate in training mode and poor in inference mode).

    The BatchNormalization pass (official code's `bn_update`): for every BatchNormalization layer
    that is trainable, `moving_mean` is reset to 0 and `moving_variance` to 1; then the model is
    called eagerly in training mode, without any optimizer step, on each batch of `bn_data`
    (`bn_steps` batches at most) with each layer's `momentum` set to `n / (n + b)` (`n` samples
    seen so far, `b` in this batch). The moving statistics thus end as the sample-weighted mean of
    the per-batch statistics: the exact mean of the layer's inputs over `bn_data`, and the mean of
    the per-batch (biased, as Keras computes them) variances. Each layer's `momentum` is restored
    afterwards, and every other model variable (including dropout seed-generator states) is set
    back to its value before the pass, so the pass changes the BN moving statistics and nothing
    else. Layers inside the model that act only in training mode (dropout, random augmentation)
    act during the pass, as they do in the official code.

    The average lives in the callback, not in checkpoints: resuming an interrupted `fit` (e.g.
    with `BackupAndRestore`) restarts the average from the resumed epoch. A single snapshot
    is no average (the model ends with its last epoch's weights): `on_train_end` warns.

    Reference:
        Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization",
        UAI 2018. https://arxiv.org/abs/1803.05407

    Args:
        start_epoch: 0-based index of the epoch at whose end the first snapshot is taken.
        frequency: number of epochs between two snapshots. Defaults to `1`.
        bn_data: batches of the training data, as `x` or `(x, y)` or `(x, y, sample_weight)` (a
            `tf.data.Dataset` or any iterable of batches), over which the BatchNormalization
            statistics are recomputed. Required when the model has a trainable
            BatchNormalization layer; ignored otherwise. Defaults to `None`.
        bn_steps: the number of batches of `bn_data` to use, or `None` for all of them (then
            `bn_data` must be finite). Defaults to `None`.

    Attributes:
        snapshot_epochs: the 0-based epochs whose weights are in the average, in order.
        snapshot_updates: the optimizer updates done at each snapshot (`optimizer.iterations`;
            None for a model without an optimizer).
        num_snapshots: their number.

    Raises:
        ValueError: in the constructor, for a negative `start_epoch`, a `frequency` below 1 or a
            `bn_steps` below 1; in `on_train_begin`, when the model has a trainable
            BatchNormalization layer and no `bn_data`, when it has one with `renorm=True`, when
            `bn_data` is infinite and `bn_steps` is `None`, or when `fit` runs fewer epochs than
            `start_epoch + 1`; in `on_train_end`, when `bn_data` yields no batch.

    Example:

    ```python
    start_epoch = swa_start_epoch(0.5, epochs=20)  # 10: epochs 11..20 (1-based) averaged
    swa = StochasticWeightAveraging(start_epoch, bn_data=train_data)
    model.fit(train_data, epochs=20, callbacks=[swa])
    swa.metrics()  # {"swa_snapshots": 10.0, "swa_first_epoch": 11.0, ...}
    ```
    """

    def __init__(self, start_epoch, frequency=1, bn_data=None, bn_steps=None):
        super().__init__()
        if not _is_int(start_epoch) or start_epoch < 0:
            raise ValueError(
                "`start_epoch` must be an integer >= 0 (the 0-based epoch of the first "
                f"snapshot). Received: start_epoch={start_epoch!r}"
            )
        if not _is_int(frequency) or frequency < 1:
            raise ValueError(
                "`frequency` must be an integer >= 1 (epochs between snapshots). "
                f"Received: frequency={frequency!r}"
            )
        if bn_steps is not None and (not _is_int(bn_steps) or bn_steps < 1):
            raise ValueError(
                "`bn_steps` must be an integer >= 1, or None to use all of `bn_data`. "
                f"Received: bn_steps={bn_steps!r}"
            )
        self.start_epoch = int(start_epoch)
        self.frequency = int(frequency)
        self.bn_data = bn_data
        self.bn_steps = None if bn_steps is None else int(bn_steps)
        self.snapshot_epochs = []
        self.snapshot_updates = []
        self._averages = []

    @property
    def num_snapshots(self):
        return len(self.snapshot_epochs)

    def metrics(self):
        """What the callback averaged, as numbers for a run's final metrics.

        Returns:
            `swa_snapshots`; with at least one snapshot also `swa_first_epoch` and
            `swa_last_epoch` (1-based, as `fit` prints epochs) and, when the model has an
            optimizer, `swa_first_update` and `swa_last_update` (updates done at the first and
            last snapshot). All floats.
        """
        metrics = {"swa_snapshots": float(self.num_snapshots)}
        if self.snapshot_epochs:
            metrics["swa_first_epoch"] = float(self.snapshot_epochs[0] + 1)
            metrics["swa_last_epoch"] = float(self.snapshot_epochs[-1] + 1)
        if self.snapshot_updates and self.snapshot_updates[0] is not None:
            metrics["swa_first_update"] = float(self.snapshot_updates[0])
            metrics["swa_last_update"] = float(self.snapshot_updates[-1])
        return metrics

    def on_train_begin(self, logs=None):
        epochs = (self.params or {}).get("epochs")
        if epochs is not None and self.start_epoch >= epochs:
            raise ValueError(
                f"`start_epoch` must be below the number of epochs, or no snapshot is ever "
                f"taken. Received: start_epoch={self.start_epoch} with epochs={epochs}"
            )
        norms = _batch_normalizations(self.model)
        renormalized = [layer.name for layer in norms if layer.renorm]
        if renormalized:
            raise ValueError(
                "StochasticWeightAveraging cannot recompute the statistics of "
                f"BatchNormalization layers with `renorm=True`. Received: {renormalized}"
            )
        if norms and self.bn_data is None:
            raise ValueError(
                "The model has BatchNormalization layers, whose statistics must be recomputed "
                "for the averaged weights: pass the training batches as `bn_data`. "
                f"Received: bn_data=None with layers {[layer.name for layer in norms]}"
            )
        if norms and self.bn_steps is None and _is_infinite(self.bn_data):
            raise ValueError(
                "`bn_data` is an infinite dataset: set `bn_steps` to the number of batches "
                "to use. Received: bn_steps=None"
            )
        self.snapshot_epochs = []
        self.snapshot_updates = []
        self._averages = [
            (variable, np.zeros(variable.shape, dtype="float64"))
            for variable in self.model.trainable_weights
        ]

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch or (epoch - self.start_epoch) % self.frequency:
            return
        count = len(self.snapshot_epochs)
        for variable, average in self._averages:
            weight = keras.ops.convert_to_numpy(variable).astype("float64")
            average += (weight - average) / (count + 1)
        self.snapshot_epochs.append(epoch)
        optimizer = getattr(self.model, "optimizer", None)
        self.snapshot_updates.append(
            None if optimizer is None else int(keras.ops.convert_to_numpy(optimizer.iterations))
        )

    def on_train_end(self, logs=None):
        if not self.snapshot_epochs:
            warnings.warn(
                "StochasticWeightAveraging took no snapshot (training ended before epoch "
                f"start_epoch={self.start_epoch}): the model keeps its final weights.",
                stacklevel=2,
            )
            return
        if len(self.snapshot_epochs) == 1:
            warnings.warn(
                "StochasticWeightAveraging took a single snapshot (0-based epoch "
                f"{self.snapshot_epochs[0]}): the average is that epoch's weights. Start "
                "earlier or train longer to average at least 2.",
                stacklevel=2,
            )
        for variable, average in self._averages:
            variable.assign(average.astype(variable.dtype))
        norms = _batch_normalizations(self.model)
        if norms:
            _recompute_batch_statistics(self.model, norms, self.bn_data, self.bn_steps)

    def get_config(self):
        """Returns the constructor arguments, except `bn_data`."""
        return {
            "start_epoch": self.start_epoch,
            "frequency": self.frequency,
            "bn_steps": self.bn_steps,
        }


@keras.saving.register_keras_serializable(package="ablate")
class SwaLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Follows `base` until `start_step`, then the SWA learning rate: constant or cyclic.

    SWA averages weights visited at a high constant or a cyclic learning rate; the paper trains
    with a decaying schedule first and switches to the SWA rate where averaging begins. Steps
    are optimizer updates (`optimizer.iterations`, counted from 0): steps below `start_step` get
    `base`, steps from `start_step` on get the SWA rate. Constant (`cycle_steps=None`): it is
    `swa_learning_rate`. Cyclic: the paper's `alpha(i) = (1 - t(i)) * alpha_1 + t(i) * alpha_2`
    with `t(i) = (mod(i - 1, c) + 1) / c`, for `alpha_1 = swa_learning_rate`, `alpha_2 = alpha
    * swa_learning_rate`, `c = cycle_steps` and i the 1-based update since `start_step`: each
    cycle falls linearly and its last update uses `alpha_2`, where the paper takes a snapshot.
    The switch is a `keras.ops.where` on the step tensor, so the schedule works inside compiled
    training functions.

    Reference:
        Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization",
        UAI 2018. https://arxiv.org/abs/1803.05407 (section 3.1, the cyclic schedule)

    Args:
        base: the learning rate before `start_step`, a float or a `LearningRateSchedule`
            (called with the global step, not restarted).
        start_step: the first optimizer step at the SWA learning rate. Use
            `start_epoch * updates_per_epoch` to pair it with `StochasticWeightAveraging`.
        swa_learning_rate: the constant learning rate from `start_step` on, or the top of
            each cycle.
        cycle_steps: updates per cycle, or `None` for a constant SWA rate. Use
            `updates_per_epoch` (snapshots at epoch ends are then at the cycles' ends).
            Defaults to `None`.
        alpha: the end of each cycle as a fraction of `swa_learning_rate`, in [0, 1]; unused
            without `cycle_steps`. Defaults to `0.01`.

    Returns:
        Called with a step, the learning rate at that step, a float32 scalar tensor.

    Raises:
        ValueError: if `base` is neither a number nor a schedule, `start_step` is negative,
            `swa_learning_rate` is not a positive finite number, `cycle_steps` is not None or
            an integer >= 1, or `alpha` is not in [0, 1].

    Example:

    ```python
    base = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=1500)
    optimizer = keras.optimizers.SGD(
        learning_rate=SwaLearningRate(base, start_step=1500, swa_learning_rate=0.01)
    )
    ```
    """

    def __init__(self, base, start_step, swa_learning_rate, cycle_steps=None, alpha=0.01):
        is_number = isinstance(base, numbers.Real) and not isinstance(base, bool)
        if not (is_number or isinstance(base, keras.optimizers.schedules.LearningRateSchedule)):
            raise ValueError(
                "`base` must be a float or a keras.optimizers.schedules.LearningRateSchedule. "
                f"Received: base={base!r}"
            )
        if not _is_int(start_step) or start_step < 0:
            raise ValueError(
                f"`start_step` must be an integer >= 0. Received: start_step={start_step!r}"
            )
        if (
            not isinstance(swa_learning_rate, numbers.Real)
            or isinstance(swa_learning_rate, bool)
            or not math.isfinite(swa_learning_rate)
            or swa_learning_rate <= 0
        ):
            raise ValueError(
                "`swa_learning_rate` must be a positive number. "
                f"Received: swa_learning_rate={swa_learning_rate!r}"
            )
        if cycle_steps is not None and (not _is_int(cycle_steps) or cycle_steps < 1):
            raise ValueError(
                "`cycle_steps` must be None (a constant rate) or an integer >= 1. "
                f"Received: cycle_steps={cycle_steps!r}"
            )
        if not (isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)) or not (
            0.0 <= alpha <= 1.0
        ):
            raise ValueError(f"`alpha` must be in [0, 1]. Received: alpha={alpha!r}")
        self.base = float(base) if is_number else base
        self.start_step = int(start_step)
        self.swa_learning_rate = float(swa_learning_rate)
        self.cycle_steps = None if cycle_steps is None else int(cycle_steps)
        self.alpha = float(alpha)

    def __call__(self, step):
        step = keras.ops.convert_to_tensor(step, "float32")
        if isinstance(self.base, keras.optimizers.schedules.LearningRateSchedule):
            before = keras.ops.cast(self.base(step), "float32")
        else:
            before = keras.ops.convert_to_tensor(self.base, "float32")
        after = keras.ops.convert_to_tensor(self.swa_learning_rate, "float32")
        if self.cycle_steps is not None:
            since_start = keras.ops.maximum(step - self.start_step, 0.0)
            t = (keras.ops.mod(since_start, self.cycle_steps) + 1.0) / self.cycle_steps
            after = after * ((1.0 - t) + t * self.alpha)
        return keras.ops.where(step >= self.start_step, after, before)

    def get_config(self):
        base = self.base
        if isinstance(base, keras.optimizers.schedules.LearningRateSchedule):
            base = keras.saving.serialize_keras_object(base)
        return {
            "base": base,
            "start_step": self.start_step,
            "swa_learning_rate": self.swa_learning_rate,
            "cycle_steps": self.cycle_steps,
            "alpha": self.alpha,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["base"], dict):
            config["base"] = keras.saving.deserialize_keras_object(config["base"])
        return cls(**config)


def swa_start_epoch(start_fraction, epochs):
    """Converts the config's `swa.start` (a fraction of training) to a 0-based start epoch.

    The first `round(start_fraction * epochs)` epochs (rounded half up) train before averaging;
    the epoch with that 0-based index is the first one averaged. The result is capped at
    `epochs - 1`: with 10 epochs, `0.75` gives epoch 8 (7.5 rounded up) and `0.99` gives 9,
    the last epoch. (`ablate.validation.check_swa_snapshots` refuses configs that leave fewer
    than 2 snapshots; this helper does not, so that library callers may.)

    Args:
        start_fraction: the config's `swa.start`, in [0, 1).
        epochs: the config's `training.epochs`, at least 1.

    Returns:
        The `start_epoch` for `StochasticWeightAveraging`, in `[0, epochs - 1]`.

    Raises:
        InputError: if `epochs` is below 1 or `start_fraction` is not in [0, 1), in the words
            of `ablate.config.validate` (the same checks).

    Example:

    >>> swa_start_epoch(0.5, 10)
    5
    """
    check_knob("training.epochs", epochs)
    check_swa_start(start_fraction, epochs)
    return swa_snapshot_epochs(start_fraction, epochs, 1)[0]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_infinite(data):
    return (
        isinstance(data, tf.data.Dataset)
        and int(data.cardinality()) == tf.data.INFINITE_CARDINALITY
    )


def _batch_normalizations(model):
    """The trainable BatchNormalization layers of `model`, nested ones included."""
    # `_flatten_layers` is how Keras itself walks nested layers; there is no public equivalent.
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [
        layer
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _recompute_batch_statistics(model, norms, data, steps):
    """Sets the moving statistics of `norms` to their averages over `data` (see the callback)."""
    statistics = {id(v) for layer in norms for v in (layer.moving_mean, layer.moving_variance)}
    others = [v for v in model.variables if id(v) not in statistics]
    saved = [keras.ops.convert_to_numpy(v) for v in others]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.moving_mean.assign(keras.ops.zeros_like(layer.moving_mean))
        layer.moving_variance.assign(keras.ops.ones_like(layer.moving_variance))
    seen = 0
    try:
        for step, batch in enumerate(data):
            if steps is not None and step >= steps:
                break
            x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
            size = int(keras.tree.flatten(x)[0].shape[0])
            for layer in norms:
                layer.momentum = seen / (seen + size)
            model(x, training=True)
            seen += size
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
        for variable, value in zip(others, saved, strict=True):
            variable.assign(value)
    if seen == 0:
        raise ValueError(
            "`bn_data` yielded no batch: the BatchNormalization statistics cannot be "
            "recomputed. Received: an empty `bn_data`"
        )
