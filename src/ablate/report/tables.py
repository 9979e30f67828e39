"""The report's tables, each a pure function of the tidy table, and their text formatting.

`main_table` is numeric (it becomes `report.csv`); `format_main_table` turns it into the
strings of `report.md`. Accuracies print in %, their differences in percentage points (pp).
"""

import math

import pandas as pd

from ablate.report.frame import FINISHED, arm_order, baseline_arm, check_frame, knob_columns
from ablate.report.stats import (
    CLAIM_PAIRS,
    CONFIDENCE,
    EXPLORATORY_PAIRS,
    POWERED_PAIRS,
    RESAMPLES,
    SEED,
    compare_arms,
    pairs,
    time_to_reach,
)

SECONDARY = {
    "macro_f1": "test_macro_f1",
    "balanced_accuracy": "test_balanced_accuracy",
    "ece": "test_ece",
}


def _knobs(run: pd.Series, base: pd.Series, knobs: list[str], is_base: bool) -> str:
    """All knob values of the baseline; for an arm, the knobs it changes."""
    if not knobs:
        pairs_ = zip(str(run["factor"]).split(","), str(run["value"]).split(","), strict=False)
        return "" if is_base else ", ".join(f"{k}={v}" for k, v in pairs_ if k)
    shown = [k for k in knobs if is_base or run[k] != base[k]]
    return ", ".join(f"{k.removeprefix('knob.')}={run[k]}" for k in shown)


def _paired_percent(frame: pd.DataFrame, metric: str, arm: str) -> float:
    """100 * (mean over paired seeds of the arm / same for the baseline - 1)."""
    paired = pairs(frame, metric, arm)
    if paired.empty or paired["baseline"].mean() == 0:
        return math.nan
    return float(100 * (paired["arm"].mean() / paired["baseline"].mean() - 1))


def _finished_mean(runs: pd.DataFrame, metric: str) -> float:
    values = runs.loc[runs["status"] == FINISHED, metric].dropna()
    return float(values.mean()) if len(values) else math.nan


def main_table(frame: pd.DataFrame, resamples: int = RESAMPLES, seed: int = SEED) -> pd.DataFrame:
    """The main table: one row per arm, the baseline first, then arms by delta accuracy.

    Deltas are arm minus baseline, paired by seed, with 95 % percentile bootstrap CIs; the
    CI of P(arm > baseline) is at the arm's Holm level (`p_better_level`). Times are means
    over finished runs, their deltas paired ratios in %. `reach_*` is the median time to
    reach the baseline's final validation accuracy of the same seed (inf = never).

    Args:
        frame: the tidy table.
        resamples: bootstrap samples. Defaults to 10,000.
        seed: bootstrap generator seed. Defaults to 0.

    Returns:
        A numeric table with columns `arm, role, factor, value, knobs, runs_finished,
        runs_failed, n_pairs, test_accuracy_mean, test_accuracy_std, delta_accuracy,
        delta_accuracy_low, delta_accuracy_high, p_better, p_better_low, p_better_high,
        p_better_level, p_value, p_holm, verdict, evidence, mde, delta_macro_f1(_low/_high),
        delta_balanced_accuracy(_low/_high), delta_ece(_low/_high), steady_epoch_time_s,
        delta_steady_epoch_time_pct, train_time_s, delta_train_time_pct, first_epoch_time_s,
        num_params, delta_num_params, reach_pairs, reach_seeds, reach_epochs, reach_seconds`.

    Raises:
        InputError: if the frame has no baseline.
    """
    check_frame(frame)
    base = baseline_arm(frame)
    accuracy = compare_arms(frame, "test_accuracy", resamples, seed).set_index("arm")
    secondary = {
        name: compare_arms(frame, metric, resamples, seed).set_index("arm")
        for name, metric in SECONDARY.items()
    }
    reach = time_to_reach(frame).set_index("arm")
    base_runs = frame[frame["arm"] == base]
    knobs = knob_columns(frame)
    rows = []
    for arm in arm_order(frame):
        runs = frame[frame["arm"] == arm]
        first = runs.iloc[0]
        finished = runs[(runs["status"] == FINISHED) & runs["test_accuracy"].notna()]
        is_base = arm == base
        row = {
            "arm": arm,
            "role": "baseline" if is_base else "arm",
            "factor": first["factor"],
            "value": first["value"],
            "knobs": _knobs(first, base_runs.iloc[0], knobs, is_base),
            "runs_finished": int((runs["status"] == FINISHED).sum()),
            "runs_failed": int((runs["status"] != FINISHED).sum()),
            "n_pairs": len(finished) if is_base else int(accuracy.at[arm, "n_pairs"]),
            "test_accuracy_mean": float(finished["test_accuracy"].mean())
            if len(finished)
            else math.nan,
            "test_accuracy_std": float(finished["test_accuracy"].std(ddof=1))
            if len(finished) > 1
            else math.nan,
        }
        if is_base:
            row |= {"delta_accuracy": 0.0, "verdict": "baseline", "evidence": ""}
        else:
            found = accuracy.loc[arm]
            row |= {
                "delta_accuracy": found["delta"],
                "delta_accuracy_low": found["delta_low"],
                "delta_accuracy_high": found["delta_high"],
                "p_better": found["p_better"],
                "p_better_low": found["p_better_low"],
                "p_better_high": found["p_better_high"],
                "p_better_level": found["ci_level"],
                "p_value": found["p_value"],
                "p_holm": found["p_holm"],
                "verdict": found["verdict"],
                "evidence": found["evidence"],
                "mde": found["mde"],
            }
            for name, table in secondary.items():
                row[f"delta_{name}"] = table.at[arm, "delta"]
                row[f"delta_{name}_low"] = table.at[arm, "delta_low"]
                row[f"delta_{name}_high"] = table.at[arm, "delta_high"]
        row |= {
            "steady_epoch_time_s": _finished_mean(runs, "steady_epoch_time_s"),
            "delta_steady_epoch_time_pct": 0.0
            if is_base
            else _paired_percent(frame, "steady_epoch_time_s", arm),
            "train_time_s": _finished_mean(runs, "train_time_s"),
            "delta_train_time_pct": 0.0 if is_base else _paired_percent(frame, "train_time_s", arm),
            "first_epoch_time_s": _finished_mean(runs, "first_epoch_time_s"),
            "num_params": _finished_mean(runs, "num_params"),
        }
        row["delta_num_params"] = row["num_params"] - _finished_mean(base_runs, "num_params")
        row |= reach.loc[arm].to_dict()
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=MAIN_COLUMNS)
    arms = table.iloc[1:].sort_values("delta_accuracy", ascending=False, na_position="last")
    return pd.concat([table.iloc[:1], arms]).reset_index(drop=True)


