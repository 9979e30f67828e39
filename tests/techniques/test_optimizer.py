"""Effect tests of the training techniques: smoothing, schedules, accumulation, optimizers."""

import math

import keras
import numpy as np
import pytest

from ablate.errors import InputError
from ablate.techniques.label_smoothing import build_loss
from ablate.techniques.optimizer import (
    build_optimizer,
    build_schedule,
    check_accumulation,
    total_updates,
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
    optimizer = build_optimizer(cfg, steps_per_epoch=40)
    assert optimizer.gradient_accumulation_steps == 4
    schedule = optimizer._learning_rate
    assert schedule.decay_steps == 30  # 3 epochs x 40 batches / 4
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((40 * 8, 2), "float32"), np.zeros((40 * 8, 1), "float32")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    assert int(optimizer.iterations.numpy()) == 30  # one update per 4 batches
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)  # the schedule's end


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
    assert not build_optimizer(compose(), steps_per_epoch=10).use_ema
