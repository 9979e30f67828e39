"""The report's tables, each a pure function of the tidy table, and their text formatting.

`main_table` is numeric (it becomes `report.csv`); `format_main_table` turns it into the
strings of `report.md`. Accuracies print in %, their differences in percentage points (pp),
time ratios as % change. The statistics are those of `ablate.report.stats`.
"""

import math

import numpy as np
import pandas as pd

from ablate.report.claims import claimed_effects
from ablate.report.frame import (
    FINISHED,
    arm_order,
    baseline_arm,
    check_frame,
    knob_columns,
    run_counts,
)
from ablate.report.stats import (
    CLAIM_PAIRS,
    CONFIDENCE,
    DEFAULT_MIN_EFFECT,
    EXPLORATORY_PAIRS,
    MIN_NONTIED_PAIRS,
    POWER,
    ROPE,
    VERDICT_INACTIVE,
    compare_arms,
    pairs,
    ratio_interval,
    seeds_needed,
    time_to_reach,
)

SECONDARY = {
    "macro_f1": "test_macro_f1",
    "balanced_accuracy": "test_balanced_accuracy",
    "ece": "test_ece",
}
TIMES = {"steady_epoch": "steady_epoch_time_s", "train_time": "train_time_s"}
UNRELIABLE = "*"


def _knobs(run: pd.Series, base: pd.Series, knobs: list[str], is_base: bool) -> str:
    """All knob values of the baseline; for an arm, the knobs it changes."""
    if not knobs:
        pairs_ = zip(str(run["factor"]).split(","), str(run["value"]).split(","), strict=False)
        return "" if is_base else ", ".join(f"{k}={v}" for k, v in pairs_ if k)
    shown = [k for k in knobs if is_base or run[k] != base[k]]
    return ", ".join(f"{k.removeprefix('knob.')}={run[k]}" for k in shown)


def _finished_values(runs: pd.DataFrame, metric: str) -> pd.Series:
    return runs.loc[runs["status"] == FINISHED, metric].dropna()


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _costs(frame: pd.DataFrame, arm: str, is_base: bool) -> dict:
    """Mean times over the arm's pairs, and paired time ratios arm / baseline.

    The means use the seeds of the arm's accuracy pairs (the baseline: all its finished
    runs), so a row describes one seed set; the ratios of train and steady epoch time use
    the same seeds, where both runs have the time.
    """
    row = {}
    runs = frame[frame["arm"] == arm]
    seeds = set() if is_base else set(pairs(frame, "test_accuracy", arm)["seed"])
    for name, metric in (*TIMES.items(), ("first_epoch", "first_epoch_time_s")):
        if is_base:
            row[metric] = _mean(_finished_values(runs, metric))
            continue
        row[metric] = _mean(_finished_values(runs[runs["seed"].isin(seeds)], metric))
        if name in TIMES:
            paired = pairs(frame, metric, arm)
            paired = paired[paired["seed"].isin(seeds)]
            ratio = ratio_interval(paired["arm"], paired["baseline"])
            ends = ("", "_low", "_high")
            row |= {f"{name}_ratio{end}": value for end, value in zip(ends, ratio, strict=True)}
    return row


def _plan(accuracy: pd.Series, target: float, num_arms: int) -> float:
    if accuracy["n_pairs"] < 2:
        return math.nan
    return seeds_needed(
        target, accuracy["s_d"], num_arms, accuracy["ties"] / accuracy["n_pairs"], CONFIDENCE
    )


