"""`ablate.techniques.autoaugment`: the published policies, PIL's operations, per-image draws."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageEnhance, ImageOps
from sklearn.datasets import load_digits

from ablate.data.splits import to_tf_dataset
from ablate.techniques import autoaugment
from ablate.techniques.augmentation import augment_dataset, build_augmentation
from ablate.techniques.autoaugment import (
    CIFAR10_POLICY,
    IMAGENET_POLICY,
    OPERATIONS,
    POLICIES,
    AutoAugment,
    StatelessSeeds,
    per_image,
    repeat_steps,
)

PARAMETER_FREE = ("AutoContrast", "Equalize", "Invert")
LEVELS = (0, 3, 5, 9)


@pytest.fixture(scope="module")
def digits():
    """32 real 8x8 grey digits as float32 pixels in [0, 255]."""
    images = load_digits().images[:32, :, :, None] * 255.0 / 16.0
    return images.astype("float32")


def random_images(channels, count=6, seed=0):
    """uint8 images: uniform noise, one of narrow range and one constant, as PIL sees them."""
    images = np.random.default_rng(seed).integers(0, 256, (count, 13, 11, channels), "uint8")
    images[1] = images[1] // 4 + 100
    images[2] = 77
    return images


def through_pil(images, operation):
    """`operation` applied by PIL to each uint8 image (mode L for one channel, else RGB)."""
    outputs = []
    for image in images:
        pil = Image.fromarray(image[:, :, 0] if image.shape[-1] == 1 else image)
        outputs.append(np.asarray(operation(pil), "float32").reshape(image.shape))
    return np.stack(outputs)


def levels_of(images, level):
    return tf.fill([len(images)], float(level))


# The policies, as the paper's appendix tables list them.


@pytest.mark.parametrize("policy", [IMAGENET_POLICY, CIFAR10_POLICY])
def test_policies_are_25_pairs_of_known_operations(policy):
    assert len(policy) == 25
    for pair in policy:
        assert len(pair) == 2
        for name, probability, level in pair:
            assert name in OPERATIONS
            assert 0.0 <= probability <= 1.0
            assert level is None if name in PARAMETER_FREE else level in range(10)


def test_imagenet_policy_matches_the_paper_table_at_its_ends():
    assert IMAGENET_POLICY[0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))
    assert IMAGENET_POLICY[24] == (("Equalize", 0.8, None), ("Equalize", 0.6, None))
    assert CIFAR10_POLICY[0] == (("Invert", 0.1, None), ("Contrast", 0.2, 6))
    assert CIFAR10_POLICY[24] == (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None))
    used = {name for pair in IMAGENET_POLICY for name, _, _ in pair}
    assert used == {
        "Posterize", "Rotate", "Solarize", "AutoContrast", "Equalize",
        "Color", "Contrast", "Invert", "Sharpness", "ShearX",
    }  # fmt: skip


# Each operation against PIL, which the authors' code calls, on RGB and grey images.

EXACT = {
    "Equalize": (lambda x, level: autoaugment.equalize(x), lambda p, level: ImageOps.equalize(p)),
    "Invert": (lambda x, level: autoaugment.invert(x), lambda p, level: ImageOps.invert(p)),
    "Solarize": (
        lambda x, level: autoaugment.solarize(x, levels_of(x, level)),
        lambda p, level: ImageOps.solarize(p, 256 - int(25.6 * level)),
    ),
    "Posterize": (
        lambda x, level: autoaugment.posterize(x, levels_of(x, level)),
        lambda p, level: ImageOps.posterize(p, 8 - int(0.4 * level)),
    ),
}
ENHANCERS = ("Color", "Contrast", "Brightness", "Sharpness")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("level", LEVELS)
def test_integer_operations_equal_pil(channels, name, level):
    images = random_images(channels)
    ours, theirs = EXACT[name]
    expected = through_pil(images, lambda pil: theirs(pil, level))
    np.testing.assert_array_equal(
        np.asarray(ours(tf.constant(images, tf.float32), level)), expected
    )


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ENHANCERS)
@pytest.mark.parametrize("level", LEVELS)
def test_enhance_operations_equal_pil_up_to_its_rounding(channels, name, level):
    """PIL rounds to uint8 (and its grey conversion to integers): within 1.5 grey levels."""
    images = random_images(channels)
    factor = 0.1 + 0.18 * level
    expected = through_pil(images, lambda pil: getattr(ImageEnhance, name)(pil).enhance(factor))
    ours = OPERATIONS[name](tf.constant(images, tf.float32), levels_of(images, level), None)
    np.testing.assert_allclose(np.asarray(ours), expected, atol=1.5)


@pytest.mark.parametrize("channels", [1, 3])
def test_autocontrast_equals_pil_up_to_its_rounding(channels):
    images = random_images(channels)
    expected = through_pil(images, ImageOps.autocontrast)
    ours = autoaugment.autocontrast(tf.constant(images, tf.float32))
    np.testing.assert_allclose(np.asarray(ours), expected, atol=1.0)


@pytest.mark.parametrize("level", LEVELS)
def test_color_is_the_identity_on_grey_images(level):
    images = tf.constant(random_images(1), tf.float32)
    np.testing.assert_array_equal(autoaugment.color(images, levels_of(images, level)), images)


def test_equalize_works_per_image_not_per_batch():
    images = random_images(1).astype("float32")
    one_by_one = [np.asarray(autoaugment.equalize(images[i : i + 1]))[0] for i in range(6)]
    np.testing.assert_array_equal(autoaugment.equalize(images), np.stack(one_by_one))


# Geometric operations: nearest-neighbour, black fill, the level-to-argument mapping.


def single_pixel(row, column, size=32):
    image = np.zeros((1, size, size, 1), "float32")
    image[0, row, column, 0] = 255.0
    return tf.constant(image)


def bright_pixels(image):
    return [tuple(int(v) for v in at[1:3]) for at in np.argwhere(np.asarray(image) > 0)]


@pytest.mark.parametrize("name", ["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"])
def test_geometric_operations_at_level_zero_are_the_identity(digits, name):
    images = tf.constant(digits)
    ones = tf.ones([len(digits)])
    np.testing.assert_array_equal(OPERATIONS[name](images, 0.0 * ones, ones), images)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_translations_move_by_150_of_331_of_the_side_at_level_10(sign):
    image = single_pixel(16, 16)
    shift = round(150 / 331 * 32 * 0.9)  # level 9: 13 pixels on a side of 32
    moved_x = autoaugment.translate_x(image, tf.constant([9.0]), tf.constant([sign]))
    moved_y = autoaugment.translate_y(image, tf.constant([9.0]), tf.constant([sign]))
    # PIL's affine data map output to input: content moves by minus the offset.
    assert bright_pixels(moved_x) == [(16, 16 - int(sign) * shift)]
    assert bright_pixels(moved_y) == [(16 - int(sign) * shift, 16)]


def test_shear_x_pivots_on_the_top_left_corner_as_pil():
    """Level 10 is a shear of 0.3: a pixel at (y, x) moves to (y, x - 0.3 y)."""
    level, sign = tf.constant([10.0]), tf.constant([1.0])
    assert bright_pixels(autoaugment.shear_x(single_pixel(0, 20), level, sign)) == [(0, 20)]
    assert bright_pixels(autoaugment.shear_x(single_pixel(30, 20), level, sign)) == [(30, 11)]
    assert bright_pixels(autoaugment.shear_y(single_pixel(20, 30), level, sign)) == [(11, 30)]


def test_rotation_turns_about_the_centre_and_fills_black():
    centre = single_pixel(15, 15, size=31)
    level, sign = tf.constant([9.0]), tf.constant([1.0])
    assert bright_pixels(autoaugment.rotate(centre, level, sign)) == [(15, 15)]
    white = tf.fill([1, 31, 31, 1], 255.0)
    rotated = np.asarray(autoaugment.rotate(white, level, sign))
    assert rotated[0, 0, 0, 0] == 0.0 and rotated[0, 15, 15, 0] == 255.0


# Per-image draws, eagerly and inside tf.data.


def test_per_image_routes_each_image_to_its_branch_in_order():
    images = tf.reshape(tf.range(5, dtype=tf.float32), [5, 1, 1, 1])
    choice = tf.constant([2, 0, 2, 1, 0])
    scale = tf.constant([10.0, 20.0, 30.0, 40.0, 50.0])
    branches = [
        lambda x, s: x,
        lambda x, s: -x,
        lambda x, s: x + tf.reshape(s, [-1, 1, 1, 1]),
    ]
    result = per_image(images, choice, branches, scale)
    np.testing.assert_array_equal(np.asarray(result).ravel(), [10.0, 1.0, 32.0, -3.0, 4.0])


def test_per_image_handles_branches_no_image_drew():
    images = tf.ones([3, 4, 4, 1])
    result = per_image(
        images, tf.zeros([3], tf.int32), list(OPERATIONS.values()), tf.ones([3]), tf.ones([3])
    )
    np.testing.assert_array_equal(result, np.ones([3, 4, 4, 1]))


def copies_of_a_digit(digits, count=32):
    return np.stack([digits[7]] * count)


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("path", ["eager", "tf.data"])
def test_every_image_draws_its_own_sub_policy(digits, policy, path):
    """32 copies of one digit: a single shared sub-policy could give at most 4 results."""
    images = copies_of_a_digit(digits)
    augmentation = build_augmentation("autoaugment", image_shape=(8, 8, 1), seed=0, policy=policy)
    labels = keras.utils.to_categorical(np.zeros(32), 10)
    if path == "eager":
        augmented = np.asarray(augmentation(tf.constant(images), tf.constant(labels))[0])
    else:
        dataset = to_tf_dataset(images, np.zeros(32, int), 10, 32)
        augmented = next(augment_dataset(dataset, augmentation).as_numpy_iterator())[0]
    assert len({image.tobytes() for image in augmented}) > 4
    assert augmented.min() >= 0.0 and augmented.max() <= 255.0


def test_draws_change_from_batch_to_batch_in_tf_data(digits):
    images = copies_of_a_digit(digits, 64)
    augmentation = build_augmentation(
        "autoaugment", image_shape=(8, 8, 1), seed=0, policy="imagenet"
    )
    dataset = augment_dataset(to_tf_dataset(images, np.zeros(64, int), 10, 4), augmentation)
    first_images = [batch[0][0].tobytes() for batch in dataset.as_numpy_iterator()]
    assert len(set(first_images)) > 4


def test_probabilities_and_levels_act_as_the_table_says(digits, monkeypatch):
    """A one-sub-policy table: invert half the images, then posterize all to 5 bits."""
    monkeypatch.setitem(POLICIES, "test", ((("Invert", 0.5, None), ("Posterize", 1.0, 9)),))
    images = np.floor(np.concatenate([digits] * 16))  # 512 images of integer levels
    layer = AutoAugment(policy="test", seed=3)
    augmented = np.asarray(layer(tf.constant(images), training=True))
    posterized = np.floor(images / 8.0) * 8.0
    inverted_then = np.floor((255.0 - images) / 8.0) * 8.0
    is_plain = np.all(augmented == posterized, axis=(1, 2, 3))
    is_inverted = np.all(augmented == inverted_then, axis=(1, 2, 3))
    assert np.all(is_plain | is_inverted)
    assert 0.42 < is_inverted.mean() < 0.58  # 512 fair coins: 4 standard deviations


def test_signs_are_drawn_per_image(monkeypatch):
    monkeypatch.setitem(POLICIES, "test", ((("TranslateX", 1.0, 9), ("Invert", 0.0, None)),))
    image = single_pixel(16, 16)
    layer = AutoAugment(policy="test", seed=0)
    augmented = layer(tf.concat([image] * 64, 0), training=True)
    columns = {column for _, column in bright_pixels(augmented)}
    assert columns == {3, 29}


def test_value_range_is_mapped_to_pixels_and_back(digits):
    in_255 = AutoAugment(seed=5)(tf.constant(digits), training=True)
    in_unit = AutoAugment(value_range=(0, 1), seed=5)(tf.constant(digits / 255.0), training=True)
    np.testing.assert_allclose(np.asarray(in_unit) * 255.0, in_255, atol=1e-3)
    assert np.asarray(in_unit).max() <= 1.0


def test_not_training_is_the_identity(digits):
    np.testing.assert_array_equal(AutoAugment(seed=0)(digits, training=False), digits)


def test_config_round_trips():
    layer = AutoAugment(policy="cifar10", value_range=(0, 1), seed=7)
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, AutoAugment)
    assert restored.get_config() == layer.get_config()
    assert (restored.policy, restored.value_range, restored.seed) == ("cifar10", (0.0, 1.0), 7)


def test_unknown_policy_and_bad_range_are_refused():
    with pytest.raises(ValueError) as error:
        AutoAugment(policy="svhn")
    assert str(error.value) == (
        "`policy` must be one of imagenet, cifar10. Received: policy='svhn'. Pick one of those."
    )
    with pytest.raises(ValueError, match=r"Received: value_range=\(1, 0\)"):
        AutoAugment(value_range=(1, 0))


# Stateless seeds and the steps' loop, shared with RandAugment and AugMix.


def draws(seeds, count=3):
    return [np.asarray(keras.random.uniform((4,), seed=seeds)) for _ in range(count)]


def test_stateless_seeds_repeat_for_a_seed_and_differ_draw_to_draw():
    first = draws(StatelessSeeds(tf.constant([1, 2], tf.int64)))
    again = draws(StatelessSeeds(tf.constant([1, 2], tf.int64)))
    other = draws(StatelessSeeds(tf.constant([1, 3], tf.int64)))
    spawned = draws(StatelessSeeds(tf.constant([1, 2], tf.int64)).spawn(0))
    np.testing.assert_array_equal(first, again)
    values = [tuple(draw) for draw in (*first, *other, *spawned)]
    assert len(set(values)) == 9  # every draw its own numbers


def test_repeat_steps_runs_every_step_once_with_its_own_draws():
    def step(images, index, seeds):  # step i adds its draw to slot i
        slot = tf.reshape(tf.one_hot(index, 3), [1, 1, 3, 1])
        return images + slot * keras.random.uniform((), 0.5, 1.0, seed=seeds)

    images = tf.zeros([2, 1, 3, 1])
    eager = np.asarray(repeat_steps(images, 3, step, StatelessSeeds(tf.constant([5, 6]))))
    traced = tf.function(lambda x: repeat_steps(x, 3, step, StatelessSeeds(tf.constant([5, 6]))))
    np.testing.assert_array_equal(traced(images), eager)  # eagerly as in a graph
    slots = eager[0, 0, :, 0]
    assert slots.min() >= 0.5 and len(set(slots.tolist())) == 3  # each step once, own draw
    generator = keras.random.SeedGenerator(0)
    state = np.asarray(generator.state)
    first = np.asarray(repeat_steps(images, 3, step, generator))
    assert not np.array_equal(generator.state, state)  # it draws the loop's seed from it
    assert not np.array_equal(first, repeat_steps(images, 3, step, generator))


@pytest.mark.parametrize("name", ["autoaugment", "randaugment", "augmix"])
def test_the_steps_are_traced_once(name):
    """One `per_image` (one `DynamicStitch`) in the graph, not one per stage, op or slot."""
    options = {
        "autoaugment": {"policy": "imagenet"},
        "randaugment": {"num_ops": 2, "factor": 0.5},
        "augmix": {"num_chains": 3, "chain_depth": 3, "factor": 0.3, "alpha": 1.0},
    }[name]
    augmentation = build_augmentation(name, image_shape=(8, 8, 1), seed=0, **options)
    graph = (
        tf.function(augmentation)
        .get_concrete_function(tf.TensorSpec([None, 8, 8, 1]), tf.TensorSpec([None, 10]))
        .graph.as_graph_def()
    )
    nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
    assert sum(node.op == "DynamicStitch" for node in nodes) == 1
    assert sum(node.op in ("While", "StatelessWhile") for node in nodes) == 1
