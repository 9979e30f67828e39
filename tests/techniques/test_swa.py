"""Stochastic weight averaging: hooks called on tiny models with exact numbers, real fits."""

import contextlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from ablate.config import validate
from ablate.errors import InputError
from ablate.techniques.optimizer import build_optimizer, learning_rate_summary
from ablate.techniques.swa import StochasticWeightAveraging, SwaLearningRate, swa_start_epoch
from ablate.validation import swa_snapshot_epochs
from conftest import compose


def dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return model


def set_all(model, value):
    model.set_weights([np.full(w.shape, value, dtype="float32") for w in model.get_weights()])


def run_epochs(callback, model, epochs):
    """Calls the hooks of `epochs` epochs; the weights at the end of epoch e are all 2**e."""
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(epochs):
        set_all(model, 2.0**epoch)
        callback.on_epoch_end(epoch)
    callback.on_train_end()


def features(n=60, seed=0):
    return np.random.default_rng(seed).normal(3.0, 2.0, size=(n, 3)).astype("float32")


# --- which epochs are averaged ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_epoch", "frequency", "expected_epochs"),
    [
        (2, 2, [2, 4]),  # the final epoch 5 is off the grid: not included
        (1, 2, [1, 3, 5]),  # on the grid: included
        (0, 1, [0, 1, 2, 3, 4, 5]),
        (5, 1, [5]),
        (1, 3, [1, 4]),
    ],
)
def test_averages_the_epochs_from_start_epoch_every_frequency_epochs(
    start_epoch, frequency, expected_epochs
):
    model = dense_model()
    swa = StochasticWeightAveraging(start_epoch, frequency)
    single = len(expected_epochs) == 1
    with pytest.warns(UserWarning, match="single snapshot") if single else contextlib.nullcontext():
        run_epochs(swa, model, epochs=6)
    assert swa.snapshot_epochs == expected_epochs
    assert swa.num_snapshots == len(expected_epochs)
    expected = np.mean([2.0**epoch for epoch in expected_epochs])
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, np.full(weight.shape, expected, dtype="float32"))


def test_without_a_snapshot_on_train_end_warns_and_keeps_the_weights():
    model = dense_model()
    swa = StochasticWeightAveraging(start_epoch=4)
    with pytest.warns(UserWarning, match="took no snapshot"):
        run_epochs(swa, model, epochs=3)
    assert swa.num_snapshots == 0
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, 4.0)  # the last epoch's weights, 2**2


def test_metrics_report_the_snapshots_and_their_window():
    model = dense_model()
    swa = StochasticWeightAveraging(start_epoch=5, frequency=2)
    assert swa.metrics() == {"swa_snapshots": 0.0}
    run_epochs(swa, model, epochs=10)
    assert swa.snapshot_epochs == [5, 7, 9]
    assert swa.snapshot_updates == [None, None, None]  # a model without an optimizer
    assert swa.metrics() == {"swa_snapshots": 3.0, "swa_first_epoch": 6.0, "swa_last_epoch": 10.0}


def test_snapshots_record_the_updates_done_at_each():
    model = dense_model()
    model.compile(optimizer=keras.optimizers.SGD(gradient_accumulation_steps=2), loss="mse")
    swa = StochasticWeightAveraging(start_epoch=1)
    x, y = features(24), np.zeros((24, 2), "float32")
    model.fit(x, y, batch_size=4, epochs=3, callbacks=[swa], shuffle=False, verbose=0)
    assert swa.snapshot_updates == [6, 9]  # 6 batches of 4 per epoch, 3 updates
    assert swa.metrics() == {
        "swa_snapshots": 2.0,
        "swa_first_epoch": 2.0,
        "swa_last_epoch": 3.0,
        "swa_first_update": 6.0,
        "swa_last_update": 9.0,
    }


def test_a_single_snapshot_warns_that_it_is_no_average():
    model = dense_model()
    swa = StochasticWeightAveraging(start_epoch=2)
    with pytest.warns(UserWarning, match=r"single snapshot \(0-based epoch 2\)"):
        run_epochs(swa, model, epochs=3)
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, 4.0)


def test_start_epoch_past_the_last_epoch_of_fit_is_refused():
    swa = StochasticWeightAveraging(start_epoch=3)
    swa.set_model(dense_model())
    swa.set_params({"epochs": 3, "verbose": 0, "steps": 1})
    with pytest.raises(ValueError, match=r"Received: start_epoch=3 with epochs=3"):
        swa.on_train_begin()