def main_table(
    frame: pd.DataFrame, rope: float = ROPE, min_effect: float | None = None
) -> pd.DataFrame:
    """The main table: one row per arm, the baseline first, then arms by delta accuracy.

    Each arm row describes one seed set, its pairs: mean ± std of the arm, Δ (paired t
    interval), d_z, wins/ties/losses, P(arm > baseline) with its Clopper-Pearson interval,
    the verdict (`stats.compare_arms`), times and their paired ratios. The baseline row
    describes all its finished runs. `runs_missing` counts the expected runs (arms x seeds
    seen in the sweep) that left no result. `seeds_needed` is the number of seeds for 80 %
    power to detect `min_effect` (else the claimed gain, else +1 pp) with this pilot's s_d,
    ties and number of arms. `reach_*` is the median time to reach the baseline's final
    validation accuracy of the same seed (inf = never).

    Args:
        frame: the tidy table.
        rope: half-width of the region of practical equivalence, as a fraction of accuracy.
            Defaults to 0.005 (±0.5 pp).
        min_effect: the accuracy gain to plan seeds for, as a fraction. Defaults to None:
            the arm's claimed gain (`claims.claimed_effects`), else 0.01.

    Returns:
        A numeric table with the columns `MAIN_COLUMNS`.

    Raises:
        InputError: if the frame has no baseline.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    accuracy = compare_arms(frame, "test_accuracy", rope=rope).set_index("arm")
    secondary = {
        name: compare_arms(frame, metric, rope=rope).set_index("arm")
        for name, metric in SECONDARY.items()
    }
    claimed = claimed_effects(frame)
    reach = time_to_reach(frame).set_index("arm")
    base_runs = frame[frame["arm"] == base]
    base_finished = _finished_values(base_runs, "test_accuracy")
    knobs = knob_columns(frame)
    num_arms = len(accuracy)
    counts = run_counts(frame).set_index("arm")
    rows = []
    for arm in arm_order(frame):
        runs = frame[frame["arm"] == arm]
        first = runs.iloc[0]
        is_base = arm == base
        row = {
            "arm": arm,
            "role": "baseline" if is_base else "arm",
            "factor": first["factor"],
            "value": first["value"],
            "knobs": _knobs(first, base_runs.iloc[0], knobs, is_base),
        }
        if is_base:
            row |= counts.loc[arm].to_dict()
            row |= {
                "n_pairs": len(base_finished),
                "test_accuracy_mean": _mean(base_finished),
                "test_accuracy_std": float(base_finished.std(ddof=1))
                if len(base_finished) > 1
                else math.nan,
                "delta_accuracy": 0.0,
                "verdict": "baseline",
                "evidence": "",
            }
        else:
            found = accuracy.loc[arm]
            if min_effect is not None:
                target, source = min_effect, "--min-effect"
            elif arm in claimed:
                target, source = claimed[arm], "claim"
            else:
                target, source = DEFAULT_MIN_EFFECT, "default"
            row |= {column: found[column] for column in _FROM_COMPARISON}
            row |= {
                "test_accuracy_mean": found["mean"],
                "test_accuracy_std": found["std"],
                "baseline_accuracy_mean": found["baseline_mean"],
                "delta_accuracy": found["delta"],
                "delta_accuracy_low": found["delta_low"],
                "delta_accuracy_high": found["delta_high"],
                "min_effect": target,
                "min_effect_source": source,
                "seeds_needed": _plan(found, target, num_arms),
            }
            for name, table in secondary.items():
                row[f"delta_{name}"] = table.at[arm, "delta"]
                row[f"delta_{name}_low"] = table.at[arm, "delta_low"]
                row[f"delta_{name}_high"] = table.at[arm, "delta_high"]
        row |= _costs(frame, arm, is_base)
        row["num_params"] = _mean(_finished_values(runs, "num_params"))
        row["delta_num_params"] = row["num_params"] - _mean(
            _finished_values(base_runs, "num_params")
        )
        row |= reach.loc[arm].to_dict()
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=MAIN_COLUMNS)
    arms = table.iloc[1:].sort_values("delta_accuracy", ascending=False, na_position="last")
    return pd.concat([table.iloc[:1], arms]).reset_index(drop=True)


_FROM_COMPARISON = [
    "runs_finished",
    "runs_failed",
    "runs_missing",
    "n_pairs",
    "wins",
    "ties",
    "losses",
    "reliable",
    "s_d",
    "d_z",
    "p_better",
    "p_better_low",
    "p_better_high",
    "p_value",
    "p_holm",
    "p_equivalence_holm",
    "verdict",
    "evidence",
]
MAIN_COLUMNS = [
    "arm",
    "role",
    "factor",
    "value",
    "knobs",
    "runs_finished",
    "runs_failed",
    "runs_missing",
    "n_pairs",
    "wins",
    "ties",
    "losses",
    "test_accuracy_mean",
    "test_accuracy_std",
    "baseline_accuracy_mean",
    "delta_accuracy",
    "delta_accuracy_low",
    "delta_accuracy_high",
    "reliable",
    "s_d",
    "d_z",
    "p_better",
    "p_better_low",
    "p_better_high",
    "p_value",
    "p_holm",
    "p_equivalence_holm",
    "verdict",
    "evidence",
    "min_effect",
    "min_effect_source",
    "seeds_needed",
    *(f"delta_{name}{end}" for name in SECONDARY for end in ("", "_low", "_high")),
    "steady_epoch_time_s",
    "steady_epoch_ratio",
    "steady_epoch_ratio_low",
    "steady_epoch_ratio_high",
    "train_time_s",
    "train_time_ratio",
    "train_time_ratio_low",
    "train_time_ratio_high",
    "first_epoch_time_s",
    "num_params",
    "delta_num_params",
    "reach_pairs",
    "reach_seeds",
    "reach_epochs",
    "reach_seconds",
]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pp(
    value: float,
    low: float = math.nan,
    high: float = math.nan,
    ci: bool = True,
    reliable: bool = True,
) -> str:
    """A fraction as signed percentage points, with its CI ("n/a" when unavailable).

    An interval from fewer than 5 non-tied pairs ends with `UNRELIABLE`.
    """
    if _missing(value):
        return "n/a"
    text = f"{100 * value:+.2f}"
    if not ci:
        return text
    if _missing(low):
        return f"{text} [n/a]"
    return f"{text} [{100 * low:+.2f}, {100 * high:+.2f}]" + ("" if reliable else UNRELIABLE)


def _ratio(ratio: float, low: float, high: float) -> str:
    """A paired ratio as % change with its CI."""
    if _missing(ratio):
        return "n/a"
    ci = "n/a" if _missing(low) else f"{100 * (low - 1):+.1f}, {100 * (high - 1):+.1f}"
    return f"{100 * (ratio - 1):+.1f} % [{ci}]"


def _seconds(row: pd.Series, name: str, is_base: bool) -> str:
    value = row[TIMES[name]]
    if _missing(value):
        return "n/a"
    if is_base:
        return f"{value:.2f}"
    ratio = [row[f"{name}_ratio{end}"] for end in ("", "_low", "_high")]
    return f"{value:.2f} ({_ratio(*ratio)})"


def _reach(row: pd.Series) -> str:
    if not row["reach_pairs"] or _missing(row["reach_epochs"]):
        return "n/a"
    count = f"({int(row['reach_seeds'])}/{int(row['reach_pairs'])} seeds)"
    if math.isinf(row["reach_epochs"]):
        return f"never {count}"
    seconds = "" if _missing(row["reach_seconds"]) else f" / {row['reach_seconds']:.1f} s"
    return f"{row['reach_epochs']:g} ep{seconds} {count}"


def _probability(row: pd.Series) -> str:
    if _missing(row["p_better"]):
        return "n/a"
    if _missing(row["p_better_low"]):
        return f"{row['p_better']:.2f} [n/a]"
    return f"{row['p_better']:.2f} [{row['p_better_low']:.2f}, {row['p_better_high']:.2f}]"


ACCURACY_HEADERS = [
    "arm",
    "knobs",
    "runs ok/failed/missing",
    "N pairs",
    "W/T/L",
    "test acc. % (mean ± std)",
    "Δ acc. pp [95 % CI]",
    "d_z",
    "P(arm>base) [95 % CI]",
    "verdict (Holm)",
]
COST_HEADERS = [
    "arm",
    "Δ macro-F1 pp [CI]",
    "Δ bal. acc. pp [CI]",
    "Δ ECE pp [CI]",
    "steady epoch s (paired ratio)",
    "train s (paired ratio)",
    "first epoch s",
    "Δ params",
    "to baseline's final val acc.",
]


def format_main_table(table: pd.DataFrame) -> pd.DataFrame:
    """Formats `main_table` as strings: accuracy columns, then metrics and cost columns.

    Args:
        table: the output of `main_table`.

    Returns:
        One string row per arm with the columns `ACCURACY_HEADERS + COST_HEADERS[1:]`.
    """
    rows = []
    for _, row in table.iterrows():
        is_base = row["role"] == "baseline"
        accuracy = (
            "n/a"
            if _missing(row["test_accuracy_mean"])
            else f"{100 * row['test_accuracy_mean']:.2f}"
            + (
                ""
                if _missing(row["test_accuracy_std"])
                else f" ± {100 * row['test_accuracy_std']:.2f}"
            )
        )
        if is_base:
            delta = probability = counts = effect = "ref."
            secondary = ["ref."] * 3
        else:
            reliable = bool(row["reliable"])
            delta = _pp(
                row["delta_accuracy"],
                row["delta_accuracy_low"],
                row["delta_accuracy_high"],
                reliable=reliable,
            )
            probability = _probability(row)
            counts = f"{int(row['wins'])}/{int(row['ties'])}/{int(row['losses'])}"
            effect = "n/a" if _missing(row["d_z"]) else f"{row['d_z']:+.2f}"
            secondary = [
                _pp(
                    row[f"delta_{n}"],
                    row[f"delta_{n}_low"],
                    row[f"delta_{n}_high"],
                    reliable=reliable,
                )
                for n in SECONDARY
            ]
        params = row["delta_num_params"]
        runs = f"{int(row['runs_finished'])}/{int(row['runs_failed'])}/{int(row['runs_missing'])}"
        rows.append(
            [
                f"{row['arm']} (baseline)" if is_base and row["arm"] != "baseline" else row["arm"],
                row["knobs"],
                runs,
                "ref." if is_base else str(int(row["n_pairs"])),
                counts,
                accuracy,
                delta,
                effect,
                probability,
                row["verdict"],
                *secondary,
                _seconds(row, "steady_epoch", is_base),
                _seconds(row, "train_time", is_base),
                "n/a"
                if _missing(row["first_epoch_time_s"])
                else f"{row['first_epoch_time_s']:.2f}",
                "ref." if is_base else ("n/a" if _missing(params) else f"{params:+,.0f}"),
                _reach(row),
            ]
        )
    return pd.DataFrame(rows, columns=ACCURACY_HEADERS + COST_HEADERS[1:])


def _seeds(value: float) -> str:
    if _missing(value):
        return "n/a"
    return "> 1000" if math.isinf(value) else f"{int(value)}"


def plan_table(table: pd.DataFrame) -> pd.DataFrame:
    """The seed planning of every arm, as strings: what a pilot sweep says the next needs.

    Args:
        table: the output of `main_table`.

    Returns:
        Columns `arm, N pairs, ties, s_d pp, d_z, effect to detect pp, seeds for 80 % power`.
    """
    arms = table[table["role"] != "baseline"]
    rows = [
        [
            row["arm"],
            str(int(row["n_pairs"])),
            str(int(row["ties"])),
            "n/a" if _missing(row["s_d"]) else f"{100 * row['s_d']:.2f}",
            "n/a" if _missing(row["d_z"]) else f"{row['d_z']:+.2f}",
            f"{100 * row['min_effect']:+.2f} ({row['min_effect_source']})",
            _seeds(row["seeds_needed"]),
        ]
        for _, row in arms.iterrows()
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "arm",
            "N pairs",
            "ties",
            "s_d pp",
            "d_z",
            "effect to detect pp",
            f"seeds for {100 * POWER:.0f} % power",
        ],
    )


def plan_note(table: pd.DataFrame) -> str:
    """How `plan_table` is computed, in one paragraph."""
    num_arms = int((table["role"] != "baseline").sum())
    return (
        f"Seeds for {100 * POWER:.0f} % power: the smallest number of pairs for which the "
        f"verdict's exact sign test, at 5 % / {num_arms} arm(s) (Holm's first step), calls "
        "the arm better with that probability, assuming paired differences ~ Normal(effect, "
        "s_d of this sweep) and this sweep's share of tied pairs. The effect is "
        "`--min-effect` when given, else the practitioner article's claimed gain for the "
        f"technique, else +{100 * DEFAULT_MIN_EFFECT:g} pp. With fewer than 2 pairs s_d is "
        "unknown (n/a); '> 1000' means the effect is too small to detect with this noise."
    )


def footnote(table: pd.DataFrame, rope: float = ROPE) -> str:
    """The main table's footnote: method, seed planning, evidence labels, missing runs.

    Args:
        table: the output of `main_table`.
        rope: the region of practical equivalence the verdicts used. Defaults to 0.005.

    Returns:
        Markdown text.
    """
    arms = table[table["role"] != "baseline"]
    tested = int((arms["p_holm"].notna()).sum())
    lines = [
        "Δ = arm − baseline, paired by seed (N pairs: seeds where both runs finished); "
        f"{100 * CONFIDENCE:.0f} % paired-t CI; d_z = Δ / sd of the differences. An arm's "
        "mean ± std is over its N pairs; the baseline's over all its finished runs. W/T/L = "
        "pairs the arm wins / ties / loses; P(arm>base) = W / (W + L) with a "
        f"{100 * CONFIDENCE:.0f} % Clopper–Pearson CI (ties left out).",
        "Verdict: exact two-sided sign test on the non-tied pairs, Holm-corrected across the "
        f"{tested} tested arm(s) at 5 % (better / worse); equivalent when Δ's t interval at the "
        f"Holm level lies inside the ROPE ±{100 * rope:.2f} pp (TOST); 'within ROPE' = "
        f"significant but negligible. Arms with fewer than {MIN_NONTIED_PAIRS} non-tied pairs "
        f"get no verdict and their intervals are marked {UNRELIABLE} (unreliable). Method and "
        "measured error rates: docs/statistics.md.",
        "Times: mean seconds over the pairs; (paired ratio) = geometric mean of arm / "
        f"baseline per seed as % change, {100 * CONFIDENCE:.0f} % t CI on the log ratio. The "
        "first epoch (graph tracing) is reported apart. Sweeps run with "
        "`ablation.order=blocked` confound time ratios with run order.",
    ]
    planned = [
        f"{row['arm']}: {_seeds(row['seeds_needed'])} to detect "
        f"{100 * row['min_effect']:+.2f} pp ({row['min_effect_source']})"
        for _, row in arms.iterrows()
        if not _missing(row["seeds_needed"])
    ]
    if planned:
        lines.append(
            f"Seeds for {100 * POWER:.0f} % power (this sweep's s_d, ties and "
            f"{len(arms)} arm(s); `python -m ablate.report --plan`): " + "; ".join(planned) + "."
        )
    inactive = arms.loc[arms["verdict"] == VERDICT_INACTIVE, "arm"].tolist()
    if inactive:
        lines.append(
            f"**Inactive?** {', '.join(inactive)}: every pair equals its baseline. Check "
            "that the knob reaches the model."
        )
    counts = arms["n_pairs"].astype(int)
    if len(counts):
        fewest = int(counts.min())
        if fewest < CLAIM_PAIRS:
            label = f"fewer than {EXPLORATORY_PAIRS}" if fewest < EXPLORATORY_PAIRS else "5-9"
            lines.append(
                f"**Exploratory**: {label} pairs for some arms (min N={fewest}). "
                f"Use ≥ {CLAIM_PAIRS} pairs for a claim."
            )
    failed = int(table["runs_failed"].sum())
    if failed:
        lines.append(f"{failed} run(s) did not finish; they are counted and left out of pairs.")
    missing = int(table["runs_missing"].sum())
    if missing:
        lines.append(
            f"{missing} expected run(s) (arms × seeds seen in the sweep) left no result at all."
        )
    return "\n".join(f"- {line}" for line in lines)


def markdown_table(table: pd.DataFrame) -> str:
    """Renders a string table as a GitHub-flavoured markdown table (no extra dependency)."""

    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c) for c in table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.to_numpy()]
    return "\n".join(lines)


def format_effects(effects: pd.DataFrame, value: str = "effect") -> pd.DataFrame:
    """Formats `main_effects` or `interactions` output: values and CIs in pp, tests, verdict.

    Args:
        effects: the output of `factorial.main_effects` or `factorial.interactions`.
        value: the value column, `"effect"` or `"interaction"`. Defaults to `"effect"`.

    Returns:
        The level columns, then `<value> pp [95 % CI]`, `d_z`, `W/T/L`, `p (Holm)`,
        `verdict`, `n_seeds`, as strings.
    """
    levels = [c for c in effects.columns if c.startswith(("knob", "level", "reference"))]
    shown = effects[levels].astype(str)
    shown[f"{value} pp [95 % CI]"] = [
        _pp(
            row[value],
            row[f"{value}_low"],
            row[f"{value}_high"],
            reliable=row["wins"] + row["losses"] >= MIN_NONTIED_PAIRS,
        )
        for _, row in effects.iterrows()
    ]
    shown["d_z"] = ["n/a" if _missing(v) else f"{v:+.2f}" for v in effects["d_z"]]
    shown["W/T/L"] = [
        f"{int(w)}/{int(t)}/{int(n)}"
        for w, t, n in zip(effects["wins"], effects["ties"], effects["losses"], strict=True)
    ]
    shown["p (Holm)"] = ["n/a" if _missing(p) else f"{p:.3g}" for p in effects["p_holm"]]
    shown["verdict"] = effects["verdict"].astype(str)
    shown["n_seeds"] = effects["n_seeds"].astype(str)
    return shown


def format_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """The columns of `claims.claim_check` that the report prints."""
    return claims[["technique", "arm", "claimed", "literature", "measured", "assessment"]]
