"""`ablate.techniques.augmentation` on real digits, eagerly and inside `tf.data`, every option."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf
from sklearn.datasets import load_digits

from ablate.data.splits import to_tf_dataset
from ablate.errors import InputError
from ablate.techniques.augmentation import (
    AUGMENTATIONS,
    augment_dataset,
    batches_per_call,
    build_augmentation,
    changed_share,
)
from conftest import compose

BATCH_SIZE = 16
NUM_CLASSES = 10
IMAGE_OPTIONS = AUGMENTATIONS[1:]
MIXING_OPTIONS = ("mixup", "cutmix")
# The smallest mean change of a batch we accept as an augmentation, in grey levels of 255.
# With seed 0 the options change these digits by 20 (AutoAugment in tf.data: its operations
# apply with their probabilities) to 75 (RandAugment); other seeds can take AugMix down to
# about 2, as it mixes the original back in with a Beta weight.
MIN_CHANGE = 10.0


@pytest.fixture(scope="module")
def digits():
    """48 real 8x8 grey digits as float32 pixels in [0, 255], with integer labels."""
    data = load_digits()
    images = (data.images[:48, :, :, None] * 255.0 / 16.0).astype("float32")
    return images, data.target[:48]


@pytest.fixture
def op_determinism():
    """Turns TensorFlow op determinism on, as `deterministic: true` does, and back off after."""
    from tensorflow.python.framework import config as tf_config

    was_enabled = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_enabled:
        tf_config.disable_op_determinism()


def one_hot(labels):
    return keras.utils.to_categorical(labels, NUM_CLASSES).astype("float32")


def defaults(name):
    """The option's settings as its YAML file and schema give them (no flip for digits)."""
    options = OmegaConf.to_container(compose(f"augment={name}").augment)
    options.pop("name")
    if name == "basic":
        options["horizontal_flip"] = False
    return options


def build(name, seed=0, **options):
    keras.utils.set_random_seed(seed)
    settings = defaults(name) | options
    return build_augmentation(name, image_shape=(8, 8, 1), seed=seed, **settings)


