"""What values a knob allows, and which combinations of knobs are refused.

`ablate.config` declares every field with a `Rule` built here (`interval("[0, 1)")`,
`at_least(1, integer=True)`, `one_of(...)`): `Rule.allowed` is both the error message's
"must be ..." and the "Allowed" column of the knob reference (`docs/knobs.md`). The checks
that involve several knobs are the `check_*` functions below; `ablate.config.validate` runs
them all, and library functions that take the same values call the same functions, so each
check exists once, in one wording: what was expected, then `Received: key=value`, then how
to fix it.
"""

import copy
import dataclasses
import numbers
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from ablate.errors import InputError

# The options that the cross-field checks below name (`ablate.config` builds its lists on them).
CONVOLUTIONAL_MODELS = ("small_cnn", "mobilenet_v3_small")
ATTENTIONS = ("off", "se", "cbam", "mhsa")
CHANNEL_ATTENTIONS = ("se", "cbam")
# Self-attention over fewer positions than this is refused (one token: a linear map).
MIN_ATTENTION_TOKENS = 4
# Keras' pretrained MobileNetV3Small weights exist for these alphas only.
IMAGENET_ALPHAS = {False: (0.75, 1.0), True: (1.0,)}
IMAGE_AUGMENTATIONS = ("basic", "randaugment", "augmix", "autoaugment", "mixup", "cutmix")
DISTRIBUTE_OPTIONS = ("none", "mirrored")  # `training.distribute`
QUANTIZE_MODES = ("off", "dynamic", "float16", "int8")  # `quantize`
# Caps on knobs whose absurd values would fail deep inside a library, or never end.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1_000_000
MAX_SEED = 2**32 - 1  # the largest seed `np.random.seed` (via `keras.utils.set_random_seed`) takes
MAX_PATH_LENGTH = 4096  # Linux's PATH_MAX
MAX_NAME_LENGTH = 500  # MLflow's longest experiment name
DEFAULT_MAX_SEEDS = 1000  # `ablation.max_seeds`: more paired seeds must be asked for explicitly
DEFAULT_AUTO_MAX_SEEDS = 20  # `ablation.max_seeds` with `ablation.seeds=auto`
# A received value longer than this is shown by its start and its length in messages.
SHOWN_VALUE_LENGTH = 80
SMOTE_METHODS = ("smote", "smote_undersample")
# What each source holds; an npz file may hold either images or a table (checked after loading).
MODALITY_OF_SOURCE = {
    "mnist5k": "image",
    "digits": "image",
    "image_folder": "image",
    "keras": "image",
    "fashion_mnist": "image",
    "csv": "tabular",
    "text_csv": "text",
}


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a knob allows: the words of messages and docs, and the test of a value.

    Attributes:
        allowed: what is allowed, completing "`key` must be ...", e.g. `"in [0, 1)"`.
        test: returns whether a value is allowed; None for a rule checked by a cross-field
            check (e.g. `swa.start`, which depends on `swa.enabled` and `training.epochs`).
    """

    allowed: str
    test: Callable[[object], bool] | None = None

    def check(self, key: str, value) -> None:
        """Raises `InputError` naming `key` unless `value` is allowed."""
        if self.test is not None:
            require(self.test(value), key, value, self.allowed)


def require(condition: bool, key: str, value, allowed: str) -> None:
    """Raises "`key` must be <allowed>. Received: key=value" unless `condition` holds."""
    if not condition:
        raise InputError(f"`{key}` must be {allowed}. Received: {key}={shown(value)}")


def shown(value) -> str:
    """`value` as messages show it: a long one by its start and its length, on one line.

    Example:

    >>> shown("x" * 10000)[-22:]
    '... (10000 characters)'
    """
    written = str(value)
    if len(written) <= SHOWN_VALUE_LENGTH and "\n" not in written:
        return written
    start = written[: SHOWN_VALUE_LENGTH // 2].splitlines()[0]
    return f"{start}... ({len(written)} characters)"


def refusal(first: str, second: str, reason: str, fix: str) -> InputError:
    """Returns the error for two knobs that cannot be combined, e.g. `swa=on` and `ema=on`."""
    return InputError(
        f"`{first}` cannot be combined with `{second}`: {reason}. Received: "
        f"{first} with {second}. {fix}"
    )


def check_required(cfg: DictConfig) -> None:
    """Raises `InputError` naming the first key of `cfg` that has no value (`???`)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        raise InputError(
            f"`{key}` is required by this configuration and has no value. Received: {key}=??? "
            f"Set it on the command line, e.g. `python -m ablate ... {key}=<value>`."
        )