# --- begin/end hook pairs ---------------------------------------------------------------------


def test_on_train_begin_and_on_epoch_end_leave_the_model_weights_alone():
    model = dense_model()
    set_all(model, 7.0)
    swa = StochasticWeightAveraging(start_epoch=0)
    swa.set_model(model)
    swa.on_train_begin()
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, 7.0)
    swa.on_epoch_end(0)
    set_all(model, 9.0)
    swa.on_epoch_end(1)
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, 9.0)  # only the average moved
    swa.on_train_end()
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, 8.0)


def test_on_train_begin_restarts_the_average_for_a_second_fit():
    model = dense_model()
    swa = StochasticWeightAveraging(start_epoch=0)
    run_epochs(swa, model, epochs=2)  # 1 and 2
    run_epochs(swa, model, epochs=3)  # 1, 2 and 4 only, not the first fit's snapshots
    assert swa.snapshot_epochs == [0, 1, 2]
    for weight in model.get_weights():
        np.testing.assert_allclose(weight, 7.0 / 3.0, rtol=1e-7)


# --- BatchNormalization pass ----------------------------------------------------------------


def batch_norm_model(momentum=0.9):
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.BatchNormalization(momentum=momentum),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2),
        ]
    )


def batch_norm_layer(model):
    return next(la for la in model.layers if isinstance(la, keras.layers.BatchNormalization))


def fit_hooks(swa, model, epochs=2):
    """Hooks of `epochs` epochs where training moved the weights and the moving statistics."""
    swa.set_model(model)
    swa.on_train_begin()
    norm = batch_norm_layer(model)
    for epoch in range(epochs):
        set_all(model, 0.5 * (epoch + 1))  # gamma, beta, kernel, bias and the moving statistics
        norm.moving_mean.assign(np.full(norm.moving_mean.shape, 100.0, "float32"))
        swa.on_epoch_end(epoch)
    swa.on_train_end()


@pytest.mark.parametrize("with_labels", [True, False])
@pytest.mark.parametrize("batch_size", [20, 25])  # 3 equal batches; 25 + 25 + 10
def test_batch_norm_statistics_are_the_averages_over_bn_data(with_labels, batch_size):
    x = features()
    labels = np.zeros((60, 2), dtype="float32")
    data = (x, labels) if with_labels else x
    bn_data = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    model = batch_norm_model(momentum=0.9)
    swa = StochasticWeightAveraging(start_epoch=0, bn_data=bn_data)
    fit_hooks(swa, model)
    norm = batch_norm_layer(model)
    batches = [x[i : i + batch_size] for i in range(0, 60, batch_size)]
    sizes = np.array([len(batch) for batch in batches])
    # The exact feature mean; the size-weighted mean of the biased (ddof=0) batch variances.
    np.testing.assert_allclose(norm.moving_mean.numpy(), x.mean(axis=0), atol=1e-5)
    batch_variances = np.array([batch.var(axis=0) for batch in batches])
    expected_variance = (sizes[:, None] * batch_variances).sum(axis=0) / sizes.sum()
    np.testing.assert_allclose(norm.moving_variance.numpy(), expected_variance, rtol=1e-5)
    assert norm.momentum == 0.9
    np.testing.assert_array_equal(norm.gamma.numpy(), 0.75)  # trainable: averaged
    np.testing.assert_array_equal(model.layers[-1].kernel.numpy(), 0.75)


def test_batch_norm_pass_sees_the_outputs_of_the_averaged_layers_before_it():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization()]
    )
    x = features()
    swa = StochasticWeightAveraging(
        start_epoch=0, bn_data=tf.data.Dataset.from_tensor_slices(x).batch(20)
    )
    fit_hooks(swa, model)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_array_equal(kernel, 0.75)
    inputs = x @ kernel + bias
    moving_mean = batch_norm_layer(model).moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, inputs.mean(axis=0), rtol=1e-5)


