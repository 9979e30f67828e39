"""Effect tests of the training techniques: smoothing, schedules, accumulation, optimizers."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from ablate.errors import InputError
from ablate.run import EpochClock
from ablate.techniques.ema import PerUpdateEma
from ablate.techniques.label_smoothing import build_loss
from ablate.techniques.optimizer import (
    PerUpdateSchedule,
    build_optimizer,
    build_schedule,
    check_accumulation,
    last_update_learning_rate,
    learning_rate_summary,
    total_updates,
    whole_updates,
)
from conftest import compose


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.2])
def test_loss_equals_the_closed_form_smoothed_cross_entropy(smoothing):
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
    labels = np.array([[1, 0, 0], [0, 1, 0]], "float32")
    targets = labels * (1 - smoothing) + smoothing / 3
    expected = -(targets * np.log(probabilities)).sum(axis=1).mean()
    loss = float(build_loss(smoothing)(labels, probabilities))
    assert loss == pytest.approx(expected, rel=1e-6)


def test_two_class_smoothing_equals_the_binary_losss_smoothing():
    positive = np.array([0.9, 0.2, 0.6], "float32")
    y = np.array([1.0, 0.0, 1.0], "float32")
    two_class = float(
        build_loss(0.1)(np.stack([1 - y, y], 1), np.stack([1 - positive, positive], 1))
    )
    binary = float(
        keras.losses.BinaryCrossentropy(label_smoothing=0.1)(y[:, None], positive[:, None])
    )
    assert two_class == pytest.approx(binary, rel=1e-5)


def lr_at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_constant_schedule_is_the_learning_rate():
    assert build_schedule(compose("schedule=constant").schedule, 0.01, 100) == 0.01


def test_cosine_schedule_follows_the_formula():
    schedule = build_schedule(compose("schedule=cosine").schedule, 0.01, num_updates=100)
    for step in (0, 25, 50, 100):
        expected = 0.01 * 0.5 * (1 + math.cos(math.pi * step / 100))
        assert lr_at(schedule, step) == pytest.approx(expected, abs=1e-9)


def test_cosine_warmup_rises_linearly_then_decays():
    cfg = compose("schedule=cosine_warmup", "schedule.warmup=0.1")
    schedule = build_schedule(cfg.schedule, 0.01, num_updates=200)  # 20 warmup updates
    assert lr_at(schedule, 0) == 0.0
    assert lr_at(schedule, 10) == pytest.approx(0.005)
    assert lr_at(schedule, 20) == pytest.approx(0.01)  # end of warmup: the peak
    assert lr_at(schedule, 20 + 90) == pytest.approx(0.005, abs=1e-9)  # half-way through decay
    assert lr_at(schedule, 200) == pytest.approx(0.0, abs=1e-9)


def test_schedules_span_optimizer_updates_not_batches():
    cfg = compose("schedule=cosine", "accumulation=4", "training.epochs=3")
    assert total_updates(epochs=3, steps_per_epoch=40, accumulation=4) == 30
    assert total_updates(epochs=3, steps_per_epoch=42, accumulation=4) == 30  # 2 left out
    optimizer = build_optimizer(cfg, steps_per_epoch=40)
    assert optimizer.gradient_accumulation_steps == 4
    schedule = optimizer._learning_rate
    assert isinstance(schedule, PerUpdateSchedule) and schedule.accumulation == 4
    assert schedule.schedule.decay_steps == 30  # 3 epochs x 40 batches / 4
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((40 * 8, 2), "float32"), np.zeros((40 * 8, 1), "float32")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    assert int(optimizer.iterations.numpy()) == 30  # one update per 4 batches
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)  # the schedule's end
    # The last update (29) used cos at 29/30, not 0: Keras alone would have reached 0 after
    # 30 batches, a quarter of the run.
    assert last_update_learning_rate(optimizer) == pytest.approx(
        0.001 * 0.5 * (1 + math.cos(math.pi * 29 / 30)), rel=1e-5
    )


# --- per-epoch lr under accumulation vs the closed form (issue 11.1) -------------------------

LR, WARMUP, ALPHA, EPOCHS, BATCHES = 0.01, 0.3, 0.1, 3, 10


def closed_form(schedule, update, num_updates):
    """The rate of update `update` (0-based) of `num_updates`, written out from the docs."""
    if schedule == "constant":
        return LR
    warmup = round(WARMUP * num_updates) if schedule == "cosine_warmup" else 0
    if update < warmup:
        return LR * update / warmup
    progress = min(update - warmup, num_updates - warmup) / (num_updates - warmup)
    return LR * (ALPHA + (1 - ALPHA) * 0.5 * (1 + math.cos(math.pi * progress)))


class UpdateRecorder(keras.callbacks.Callback):
    """Keeps, at every epoch end, the update and batch counters of the optimizer."""

    def __init__(self):
        super().__init__()
        self.counters = []

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        self.counters.append((int(optimizer.iterations), int(optimizer._iterations)))


def fit_tiny(cfg, batches=BATCHES, epochs=EPOCHS, seed=0):
    """A real `fit` of a 2-input linear model on `batches` batches of 4, shuffled per epoch."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batches * 4, 2)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0]], "float32")).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=build_optimizer(cfg, steps_per_epoch=batches), loss="mse")
    recorder = UpdateRecorder()
    history = model.fit(
        whole_updates(data, batches, cfg.accumulation),
        epochs=epochs,
        callbacks=[EpochClock(), recorder],
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
    ).history
    return model, history, recorder.counters


