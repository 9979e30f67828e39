"""Exponential moving average of the weights (`ema=on`), with Keras' own optimizer EMA.

The optimizer keeps `ema = momentum * ema + (1 - momentum) * weights` of the trainable weights
(`use_ema=True`); `keras.callbacks.SwapEMAWeights` evaluates validation with the averaged
weights and leaves them in the model at the end of training, so the test metrics are those of
the average. Keras updates the average at every call of `apply`, that is once per batch.

References:
    - Polyak and Juditsky, 1992. Acceleration of Stochastic Approximation by Averaging.
      SIAM Journal on Control and Optimization 30(4).
"""

import keras
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