def test_batch_norm_pass_changes_nothing_but_the_moving_statistics():
    model = batch_norm_model()
    norm = batch_norm_layer(model)
    bn_data = tf.data.Dataset.from_tensor_slices(features()).batch(20)
    swa = StochasticWeightAveraging(start_epoch=0, bn_data=bn_data)
    swa.set_model(model)
    swa.on_train_begin()
    set_all(model, 2.0)
    swa.on_epoch_end(0)
    statistics = {id(norm.moving_mean), id(norm.moving_variance)}
    others = [v for v in model.variables if id(v) not in statistics]
    assert any("seed_generator" in v.path for v in others)  # the dropout's random state
    before = [v.numpy().copy() for v in others]
    with pytest.warns(UserWarning, match="single snapshot"):
        swa.on_train_end()
    for variable, value in zip(others, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


def test_bn_steps_limits_the_pass_to_the_first_batches():
    x = features()
    bn_data = tf.data.Dataset.from_tensor_slices(x).batch(20).repeat()
    model = batch_norm_model()
    fit_hooks(StochasticWeightAveraging(start_epoch=0, bn_data=bn_data, bn_steps=1), model)
    moving_mean = batch_norm_layer(model).moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, x[:20].mean(axis=0), atol=1e-5)


def test_a_frozen_batch_norm_layer_needs_no_bn_data_and_keeps_its_statistics():
    model = batch_norm_model()
    norm = batch_norm_layer(model)
    norm.trainable = False
    swa = StochasticWeightAveraging(start_epoch=0)
    fit_hooks(swa, model)
    np.testing.assert_array_equal(norm.moving_mean.numpy(), 100.0)


def test_batch_norm_without_bn_data_is_refused_at_train_begin():
    swa = StochasticWeightAveraging(start_epoch=0)
    swa.set_model(batch_norm_model())
    with pytest.raises(ValueError, match=r"pass the training batches as `bn_data`.*bn_data=None"):
        swa.on_train_begin()


def test_batch_norm_with_renorm_is_refused_at_train_begin():
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(renorm=True)])
    swa = StochasticWeightAveraging(start_epoch=0, bn_data=[features()])
    swa.set_model(model)
    with pytest.raises(ValueError, match=r"`renorm=True`"):
        swa.on_train_begin()


def test_an_infinite_bn_data_without_bn_steps_is_refused_at_train_begin():
    bn_data = tf.data.Dataset.from_tensor_slices(features()).batch(20).repeat()
    swa = StochasticWeightAveraging(start_epoch=0, bn_data=bn_data)
    swa.set_model(batch_norm_model())
    with pytest.raises(ValueError, match=r"infinite dataset: set `bn_steps`"):
        swa.on_train_begin()


def test_an_empty_bn_data_is_refused_and_momentum_restored():
    model = batch_norm_model(momentum=0.9)
    swa = StochasticWeightAveraging(start_epoch=0, bn_data=[])
    with pytest.raises(ValueError, match=r"`bn_data` yielded no batch"):
        fit_hooks(swa, model)
    assert batch_norm_layer(model).momentum == 0.9


# --- constructor and config ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_epoch": -1}, r"`start_epoch` must be an integer >= 0.*Received: start_epoch=-1"),
        ({"start_epoch": 1.5}, r"Received: start_epoch=1.5"),
        ({"start_epoch": 0, "frequency": 0}, r"`frequency` must be .*Received: frequency=0"),
        ({"start_epoch": 0, "bn_steps": 0}, r"`bn_steps` must be .*Received: bn_steps=0"),
    ],
)
def test_constructor_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StochasticWeightAveraging(**kwargs)


# --- how many snapshots a config averages (issue 11.2) -------------------------------------


