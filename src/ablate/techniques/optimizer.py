"""The optimizer of a run: Adam, SGD or AdamW, its learning-rate schedule and accumulation.

Durations are fractions of training (`schedule.warmup`, `swa.start`) converted to optimizer
updates here, in one place, so an arm does not silently shift when the epoch budget changes.
With `accumulation=k` Keras applies one update per k batches (`optimizer.iterations` counts
updates), so every schedule spans `epochs * steps_per_epoch // k` updates, not batches.
"""

import keras
from omegaconf import DictConfig

from ablate.errors import InputError
from ablate.techniques.ema import ema_arguments


def total_updates(epochs: int, steps_per_epoch: int, accumulation: int) -> int:
    """Returns the number of optimizer updates of a whole training run."""
    return (epochs * steps_per_epoch) // accumulation


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


def build_schedule(schedule_cfg: DictConfig, learning_rate: float, num_updates: int):
    """Builds the learning rate: a float, or a Keras `CosineDecay` over `num_updates` updates.

    `cosine_warmup` rises linearly from 0 to `learning_rate` over `schedule.warmup` of the
    updates (Goyal et al. 2017), then decays along a cosine to `schedule.alpha *
    learning_rate` at the last update (Loshchilov & Hutter 2017).

    Args:
        schedule_cfg: the `schedule` config group.
        learning_rate: the peak learning rate (`optimizer.learning_rate`).
        num_updates: optimizer updates in the whole run.

    Returns:
        A float or a `keras.optimizers.schedules.LearningRateSchedule`.
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


def build_optimizer(cfg: DictConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Builds the configured optimizer with its schedule, accumulation, EMA and SWA rate.

    Args:
        cfg: the composed config.
        steps_per_epoch: training batches per epoch.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    num_updates = total_updates(cfg.training.epochs, steps_per_epoch, cfg.accumulation)
    learning_rate = build_schedule(cfg.schedule, cfg.optimizer.learning_rate, num_updates)
    if cfg.swa.enabled and cfg.swa.learning_rate is not None:
        from ablate.techniques.swa import SwaLearningRate, swa_start_epoch

        start_epoch = swa_start_epoch(cfg.swa.start, cfg.training.epochs)
        learning_rate = SwaLearningRate(
            learning_rate,
            start_step=total_updates(start_epoch, steps_per_epoch, cfg.accumulation),
            swa_learning_rate=cfg.swa.learning_rate,
        )
    common = {
        "learning_rate": learning_rate,
        "gradient_accumulation_steps": cfg.accumulation if cfg.accumulation > 1 else None,
        **ema_arguments(cfg.ema),
    }
    optimizer = cfg.optimizer
    if optimizer.name == "sgd":
        return keras.optimizers.SGD(
            momentum=optimizer.momentum, nesterov=optimizer.nesterov, **common
        )
    if optimizer.name == "adamw":
        return keras.optimizers.AdamW(weight_decay=optimizer.weight_decay, **common)
    return keras.optimizers.Adam(**common)
