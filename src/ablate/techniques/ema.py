"""Exponential moving average of the weights (`ema=on`), with Keras' own optimizer EMA.

The optimizer keeps an average of the trainable weights (`use_ema=True`); after optimizer
update u (counted from 1) with weights `w_u` it is

    ema_1 = w_1,    ema_u = momentum * ema_{u-1} + (1 - momentum) * w_u,

and `keras.callbacks.SwapEMAWeights` evaluates validation with the average and leaves it in the
model at the end of training, so the test metrics are those of the average.

Gradient accumulation: Keras moves the average at every call of `apply`, that is at every
batch, also the k - 1 batches of an accumulation group that apply no update (measured on
Keras 3.15: with `gradient_accumulation_steps=k` the average is pulled k - 1 times more towards
the previous weights, an effective momentum of about `momentum ** k` per update, lagging one
update behind). ablate builds the optimizer with `PerUpdateEma` then, which moves the average
(and copies it into the model every `ema_overwrite_frequency` updates) only at the batch that
applies an update, so the average is the formula above, in updates, whatever the accumulation.
A momentum correction (`momentum ** (1 / k)`) would not make Keras' average exact: its k - 1
extra pulls weight the previous update's weights, not the new ones.

References:
    - Polyak and Juditsky, 1992. Acceleration of Stochastic Approximation by Averaging.
      SIAM Journal on Control and Optimization 30(4). They average all iterates with equal
      weights; an exponential average, which forgets old iterates at rate `momentum`, is the
      deep-learning variant Keras implements (equal weights from a start point: `swa=on`).
"""

import keras
from keras import ops
from omegaconf import DictConfig


def ema_arguments(ema_cfg: DictConfig) -> dict:
    """The optimizer arguments that switch Keras' EMA on or off.

    Args:
        ema_cfg: the `ema` config group.

    Returns:
        `use_ema`, `ema_momentum` and `ema_overwrite_frequency` for a Keras optimizer.
    """
    return {
        "use_ema": ema_cfg.enabled,
        "ema_momentum": ema_cfg.momentum,
        "ema_overwrite_frequency": ema_cfg.overwrite_frequency,
    }


def ema_callbacks(ema_cfg: DictConfig) -> list[keras.callbacks.Callback]:
    """`[SwapEMAWeights()]` with `ema=on` (validate and finish on the average), else `[]`."""
    return [keras.callbacks.SwapEMAWeights()] if ema_cfg.enabled else []


class PerUpdateEma:
    """Optimizer mixin: the EMA moves once per optimizer update under gradient accumulation.

    Keras (3.15) calls `_update_model_variables_moving_average` at every batch and, with
    `ema_overwrite_frequency`, tests `(iterations + 1) % frequency` at every batch too, so
    under `gradient_accumulation_steps=k` the average also moves at the k - 1 batches that only
    accumulate gradients, and the overwrite fires at the k batches of a group (the group's
    gradients are then taken partly at the averaged weights). This mixin runs both only at the
    batch that applies an update, as Keras does for every batch without accumulation: the
    average after update u is `m * ema_{u-1} + (1 - m) * w_u` (`ema_1 = w_1`), and the model
    receives the average after every `ema_overwrite_frequency`-th update. Without
    accumulation it changes nothing.

    It overrides a private Keras method (there is no public hook); `tests/techniques/
    test_ema.py` pins the result against the closed form on a real `fit`.

    Reference:
        Polyak and Juditsky, 1992 (see the module docstring for the deviation).

    Example:

    ```python
    optimizer = PerUpdateEmaSGD(
        learning_rate=0.1, use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=4
    )
    ```
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._overwrite_every = self.ema_overwrite_frequency
        if self.gradient_accumulation_steps:
            self.ema_overwrite_frequency = None  # Keras would test it at every batch: done below

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.gradient_accumulation_steps:
            return super()._update_model_variables_moving_average(trainable_variables)
        parent = super()
        is_update_step = ops.equal((self._iterations + 1) % self.gradient_accumulation_steps, 0)

        def update():
            parent._update_model_variables_moving_average(trainable_variables)
            if self._overwrite_every:
                # `iterations` counts the updates before this one, as Keras' own test does.
                ops.cond(
                    ops.equal((self.iterations + 1) % self._overwrite_every, 0),
                    lambda: self._overwrite_model_variables_with_average_value(trainable_variables),
                    lambda: None,
                )

        ops.cond(is_update_step, update, lambda: None)

    def get_config(self):
        """The optimizer's config, with the `ema_overwrite_frequency` it was built with."""
        return {**super().get_config(), "ema_overwrite_frequency": self._overwrite_every}


@keras.saving.register_keras_serializable(package="ablate")
class PerUpdateEmaAdam(PerUpdateEma, keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose EMA moves once per update (`PerUpdateEma`)."""


@keras.saving.register_keras_serializable(package="ablate")
class PerUpdateEmaAdamW(PerUpdateEma, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` whose EMA moves once per update (`PerUpdateEma`)."""


@keras.saving.register_keras_serializable(package="ablate")
class PerUpdateEmaSGD(PerUpdateEma, keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose EMA moves once per update (`PerUpdateEma`)."""


_PER_UPDATE_EMA = {
    keras.optimizers.Adam: PerUpdateEmaAdam,
    keras.optimizers.AdamW: PerUpdateEmaAdamW,
    keras.optimizers.SGD: PerUpdateEmaSGD,
}


def optimizer_class(keras_class: type, ema_cfg: DictConfig, accumulation: int) -> type:
    """`keras_class`, or its `PerUpdateEma` subclass when `ema=on` meets `accumulation` > 1.

    Args:
        keras_class: `keras.optimizers.Adam`, `AdamW` or `SGD`.
        ema_cfg: the `ema` config group.
        accumulation: the config's `accumulation`.

    Returns:
        The class to build the optimizer with.
    """
    if ema_cfg.enabled and accumulation > 1:
        return _PER_UPDATE_EMA[keras_class]
    return keras_class