def test_default_config_averages_the_second_half_five_snapshots():
    cfg = compose("swa=on")
    validate(cfg)
    assert (cfg.swa.start, cfg.swa.frequency, cfg.training.epochs) == (0.5, 1, 10)
    assert swa_snapshot_epochs(cfg.swa.start, cfg.training.epochs, cfg.swa.frequency) == [
        5,
        6,
        7,
        8,
        9,
    ]
    assert swa_snapshot_epochs(0.5, 8, 1) == [4, 5, 6, 7]  # experiment=swa_smoothing


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["training.epochs=3"],  # the example: 1 snapshot, bit-identical to swa=off
            "`swa.start` must leave at least 2 snapshots to average (1 is the last epoch's "
            "weights, no average); it leaves 1, epoch 3 of 3. Received: swa.start=0.5 with "
            "training.epochs=3. Set swa.start below 0.5 or raise training.epochs.",
        ),
        (
            ["swa.start=0.75", "training.epochs=3"],
            "Received: swa.start=0.75 with training.epochs=3. Set swa.start below 0.5 ",
        ),
        (
            ["swa.start=0.75", "swa.frequency=2"],  # epochs 8 and 10 would need frequency 1
            "it leaves 1, epoch 9 of 10. Received: swa.start=0.75 with training.epochs=10. Set "
            "swa.start below 0.75 or",
        ),
        (
            ["training.epochs=1", "swa.start=0.0"],
            "it leaves 1, epoch 1 of 1. Received: swa.start=0.0 with training.epochs=1. Raise "
            "training.epochs above swa.frequency=1.",
        ),
    ],
)
def test_fewer_than_two_snapshots_are_refused_before_training(overrides, message):
    with pytest.raises(InputError) as raised:
        validate(compose("swa=on", *overrides))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("start", "epochs", "frequency", "expected"),
    [(0.3, 3, 1, [1, 2]), (0.0, 2, 1, [0, 1]), (0.49, 3, 1, [1, 2]), (0.2, 10, 3, [2, 5, 8])],
)
def test_a_low_enough_start_averages_at_least_two(start, epochs, frequency, expected):
    cfg = compose(
        "swa=on", f"swa.start={start}", f"training.epochs={epochs}", f"swa.frequency={frequency}"
    )
    validate(cfg)
    assert swa_snapshot_epochs(start, epochs, frequency) == expected


def test_swa_off_ignores_the_snapshot_count():
    validate(compose("training.epochs=1"))


def test_a_cyclic_schedule_without_its_rate_is_refused():
    with pytest.raises(InputError) as raised:
        validate(compose("swa=on", "swa.schedule=cyclic"))
    assert str(raised.value) == (
        "`swa.schedule=cyclic` cannot be combined with `swa.learning_rate=null`: each cycle "
        "falls from swa.learning_rate to swa.alpha * swa.learning_rate. Received: "
        "swa.schedule=cyclic with swa.learning_rate=null. Set the top of the cycle, e.g. "
        "swa.learning_rate=0.01."
    )


def test_callback_get_config_round_trips():
    swa = StochasticWeightAveraging(start_epoch=3, frequency=2, bn_data=[1], bn_steps=5)
    config = swa.get_config()
    assert config == {"start_epoch": 3, "frequency": 2, "bn_steps": 5}
    assert StochasticWeightAveraging(**config).get_config() == config


# --- SwaLearningRate --------------------------------------------------------------------------


def lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_swa_learning_rate_with_a_float_base_switches_at_start_step():
    schedule = SwaLearningRate(0.1, start_step=10, swa_learning_rate=0.02)
    values = [lr(schedule, step) for step in (0, 9, 10, 11, 1000)]
    assert values == [np.float32(0.1)] * 2 + [np.float32(0.02)] * 3


def test_swa_learning_rate_follows_a_schedule_base_until_start_step():
    base = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=20)
    schedule = SwaLearningRate(base, start_step=10, swa_learning_rate=0.02)
    for step in (0, 5, 9):
        assert lr(schedule, step) == lr(base, step)
    assert lr(schedule, 9) == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 9 / 20)), rel=1e-6)
    assert [lr(schedule, s) for s in (10, 15, 40)] == [np.float32(0.02)] * 3


def test_swa_learning_rate_is_graph_safe():
    schedule = SwaLearningRate(
        keras.optimizers.schedules.CosineDecay(0.1, decay_steps=20), 10, 0.02
    )
    compiled = tf.function(lambda step: schedule(step))
    for step in (3, 10):
        assert float(compiled(tf.constant(step, "int64"))) == lr(schedule, step)


def test_cyclic_swa_learning_rate_falls_linearly_within_each_cycle():
    """The paper's alpha(i) = (1 - t(i)) a1 + t(i) a2, t(i) = (mod(i - 1, c) + 1) / c."""
    schedule = SwaLearningRate(0.1, start_step=6, swa_learning_rate=0.05, cycle_steps=4, alpha=0.2)
    a1, a2 = 0.05, 0.01
    expected = [0.1] * 6
    for i in range(1, 13):  # three cycles of 4 updates
        t = ((i - 1) % 4 + 1) / 4
        expected.append((1 - t) * a1 + t * a2)
    assert [lr(schedule, step) for step in range(18)] == pytest.approx(expected, rel=1e-6)
    assert lr(schedule, 9) == pytest.approx(a2) and lr(schedule, 13) == pytest.approx(a2)