def pipeline_output(images, labels, augmentation, shuffle_seed=None):
    """All batches of `to_tf_dataset` after `augment_dataset`, concatenated."""
    dataset = to_tf_dataset(images, labels, NUM_CLASSES, BATCH_SIZE, shuffle_seed)
    batches = list(augment_dataset(dataset, augmentation).as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def check_images(augmented, raw):
    """Same shape and dtype, pixels in [0, 255] (MixUp reached 255.00002 unclipped), changed."""
    assert augmented.shape == raw.shape
    assert augmented.dtype == np.float32
    assert augmented.min() >= 0.0 and augmented.max() <= 255.0
    assert np.abs(augmented - raw).mean() > MIN_CHANGE


def check_labels(name, augmented, raw):
    assert augmented.shape == raw.shape and augmented.dtype == np.float32
    if name in MIXING_OPTIONS:
        np.testing.assert_allclose(augmented.sum(axis=1), 1.0, rtol=1e-5)
        assert augmented.min() >= 0.0
        assert (augmented.max(axis=1) < 1.0 - 1e-6).any()  # at least one row is mixed
    else:
        np.testing.assert_array_equal(augmented, raw)


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_eager_batch_is_augmented_within_range(digits, name):
    images, labels = digits[0][:BATCH_SIZE], one_hot(digits[1][:BATCH_SIZE])
    augmented, new_labels = build(name)(tf.constant(images), tf.constant(labels))
    check_images(np.asarray(augmented), images)
    check_labels(name, np.asarray(new_labels), labels)


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_tf_data_batches_are_augmented_within_range(digits, name):
    images, labels = digits
    augmented, new_labels = pipeline_output(images, labels, build(name))
    check_images(augmented, images)
    check_labels(name, new_labels, one_hot(labels))


def test_none_leaves_the_pipeline_as_it_is(digits):
    images, labels = digits
    augmentation = build_augmentation("none", image_shape=(8, 8, 1), seed=0)
    assert augmentation is None
    dataset = to_tf_dataset(images, labels, NUM_CLASSES, BATCH_SIZE)
    assert augment_dataset(dataset, None) is dataset
    augmented, new_labels = pipeline_output(images, labels, None)
    np.testing.assert_array_equal(augmented, images)
    np.testing.assert_array_equal(new_labels, one_hot(labels))


@pytest.mark.parametrize("path", ["eager", "tf.data"])
def test_basic_with_zero_factor_and_no_flip_is_the_identity(digits, path):
    images, labels = digits
    augmentation = build("basic", factor=0.0)
    if path == "eager":
        augmented = np.asarray(augmentation(images, one_hot(labels))[0])
    else:
        augmented = pipeline_output(images, labels, augmentation)[0]
    np.testing.assert_array_equal(augmented, images)


def test_basic_mirrors_whole_images_only_with_horizontal_flip(digits):
    """Zero factor isolates the flip: each output is the image or its exact mirror."""
    seven = digits[0][7]
    mirror = seven[:, ::-1]
    assert not np.array_equal(seven, mirror)
    images, labels = np.stack([seven] * 32), np.full(32, 7)

    unflipped = pipeline_output(images, labels, build("basic", factor=0.0))[0]
    flipped = pipeline_output(images, labels, build("basic", factor=0.0, horizontal_flip=True))[0]

    assert all(np.array_equal(image, seven) for image in unflipped)
    is_mirror = [np.array_equal(image, mirror) for image in flipped]
    is_same = [np.array_equal(image, seven) for image in flipped]
    assert all(m or s for m, s in zip(is_mirror, is_same, strict=True))
    assert 0 < sum(is_mirror) < 32


def test_basic_crops_each_image_on_its_own(digits):
    """A tiny factor pads by one pixel and barely translates: each output is a crop."""
    seven = digits[0][7]
    images, labels = np.stack([seven] * BATCH_SIZE), np.full(BATCH_SIZE, 7)  # one batch
    augmented = pipeline_output(images, labels, build("basic", factor=0.01))[0]

    padded = np.pad(seven, [(1, 1), (1, 1), (0, 0)])
    crops = {(dy, dx): padded[dy : dy + 8, dx : dx + 8] for dy in range(3) for dx in range(3)}
    offsets = []
    for image in augmented:
        errors = {offset: np.abs(image - crop).mean() for offset, crop in crops.items()}
        offset = min(errors, key=errors.get)
        # A crop, blurred by a translation of at most 0.08 pixels; the other crops are ~45 away.
        assert errors[offset] < 10.0
        offsets.append(offset)
    assert len(set(offsets)) > 1  # Keras' RandomCrop alone would give one offset per batch


def test_grey_and_colour_images_keep_shape_and_range():
    rgb = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    labels = one_hot(np.arange(4))
    for name in IMAGE_OPTIONS:
        keras.utils.set_random_seed(0)
        augmentation = build_augmentation(name, image_shape=(16, 16, 3), seed=0, **defaults(name))
        augmented = np.asarray(augmentation(rgb, labels)[0])
        assert augmented.shape == rgb.shape and augmented.dtype == np.float32, name
        assert augmented.min() >= 0.0 and augmented.max() <= 255.0, name


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_same_seed_gives_the_same_batches(digits, name, op_determinism):
    images, labels = digits
    first = pipeline_output(images, labels, build(name, seed=1), shuffle_seed=0)
    second = pipeline_output(images, labels, build(name, seed=1), shuffle_seed=0)
    other = pipeline_output(images, labels, build(name, seed=2), shuffle_seed=0)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_unknown_name_is_refused():
    with pytest.raises(InputError) as error:
        build_augmentation("trivialaugment", image_shape=(8, 8, 1), seed=0)
    assert str(error.value) == (
        "`augment` must be one of none, basic, randaugment, augmix, autoaugment, mixup, cutmix. "
        "Received: augment='trivialaugment'. Pick one of those."
    )


def test_non_image_shape_is_refused():
    with pytest.raises(InputError, match=r"Received: image_shape=\(64,\)\. Use augment=none"):
        build_augmentation("basic", image_shape=(64,), seed=0)


# Per-image randomness. With `factor=0` every RandAugment and AugMix operation is a fixed
# function of the image (no strength left to draw), so a batch of identical images shows
# which operations each image got: Keras' layers give every image of a batch the same ones.


def seven_batch(digits, count):
    """`count` copies of the same real digit, a batch that only the operations can tell apart."""
    return np.stack([digits[0][7]] * count), np.full(count, 7)


def augmented_copies(digits, name, path, count=BATCH_SIZE, **options):
    images, labels = seven_batch(digits, count)
    augmentation = build(name, **options)
    if path == "eager":
        return np.asarray(augmentation(tf.constant(images), tf.constant(one_hot(labels)))[0])
    return pipeline_output(images, labels, augmentation)[0]


def num_distinct(images):
    return len({image.tobytes() for image in images})


def span_rank(augmented, image):
    """The dimension of the space the changes `augmented - image` span (numerically)."""
    changes = (augmented - image).reshape(len(augmented), -1).astype("float64")
    singular = np.linalg.svd(changes, compute_uv=False)
    return int((singular > 1e-3 * singular[0]).sum())


@pytest.mark.parametrize("path", ["eager", "tf.data"])
def test_randaugment_draws_operations_per_image(digits, path):
    """One shared pair of fixed operations would give one output; each image has its own."""
    augmented = augmented_copies(digits, "randaugment", path, factor=0.0)
    for batch in augmented.reshape(-1, BATCH_SIZE, 8, 8, 1):
        assert num_distinct(batch) >= 3


@pytest.mark.parametrize("path", ["eager", "tf.data"])
def test_augmix_draws_operations_per_image(digits, path):
    """Shared chains put every output of a batch in the span of the 3 chains' images.

    Each output is `m x + (1 - m) * sum_c w_c chain_c(x)`: with the chains shared by the
    batch, the changes from `x` span at most `num_chains` dimensions, whatever the mixing
    weights. Per-image chains span many more.
    """
    augmented = augmented_copies(digits, "augmix", path, factor=0.0)
    for batch in augmented.reshape(-1, BATCH_SIZE, 8, 8, 1):
        assert span_rank(batch, digits[0][7]) > 3


def test_augmix_operations_change_from_batch_to_batch_in_tf_data(digits):
    """Keras' AugMix picks its chains when `tf.data` traces the map: fixed for the whole run."""
    images, labels = seven_batch(digits, 4 * 24)  # 24 batches of 4 identical digits
    dataset = to_tf_dataset(images, labels, NUM_CLASSES, 4)
    batches = list(augment_dataset(dataset, build("augmix", factor=0.0)).as_numpy_iterator())
    first_images = np.stack([batch[0][0] for batch in batches])
    # Keras' fixed chains span at most 3 dimensions; over 24 batches (seeds 0-5) ours span 7-9
    assert span_rank(first_images, digits[0][7]) > 4


# The evidence that an augmentation acts: the share of images it changes.


def test_changed_share_counts_images_changed_beyond_the_tolerance(digits):
    images, labels = digits
    dataset = to_tf_dataset(images, labels, NUM_CLASSES, BATCH_SIZE)

    def shift(x, y):  # every pixel by 2 grey levels: 0.78 % of the range
        return x + 2.0, y

    def invert_evens(x, y):  # every other image inverted
        inverted = tf.range(tf.shape(x)[0]) % 2 == 0
        return tf.where(inverted[:, None, None, None], 255.0 - x, x), y

    assert changed_share(dataset, None) == 0.0
    assert changed_share(dataset, lambda x, y: (x, y)) == 0.0
    assert changed_share(dataset, shift) == 0.0
    assert changed_share(dataset, shift, tolerance=0.005) == 1.0
    assert changed_share(dataset, invert_evens) == 0.5
    assert changed_share(dataset, invert_evens, num_batches=1) == 0.5
    assert changed_share(dataset, shift, value_range=(0.0, 1.0)) == 1.0


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_changed_share_of_every_option(digits, name):
    images, labels = digits
    dataset = to_tf_dataset(images, labels, NUM_CLASSES, BATCH_SIZE)
    share = changed_share(dataset, build(name))
    assert 0.2 < share <= 1.0


# Throughput: the training map is stateless, several batches share a call, and the pipeline
# gives the same batches, in the same order, as before.


def stateful_ops(concrete_function):
    """The op types, in a traced function and the functions it calls, that hold state."""
    graph = concrete_function.graph.as_graph_def()
    nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
    return {node.op for node in nodes if is_stateful(node.op)}


def is_stateful(op_type):
    from tensorflow.python.framework import op_def_registry

    return op_def_registry.get(op_type).is_stateful


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_training_map_holds_no_state_while_the_eager_call_does(name):
    """A variable in the map function makes `tf.data` serial and unprefetched (op determinism)."""
    augmentation = build(name)
    specs = (tf.TensorSpec([None, 8, 8, 1]), tf.TensorSpec([None, NUM_CLASSES]))
    seeded = tf.function(augmentation.seeded).get_concrete_function(
        *specs, tf.TensorSpec([2], tf.int64)
    )
    called = tf.function(augmentation).get_concrete_function(*specs)
    assert stateful_ops(seeded) == set()
    assert {"ReadVariableOp", "AssignVariableOp"} <= stateful_ops(called)


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_seeded_draws_follow_the_seed_and_leave_the_generators_as_they_were(digits, name):
    images, labels = tf.constant(digits[0][:BATCH_SIZE]), tf.constant(one_hot(digits[1][:16]))
    augmentation = build(name)
    generators = [holder.generator for holder in augmentation._holders]
    states = [np.asarray(generator.state) for generator in generators]
    first = augmentation.seeded(images, labels, tf.constant([3, 4], tf.int64))
    again = augmentation.seeded(images, labels, tf.constant([3, 4], tf.int64))
    other = augmentation.seeded(images, labels, tf.constant([3, 5], tf.int64))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    assert [holder.generator for holder in augmentation._holders] == generators
    for generator, state in zip(generators, states, strict=True):
        np.testing.assert_array_equal(generator.state, state)  # seeded draws leave them
    augmentation(images, labels)
    assert any(
        not np.array_equal(generator.state, state)
        for generator, state in zip(generators, states, strict=True)
    )


def epochs(dataset, count):
    return [np.concatenate([x for x, _ in dataset.as_numpy_iterator()]) for _ in range(count)]


@pytest.mark.parametrize("name", IMAGE_OPTIONS)
def test_every_epoch_draws_anew_and_a_rebuild_repeats_every_epoch(digits, name, op_determinism):
    images, labels = digits

    def pipeline(global_seed):
        augmentation = build(name)  # sets TensorFlow's global seed to 0 ...
        tf.random.set_seed(global_seed)  # ... which the augmentation's draws do not use
        return augment_dataset(to_tf_dataset(images, labels, NUM_CLASSES, 16), augmentation)

    first = epochs(pipeline(0), 2)
    second = epochs(pipeline(123), 2)
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_an_iterator_dropped_unused_leaves_the_next_epoch_as_it_was(digits):
    """Keras makes a training iterator at every epoch end and drops it unused."""
    images, labels = digits

    def pipeline():
        augmentation = build("randaugment")  # first: it sets the global seed the shuffle uses
        shuffled = to_tf_dataset(images, labels, NUM_CLASSES, BATCH_SIZE, shuffle_seed=0)
        return augment_dataset(shuffled, augmentation)

    reference = epochs(pipeline(), 2)
    dropped = pipeline()
    iter(dropped)  # made and dropped: its augmentation was never asked for a batch
    np.testing.assert_array_equal(epochs(dropped, 1)[0], reference[0])
    used = pipeline()
    next(iter(used))  # asked for a batch: the next epoch is the second one
    np.testing.assert_array_equal(epochs(used, 1)[0], reference[1])


def test_batches_per_call_follows_the_image_size():
    assert batches_per_call((8, 8, 1)) == 8
    assert batches_per_call((28, 28, 1)) == 8
    assert batches_per_call((32, 32, 3)) == 2
    assert batches_per_call((64, 64, 3)) == 1
    assert batches_per_call((224, 224, 3)) == 1
    assert batches_per_call((None, None, 3)) == 1


@pytest.mark.parametrize("num_images", [48, 100, 300])
def test_grouped_calls_give_back_the_same_batches_in_order(digits, num_images):
    """`basic` with zero factor is the identity: 3, 7 or 19 batches (a partial last one)."""
    images = np.concatenate([digits[0]] * 7)[:num_images]
    labels = np.concatenate([digits[1]] * 7)[:num_images]
    augmentation = build("basic", factor=0.0)
    plain, copy = (
        to_tf_dataset(images, labels, NUM_CLASSES, BATCH_SIZE, shuffle_seed=0) for _ in range(2)
    )
    augmented = augment_dataset(copy, augmentation)
    assert augmented.element_spec == plain.element_spec
    assert int(augmented.cardinality()) == int(plain.cardinality()) == -(-num_images // 16)
    expected = list(plain.as_numpy_iterator())  # both shuffles' first epoch
    got = list(augmented.as_numpy_iterator())
    assert [len(x) for x, _ in got] == [len(x) for x, _ in expected]
    for (x, y), (want_x, want_y) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)


@pytest.mark.parametrize("name", MIXING_OPTIONS)
def test_mixing_options_mix_within_each_batch_only(digits, name):
    """Every batch holds one class: a mixed label from another batch would show."""
    images = np.concatenate([digits[0][:16]] * 6)
    labels = np.repeat(np.arange(6), 16)  # batch i: class i
    augmented = augment_dataset(to_tf_dataset(images, labels, NUM_CLASSES, 16), build(name))
    for index, (_, batch_labels) in enumerate(augmented.as_numpy_iterator()):
        np.testing.assert_array_equal(batch_labels, one_hot(np.full(16, index)))
