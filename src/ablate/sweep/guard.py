"""The confound guard: an arm may differ from the baseline only in the keys it declares.

A group option can change more than its own node (a `# @package _global_` file can set
`training.batch_size`, say); the delta measured for that arm would then mix two causes. The
guard compares each arm's resolved config with the baseline's and refuses the sweep, before
anything trains, when an undeclared key differs.
"""

from ablate.config import flatten

IGNORED_TOP_LEVEL = ("hydra", "ablation", "seed", "tracking")


def allowed_prefixes(knob: str, declared: dict) -> list[str]:
    """Keys a knob may change: its own node (a group's package or the value) and declarations.

    Args:
        knob: the swept key, e.g. `swa` or `smoothing` or `model.alpha`.
        declared: `ablation.declared`: extra keys each knob is allowed to change.
    """
    return [knob.lstrip("+~"), *declared.get(knob, [])]


def _covered(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def unexpected_differences(baseline: dict, arm: dict, prefixes: list[str]) -> list[str]:
    """Lists the keys that differ between two resolved configs and no prefix covers.

    Args:
        baseline: the baseline's resolved config as plain containers.
        arm: the arm's resolved config.
        prefixes: allowed keys (a key is covered by itself and everything below it).

    Returns:
        `key: baseline_value -> arm_value` strings, sorted; empty when the arm is clean.
    """
    flat_baseline = flatten({k: v for k, v in baseline.items() if k not in IGNORED_TOP_LEVEL})
    flat_arm = flatten({k: v for k, v in arm.items() if k not in IGNORED_TOP_LEVEL})
    missing = "<absent>"
    return [
        f"{key}: {flat_baseline.get(key, missing)} -> {flat_arm.get(key, missing)}"
        for key in sorted(set(flat_baseline) | set(flat_arm))
        if flat_baseline.get(key, missing) != flat_arm.get(key, missing)
        and not _covered(key, prefixes)
    ]