def test_cyclic_swa_config_gives_one_cycle_per_epoch_ending_at_each_snapshot():
    cfg = compose(
        "swa=on",
        "swa.learning_rate=0.04",
        "swa.schedule=cyclic",
        "swa.alpha=0.25",
        "optimizer=sgd",
        "optimizer.learning_rate=0.1",
    )
    optimizer = build_optimizer(cfg, steps_per_epoch=4)  # 4 updates per epoch, SWA from 20
    rates = []
    for step in range(40):
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    assert rates[:20] == pytest.approx([0.1] * 20)
    assert rates[20:] == pytest.approx([0.0325, 0.025, 0.0175, 0.01] * 5)  # epochs 6..10
    assert learning_rate_summary(cfg, steps_per_epoch=4) == pytest.approx(
        {"optimizer_updates": 40.0, "lr_first": 0.1, "lr_peak": 0.1, "lr_last": 0.01}
    )


@pytest.mark.parametrize("base", [0.1, keras.optimizers.schedules.CosineDecay(0.1, 20)])
@pytest.mark.parametrize("cycle_steps", [None, 3])
def test_swa_learning_rate_config_round_trips(base, cycle_steps):
    schedule = SwaLearningRate(
        base, start_step=10, swa_learning_rate=0.02, cycle_steps=cycle_steps, alpha=0.5
    )
    config = schedule.get_config()
    restored = SwaLearningRate.from_config(config)
    assert restored.get_config() == config
    through_keras = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert isinstance(through_keras, SwaLearningRate)
    for step in (0, 7, 10, 30):
        assert lr(restored, step) == lr(schedule, step) == lr(through_keras, step)


def test_swa_learning_rate_drives_an_optimizer_and_survives_its_config():
    base = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=20)
    optimizer = keras.optimizers.SGD(learning_rate=SwaLearningRate(base, 10, 0.02))
    restored = keras.optimizers.SGD.from_config(optimizer.get_config())
    for step in (0, 9, 10, 50):
        optimizer.iterations.assign(step)
        restored.iterations.assign(step)
        expected = np.float32(0.02) if step >= 10 else lr(base, step)
        assert float(optimizer.learning_rate) == expected
        assert float(restored.learning_rate) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": "0.1"}, r"`base` must be a float or a .*Received: base='0.1'"),
        ({"start_step": -1}, r"`start_step` must be an integer >= 0. Received: start_step=-1"),
        ({"swa_learning_rate": 0.0}, r"Received: swa_learning_rate=0.0"),
        ({"swa_learning_rate": float("nan")}, r"Received: swa_learning_rate=nan"),
        ({"cycle_steps": 0}, r"`cycle_steps` must be None .*Received: cycle_steps=0"),
        ({"cycle_steps": 2.0}, r"Received: cycle_steps=2.0"),
        ({"alpha": 1.5}, r"`alpha` must be in \[0, 1\]. Received: alpha=1.5"),
    ],
)
def test_swa_learning_rate_refuses_bad_arguments(kwargs, message):
    arguments = {"base": 0.1, "start_step": 10, "swa_learning_rate": 0.02, **kwargs}
    with pytest.raises(ValueError, match=message):
        SwaLearningRate(**arguments)


# --- swa_start_epoch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "epochs", "expected"),
    [(0.0, 10, 0), (0.5, 10, 5), (0.25, 10, 3), (0.75, 10, 8), (0.94, 10, 9), (0.99, 10, 9)]
    + [(0.5, 1, 0), (0.6, 6, 4), (0.5, 6, 3)],
)
def test_swa_start_epoch_rounds_half_up_and_leaves_one_epoch(fraction, epochs, expected):
    assert swa_start_epoch(fraction, epochs) == expected


@pytest.mark.parametrize(
    ("fraction", "message"),
    [
        (1.0, r"`swa.start` must leave at least one epoch.*Received: swa.start=1.0 with "),
        (1.5, r"Received: swa.start=1.5 with training.epochs=10\. Lower swa.start\.$"),
        (-0.1, r"Received: swa.start=-0.1 with training.epochs=10"),
    ],
)
def test_swa_start_epoch_refuses_fractions_outside_0_1_as_validate_does(fraction, message):
    with pytest.raises(InputError, match=message):
        swa_start_epoch(fraction, 10)
    with pytest.raises(InputError, match=message):  # the same check, in the same words
        validate(compose("swa=on", f"swa.start={fraction}", "training.epochs=10"))


