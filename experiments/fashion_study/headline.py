"""Prints the README's headline tables from the committed reports of the Fashion-MNIST studies.

    python experiments/fashion_study/headline.py

Reads `techniques/report.csv` (study 1), `balancing/report.csv` (study 2) and
`recipe/{ema,swa,factorial}/report.csv` (study 3) next to this file, and prints the
three markdown tables that `README.md` holds between its `headline` markers;
`tests/test_fashion_headline.py` checks that the README holds exactly this text. The article's
claims are the report's claim check's (`ablate.report.claims`); the papers' figures, in
short, those of `docs/references.md`.
"""

import math
from pathlib import Path

import pandas as pd

from ablate.report.claims import CLAIMS

STUDIES = Path(__file__).resolve().parent
FAMILIES = {
    "augment": "data",
    "balance": "data",
    "model": "architecture",
    "attention": "architecture",
    "schedule": "training",
    "accumulation": "training",
    "smoothing": "regularization",
    "swa": "regularization",
    "ema": "regularization",
}
PAPERS = {  # arm -> what the papers report, in short (docs/references.md)
    "augment=basic": "flip + shift: the CIFAR standard",
    "augment=randaugment": "~+1.2 pp (CIFAR-10, WRN-28-10)",
    "augment=augmix": "robustness to corruptions",
    "augment=autoaugment": "+0.9-1.6 pp (CIFAR-10, six models)",
    "augment=mixup": "+1.4 pp (CIFAR-10, PreAct ResNet-18)",
    "augment=cutmix": "+2.3 pp (ImageNet, ResNet-50)",
    "model=mobilenet_v3_small": "67.4 % ImageNet; phone latency, not training",
    "attention=se": "+1.5 pp (ImageNet, ResNet-50)",
    "attention=cbam": "+1.9 pp (ImageNet, ResNet-50)",
    "attention=mhsa": "-",
    "schedule=cosine_warmup": "cosine: error 4.24 -> 3.86 % (CIFAR-10)",
    "accumulation=4": "= 4 workers with their own BatchNorm",
    "smoothing=0.1": "-0.1..+0.6 pp; Fashion-MNIST -0.56 pp",
    "swa=on": "+0.27-0.48 pp (CIFAR-10, same epochs)",
    "ema=on": "Polyak averaging: no figure for CNNs",
}
NAMES = {"ema": "EMA", "swa": "SWA", "smoothing": "label smoothing"}


def _pp(row: pd.Series, metric: str = "accuracy") -> str:
    """The row's paired difference `delta_<metric>` in percentage points, with its interval."""
    delta, low, high = (row[f"delta_{metric}{end}"] for end in ("", "_low", "_high"))
    if math.isnan(low):
        return f"{100 * delta:+.2f}"
    return f"{100 * delta:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"


def _time(row: pd.Series) -> str:
    """The row's paired training-time ratio as % change, with its interval."""
    ratio, low, high = (row[f"train_time_ratio{end}"] for end in ("", "_low", "_high"))
    return f"{100 * (ratio - 1):+.0f} % [{100 * (low - 1):+.0f}, {100 * (high - 1):+.0f}]"


def _report(study: str) -> pd.DataFrame:
    return pd.read_csv(STUDIES / study / "report.csv", keep_default_na=False, na_values=[""])


def _article_claim(factor: str, value: str) -> str:
    """What the article claims for a knob value, as the report's claim check quotes it."""
    found = (c.claimed for c in CLAIMS if c.knob == factor and c.is_on(str(value)))
    return next(found, "-")


def _won(row: pd.Series) -> str:
    return f"{int(row['wins'])}/{int(row['losses'])} of {int(row['n_pairs'])}"


def techniques_table() -> str:
    """Study 1: every technique against the baseline, sorted by its accuracy gain."""
    report = _report("techniques")
    base = report.iloc[0]
    lines = [
        "| Tip (family) | Δ test accuracy, pp [95 % CI] | Pairs won/lost | Verdict | "
        "Training time | The article claims | The papers report |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in report.iloc[1:].iterrows():
        claimed = _article_claim(row["factor"], row["value"])
        lines.append(
            f"| `{row['arm']}` ({FAMILIES[row['factor']]}) | {_pp(row)} | {_won(row)} "
            f"| {row['verdict']} | {_time(row)} | {claimed} | {PAPERS[row['arm']]} |"
        )
    lines.append(
        f"\nBaseline: {100 * base['test_accuracy_mean']:.2f} ± "
        f"{100 * base['test_accuracy_std']:.2f} % test accuracy over {int(base['n_pairs'])} seeds."
    )
    return "\n".join(lines)


def balancing_table() -> str:
    """Study 2: each balancing method on the long tail, by balanced accuracy and macro-F1."""
    report = _report("balancing")
    lines = [
        "| Balancing | Δ balanced accuracy, pp [95 % CI] | Δ macro-F1, pp [95 % CI] | "
        "Pairs won/lost | Verdict | Training time |",
        "|---|---|---|---|---|---|",
    ]
    for _, row in report.iloc[1:].iterrows():
        lines.append(
            f"| `{row['arm']}` | {_pp(row, 'balanced_accuracy')} | {_pp(row, 'macro_f1')} "
            f"| {_won(row)} | {row['verdict']} | {_time(row)} |"
        )
    return "\n".join(lines)


def recipe_table() -> str:
    """Study 3: what leaving each winner out of the combined recipe costs."""
    lines = [
        "| Recipe (reference) | Left out | Δ test accuracy, pp [95 % CI] | Pairs won/lost | "
        "Verdict |",
        "|---|---|---|---|---|",
    ]
    for study in ("recipe/ema", "recipe/swa"):
        report = _report(study)
        full = report.iloc[0]
        knobs = [part.split("=")[0] for part in str(full["knobs"]).split(", ")]
        recipe = " + ".join(NAMES[knob] for knob in sorted(knobs, key=lambda k: k == "smoothing"))
        for _, row in report.iloc[1:].iterrows():
            lines.append(
                f"| {recipe} ({100 * full['test_accuracy_mean']:.2f} %) | "
                f"{NAMES[row['factor']]} | {_pp(row)} | {_won(row)} | {row['verdict']} |"
            )
    together = _report("recipe/factorial").set_index("arm")
    gains = {
        arm: _pp(together.loc[arm]) for arm in ("ema=on,smoothing=0.1", "ema=on", "smoothing=0.1")
    }
    lines.append(
        f"\nAgainst the baseline (the factorial `ema` x `smoothing`, 10 paired seeds): EMA + "
        f"smoothing {gains['ema=on,smoothing=0.1']} pp, EMA alone {gains['ema=on']}, "
        f"smoothing alone {gains['smoothing=0.1']}."
    )
    return "\n".join(lines)


def headline() -> str:
    """The three tables, as the README holds them."""
    return "\n\n".join((techniques_table(), balancing_table(), recipe_table()))


if __name__ == "__main__":
    print(headline())