def check_rules(cfg: DictConfig, rules: dict[str, Rule]) -> None:
    """Checks each dotted key of `rules` that `cfg` has against its rule."""
    for key, rule in rules.items():
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>":
            rule.check(key, value)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def interval(bounds: str, note: str = "") -> Rule:
    """A number within `bounds`, written as in mathematics: `"[0, 1)"`, `"(0, 1]"`."""
    low, high = (float(bound) for bound in bounds[1:-1].split(","))
    closed_low, closed_high = bounds[0] == "[", bounds[-1] == "]"

    def test(value) -> bool:
        return (
            _is_number(value)
            and (low <= value if closed_low else low < value)
            and (value <= high if closed_high else value < high)
        )

    return Rule(" ".join(filter(None, (f"in {bounds}", note))), test)


def at_least(low: float, note: str = "", *, integer: bool = False) -> Rule:
    """A number (an integer when `integer`) of at least `low`."""
    kind = _is_integer if integer else _is_number
    words = ("an integer " if integer else "") + f">= {low}"
    return Rule(" ".join(filter(None, (words, note))), lambda v: kind(v) and v >= low)


def integer_in(low: int, high: int, note: str = "") -> Rule:
    """An integer from `low` to `high`, both included."""
    words = " ".join(filter(None, (f"an integer in [{low}, {high}]", note)))
    return Rule(words, lambda v: _is_integer(v) and low <= v <= high)


def text(max_length: int, what: str = "string", note: str = "") -> Rule:
    """A string of at most `max_length` characters that is not empty or blank."""
    words = f"a non-empty {what} of at most {max_length} characters"
    return Rule(
        " ".join(filter(None, (words, note))),
        lambda v: isinstance(v, str) and bool(v.strip()) and len(v) <= max_length,
    )


def above(low: float, note: str = "") -> Rule:
    """A number greater than `low`."""
    words = " ".join(filter(None, (f"> {low}", note)))
    return Rule(words, lambda v: _is_number(v) and v > low)


def one_of(options: tuple) -> Rule:
    """One of `options` (`None` is written null in YAML and on the command line)."""
    return Rule(f"one of {list(options)}", lambda v: v in options)


def nullable(rule: Rule) -> Rule:
    """Null, or what `rule` allows."""
    return Rule(f"null or {rule.allowed}", lambda v: v is None or rule.test(v))


COUNT = at_least(1, integer=True)
FRACTION = interval("[0, 1)")
UNIT = interval("[0, 1]")
PATH = text(MAX_PATH_LENGTH, "path")
NAME = text(MAX_NAME_LENGTH, "name")
POSITIVE_INTEGERS = Rule(
    "a non-empty list of integers >= 1",
    lambda v: len(v) >= 1 and all(_is_integer(u) and u >= 1 for u in v),
)


SEEDS = Rule(
    "an integer >= 1, or auto (paired seeds per arm)",
    lambda v: v == "auto" or (_is_integer(v) and v >= 1),
)


def max_seeds_of(seeds, max_seeds: int | None) -> int:
    """`ablation.max_seeds`, or its default: 20 with `seeds=auto`, else 1000."""
    if max_seeds is not None:
        return max_seeds
    return DEFAULT_AUTO_MAX_SEEDS if seeds == "auto" else DEFAULT_MAX_SEEDS


