"""What a sweep's command line asks for: its plain overrides, its knobs and their baselines.

A swept knob lists its values (`swa=on,off`); everything else is a plain override applied to
every run. Each knob's baseline value is the one the composed configuration gives it (or
`ablation.baseline`), so `swa=on,off` compares `swa=on` against the composed `swa=off`.
"""

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf


def same_value(listed: str, baseline) -> bool:
    """Whether a listed value spells `baseline` (`0` and `0.0`, `True` and `true` do)."""
    if listed == str(baseline):
        return True
    try:
        return float(listed) == float(baseline)
    except (TypeError, ValueError):
        return str(baseline).lower() == listed.lower() and listed.lower() in ("true", "false")


def check_listed_once(key: str, values: list[str], listed: str) -> None:
    """Refuses a swept knob that lists a value twice (`swa=on,on`, `smoothing=0,0.0`)."""
    from ablate.errors import InputError

    for index, value in enumerate(values):
        earlier = next((v for v in values[:index] if same_value(value, v)), None)
        if earlier is not None:
            repeat = f"{value} twice" if earlier == value else f"{earlier} and {value} are equal"
            raise InputError(
                f"`{key}` must list each value once: a repeat would run as one arm, not the "
                f"arms the command asks for. Received: {listed} ({repeat}). Remove the repeat."
            )


def split_overrides(config_loader, arguments: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Splits a sweep's overrides into the plain ones (every run) and the swept knobs.

    Args:
        config_loader: Hydra's config loader, whose override parser reads the arguments.
        arguments: the experiment file's sweeps, then the command line's overrides.

    Returns:
        `(plain, knobs)`: `key=value` overrides, and each swept knob with its listed values.

    Raises:
        InputError: for a sweep of `seed`, a range or interval sweep, or a value listed twice.
    """
    from hydra.errors import HydraException

    from ablate.errors import InputError
    from ablate.preflight import one_line

    parser = OverridesParser.create(config_loader=config_loader)
    try:
        overrides = parser.parse_overrides(arguments)
    except HydraException as error:
        raise InputError(one_line(error)) from None
    plain, knobs = [], {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            plain.append(f"{key}={override.get_value_element_as_str()}")
        elif key == "seed":
            raise InputError(
                "`seed` cannot be swept: every arm must run with the same seeds as the "
                f"baseline. Received: {override.input_line}. Use "
                "ablation.seeds=N for N paired seeds (seed, seed+1, ...)."
            )
        elif not override.is_discrete_sweep():
            raise InputError(
                f"`{key}` must be swept over a list of values. Received: "
                f"{override.input_line}. List them: {key}=a,b,c."
            )
        else:
            values = list(override.sweep_string_iterator())
            check_listed_once(key, values, override.input_line)
            knobs[key] = values
    return plain, knobs


def no_arm_error(plain: list[str], compose) -> Exception:
    """The error for a sweep of the baseline alone with one seed: nothing to compare.

    `-m smoothing=0.1` lists no knob (an override with one value sets every run), so the
    first such override is named with its baseline, the value it has without it.

    Args:
        plain: the sweep's plain overrides.
        compose: composes a job's config from overrides (the sweeper's).
    """
    from ablate.errors import InputError

    settings = [
        o for o in plain if not o.startswith(("hydra", "ablation.", "tracking", "seed=", "+", "~"))
    ]
    if not settings:
        return InputError(
            "A sweep (`-m`) must list a knob with its baseline and other values, e.g. "
            "smoothing=0.0,0.1. Received: no listed knob and ablation.seeds=1. List one, "
            "or drop -m for a single run."
        )
    override = settings[0]
    key, value = override.split("=", 1)
    without = compose([o for o in plain if o != override])
    baseline = baseline_values(without, {key: [value]})[key]
    fix = (
        f"List them: {key}={baseline},{value}"
        if baseline != value
        else f"List other values with it: {key}={value},<other>"
    )
    return InputError(
        f"`{key}` must be listed with its baseline and other values to be swept: with one "
        "value an override sets every run, and the sweep is the baseline alone. Received: "
        f"{override} (baseline {key}={baseline}). {fix}, or drop -m for a single run."
    )


def baseline_values(base: DictConfig, knobs: dict[str, list[str]]) -> dict[str, str]:
    """Each swept knob's baseline value, spelled as it is listed when it is.

    `ablation.baseline` wins, then the composed group option, then the composed value.
    """
    choices = base.hydra.runtime.choices
    declared = base.ablation.baseline
    values = {}
    for knob, listed in knobs.items():
        if knob in declared:
            current = declared[knob]
        elif knob in choices:
            current = choices[knob]
        else:
            current = OmegaConf.select(base, knob, default=None)
        values[knob] = next((v for v in listed if same_value(v, current)), str(current))
    return values