MAIN_COLUMNS = [
    "arm",
    "role",
    "factor",
    "value",
    "knobs",
    "runs_finished",
    "runs_failed",
    "n_pairs",
    "test_accuracy_mean",
    "test_accuracy_std",
    "delta_accuracy",
    "delta_accuracy_low",
    "delta_accuracy_high",
    "p_better",
    "p_better_low",
    "p_better_high",
    "p_better_level",
    "p_value",
    "p_holm",
    "verdict",
    "evidence",
    "mde",
    *(f"delta_{name}{end}" for name in SECONDARY for end in ("", "_low", "_high")),
    "steady_epoch_time_s",
    "delta_steady_epoch_time_pct",
    "train_time_s",
    "delta_train_time_pct",
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


def _pp(value: float, low: float = math.nan, high: float = math.nan, ci: bool = True) -> str:
    """A fraction as signed percentage points, with its CI ("n/a" when unavailable)."""
    if _missing(value):
        return "n/a"
    text = f"{100 * value:+.2f}"
    if not ci:
        return text
    if _missing(low):
        return f"{text} [n/a]"
    return f"{text} [{100 * low:+.2f}, {100 * high:+.2f}]"


def _seconds(value: float, percent: float, is_base: bool) -> str:
    if _missing(value):
        return "n/a"
    if is_base:
        return f"{value:.2f}"
    return f"{value:.2f} ({'n/a' if _missing(percent) else f'{percent:+.1f} %'})"


def _reach(row: pd.Series) -> str:
    if not row["reach_pairs"] or _missing(row["reach_epochs"]):
        return "n/a"
    count = f"({int(row['reach_seeds'])}/{int(row['reach_pairs'])} seeds)"
    if math.isinf(row["reach_epochs"]):
        return f"never {count}"
    seconds = "" if _missing(row["reach_seconds"]) else f" / {row['reach_seconds']:.1f} s"
    return f"{row['reach_epochs']:g} ep{seconds} {count}"


ACCURACY_HEADERS = [
    "arm",
    "knobs",
    "runs ok/failed",
    "N pairs",
    "test acc. % (mean ± std)",
    "Δ acc. pp [95 % CI]",
    "P(arm>base) [Holm CI]",
    "verdict (Holm)",
]
COST_HEADERS = [
    "arm",
    "Δ macro-F1 pp [CI]",
    "Δ bal. acc. pp [CI]",
    "Δ ECE pp [CI]",
    "steady epoch s (Δ)",
    "train s (Δ)",
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
            delta = probability = "ref."
            secondary = ["ref."] * 3
        else:
            delta = _pp(
                row["delta_accuracy"], row["delta_accuracy_low"], row["delta_accuracy_high"]
            )
            if _missing(row["p_better"]):
                probability = "n/a"
            elif _missing(row["p_better_low"]):
                probability = f"{row['p_better']:.2f} [n/a]"
            else:
                probability = (
                    f"{row['p_better']:.2f} [{row['p_better_low']:.2f}, {row['p_better_high']:.2f}]"
                )
            secondary = [
                _pp(row[f"delta_{n}"], row[f"delta_{n}_low"], row[f"delta_{n}_high"])
                for n in SECONDARY
            ]
        params = row["delta_num_params"]
        rows.append(
            [
                f"{row['arm']} (baseline)" if is_base and row["arm"] != "baseline" else row["arm"],
                row["knobs"],
                f"{int(row['runs_finished'])}/{int(row['runs_failed'])}",
                "ref." if is_base else str(int(row["n_pairs"])),
                accuracy,
                delta,
                probability,
                row["verdict"],
                *secondary,
                _seconds(row["steady_epoch_time_s"], row["delta_steady_epoch_time_pct"], is_base),
                _seconds(row["train_time_s"], row["delta_train_time_pct"], is_base),
                "n/a"
                if _missing(row["first_epoch_time_s"])
                else f"{row['first_epoch_time_s']:.2f}",
                "ref." if is_base else ("n/a" if _missing(params) else f"{params:+,.0f}"),
                _reach(row),
            ]
        )
    return pd.DataFrame(rows, columns=ACCURACY_HEADERS + COST_HEADERS[1:])


def footnote(table: pd.DataFrame) -> str:
    """The main table's footnote: method, smallest detectable effects, evidence labels.

    Args:
        table: the output of `main_table`.

    Returns:
        Markdown text.
    """
    arms = table[table["role"] != "baseline"]
    lines = [
        "Δ = arm − baseline, paired by seed (only seeds where both runs finished); "
        f"{100 * CONFIDENCE:.0f} % percentile bootstrap CI ({RESAMPLES:,} resamples, seed {SEED}). "
        "P(arm>base) = share of pairs the arm wins (ties count ½); its CI is widened to the "
        "arm's Holm level. Verdict: better if CI_low(P) > 0.5 and CI_high(P) > 0.75 and the "
        "Holm-adjusted p < 0.05; worse symmetrically (Bouthillier et al. 2021). The p-value "
        "of N pairs is at least 2^(1−N) (the exact sign test's floor), so fewer than 6 pairs "
        "never give a verdict.",
    ]
    detectable = [
        f"{row['arm']} ±{100 * row['mde']:.2f} pp (N={int(row['n_pairs'])})"
        for _, row in arms.iterrows()
        if not _missing(row["mde"])
    ]
    if detectable:
        lines.append(
            "Smallest detectable Δ accuracy, t(0.975, N−1)·s_d/√N: " + "; ".join(detectable) + "."
        )
    counts = arms["n_pairs"].astype(int)
    if len(counts):
        fewest = int(counts.min())
        if fewest < CLAIM_PAIRS:
            label = f"fewer than {EXPLORATORY_PAIRS}" if fewest < EXPLORATORY_PAIRS else "5-9"
            lines.append(
                f"**Exploratory**: {label} pairs for some arms (min N={fewest}). "
                f"Use ≥ {CLAIM_PAIRS} pairs for a claim, {POWERED_PAIRS} for a fully powered "
                "test at P = 0.75."
            )
    failed = int(table["runs_failed"].sum())
    if failed:
        lines.append(f"{failed} run(s) did not finish; they are counted and left out of pairs.")
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
    """Formats `main_effects` or `interactions` output: values and CIs in pp.

    Args:
        effects: the output of `factorial.main_effects` or `factorial.interactions`.
        value: the value column, `"effect"` or `"interaction"`. Defaults to `"effect"`.

    Returns:
        The same rows with the value and its CI in one pp string column.
    """
    shown = effects.drop(columns=[value, f"{value}_low", f"{value}_high"]).copy()
    shown[f"{value} pp [95 % CI]"] = [
        _pp(row[value], row[f"{value}_low"], row[f"{value}_high"]) for _, row in effects.iterrows()
    ]
    return shown.astype(str)


def format_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """The columns of `claims.claim_check` that the report prints."""
    return claims[["technique", "arm", "claimed", "literature", "measured", "assessment"]]