@pytest.mark.parametrize("epochs", [0, -1, 2.5, True])
def test_swa_start_epoch_refuses_epochs_as_validate_does(epochs):
    expected = (
        f"`training.epochs` must be an integer in [1, 100000]. Received: training.epochs={epochs}"
    )
    with pytest.raises(InputError) as raised:
        swa_start_epoch(0.5, epochs)
    assert str(raised.value) == expected


# --- a real fit -------------------------------------------------------------------------------


class WeightRecorder(keras.callbacks.Callback):
    """Keeps the trainable weights at the end of the given epochs."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs, self.snapshots = set(epochs), []

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.epochs:
            self.snapshots.append([v.numpy().copy() for v in self.model.trainable_weights])


@pytest.mark.slow
def test_fit_with_swa_on_digits_swaps_in_the_average_and_stays_accurate():
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.images[order] / 16.0).astype("float32")[..., None]
    y = keras.utils.to_categorical(digits.target[order], 10)
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(50)  # 28 steps

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    epochs, start_epoch = 6, 3
    schedule = SwaLearningRate(0.1, start_step=start_epoch * 28, swa_learning_rate=0.05)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    recorder = WeightRecorder(epochs=range(start_epoch, epochs))
    swa = StochasticWeightAveraging(start_epoch, bn_data=train)
    model.fit(train, epochs=epochs, callbacks=[recorder, swa], shuffle=False, verbose=0)

    assert swa.snapshot_epochs == [3, 4, 5]
    assert len(recorder.snapshots) == 3
    for variable, *snapshots in zip(model.trainable_weights, *recorder.snapshots, strict=True):
        np.testing.assert_allclose(variable.numpy(), np.mean(snapshots, axis=0), atol=1e-6)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9  # 0.98-0.99 over seeds 0-3; 0.38-0.80 with the stale BN statistics


@pytest.mark.slow
def test_fit_at_the_default_ten_epochs_averages_five_snapshots_unlike_the_last_epoch():
    from sklearn.datasets import load_digits

    cfg = compose("swa=on", "data=digits")
    epochs, start, frequency = cfg.training.epochs, cfg.swa.start, cfg.swa.frequency
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32").reshape(-1, 64)
    y = keras.utils.to_categorical(digits.target, 10)
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(64)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    start_epoch = swa_start_epoch(start, epochs)
    recorder = WeightRecorder(epochs=range(epochs))
    swa = StochasticWeightAveraging(start_epoch, frequency)
    model.fit(train, epochs=epochs, callbacks=[recorder, swa], shuffle=False, verbose=0)

    assert swa.snapshot_epochs == [5, 6, 7, 8, 9] and swa.num_snapshots >= 4
    assert swa.metrics() == {
        "swa_snapshots": 5.0,
        "swa_first_epoch": 6.0,
        "swa_last_epoch": 10.0,
        "swa_first_update": 6 * 29.0,  # 1797 examples: 29 batches of 64 per epoch
        "swa_last_update": 10 * 29.0,
    }
    averaged = recorder.snapshots[5:]
    for variable, *snapshots in zip(model.trainable_weights, *averaged, strict=True):
        np.testing.assert_allclose(variable.numpy(), np.mean(snapshots, axis=0), atol=1e-6)
    last_epoch = recorder.snapshots[-1]
    largest_change = max(
        float(np.abs(variable.numpy() - weight).max())
        for variable, weight in zip(model.trainable_weights, last_epoch, strict=True)
    )
    assert largest_change > 1e-3  # swa=on is not the baseline's last epoch (issue 11.2)


@pytest.mark.slow
def test_a_run_with_swa_on_records_its_snapshots(tmp_path):
    from ablate.run import run

    metrics = run(compose("data=digits", "swa=on", "tracking=none"), tmp_path, "swa")
    assert metrics["swa_snapshots"] == 5.0
    assert (metrics["swa_first_epoch"], metrics["swa_last_epoch"]) == (6.0, 10.0)
    assert (metrics["swa_first_update"], metrics["swa_last_update"]) == (6 * 40.0, 10 * 40.0)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["metrics"]["swa_snapshots"] == 5.0
