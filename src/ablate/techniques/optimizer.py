"""The optimizer of a run: Adam, SGD or AdamW, its learning-rate schedule and accumulation.

Durations are fractions of training (`schedule.warmup`, `swa.start`) converted to optimizer
updates here, in one place, so an arm does not silently shift when the epoch budget changes.

Gradient accumulation (`accumulation=k`) is Keras' `gradient_accumulation_steps=k`: one update
per k batches, with the mean of their gradients. Keras (3.15) evaluates a learning-rate
schedule at its batch counter, not at its update counter (`optimizer.iterations`), so a
schedule sized in updates would run k times too fast; `PerUpdateSchedule` evaluates it at the
update instead. An epoch of `steps_per_epoch` batches trains on its first
`k * (steps_per_epoch // k)` batches (`whole_updates`), so every epoch ends on an update and
leftover batches never carry into the next epoch; the fewer than k batches left out are
different ones every epoch (the training data reshuffles). Update u (0-based) of a run uses
the schedule's value at u, as Keras does without accumulation; the `lr` logged for an epoch is
the rate of its last update (`last_update_learning_rate`).

Accumulation of k batches of n equals one batch of k * n for a model without
BatchNormalization; with BatchNormalization it equals k workers with per-worker statistics
(Goyal et al. 2017).

References:
    - Goyal et al., 2017. Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour.
      https://arxiv.org/abs/1706.02677 (gradual warmup; large batches).
    - Loshchilov and Hutter, 2017. SGDR: Stochastic Gradient Descent with Warm Restarts.
      ICLR. https://arxiv.org/abs/1608.03983 (cosine annealing).
"""

import keras
import numpy as np
import tensorflow as tf
from keras.optimizers.schedules import LearningRateSchedule
from omegaconf import DictConfig

from ablate.errors import InputError
from ablate.techniques.ema import ema_arguments, optimizer_class


def updates_per_epoch(steps_per_epoch: int, accumulation: int) -> int:
    """Returns the optimizer updates of one epoch: `steps_per_epoch // accumulation`."""
    return steps_per_epoch // accumulation


def total_updates(epochs: int, steps_per_epoch: int, accumulation: int) -> int:
    """Returns the number of optimizer updates of a whole training run."""
    return epochs * updates_per_epoch(steps_per_epoch, accumulation)


def whole_updates(dataset, steps_per_epoch: int, accumulation: int):
    """Keeps the first `accumulation * (steps_per_epoch // accumulation)` batches of an epoch.

    So that every epoch ends on an optimizer update: Keras would otherwise carry the
    `steps_per_epoch % accumulation` leftover batches into the next epoch's first group (and
    drop the last epoch's). A dataset that reshuffles every epoch leaves out different examples
    every epoch, fewer than `accumulation` batches' worth; a large batch of
    `accumulation * batch_size` with `drop_remainder=True` leaves out the same share.

    Args:
        dataset: a `tf.data.Dataset` of `steps_per_epoch` batches.
        steps_per_epoch: its number of batches.
        accumulation: batches per optimizer update.

    Returns:
        `dataset` itself when `accumulation` divides `steps_per_epoch`, else
        `dataset.take(...)`.
    """
    kept = accumulation * updates_per_epoch(steps_per_epoch, accumulation)
    return dataset if kept == steps_per_epoch else dataset.take(kept)


def check_accumulation(accumulation: int, steps_per_epoch: int, batch_size: int) -> None:
    """Refuses accumulating over more batches than one epoch has.

    Raises:
        InputError: naming `accumulation` and `training.batch_size`.
    """
    if accumulation > steps_per_epoch:
        raise InputError(
            f"`accumulation` must be at most the number of batches per epoch ({steps_per_epoch} "
            f"with training.batch_size={batch_size}). Received: accumulation={accumulation}. "
            "Lower accumulation or training.batch_size."
        )


