"""Reports of an ablation sweep: collect -> tidy table -> paired statistics -> tables, figures.

Every table and figure is a pure function of one tidy table (one row per run), read from a
sweep's output folder (`runs_from_dir`, no MLflow needed) or from the MLflow store
(`runs_from_mlflow`).

Example:

>>> from ablate.report import build_report, report_markdown, runs_from_dir, write_report
>>> report = build_report(runs_from_dir("multirun/2026-11-25/12-05-01"))  # doctest: +SKIP
>>> print(report_markdown(report))  # doctest: +SKIP
>>> write_report(report, "reports/my-sweep")  # doctest: +SKIP
"""

from ablate.report.collect import SweepNotFoundError, runs_from_dir, runs_from_mlflow
from ablate.report.render import (
    Report,
    build_report,
    figure_png,
    report_html,
    report_markdown,
    write_report,
)

__all__ = [
    "Report",
    "SweepNotFoundError",
    "build_report",
    "figure_png",
    "report_html",
    "report_markdown",
    "runs_from_dir",
    "runs_from_mlflow",
    "write_report",
]
