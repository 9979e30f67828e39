"""The source article's claims beside the literature's figures and what the sweep measured.

Each technique the article makes a claim about is found in a sweep by its knob name
(`augment`, `swa`, `smoothing`, `schedule`, `model=mobilenet_v3_small`, `balance`,
`accumulation`). An arm measures a technique when it differs from the baseline in that knob
only, with the technique on in one of the two and off in the other; the measured effect is
always "with minus without" (negated for a leave-one-out arm, which removes it). Claimed
accuracy gains ("+1-2 %") are read as percentage points. Figures: REFERENCES.md.
"""

import dataclasses
import math
from collections.abc import Callable

import pandas as pd

from ablate.report.frame import FINISHED, baseline_arm, check_frame, knob_columns
from ablate.report.stats import compare_arms


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the article, with how to spot the technique in a sweep.

    Args:
        technique: what the technique is called in the report.
        knob: the swept knob that switches it.
        is_on: whether a knob value switches the technique on.
        claimed: what the article claims.
        literature: what primary sources report (REFERENCES.md).
        accuracy_range_pp: the claimed accuracy gain in pp, `(low, high)`, if any.
        measures: the extra paired metrics that speak to the claim.
        faster: whether the claim is about speed (judged by the paired steady epoch time).
    """

    technique: str
    knob: str
    is_on: Callable[[str], bool]
    claimed: str
    literature: str
    accuracy_range_pp: tuple[float, float] | None = None
    measures: tuple[str, ...] = ()
    faster: bool = False


CLAIMS = (
    Claim(
        "augmentation",
        "augment",
        lambda v: v not in ("", "none"),
        "+5-15 % accuracy (with data cleaning)",
        "AutoAugment +0.9..1.6 pp over six CIFAR-10 models (WRN-28-10 error 3.9 -> 2.6 %); "
        "RandAugment ~+1.2 pp; EDA text +0.8 pp (+3.0 pp at 500 examples); strong "
        "augmentation can hurt a tiny model",
        (5.0, 15.0),
    ),
    Claim(
        "SWA",
        "swa",
        lambda v: v.lower() in ("on", "true", "1"),
        "+1-2 % on CIFAR-10",
        "CIFAR-10 +0.27..0.48 pp at equal epochs (up to +0.79 pp at 1.5x epochs); "
        "CIFAR-100 +0.6..2.0 pp",
        (1.0, 2.0),
        ("train_time_s",),
    ),
    Claim(
        "label smoothing",
        "smoothing",
        lambda v: _number(v) > 0,
        "use 0.1-0.2 with >10 classes, 0.05-0.1 for binary (no figure)",
        "ImageNet ~+0.2 pp; CIFAR-100 +0.6 pp; CIFAR-10 -0.1 pp; Fashion-MNIST -0.56 pp; "
        "main effect is calibration (ECE 0.150 -> 0.024 on CIFAR-100)",
        None,
        ("test_ece",),
    ),
    Claim(
        "warmup / cosine schedule",
        "schedule",
        lambda v: v not in ("", "constant"),
        "cosine decay with warmup, 2000 warmup steps (no figure)",
        "cosine: WRN-28-10 CIFAR-10 error 4.24 -> 3.86 %, a given error 2-4x sooner; "
        "warmup matters for large batch / high LR (8k batch: 24.84 -> 23.74 % error)",
        None,
    ),
    Claim(
        "MobileNetV3-Small",
        "model",
        lambda v: v == "mobilenet_v3_small",
        '"faster"',
        "ImageNet 224 px 67.4 % top-1 with 2.5M params; the paper reports phone inference "
        "latency, not training time",
        None,
        ("steady_epoch_time_s",),
        faster=True,
    ),
    Claim(
        "SMOTE / class balancing",
        "balance",
        lambda v: v not in ("", "none"),
        "SMOTE(0.5) + RandomUnderSampler(0.8) balances classes",
        "evidence is tabular only; judge by balanced accuracy / macro-F1, never accuracy alone",
        None,
        ("test_balanced_accuracy", "test_macro_f1"),
    ),
    Claim(
        "gradient accumulation",
        "accumulation",
        lambda v: _number(v) > 1,
        "solves memory limits (4 batches, loss / 4)",
        "equals distributed training with per-worker BatchNorm, not one large batch",
        None,
    ),
)
OVERALL_CLAIMED = "+5-20 % accuracy and 30-50 % less training time (all together)"
OVERALL_LITERATURE = "no source; single techniques give roughly 0.2-1.5 pp on CIFAR-class data"
OVERALL_RANGE_PP = (5.0, 20.0)
_LABELS = {
    "train_time_s": ("train time", "%"),
    "test_ece": ("ECE", "pp"),
    "steady_epoch_time_s": ("steady epoch time", "%"),
    "test_balanced_accuracy": ("balanced acc.", "pp"),
    "test_macro_f1": ("macro-F1", "pp"),
}


def _interval(delta: float, low: float, high: float, unit: str, sign: int) -> str:
    if math.isnan(delta):
        return "n/a"
    scale = 100.0
    delta, low, high = sign * delta * scale, sign * low * scale, sign * high * scale
    if sign < 0:
        low, high = high, low
    ci = "n/a" if math.isnan(low) else f"{low:+.2f}, {high:+.2f}"
    return f"{delta:+.2f} {unit} [{ci}]"


def _relative(frame: pd.DataFrame, metric: str, arm: str, base: str, sign: int) -> str:
    """Paired relative change of `metric`, with vs without the technique, in %."""
    finished = frame[(frame["status"] == FINISHED) & frame[metric].notna()]
    wide = finished.pivot_table(index="seed", columns="arm", values=metric, aggfunc="first")
    if arm not in wide or base not in wide:
        return "n/a"
    both = wide[[arm, base]].dropna()
    if both.empty:
        return "n/a"
    with_, without = (both[arm], both[base]) if sign > 0 else (both[base], both[arm])
    return f"{100 * (with_.mean() / without.mean() - 1):+.1f} %"


def _assessment(low_pp: float, high_pp: float, claimed: tuple[float, float] | None) -> str:
    if claimed is None:
        return "no figure claimed"
    if math.isnan(low_pp):
        return "n/a (no CI)"
    tolerance = 1e-9  # accuracies are sums of floats: 0.92 - 0.90 > 0.02
    if high_pp < claimed[0] - tolerance:
        return f"below the claim (CI under +{claimed[0]:g} pp)"
    if low_pp > claimed[1] + tolerance:
        return f"above the claim (CI over +{claimed[1]:g} pp)"
    return "consistent with the claim"


def _speed(frame: pd.DataFrame, arm: str, sign: int) -> str:
    """Judges a "faster" claim by the 95 % CI of the paired steady-epoch-time difference."""
    row = compare_arms(frame, "steady_epoch_time_s").set_index("arm").loc[arm]
    low, high = sorted((sign * row["delta_low"], sign * row["delta_high"]))
    if math.isnan(low):
        return "n/a (no CI of the epoch time)"
    if high < 0:
        return "faster: steady epochs take less time (CI below 0)"
    if low > 0:
        return "contradicted: steady epochs take longer (CI above 0)"
    return "no detectable difference in steady epoch time"


def claim_check(frame: pd.DataFrame) -> pd.DataFrame:
    """Compares each claimed technique in the sweep with its measured effect.

    For every arm that switches one claimed technique on or off relative to the baseline
    (and for "everything together" when an arm differs from the baseline in every one of
    at least two swept knobs), reports the claim, the literature's figure and the paired
    effect of the technique on test accuracy ("with minus without", 95 % bootstrap CI),
    plus the metrics that speak to that claim.

    Args:
        frame: the tidy table.

    Returns:
        Columns `technique, arm, n_pairs, claimed, literature, effect, effect_low,
        effect_high, measured, assessment` (effects as fractions; `measured` in pp / %).
        Empty when the sweep varies no claimed technique.

    Raises:
        InputError: if the frame has no baseline.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    comparisons = {"test_accuracy": compare_arms(frame).set_index("arm")}
    knobs = knob_columns(frame)
    base_row = frame[frame["arm"] == base].iloc[0]
    rows = []
    for arm, accuracy in comparisons["test_accuracy"].iterrows():
        arm_row = frame[frame["arm"] == arm].iloc[0]
        changed = _changed_knobs(arm_row, base_row, knobs)
        technique = _technique(changed)
        swept = [k for k in knobs if frame[k].nunique() > 1]
        if technique is not None:
            claim, sign = technique
            label, claimed, literature, target = (
                claim.technique,
                claim.claimed,
                claim.literature,
                claim.accuracy_range_pp,
            )
            extras = claim.measures
        elif len(swept) >= 2 and set(changed) >= {k.removeprefix("knob.") for k in swept}:
            label, claimed, literature, target = (
                "everything together",
                OVERALL_CLAIMED,
                OVERALL_LITERATURE,
                OVERALL_RANGE_PP,
            )
            sign, extras = 1, ("train_time_s",)
        else:
            continue
        faster = technique is not None and technique[0].faster
        effect, low, high = (sign * accuracy[c] for c in ("delta", "delta_low", "delta_high"))
        if sign < 0:
            low, high = high, low
        parts = [
            "acc. "
            + _interval(
                accuracy["delta"], accuracy["delta_low"], accuracy["delta_high"], "pp", sign
            )
        ]
        for metric in extras:
            name, unit = _LABELS[metric]
            if unit == "%":
                parts.append(f"{name} {_relative(frame, metric, arm, base, sign)}")
            else:
                if metric not in comparisons:
                    comparisons[metric] = compare_arms(frame, metric).set_index("arm")
                other = comparisons[metric].loc[arm]
                parts.append(
                    f"{name} "
                    + _interval(other["delta"], other["delta_low"], other["delta_high"], unit, sign)
                )
        rows.append(
            {
                "technique": label,
                "arm": arm,
                "n_pairs": int(accuracy["n_pairs"]),
                "claimed": claimed,
                "literature": literature,
                "effect": effect,
                "effect_low": low,
                "effect_high": high,
                "measured": "; ".join(parts) + f" (N={int(accuracy['n_pairs'])})",
                "assessment": _speed(frame, arm, sign)
                if faster
                else _assessment(100 * low, 100 * high, target),
            }
        )
    return pd.DataFrame(rows, columns=_CLAIM_COLUMNS)