@keras.saving.register_keras_serializable(package="ablate")
class PerUpdateSchedule(LearningRateSchedule):
    """Evaluates `schedule` at the optimizer update rather than at Keras' batch counter.

    With `gradient_accumulation_steps=k`, Keras calls a schedule with its batch counter
    (`optimizer._iterations`, k per update), so a schedule sized in updates ends k times too
    early. Wrapped, it is called with `step // k`: the update that the batch belongs to. Update
    u (0-based) is applied at batch `(u + 1) * k - 1` and uses `schedule(u)`, as it would
    without accumulation.

    Args:
        schedule: a `LearningRateSchedule` whose steps are optimizer updates.
        accumulation: batches per update (`gradient_accumulation_steps`), at least 1.

    Returns:
        Called with Keras' batch counter, the learning rate of that batch's update.

    Raises:
        ValueError: if `schedule` is not a `LearningRateSchedule` or `accumulation` is not an
            integer >= 1.

    Example:

    ```python
    cosine = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=100)  # 100 updates
    optimizer = keras.optimizers.SGD(
        learning_rate=PerUpdateSchedule(cosine, 4), gradient_accumulation_steps=4
    )
    ```
    """

    def __init__(self, schedule, accumulation):
        if not isinstance(schedule, LearningRateSchedule):
            raise ValueError(
                "`schedule` must be a keras.optimizers.schedules.LearningRateSchedule. "
                f"Received: schedule={schedule!r}"
            )
        if isinstance(accumulation, bool) or not isinstance(accumulation, int) or accumulation < 1:
            raise ValueError(
                f"`accumulation` must be an integer >= 1. Received: accumulation={accumulation!r}"
            )
        self.schedule = schedule
        self.accumulation = accumulation

    def __call__(self, step):
        return self.schedule(keras.ops.floor_divide(step, self.accumulation))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "accumulation": self.accumulation,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


def build_schedule(schedule_cfg: DictConfig, learning_rate: float, num_updates: int):
    """Builds the learning rate: a float, or a Keras `CosineDecay` over `num_updates` updates.

    `cosine` follows half a cosine from `learning_rate` at update 0 to `schedule.alpha *
    learning_rate` at update U = `num_updates` (Loshchilov & Hutter 2017, one cycle: no warm
    restarts). `cosine_warmup` first rises linearly from 0 at update 0 to `learning_rate` at
    update W = `round(schedule.warmup * U)` (Goyal et al. 2017 rise from the small-batch rate,
    not from 0), then decays over the remaining U - W updates. Update u (0-based) uses the
    value at u, so the last update (U - 1) is one step short of the end value.

    Args:
        schedule_cfg: the `schedule` config group.
        learning_rate: the peak learning rate (`optimizer.learning_rate`).
        num_updates: optimizer updates in the whole run.

    Returns:
        A float or a `keras.optimizers.schedules.LearningRateSchedule` whose steps are updates.
    """
    if schedule_cfg.name == "constant":
        return learning_rate
    if schedule_cfg.name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=max(1, num_updates), alpha=schedule_cfg.alpha
        )
    warmup_steps = round(schedule_cfg.warmup * num_updates)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, num_updates - warmup_steps),
        alpha=schedule_cfg.alpha,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )


def build_learning_rate(cfg: DictConfig, steps_per_epoch: int):
    """The run's learning rate in optimizer updates: the schedule, then SWA's rate if set.

    With `swa=on` and `swa.learning_rate` set, updates from the first averaged epoch on use
    the SWA rate (`SwaLearningRate`): constant, or with `swa.schedule=cyclic` a linear fall
    from `swa.learning_rate` to `swa.alpha * swa.learning_rate` within every epoch.

    Args:
        cfg: the composed config.
        steps_per_epoch: training batches per epoch (before `whole_updates`).

    Returns:
        A float or a `LearningRateSchedule` whose steps are optimizer updates.
    """
    per_epoch = updates_per_epoch(steps_per_epoch, cfg.accumulation)
    num_updates = cfg.training.epochs * per_epoch
    learning_rate = build_schedule(cfg.schedule, cfg.optimizer.learning_rate, num_updates)
    if cfg.swa.enabled and cfg.swa.learning_rate is not None:
        from ablate.techniques.swa import SwaLearningRate, swa_start_epoch

        start_epoch = swa_start_epoch(cfg.swa.start, cfg.training.epochs)
        learning_rate = SwaLearningRate(
            learning_rate,
            start_step=start_epoch * per_epoch,
            swa_learning_rate=cfg.swa.learning_rate,
            cycle_steps=per_epoch if cfg.swa.schedule == "cyclic" else None,
            alpha=cfg.swa.alpha,
        )
    return learning_rate