def check_seeds(seed: int, seeds, max_seeds: int | None, min_seeds: int = 1) -> None:
    """A sweep's paired seeds `seed`, ..., `seed + ablation.seeds - 1`: at most
    `ablation.max_seeds` of them, the last one a seed NumPy takes (at most 2**32 - 1). With
    `seeds=auto`, `ablation.min_seeds` to `ablation.max_seeds` of them.

    Checked by the sweeper before it plans: a single run ignores `ablation.seeds`, and each
    job of a sweep carries its own `seed`.
    """
    cap = max_seeds_of(seeds, max_seeds)
    if seeds == "auto":
        allowed = f"at most ablation.max_seeds={cap} with ablation.seeds=auto"
        require(min_seeds <= cap, "ablation.min_seeds", min_seeds, allowed)
        seeds = cap
    if seeds > cap:
        raise InputError(
            f"`ablation.seeds` must be at most ablation.max_seeds={cap}, so that a typo "
            f"does not plan {seeds} runs per arm. Received: ablation.seeds={seeds}. Lower it, "
            f"or raise the cap explicitly: ablation.max_seeds={seeds}."
        )
    last = seed + seeds - 1
    if last > MAX_SEED:
        raise InputError(
            f"`seed` must leave room for the sweep's paired seeds seed, seed+1, ..., all at most "
            f"{MAX_SEED} (NumPy's largest seed). Received: seed={seed} with "
            f"ablation.seeds={seeds} (last seed {last}). Use seed <= {MAX_SEED - seeds + 1}."
        )


def check_splits(val_fraction: float, test_fraction: float) -> None:
    """`data.val_fraction + data.test_fraction` must stay below 1."""
    require(
        val_fraction + test_fraction < 1.0,
        "data.val_fraction",
        val_fraction,
        f"such that data.val_fraction + data.test_fraction < 1 "
        f"(data.test_fraction={test_fraction})",
    )


def check_swa_start(start: float, epochs: int) -> None:
    """`swa.start` must leave at least one epoch to average: in [0, 1) (with `swa=on`)."""
    if not (_is_number(start) and 0.0 <= start < 1.0):
        raise InputError(
            "`swa.start` must leave at least one epoch to average: a fraction of training in "
            f"[0, 1). Received: swa.start={start} with training.epochs={epochs}. "
            "Lower swa.start."
        )


def swa_snapshot_epochs(start: float, epochs: int, frequency: int) -> list[int]:
    """The 0-based epochs at whose end SWA takes a snapshot of the weights.

    The first `round_half_up(start * epochs)` epochs (at most `epochs - 1`) train before
    averaging; then every `frequency`-th epoch from there is averaged, the last one included
    only when it falls on that grid. With 10 epochs, `start=0.5` and `frequency=1`: epochs 5..9
    (the 6th to the 10th), 5 snapshots.

    Example:

    >>> swa_snapshot_epochs(0.5, 10, 2)
    [5, 7, 9]
    """
    first = min(int(start * epochs + 0.5), epochs - 1)
    return list(range(first, epochs, frequency))


def check_swa_snapshots(start: float, epochs: int, frequency: int) -> None:
    """`swa=on` must average at least 2 snapshots, or the average is the last epoch's weights.

    The one check of the number of snapshots: `ablate.config.validate` runs it before any data
    is loaded (the snapshots are whole epochs, so their number depends on these three knobs
    only).
    """
    snapshots = swa_snapshot_epochs(start, epochs, frequency)
    if len(snapshots) < 2:
        highest = (epochs - frequency - 0.5) / epochs  # round_half_up(start * epochs) < this
        fix = (
            f"Set swa.start below {highest:.4g} or raise training.epochs."
            if highest > 0
            else f"Raise training.epochs above swa.frequency={frequency}."
        )
        raise InputError(
            "`swa.start` must leave at least 2 snapshots to average (1 is the last epoch's "
            f"weights, no average); it leaves 1, epoch {snapshots[0] + 1} of {epochs}. "
            f"Received: swa.start={start} with training.epochs={epochs}. {fix}"
        )


