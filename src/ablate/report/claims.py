"""The practitioner article's claims beside the literature's figures and what a sweep measured.

Each technique the article makes a claim about is found in a sweep by its knob name
(`augment`, `swa`, `smoothing`, `schedule`, `model=mobilenet_v3_small`, `balance`,
`accumulation`). An arm measures a technique when it differs from the baseline in that knob
only, with the technique on in one of the two and off in the other; the measured effect is
always "with minus without" (negated for a leave-one-out arm, which removes it). Claimed
accuracy gains ("+1-2 %") are read as percentage points. Figures: docs/references.md.

A claim is judged only on an informative interval: at least 5 non-tied pairs, and an
interval that excludes the other side (the claimed range for "below"/"above", 0 for
"consistent"); anything else is "inconclusive".
"""

import dataclasses
import math
from collections.abc import Callable

import pandas as pd

from ablate.report.frame import arm_order, baseline_arm, check_frame, knob_columns
from ablate.report.stats import (
    MIN_NONTIED_PAIRS,
    ROPE,
    VERDICT_INACTIVE,
    compare_arms,
    pairs,
    ratio_interval,
)


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
        literature: what primary sources report (docs/references.md).
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


def _ratio(frame: pd.DataFrame, metric: str, arm: str, sign: int) -> tuple[int, ...]:
    """Paired ratio of `metric`, with over without the technique: (pairs, ratio, low, high)."""
    paired = pairs(frame, metric, arm)
    with_, without = paired["arm"], paired["baseline"]
    if sign < 0:  # a leave-one-out arm runs without the technique
        with_, without = without, with_
    return (len(paired), *ratio_interval(with_, without))


def _percent(ratio: float, low: float, high: float) -> str:
    if math.isnan(ratio):
        return "n/a"
    ci = "n/a" if math.isnan(low) else f"{100 * (low - 1):+.1f}, {100 * (high - 1):+.1f}"
    return f"{100 * (ratio - 1):+.1f} % [{ci}]"


def _assessment(accuracy: pd.Series, sign: int, claimed: tuple[float, float] | None) -> str:
    """Judges a claimed accuracy range by the paired interval, only when it is informative.

    "below" / "above" need the interval to exclude the claimed range, "consistent" needs it
    to exclude 0 (and overlap the range); all three need at least 5 non-tied pairs.
    """
    if accuracy["verdict"] == VERDICT_INACTIVE:
        return VERDICT_INACTIVE
    if claimed is None:
        return "no figure claimed"
    if not accuracy["reliable"]:
        return f"inconclusive (<{MIN_NONTIED_PAIRS} non-tied pairs)"
    low, high = sorted((100 * sign * accuracy["delta_low"], 100 * sign * accuracy["delta_high"]))
    tolerance = 1e-9  # accuracies are sums of floats: 0.92 - 0.90 > 0.02
    if high < claimed[0] - tolerance:
        return f"below the claim (CI under +{claimed[0]:g} pp)"
    if low > claimed[1] + tolerance:
        return f"above the claim (CI over +{claimed[1]:g} pp)"
    if low > tolerance:
        return "consistent with the claim (CI above 0, overlaps the claim)"
    return "inconclusive (CI includes 0 and the claim)"


def _speed(frame: pd.DataFrame, arm: str, sign: int, accuracy: pd.Series) -> str:
    """Judges a "faster" claim by the paired ratio of steady epoch times, with over without."""
    if accuracy["verdict"] == VERDICT_INACTIVE:
        return VERDICT_INACTIVE
    count, _, low, high = _ratio(frame, "steady_epoch_time_s", arm, sign)
    if count < MIN_NONTIED_PAIRS or math.isnan(low):
        return f"inconclusive (<{MIN_NONTIED_PAIRS} pairs of epoch times)"
    if high < 1:
        return "faster: steady epochs take less time (ratio CI below 1)"
    if low > 1:
        return "contradicted: steady epochs take longer (ratio CI above 1)"
    return "no detectable difference in steady epoch time"


