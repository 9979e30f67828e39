"""The assembled report: sections, summary counts, factorial tables, options."""

import pandas as pd
from synthetic_sweeps import demo_records, frame_of, run

from ablate.report import build_report, report_markdown
from ablate.report.stats import ROPE


def _factorial(seeds: int = 8, failed_seed: int | None = None) -> pd.DataFrame:
    cells = {("off", "0.0"): 0.80, ("on", "0.0"): 0.85, ("off", "0.1"): 0.82, ("on", "0.1"): 0.90}
    records = []
    for (swa, smoothing), accuracy in cells.items():
        changed = [
            f"{k}={v}"
            for k, v, ref in (("swa", swa, "off"), ("smoothing", smoothing, "0.0"))
            if v != ref
        ]
        for seed in range(seeds):
            status = "FAILED" if (seed, changed) == (failed_seed, ["swa=on"]) else "FINISHED"
            record = run(
                "baseline",
                seed,
                accuracy + 0.01 * seed + 0.001 * (seed % 2),
                status=status,
                knobs={"swa": swa, "smoothing": smoothing},
                design="factorial",
            )
            record["arm"] = ",".join(changed) or "baseline"
            record["role"] = "arm" if changed else "baseline"
            record["factor"] = ",".join(c.split("=")[0] for c in changed)
            record["value"] = ",".join(c.split("=")[1] for c in changed)
            records.append(record)
    return frame_of(records)


def test_summary_counts_missing_runs_and_headers_are_the_new_ones():
    records = demo_records()
    records = [r for r in records if (r["arm"], r["seed"]) != ("swa=on", 2)]  # never ran
    markdown = report_markdown(build_report(frame_of(records)))
    assert "9 runs" not in markdown and "8 runs (7 finished), 1 expected run(s) missing" in markdown
    assert (
        "| arm | knobs | runs ok/failed/missing | N pairs | W/T/L | test acc. % (mean ± std) "
        "| Δ acc. pp [95 % CI] | d_z | P(arm>base) [95 % CI] | verdict (Holm) |"
    ) in markdown
    assert "| swa=on | swa=on | 2/0/1 | 2 | 2/0/0 |" in markdown
    assert "Holm CI" not in markdown and "bootstrap" not in markdown
    assert "Smallest detectable" not in markdown


def test_factorial_sections_show_verdicts_and_cell_means_over_complete_seeds():
    report = build_report(_factorial(failed_seed=1))
    markdown = report_markdown(report)
    assert "## Factorial main effects" in markdown
    assert "| knob | level | reference | effect pp [95 % CI] | d_z | W/T/L | p (Holm) |" in markdown
    assert "## Mean test accuracy (%), smoothing x swa, over the 7 complete seed(s)" in markdown
    assert report.main_effects["n_seeds"].tolist() == [7, 7]
    assert report.main_effects["p_holm"].tolist() == [2 * 2.0**-6] * 2  # 7 of 7, Holm over 2
    assert set(report.main_effects["verdict"]) == {"better"}


def test_the_rope_reaches_every_table_and_the_forest_plot():
    frame = _factorial()
    wide = build_report(frame, rope=0.1)  # ±10 pp: every effect here is "within ROPE"
    assert set(wide.main_effects["verdict"]) == {"better (within ROPE)"}
    assert "ROPE ±10.00 pp" in wide.footnote
    (axes,) = wide.figures["forest"].axes
    (band,) = [p for p in axes.patches if p.get_label() == "ROPE"]
    assert band.get_width() == 20.0
    default = build_report(frame)
    assert f"ROPE ±{100 * ROPE:.2f} pp" in default.footnote
    planned = build_report(frame, min_effect=0.002).main
    assert set(planned.loc[planned["role"] == "arm", "min_effect_source"]) == {"--min-effect"}