def check_swa_schedule(schedule: str, learning_rate: float | None) -> None:
    """`swa.schedule=cyclic` needs `swa.learning_rate`, the top of each cycle."""
    if schedule == "cyclic" and learning_rate is None:
        raise refusal(
            "swa.schedule=cyclic",
            "swa.learning_rate=null",
            "each cycle falls from swa.learning_rate to swa.alpha * swa.learning_rate",
            "Set the top of the cycle, e.g. swa.learning_rate=0.01.",
        )


def check_swa_without_ema(swa: bool, ema: bool) -> None:
    """`swa=on` with `ema=on`: both replace the final weights with an average."""
    if swa and ema:
        raise refusal(
            "swa=on",
            "ema=on",
            "both replace the final weights with an average",
            "Compare them as two arms: swa=on,off ema=on,off.",
        )


def check_distribute_fits(
    distribute: str, accumulation: int, ema_overwrite_frequency: int | None, model: str
) -> None:
    """`training.distribute=mirrored` cannot have `accumulation` > 1, an
    `ema.overwrite_frequency` with `ema=on`, or `model=text_embedding`: Keras cannot run them
    on several replicas.

    Gradient accumulation and the EMA's periodic overwrite update the variables inside a
    conditional, where `MirroredStrategy` cannot synchronize the replicas (TensorFlow raises
    "`merge_call` called while defining a new graph"); and Keras averages a first batch over
    the replicas to build the distributed model, which fails for text (string) inputs.

    Args:
        distribute: the `training.distribute`.
        accumulation: the `accumulation`.
        ema_overwrite_frequency: the `ema.overwrite_frequency` with `ema=on`, else None.
        model: the `model.name`.
    """
    if distribute != "mirrored":
        return
    second = f"training.distribute={distribute}"
    conditional = (
        "Keras updates the variables inside a conditional, where MirroredStrategy cannot "
        "synchronize the replicas"
    )
    if accumulation > 1:
        raise refusal(
            f"accumulation={accumulation}",
            second,
            conditional,
            "Raise training.batch_size (the global batch, split across the replicas) "
            "instead, or use training.distribute=none.",
        )
    if ema_overwrite_frequency is not None:
        raise refusal(
            f"ema.overwrite_frequency={ema_overwrite_frequency}",
            second,
            conditional,
            "Use ema.overwrite_frequency=null (the average replaces the weights at the end), "
            "or training.distribute=none.",
        )
    if model == "text_embedding":
        raise refusal(
            f"model={model}",
            second,
            "Keras averages a first batch over the replicas to build the distributed model, "
            "and text batches are strings",
            "Use training.distribute=none.",
        )


def check_profile_window(start_step: int, steps: int, batches: int, epochs: int) -> None:
    """Refuses a profiling window that ends after training (`profile=on`).

    Args:
        start_step: `profile.start_step`, the batches before the window.
        steps: `profile.steps`, the batches profiled.
        batches: the training batches of an epoch.
        epochs: `training.epochs`.

    Raises:
        InputError: naming `profile.start_step` and `profile.steps`.
    """
    total = batches * epochs
    if start_step + steps > total:
        raise InputError(
            f"`profile.start_step` + `profile.steps` must be at most the training batches "
            f"({total}: {epochs} epoch(s) of {batches}). Received: profile.start_step="
            f"{start_step}, profile.steps={steps}. Lower them or raise training.epochs."
        )


def check_quantize_fits_model(quantize: str, model: str) -> None:
    """`quantize=dynamic|float16|int8` converts with the TFLite converter, which has no
    builtin for the string ops of `model=text_embedding`'s `TextVectorization`
    (`tf.StringLower`: "neither a custom op nor a flex op")."""
    if quantize != "off" and model == "text_embedding":
        raise refusal(
            f"quantize={quantize}",
            "model=text_embedding",
            "the TFLite converter has no builtin for its text-vectorization string ops",
            "Use quantize=off with text data.",
        )