def _claimed_arms(frame: pd.DataFrame) -> list[dict]:
    """The arms that measure a claim: arm, the claim's fields and the sign of "with - without".

    An arm measures a technique when it switches one claimed knob on or off relative to the
    baseline; "everything together" is an arm that differs from the baseline in every one
    of at least two swept knobs.
    """
    base = baseline_arm(frame)
    knobs = knob_columns(frame)
    base_row = frame[frame["arm"] == base].iloc[0]
    swept = {k.removeprefix("knob.") for k in knobs if frame[k].nunique() > 1}
    found = []
    for arm in arm_order(frame)[1:]:
        changed = _changed_knobs(frame[frame["arm"] == arm].iloc[0], base_row, knobs)
        technique = _technique(changed)
        if technique is not None:
            claim, sign = technique
            found.append(
                {
                    "arm": arm,
                    "technique": claim.technique,
                    "claimed": claim.claimed,
                    "literature": claim.literature,
                    "range_pp": claim.accuracy_range_pp,
                    "sign": sign,
                    "extras": claim.measures,
                    "faster": claim.faster,
                }
            )
        elif len(swept) >= 2 and set(changed) >= swept:
            found.append(
                {
                    "arm": arm,
                    "technique": "everything together",
                    "claimed": OVERALL_CLAIMED,
                    "literature": OVERALL_LITERATURE,
                    "range_pp": OVERALL_RANGE_PP,
                    "sign": 1,
                    "extras": ("train_time_s",),
                    "faster": False,
                }
            )
    return found


def claimed_effects(frame: pd.DataFrame) -> dict[str, float]:
    """The smallest accuracy gain the article claims for each arm that measures a claim.

    Args:
        frame: the tidy table.

    Returns:
        Arm -> the low end of the claimed range as a fraction (0.01 for "+1-2 %"), for the
        arms whose technique comes with a claimed figure.
    """
    check_frame(frame)
    return {
        found["arm"]: found["range_pp"][0] / 100
        for found in _claimed_arms(frame)
        if found["range_pp"] is not None
    }


def claim_check(frame: pd.DataFrame, rope: float = ROPE) -> pd.DataFrame:
    """Compares each claimed technique in the sweep with its measured effect.

    For every arm that switches one claimed technique on or off relative to the baseline
    (and for "everything together" when an arm differs from the baseline in every one of
    at least two swept knobs), reports the claim, the literature's figure and the paired
    effect of the technique on test accuracy ("with minus without", 95 % t interval, with
    wins/ties/losses), plus the metrics that speak to that claim (times as paired ratios).

    The assessment is "below / above / consistent with the claim" only when the interval is
    informative (see `_assessment`), else "inconclusive"; an arm whose every pair is tied is
    flagged "no effect: technique inactive?" instead of judged.

    Args:
        frame: the tidy table.
        rope: half-width of the region of practical equivalence. Defaults to 0.005.

    Returns:
        Columns `technique, arm, n_pairs, ties, claimed, literature, effect, effect_low,
        effect_high, measured, assessment` (effects as fractions; `measured` in pp / %).
        Empty when the sweep varies no claimed technique.

    Raises:
        InputError: if the frame has no baseline.
    """
    check_frame(frame)
    comparisons = {"test_accuracy": compare_arms(frame, rope=rope).set_index("arm")}
    rows = []
    for found in _claimed_arms(frame):
        arm, sign = found["arm"], found["sign"]
        accuracy = comparisons["test_accuracy"].loc[arm]
        effect, low, high = (sign * accuracy[c] for c in ("delta", "delta_low", "delta_high"))
        if sign < 0:
            low, high = high, low
        counts = f"{int(accuracy['wins'])}/{int(accuracy['ties'])}/{int(accuracy['losses'])}"
        delta = (accuracy[c] for c in ("delta", "delta_low", "delta_high"))
        parts = [f"acc. {_interval(*delta, 'pp', sign)} (W/T/L {counts})"]
        for metric in found["extras"]:
            name, unit = _LABELS[metric]
            if unit == "%":
                parts.append(f"{name} {_percent(*_ratio(frame, metric, arm, sign)[1:])}")
                continue
            if metric not in comparisons:
                comparisons[metric] = compare_arms(frame, metric, rope=rope).set_index("arm")
            other = comparisons[metric].loc[arm]
            parts.append(
                f"{name} "
                + _interval(other["delta"], other["delta_low"], other["delta_high"], unit, sign)
            )
        rows.append(
            {
                "technique": found["technique"],
                "arm": arm,
                "n_pairs": int(accuracy["n_pairs"]),
                "ties": int(accuracy["ties"]),
                "claimed": found["claimed"],
                "literature": found["literature"],
                "effect": effect,
                "effect_low": low,
                "effect_high": high,
                "measured": "; ".join(parts) + f" (N={int(accuracy['n_pairs'])})",
                "assessment": _speed(frame, arm, sign, accuracy)
                if found["faster"]
                else _assessment(accuracy, sign, found["range_pp"]),
            }
        )
    return pd.DataFrame(rows, columns=_CLAIM_COLUMNS)


_CLAIM_COLUMNS = [
    "technique",
    "arm",
    "n_pairs",
    "ties",
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