_CLAIM_COLUMNS = [
    "technique",
    "arm",
    "n_pairs",
    "claimed",
    "literature",
    "effect",
    "effect_low",
    "effect_high",
    "measured",
    "assessment",
]


def _changed_knobs(arm_row, base_row, knobs: list[str]) -> dict[str, tuple[str, str | None]]:
    """Knob name -> (arm value, baseline value) for the knobs where the arm differs.

    Without knob columns, falls back on the arm's `factor`/`value` tags (baseline unknown).
    """
    if knobs:
        return {
            k.removeprefix("knob."): (arm_row[k], base_row[k])
            for k in knobs
            if arm_row[k] != base_row[k]
        }
    factors = [f for f in str(arm_row["factor"]).split(",") if f]
    values = str(arm_row["value"]).split(",")
    return {f: (v, None) for f, v in zip(factors, values, strict=False)}


def _technique(changed: dict[str, tuple[str, str | None]]) -> tuple[Claim, int] | None:
    """The claim an arm measures and the sign of "with minus without", if any."""
    if len(changed) != 1:
        return None
    ((knob, (arm_value, base_value)),) = changed.items()
    for claim in CLAIMS:
        if claim.knob != knob:
            continue
        arm_on = claim.is_on(arm_value)
        base_on = (not arm_on) if base_value is None else claim.is_on(base_value)
        if arm_on and not base_on:
            return claim, 1
        if base_on and not arm_on:
            return claim, -1
    return None