def build_optimizer(cfg: DictConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Builds the configured optimizer with its schedule, accumulation, EMA and SWA rate.

    With `accumulation` > 1 a schedule is wrapped in `PerUpdateSchedule` and `ema=on` uses
    the `PerUpdateEma` subclass of the optimizer, so both count optimizer updates. Train on
    `whole_updates(...)` of the training data so that epochs end on an update.

    Args:
        cfg: the composed config.
        steps_per_epoch: training batches per epoch (before `whole_updates`).

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    learning_rate = build_learning_rate(cfg, steps_per_epoch)
    if cfg.accumulation > 1 and isinstance(learning_rate, LearningRateSchedule):
        learning_rate = PerUpdateSchedule(learning_rate, cfg.accumulation)
    common = {
        "learning_rate": learning_rate,
        "gradient_accumulation_steps": cfg.accumulation if cfg.accumulation > 1 else None,
        **ema_arguments(cfg.ema),
    }
    optimizer = cfg.optimizer
    if optimizer.name == "sgd":
        cls = optimizer_class(keras.optimizers.SGD, cfg.ema, cfg.accumulation)
        return cls(momentum=optimizer.momentum, nesterov=optimizer.nesterov, **common)
    if optimizer.name == "adamw":
        cls = optimizer_class(keras.optimizers.AdamW, cfg.ema, cfg.accumulation)
        return cls(weight_decay=optimizer.weight_decay, **common)
    return optimizer_class(keras.optimizers.Adam, cfg.ema, cfg.accumulation)(**common)


def last_update_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """Returns the learning rate of the optimizer's most recent update (its first, before any).

    Keras' `optimizer.learning_rate` is the rate of the *next* batch. This evaluates the
    schedule at the last batch seen, which is the batch of the last update when the epoch
    ends on an update (`whole_updates`), with or without accumulation.
    """
    schedule = optimizer._learning_rate  # the schedule itself; Keras has no public getter
    if not isinstance(schedule, LearningRateSchedule):
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    last_batch = max(int(keras.ops.convert_to_numpy(optimizer._iterations)) - 1, 0)
    return float(keras.ops.convert_to_numpy(schedule(last_batch)))


def learning_rates(learning_rate, num_updates: int) -> np.ndarray:
    """The rate of each of `num_updates` updates, for a float or a schedule in updates."""
    if not isinstance(learning_rate, LearningRateSchedule):
        return np.full(num_updates, learning_rate, dtype="float32")
    evaluate = tf.function(
        lambda steps: tf.map_fn(
            lambda step: tf.cast(learning_rate(step), tf.float32),
            steps,
            fn_output_signature=tf.float32,
        )
    )
    return evaluate(tf.range(num_updates, dtype=tf.int64)).numpy()


def learning_rate_summary(cfg: DictConfig, steps_per_epoch: int) -> dict[str, float]:
    """What the optimizer will do, as numbers for the run's final metrics.

    Args:
        cfg: the composed config.
        steps_per_epoch: training batches per epoch (before `whole_updates`).

    Returns:
        `optimizer_updates` (U) and the rates of the first update (`lr_first`), of the
        highest (`lr_peak`) and of the last (`lr_last`).
    """
    num_updates = total_updates(cfg.training.epochs, steps_per_epoch, cfg.accumulation)
    rates = learning_rates(build_learning_rate(cfg, steps_per_epoch), num_updates)
    return {
        "optimizer_updates": float(num_updates),
        "lr_first": float(rates[0]),
        "lr_peak": float(rates.max()),
        "lr_last": float(rates[-1]),
    }