@pytest.mark.parametrize("schedule", ["constant", "cosine", "cosine_warmup"])
@pytest.mark.parametrize("accumulation", [1, 2, 4])
def test_each_epochs_lr_is_the_closed_form_rate_of_its_last_update(schedule, accumulation):
    overrides = [f"schedule={schedule}", f"accumulation={accumulation}"]
    if schedule != "constant":
        overrides.append(f"schedule.alpha={ALPHA}")
    if schedule == "cosine_warmup":
        overrides.append(f"schedule.warmup={WARMUP}")
    cfg = compose(
        *overrides, "optimizer=sgd", f"optimizer.learning_rate={LR}", f"training.epochs={EPOCHS}"
    )
    _, history, counters = fit_tiny(cfg)
    per_epoch = BATCHES // accumulation  # 10, 5, 2: with k=4 two batches per epoch left out
    num_updates = EPOCHS * per_epoch
    expected = [closed_form(schedule, e * per_epoch - 1, num_updates) for e in (1, 2, 3)]
    assert history["lr"] == pytest.approx(expected, rel=1e-5, abs=1e-9)
    # Every epoch ends on an update: no batch of an epoch is carried into the next one.
    assert counters == [(e * per_epoch, e * per_epoch * accumulation) for e in (1, 2, 3)]


def test_the_issues_example_lr_per_epoch_and_summary():
    """`cosine_warmup warmup=0.3 alpha=0.1`, 4 epochs of 20 batches, accumulation=4."""
    cfg = compose(
        "schedule=cosine_warmup",
        "schedule.warmup=0.3",
        "schedule.alpha=0.1",
        "training.epochs=4",
        "accumulation=4",
    )
    _, history, _ = fit_tiny(cfg, batches=20, epochs=4)
    # U = 20 updates, W = 6; before the fix every epoch logged 1e-4, the floor.
    expected = [1e-3 * 4 / 6] + [
        1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (u - 6) / 14))) for u in (9, 14, 19)
    ]
    assert history["lr"] == pytest.approx(expected, rel=1e-5)
    assert [round(lr, 8) for lr in history["lr"]] == [6.6667e-4, 9.0182e-4, 4.4987e-4, 1.1128e-4]
    summary = learning_rate_summary(cfg, steps_per_epoch=20)
    assert summary == pytest.approx(
        {"optimizer_updates": 20.0, "lr_first": 0.0, "lr_peak": 1e-3, "lr_last": expected[-1]},
        rel=1e-5,
    )


def test_swa_learning_rate_switches_on_at_the_start_epochs_first_update_under_accumulation():
    cfg = compose(
        "swa=on",
        "swa.start=0.5",
        "swa.learning_rate=0.05",
        "training.epochs=4",
        "accumulation=4",
        "optimizer=sgd",
        f"optimizer.learning_rate={LR}",
    )
    optimizer = build_optimizer(cfg, steps_per_epoch=20)  # 5 updates per epoch, SWA from 10
    rates = []
    for batch in range(80):
        optimizer._iterations.assign(batch)
        rates.append(float(optimizer.learning_rate))
    assert rates[:40] == [pytest.approx(LR)] * 40  # batch 39 is the 10th update's last batch
    assert rates[40:] == [pytest.approx(0.05)] * 40  # was batch 10 (update 2.5) before the fix
    summary = learning_rate_summary(cfg, steps_per_epoch=20)
    assert summary == pytest.approx(
        {"optimizer_updates": 20.0, "lr_first": LR, "lr_peak": 0.05, "lr_last": 0.05}
    )


@pytest.mark.slow
def test_a_run_with_accumulation_logs_the_closed_form_lr(tmp_path):
    from ablate.run import run

    cfg = compose(
        "data=digits",
        "schedule=cosine_warmup",
        "schedule.warmup=0.3",
        "schedule.alpha=0.1",
        "training.epochs=4",
        "training.batch_size=64",
        "accumulation=4",
        "tracking=none",
    )
    metrics = run(cfg, tmp_path, "accumulation")
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [round(lr, 8) for lr in history["lr"]] == [6.6667e-4, 9.0182e-4, 4.4987e-4, 1.1128e-4]
    assert metrics["optimizer_updates"] == 20.0  # 1257 examples: 20 batches of 64, 5 updates
    assert metrics["lr_last"] == pytest.approx(history["lr"][-1])


