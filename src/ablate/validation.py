"""What values a knob allows, and which combinations of knobs are refused.

`ablate.config` declares every field with a `Rule` built here (`interval("[0, 1)")`,
`at_least(1, integer=True)`, `one_of(...)`): `Rule.allowed` is both the error message's
"must be ..." and the "Allowed" column of the knob reference (`docs/knobs.md`). The checks
that involve several knobs are the `check_*` functions below; `ablate.config.validate` runs
them all, and library functions that take the same values call the same functions, so each
check exists once, in one wording: what was expected, then `Received: key=value`, then how
to fix it.
"""

import dataclasses
import numbers
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from ablate.errors import InputError

# The options that the cross-field checks below name (`ablate.config` builds its lists on them).
CONVOLUTIONAL_MODELS = ("small_cnn", "mobilenet_v3_small")
IMAGE_AUGMENTATIONS = ("basic", "randaugment", "augmix", "mixup", "cutmix")
SMOTE_METHODS = ("smote", "smote_undersample")
# What each source holds; an npz file may hold either images or a table (checked after loading).
MODALITY_OF_SOURCE = {
    "mnist5k": "image",
    "digits": "image",
    "image_folder": "image",
    "keras": "image",
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
        raise InputError(f"`{key}` must be {allowed}. Received: {key}={value}")


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
POSITIVE_INTEGERS = Rule(
    "a non-empty list of integers >= 1",
    lambda v: len(v) >= 1 and all(_is_integer(u) and u >= 1 for u in v),
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


def check_swa_without_ema(swa: bool, ema: bool) -> None:
    """`swa=on` with `ema=on`: both replace the final weights with an average."""
    if swa and ema:
        raise refusal(
            "swa=on",
            "ema=on",
            "both replace the final weights with an average",
            "Compare them as two arms: swa=on,off ema=on,off.",
        )


def check_attention_fits(model: str) -> None:
    """`attention=on` needs a convolutional model: `small_cnn` or `mobilenet_v3_small`."""
    if model not in CONVOLUTIONAL_MODELS:
        raise refusal(
            "attention=on",
            f"model={model}",
            "the block follows the last convolutional stage and this model has none",
            "Use model=small_cnn or model=mobilenet_v3_small, or attention=off.",
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
    check_swa_without_ema(cfg.swa.enabled, cfg.ema.enabled)
    if cfg.attention.enabled:
        check_attention_fits(cfg.model.name)
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
