"""The README's headline tables are the committed reports of experiments/fashion_study/."""

import re
from pathlib import Path

import pandas as pd

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "experiments" / "fashion_study"
START, END = "<!-- headline: python experiments/fashion_study/headline.py -->", "<!-- /headline -->"


def _readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_the_readme_holds_exactly_the_tables_the_committed_reports_give():
    assert _readme_block() == load_script(STUDIES / "headline.py").headline()


def test_each_readme_row_of_study_1_carries_its_csv_delta_and_interval():
    report = pd.read_csv(STUDIES / "techniques" / "report.csv").iloc[1:]
    rows = {
        match[1]: match[2]
        for match in re.finditer(r"^\| `([^`]+)` \([a-z]+\) \| ([^|]+) \|", _readme_block(), re.M)
    }
    assert set(rows) == set(report["arm"])
    for _, arm in report.iterrows():
        delta, low, high = (
            100 * arm[c] for c in ("delta_accuracy", "delta_accuracy_low", "delta_accuracy_high")
        )
        numbers = [float(x) for x in re.findall(r"[+-]\d+\.\d+", rows[arm["arm"]])]
        assert numbers == [round(delta, 2), round(low, 2), round(high, 2)], arm["arm"]


def test_every_arm_of_study_1_has_5_paired_seeds_and_10_where_it_stopped_open():
    report = pd.read_csv(STUDIES / "techniques" / "report.csv")
    adaptive = pd.read_csv(STUDIES / "techniques" / "adaptive.csv")
    assert len(report) == 16 and len(adaptive) == 15  # the baseline and 15 arms
    assert report["n_pairs"].min() >= 5
    at_cap = adaptive[adaptive["reason"].str.startswith("reached max_seeds")]
    assert len(at_cap) and (at_cap["seeds"] >= 10).all()
    decided = adaptive[adaptive["verdict"].isin(["better", "worse", "equivalent"])]
    stopped_early = adaptive[adaptive["reason"].str.startswith("futile")]
    assert len(decided) + len(at_cap) + len(stopped_early) == 15
