"""Assembles the tables and figures of one sweep into a `Report`, and writes it to disk.

`build_report(frame)` is pure: the same tidy table gives the same report. `write_report`
writes `report.md`, `report.csv` (the main table, numeric), a self-contained `report.html`
(figures embedded as base64 PNG) and one PNG per figure.
"""

import base64
import dataclasses
import functools
import html
import io
import re
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ablate.report import plots
from ablate.report.claims import claim_check
from ablate.report.deployment import (
    deployment_table,
    float32_reference,
    format_deployment,
    has_quantized_runs,
    post_training_verdicts,
)
from ablate.report.evidence import applied_as, input_bound_note
from ablate.report.factorial import cell_means, interactions, is_full_grid, main_effects
from ablate.report.frame import check_frame, run_counts
from ablate.report.stats import ROPE
from ablate.report.tables import (
    ACCURACY_HEADERS,
    COST_HEADERS,
    footnote,
    format_claims,
    format_effects,
    format_main_table,
    main_table,
    markdown_table,
)

FIGURES = {
    "forest": plots.forest,
    "pareto": plots.pareto,
    "learning_curves": plots.learning_curves,
    "per_seed": plots.per_seed,
}
CAPTIONS = {
    "forest": "Paired Δ test accuracy per arm with 95 % t CI (dashed line: baseline; hollow: "
    "fewer than 5 non-tied pairs, unreliable).",
    "pareto": "Test accuracy against training time, mean ± std over seeds (star: baseline).",
    "learning_curves": "Validation accuracy per epoch and per second (mean ± std over seeds).",
    "per_seed": "Every run's test accuracy, coloured by seed (bar: arm mean).",
    "size_accuracy": "Test accuracy against model size: the baseline's Keras model at its float32 "
    "TFLite size (star) and each quantized arm's TFLite model, mean ± std over seeds.",
}


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything the report shows about one sweep.

    Args:
        sweep_id: the sweep's id.
        design: `"ofat"`, `"loo"` or `"factorial"`.
        frame: the tidy table it was built from.
        main: the numeric main table (`tables.main_table`).
        footnote: the main table's footnote (markdown).
        claims: the claim check (`claims.claim_check`).
        main_effects: factorial main effects, or None for other designs.
        interactions: factorial two-way interactions, or None.
        cell_means: two-way tables of mean test accuracy per pair of knobs (factorial).
        figures: name -> figure, for `FIGURES`.
        decisions: an adaptive sweep's group-sequential decisions (`adaptive.csv`), or None.
    """

    sweep_id: str
    design: str
    frame: pd.DataFrame
    main: pd.DataFrame
    footnote: str
    claims: pd.DataFrame
    main_effects: pd.DataFrame | None
    interactions: pd.DataFrame | None
    cell_means: dict[str, pd.DataFrame]
    figures: dict[str, Figure]
    decisions: pd.DataFrame | None = None

    def _repr_markdown_(self) -> str:
        return report_markdown(self)


def build_report(
    frame: pd.DataFrame,
    rope: float = ROPE,
    min_effect: float | None = None,
    decisions: pd.DataFrame | None = None,
) -> Report:
    """Builds every table and figure of the report from the tidy table.

    Args:
        frame: the tidy table (`runs_from_dir` or `runs_from_mlflow`).
        rope: half-width of the region of practical equivalence, as a fraction of accuracy.
            Defaults to 0.005 (±0.5 pp).
        min_effect: the accuracy gain to plan seeds for, as a fraction. Defaults to None
            (the claimed gain of the arm's technique, else +1 pp).
        decisions: for an adaptive sweep (`ablation.seeds=auto`), its group-sequential
            decisions (`adaptive.csv`): their verdicts replace the fixed-N ones, which would
            ignore the repeated looks. Defaults to None.

    Returns:
        The report.

    Raises:
        InputError: if the frame is not a tidy table of one sweep with a baseline.

    Example:

    >>> report = build_report(runs_from_dir("multirun/2026-11-25/12-05-01"))  # doctest: +SKIP
    >>> print(report_markdown(report))  # doctest: +SKIP
    """
    check_frame(frame)
    designs = sorted({d for d in frame["design"] if d})
    design = ",".join(designs) or "unknown"
    factorial = design == "factorial" and is_full_grid(frame)
    pairs = {}
    if factorial:
        effects, crossed = main_effects(frame, rope=rope), interactions(frame, rope=rope)
        for _, row in crossed[["knob_a", "knob_b"]].drop_duplicates().iterrows():
            name = f"{row['knob_a']} x {row['knob_b']}"
            pairs[name] = cell_means(frame, row["knob_a"], row["knob_b"])
    else:
        effects = crossed = None
    main = main_table(frame, rope, min_effect)
    if has_quantized_runs(frame):
        main = post_training_verdicts(main, frame)
    note = footnote(main, rope)
    if decisions is not None:
        verdicts = dict(zip(decisions["arm"], decisions["verdict"], strict=True))
        main["verdict"] = [verdicts.get(arm, old) for arm, old in main[["arm", "verdict"]].values]
        note += (
            "\n- **Adaptive seeding** (`ablation.seeds=auto`): verdicts are the group-sequential "
            "ones (exact sign test with O'Brien-Fleming-type alpha spending, Holm across arms), "
            "valid despite the repeated looks; the table below says why each arm stopped."
        )
    draws = FIGURES | {"forest": functools.partial(plots.forest, rope=rope)}
    if has_quantized_runs(frame):
        draws["size_accuracy"] = plots.size_accuracy
    return Report(
        sweep_id=",".join(sorted({str(s) for s in frame["sweep_id"]})),
        design=design,
        frame=frame,
        main=main,
        footnote=note,
        claims=claim_check(frame, rope),
        main_effects=effects,
        interactions=crossed,
        cell_means=pairs,
        figures={name: draw(frame) for name, draw in draws.items()},
        decisions=decisions,
    )


def _summary(report: Report) -> str:
    frame = report.frame
    seeds = frame["seed"].nunique()
    missing = int(run_counts(frame)["runs_missing"].sum())
    return (
        f"Sweep `{report.sweep_id}`: design {report.design}, {frame['arm'].nunique()} arm(s) "
        "including the baseline, "
        f"{seeds} seed(s), {len(frame)} runs ({int((frame['status'] == 'FINISHED').sum())} "
        f"finished), {missing} expected run(s) missing."
    )


def _sections(report: Report) -> list[tuple[str, str]]:
    """(title, markdown body) of every table section, in order."""
    shown = format_main_table(report.main)
    sections = [
        ("Accuracy against the baseline", markdown_table(shown[ACCURACY_HEADERS])),
        ("Other metrics and cost (same rows)", markdown_table(shown[COST_HEADERS])),
        ("Applied as (evidence recorded by the runs)", markdown_table(applied_as(report.frame))),
    ]
    if has_quantized_runs(report.frame):
        table = format_deployment(deployment_table(report.frame))
        body = markdown_table(table) + "\n\n" + float32_reference(report.frame)
        sections.append(("Deployed model: TFLite quantization (quantize=)", body))
    sections.append(("Notes", report.footnote + input_bound_note(report.frame)))
    if report.decisions is not None:
        columns = ["arm", "seeds", "wins", "ties", "losses", "verdict", "reason"]
        title = "Adaptive seeding: paired seeds per arm and why it stopped"
        sections.append((title, markdown_table(report.decisions[columns])))
    if report.claims.empty:
        claims = "The sweep varies no technique the practitioner article makes a claim about."
    else:
        claims = markdown_table(format_claims(report.claims))
    sections.append(("Claim check (effect = with minus without the technique)", claims))
    if report.main_effects is not None:
        sections.append(
            ("Factorial main effects", markdown_table(format_effects(report.main_effects)))
        )
        sections.append(
            (
                "Two-way interactions",
                markdown_table(format_effects(report.interactions, "interaction")),
            )
        )
        for name, means in report.cell_means.items():
            table = (100 * means).map(lambda v: f"{v:.2f}").reset_index()
            rows, columns = (
                n.removeprefix("knob.") for n in (means.index.name, means.columns.name)
            )
            table.columns = [f"{rows} \\ {columns}", *map(str, means.columns)]
            seeds = int(report.main_effects["n_seeds"].iloc[0])
            title = f"Mean test accuracy (%), {name}, over the {seeds} complete seed(s)"
            sections.append((title, markdown_table(table)))
    return sections


def report_markdown(report: Report, figures: bool = False) -> str:
    """The report as markdown, as printed in the terminal.

    Args:
        report: from `build_report`.
        figures: also link the figure PNGs (as written by `write_report`). Defaults to False.

    Returns:
        Markdown text.
    """
    parts = [f"# Ablation report: {report.sweep_id}", _summary(report)]
    for title, body in _sections(report):
        parts += [f"## {title}", body]
    if figures:
        parts.append("## Figures")
        parts += [f"![{CAPTIONS[name]}]({name}.png)" for name in report.figures]
    return "\n\n".join(parts) + "\n"


def figure_png(figure: Figure, dpi: int = 110) -> bytes:
    """Renders a figure to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _inline(text: str) -> str:
    """Escapes text for HTML, keeping markdown's **bold** and `code`."""
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _html_table(markdown: str) -> str:
    """Turns one of our markdown tables (or bullet list / paragraph) into HTML."""
    lines = markdown.splitlines()
    if not lines or not lines[0].startswith("|"):
        items = [_inline(line.removeprefix("- ")) for line in lines]
        if all(line.startswith("- ") for line in lines):
            return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
        return "<p>" + "<br>".join(items) + "</p>"

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells(lines[0]))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(line)) + "</tr>"
        for line in lines[2:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: Report, pngs: dict[str, bytes]) -> str:
    """The report as one self-contained HTML page, figures embedded as base64 PNG.

    Args:
        report: from `build_report`.
        pngs: each figure of `report.figures` rendered by `figure_png`, by name.
    """
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "table{border-collapse:collapse;font-size:13px;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%}"
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Ablation report "
        f"{html.escape(report.sweep_id)}</title><style>{style}</style></head><body>",
        f"<h1>Ablation report: {html.escape(report.sweep_id)}</h1>",
        f"<p>{_inline(_summary(report))}</p>",
    ]
    for title, body in _sections(report):
        parts += [f"<h2>{html.escape(title)}</h2>", _html_table(body)]
    parts.append("<h2>Figures</h2>")
    for name in report.figures:
        data = base64.b64encode(pngs[name]).decode("ascii")
        parts.append(
            f"<figure><img alt='{name}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(CAPTIONS[name])}</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, out_dir: Path | str) -> list[Path]:
    """Writes the report's files into `out_dir` (created if needed).

    Args:
        report: from `build_report`.
        out_dir: the folder to write into.

    Returns:
        The written paths: `report.md`, `report.csv`, `report.html`, then one PNG per
        figure (`forest.png`, `pareto.png`, `learning_curves.png`, `per_seed.png`).
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.md", folder / "report.csv", folder / "report.html"]
    written[0].write_text(report_markdown(report, figures=True), encoding="utf-8")
    report.main.to_csv(written[1], index=False)
    pngs = {name: figure_png(figure) for name, figure in report.figures.items()}
    written[2].write_text(report_html(report, pngs), encoding="utf-8")
    for name, png in pngs.items():
        path = folder / f"{name}.png"
        path.write_bytes(png)
        written.append(path)
    return written