def check_log_model(log_model: bool, backend: str) -> None:
    """`tracking.log_model=true` needs a store to log the model to: not with `tracking=none`."""
    if log_model and backend == "none":
        raise refusal(
            "tracking.log_model=true",
            "tracking=none",
            "the model is logged to the run's MLflow store, and there is none",
            "Use tracking=mlflow, or tracking.log_model=false.",
        )


def check_attention_fits(attention: str, model: str) -> None:
    """`attention=mhsa` needs a convolutional model; `attention=se|cbam` needs `model=small_cnn`
    (MobileNetV3-Small has its own squeeze-and-excitation blocks, switched by `model.se`).

    Args:
        attention: the `attention.name`: `off`, `se`, `cbam` or `mhsa`.
        model: the `model.name`.
    """
    if attention == "mhsa" and model not in CONVOLUTIONAL_MODELS:
        raise refusal(
            "attention=mhsa",
            f"model={model}",
            "self-attention runs over the positions of a convolutional feature map and this "
            "model has none",
            "Use model=small_cnn or model=mobilenet_v3_small, or attention=off.",
        )
    if attention in CHANNEL_ATTENTIONS and model != "small_cnn":
        if model == "mobilenet_v3_small":
            reason = "MobileNetV3-Small has its own squeeze-and-excitation blocks"
            fix = "Use attention=off with model.se=true or model.se=false, or model=small_cnn."
        else:
            reason = "it reweights the channels of convolutional blocks and this model has none"
            fix = "Use model=small_cnn, or attention=off."
        raise refusal(f"attention={attention}", f"model={model}", reason, fix)


def check_attention_tokens(tokens: int, input_shape, model: str, where: str) -> None:
    """`attention=mhsa` needs at least 4 tokens (feature-map positions) to attend over.

    Checked when the model is built, from the data's image size: over one token attention is
    only a linear map of it.

    Args:
        tokens: the positions of the feature map the block would see.
        input_shape: the shape of one image, `(height, width, channels)`.
        model: the `model.name`.
        where: the feature map the block would follow, e.g. `"1x1 after stage 1"`.
    """
    if tokens < MIN_ATTENTION_TOKENS:
        size = "x".join(str(side) for side in input_shape[:2])
        raise InputError(
            f"`attention=mhsa` needs at least {MIN_ATTENTION_TOKENS} tokens (feature-map "
            f"positions) to attend over. Received: attention=mhsa with {size} images, which "
            f"model={model} reduces to {where} ({tokens} token{'s' * (tokens != 1)}). Use "
            "larger images (data.image_size), or attention=se or attention=cbam."
        )


def check_mobilenet_weights(alpha: float, minimalistic: bool, se: bool, weights) -> None:
    """`model.weights=imagenet` exists only for Keras' pretrained MobileNetV3Small variants:
    `alpha` 0.75 or 1.0 with SE blocks, or `alpha` 1.0 minimalistic without them.

    Args:
        alpha: the `model.alpha`.
        minimalistic: the `model.minimalistic`.
        se: the `model.se`.
        weights: the `model.weights`: null or `imagenet`.
    """
    if weights != "imagenet":
        return
    alphas = IMAGENET_ALPHAS[bool(minimalistic)]
    if alpha not in alphas:
        raise InputError(
            "`model.weights=imagenet` exists only for model.alpha in "
            f"{list(alphas)} with model.minimalistic={minimalistic}. "
            f"Received: model.alpha={alpha}. "
            "Use one of those alphas, or model.weights=null."
        )
    if bool(se) == bool(minimalistic):
        raise InputError(
            "`model.weights=imagenet` exists only with the SE blocks Keras trained: "
            "model.se=true when model.minimalistic=false, model.se=false when it is true. "
            f"Received: model.se={se} with model.minimalistic={minimalistic}. "
            f"Set model.se={str(not minimalistic).lower()}, or use model.weights=null."
        )


