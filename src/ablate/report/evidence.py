"""What each arm's technique did, from the evidence its runs recorded ("applied as").

A run records what its techniques did (`docs/runs.md`): SWA snapshots, optimizer updates and
the learning rate at the first, peak and last update, the attention block's tokens and
parameters, the share of training images an augmentation changed, the converted model's size
(`quantize=`), the profiled step time and its share waiting for input (`profile=on`). This
module summarises
them per arm (means over the arm's finished runs), so a reader can check that an arm did
what its name says, beside the statistics.
"""

import math

import pandas as pd

from ablate.report.frame import FINISHED, arm_order

INPUT_BOUND_SHARE = 0.5  # an arm waiting for input this share of its step time or more


def _mean(runs: pd.DataFrame, column: str) -> float:
    if column not in runs:
        return math.nan
    values = runs[column].dropna()
    return float(values.mean()) if len(values) else math.nan


def _described(runs: pd.DataFrame) -> str:
    """One line of the evidence of one arm's finished runs."""
    parts = []
    updates = _mean(runs, "optimizer_updates")
    if not math.isnan(updates):
        peak, last = _mean(runs, "lr_peak"), _mean(runs, "lr_last")
        parts.append(f"{updates:,.0f} updates, lr peak {peak:.3g} → last {last:.3g}")
    snapshots = _mean(runs, "swa_snapshots")
    if not math.isnan(snapshots):
        first, final = _mean(runs, "swa_first_epoch"), _mean(runs, "swa_last_epoch")
        parts.append(f"SWA {snapshots:.0f} snapshots (epochs {first:.0f}-{final:.0f})")
    tokens = _mean(runs, "attention_tokens")
    params = _mean(runs, "attention_params")
    if not math.isnan(params) and params > 0:
        seen = f", {tokens:.0f} tokens" if tokens > 0 else ""
        parts.append(f"attention +{params:,.0f} params{seen}")
    share = _mean(runs, "augment_changed_share")
    if not math.isnan(share):
        parts.append(f"augmentation changed {100 * share:.0f} % of images")
    size, reference = _mean(runs, "tflite_size_bytes"), _mean(runs, "float32_tflite_size_bytes")
    if not math.isnan(size):
        int8 = _mean(runs, "tflite_int8_tensor_share")
        parts.append(
            f"TFLite model {size / 1024:.1f} KB ({size / reference:.2f}× float32), "
            f"{100 * int8:.0f} % of tensors int8"
        )
    waiting = _mean(runs, "profile_input_wait_share")
    if not math.isnan(waiting):
        step, steps = _mean(runs, "profile_step_time_ms"), _mean(runs, "profile_steps")
        bound = ", input-bound" if waiting >= INPUT_BOUND_SHARE else ""
        parts.append(
            f"profiled {steps:.0f} steps: {step:.1f} ms/step, {100 * waiting:.0f} % waiting "
            f"for input{bound}"
        )
    return "; ".join(parts) or "n/a"


def applied_as(frame: pd.DataFrame) -> pd.DataFrame:
    """The evidence of every arm, in the report's arm order.

    Args:
        frame: the tidy table.

    Returns:
        Columns `arm` and `applied as` (one line per arm; "n/a" without evidence).
    """
    finished = frame[frame["status"] == FINISHED]
    rows = [[arm, _described(finished[finished["arm"] == arm])] for arm in arm_order(frame)]
    return pd.DataFrame(rows, columns=["arm", "applied as"])


def input_bound_note(frame: pd.DataFrame) -> str:
    """A note naming the arms whose profiled steps wait for input half the time or more
    (`profile=on`), or "" when none does."""
    if "profile_input_wait_share" not in frame:
        return ""
    finished = frame[frame["status"] == FINISHED]
    shares = finished.groupby("arm")["profile_input_wait_share"].mean().dropna()
    bound = [arm for arm in arm_order(frame) if shares.get(arm, 0.0) >= INPUT_BOUND_SHARE]
    if not bound:
        return ""
    named = ", ".join(f"{arm} ({100 * shares[arm]:.0f} %)" for arm in bound)
    return (
        f"\n- **Input-bound** (profile=on): {named} of the profiled step time waiting for the "
        "input pipeline; a faster pipeline (fewer or cheaper augmentations, `tf.data` "
        "parallelism), not a faster model, would shorten these runs."
    )