def test_whole_updates_keeps_the_batches_of_whole_updates():
    data = tf.data.Dataset.range(10)
    assert whole_updates(data, 10, 2) is data
    assert list(whole_updates(data, 10, 4).as_numpy_iterator()) == list(range(8))
    assert list(whole_updates(data, 10, 3).as_numpy_iterator()) == list(range(9))


def test_last_update_learning_rate_before_any_update_is_the_first_rate():
    optimizer = build_optimizer(
        compose("schedule=cosine_warmup", "schedule.warmup=0.5", "accumulation=2"), 10
    )
    assert last_update_learning_rate(optimizer) == 0.0
    assert last_update_learning_rate(build_optimizer(compose(), 10)) == pytest.approx(1e-3)


def test_per_update_schedule_counts_updates_and_round_trips():
    base = keras.optimizers.schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0)
    schedule = PerUpdateSchedule(base, 4)
    assert [lr_at(schedule, step) for step in (0, 3, 4, 39, 40)] == pytest.approx(
        [1.0, 1.0, 0.9, 0.1, 0.0]
    )
    compiled = tf.function(lambda step: schedule(step))
    assert float(compiled(tf.constant(7, "int64"))) == pytest.approx(0.9)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert (
        isinstance(restored, PerUpdateSchedule) and restored.get_config() == schedule.get_config()
    )
    assert lr_at(restored, 21) == pytest.approx(0.5)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, gradient_accumulation_steps=4)
    restored = keras.optimizers.SGD.from_config(optimizer.get_config())
    restored._iterations.assign(8)
    assert float(restored.learning_rate) == pytest.approx(0.8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": 0.1, "accumulation": 2}, r"`schedule` must be a .*Received: schedule=0.1"),
        ({"accumulation": 0}, r"`accumulation` must be an integer >= 1. Received: accumulation=0"),
        ({"accumulation": 2.0}, r"Received: accumulation=2.0"),
    ],
)
def test_per_update_schedule_refuses_bad_arguments(kwargs, message):
    arguments = {"schedule": keras.optimizers.schedules.CosineDecay(0.1, 10), "accumulation": 2}
    with pytest.raises(ValueError, match=message):
        PerUpdateSchedule(**(arguments | kwargs))


def test_accumulated_micro_batches_equal_one_large_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def trained(batch_size, accumulation):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
        )
        cfg = compose(
            "optimizer=sgd",
            "optimizer.momentum=0.0",
            f"accumulation={accumulation}",
            "training.epochs=1",
        )
        model.compile(optimizer=build_optimizer(cfg, steps_per_epoch=32 // batch_size), loss="mse")
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return [w.numpy() for w in model.weights]

    for accumulated, large in zip(trained(8, 4), trained(32, 1), strict=True):
        np.testing.assert_allclose(accumulated, large, rtol=1e-5, atol=1e-6)


def test_accumulation_larger_than_an_epoch_is_refused():
    check_accumulation(4, steps_per_epoch=4, batch_size=32)
    with pytest.raises(
        InputError,
        match=r"at most the number of batches per epoch \(3 with "
        r"training.batch_size=64\). Received: accumulation=4",
    ):
        check_accumulation(4, steps_per_epoch=3, batch_size=64)


@pytest.mark.parametrize(
    "option, cls, attributes",
    [
        ("adam", keras.optimizers.Adam, {}),
        ("sgd", keras.optimizers.SGD, {"momentum": 0.9, "nesterov": False}),
        ("adamw", keras.optimizers.AdamW, {"weight_decay": 1e-4}),
    ],
)
def test_optimizer_options_map_to_keras(option, cls, attributes):
    optimizer = build_optimizer(compose(f"optimizer={option}"), steps_per_epoch=10)
    assert type(optimizer) is cls
    for name, value in attributes.items():
        assert getattr(optimizer, name) == pytest.approx(value)


def test_ema_sets_the_optimizers_ema():
    optimizer = build_optimizer(compose("ema=on", "ema.momentum=0.95"), steps_per_epoch=10)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.95
    assert type(optimizer) is keras.optimizers.Adam  # Keras' own EMA without accumulation
    assert not build_optimizer(compose(), steps_per_epoch=10).use_ema


@pytest.mark.parametrize(
    "option, cls",
    [
        ("adam", keras.optimizers.Adam),
        ("sgd", keras.optimizers.SGD),
        ("adamw", keras.optimizers.AdamW),
    ],
)
def test_ema_with_accumulation_moves_per_update(option, cls):
    cfg = compose(f"optimizer={option}", "ema=on", "ema.overwrite_frequency=3", "accumulation=2")
    optimizer = build_optimizer(cfg, steps_per_epoch=10)
    assert isinstance(optimizer, cls) and isinstance(optimizer, PerUpdateEma)
    assert optimizer.get_config()["ema_overwrite_frequency"] == 3