def check_model_fits_data(model: str, modality: str, data: str) -> None:
    """`model=small_cnn|mobilenet_v3_small` needs images; text needs `model=text_embedding`,
    and that model needs text.

    Args:
        model: the `model.name`.
        modality: the kind of data: `"image"`, `"tabular"` or `"text"`.
        data: the knob that chose the data, as the message names it, e.g. `"data=csv"`.
    """
    if modality != "image" and model in CONVOLUTIONAL_MODELS:
        fix = "Use model=text_embedding." if modality == "text" else "Use model=mlp."
        raise refusal(
            f"model={model}", data, f"the model needs images and the data is {modality}", fix
        )
    if (modality == "text") != (model == "text_embedding"):
        raise refusal(
            f"model={model}",
            data,
            f"text data needs model=text_embedding and that model reads only text; the data "
            f"is {modality}",
            "Use model=text_embedding with data=text_csv, and another model otherwise.",
        )


def check_augment_fits_data(augment: str, modality: str, data: str) -> None:
    """Image augmentations (`basic`, `randaugment`, ...) need images; `augment=eda` needs text."""
    if augment in IMAGE_AUGMENTATIONS and modality != "image":
        raise refusal(
            f"augment={augment}",
            data,
            f"it transforms images and the data is {modality}",
            "Use augment=none" + (" or augment=eda." if modality == "text" else "."),
        )
    if augment == "eda" and modality != "text":
        raise refusal(
            "augment=eda",
            data,
            f"it edits sentences and the data is {modality}",
            "Use an image augmentation such as augment=basic, or augment=none.",
        )


def check_balance_fits_data(balance: str, modality: str, data: str) -> None:
    """`balance=smote|smote_undersample` interpolates numeric features: not for text."""
    if balance in SMOTE_METHODS and modality == "text":
        raise refusal(
            f"balance={balance}",
            data,
            "SMOTE interpolates numeric features",
            "Use balance=oversample, undersample or class_weight.",
        )


def check_combinations(cfg: DictConfig) -> None:
    """Runs every cross-field check on a composed config, with the modality of `data.name`."""
    check_splits(cfg.data.val_fraction, cfg.data.test_fraction)
    if cfg.swa.enabled:
        check_swa_start(cfg.swa.start, cfg.training.epochs)
        check_swa_snapshots(cfg.swa.start, cfg.training.epochs, cfg.swa.frequency)
        check_swa_schedule(cfg.swa.schedule, cfg.swa.learning_rate)
    check_swa_without_ema(cfg.swa.enabled, cfg.ema.enabled)
    overwrite = cfg.ema.overwrite_frequency if cfg.ema.enabled else None
    check_distribute_fits(cfg.training.distribute, cfg.accumulation, overwrite, cfg.model.name)
    check_log_model(cfg.tracking.log_model, cfg.tracking.backend)
    check_attention_fits(cfg.attention.name, cfg.model.name)
    check_quantize_fits_model(cfg.quantize.name, cfg.model.name)
    if cfg.model.name == "mobilenet_v3_small":
        model = cfg.model
        check_mobilenet_weights(model.alpha, model.minimalistic, model.se, model.weights)
    validate_for_data(cfg, MODALITY_OF_SOURCE.get(cfg.data.name))


def validate_for_data(cfg: DictConfig, modality: str | None) -> None:
    """Checks that the techniques fit the kind of data (`"image"`, `"tabular"`, `"text"`).

    Called with the modality implied by `data.name` before loading, and again with the
    loaded data's modality (an npz file may hold images or a table).

    Raises:
        InputError: naming both knobs of a combination that cannot work.
    """
    if modality is None:
        return
    data = f"data={cfg.data.name}"
    check_model_fits_data(cfg.model.name, modality, data)
    check_augment_fits_data(cfg.augment.name, modality, data)
    check_balance_fits_data(cfg.balance.name, modality, data)


BY_OPTION = "set by the option chosen"
BY_SWEEPER = "set by the sweeper for each job"


def knob(default, help: str, rule: Rule | None = None):
    """A schema field: its `default`, what it does (`help`) and what it allows (`rule`)."""
    metadata = {"help": help, "rule": rule}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
