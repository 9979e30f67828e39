"""The Hydra callback that reports a sweep when it ends and sets the exit code.

Registered in `conf/config.yaml` under `hydra.callbacks`. After a multirun made by the ablate
sweeper (which leaves `sweep.json` in the sweep folder) it builds the report into the folder
and onto the sweep's parent MLflow run, then exits with status 1 when any run failed or did
not reach the tracking store. With `hydra/sweeper=basic` there is no `sweep.json` and it does
nothing.
"""

import json
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class ReportAtSweepEnd(Callback):
    """Builds the ablation report at the end of every ablate sweep."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        record_path = sweep_dir / "sweep.json"
        if not record_path.exists():
            return
        record = json.loads(record_path.read_text())
        runs = record["launched"] + record["skipped"] + record.get("reused", 0)
        if config.ablation.report and runs > 0:
            parent = record["parent_run_id"] if record.get("parent_closed", True) else None
            try:  # with the store away, the report waits for `python -m ablate.upload`
                report_sweep(sweep_dir, record["tracking_uri"], parent)
                print((sweep_dir / "report.md").read_text())
                print(f"Report files: {sweep_dir}/report.md, report.html, report.csv, *.png")
            except Exception as error:  # the report must not hide the sweep's own outcome
                print(
                    f"ablate: no report for sweep {record['sweep_id']}: "
                    f"{type(error).__name__}: {error}",
                    file=sys.stderr,
                )
        if record["failed"] or record.get("not_uploaded") or record.get("parent_closed") is False:
            sys.exit(1)


def report_sweep(
    sweep_dir: Path, tracking_uri: str | None, parent_run_id: str | None
) -> list[Path]:
    """Reports a finished sweep from its folder, and uploads the files to its parent run.

    Builds the report from the `metrics.json` files under `sweep_dir`, writes it into
    `sweep_dir`, and, when `parent_run_id` is given, logs the written files as artifacts
    of that MLflow run under `report/` and its headline numbers (`ablate.report.headline`)
    as its metrics and tags.

    Args:
        sweep_dir: the sweep's output folder.
        tracking_uri: the MLflow store of the parent run (None: MLflow's default).
        parent_run_id: the sweep's parent run, or None to log nothing.

    Returns:
        The written paths.

    Raises:
        InputError: if the folder holds no sweep runs, or the sweep has no baseline.
    """
    from ablate.report import build_report, runs_from_dir, write_report
    from ablate.report.collect import decisions_from_dir

    report = build_report(runs_from_dir(sweep_dir), decisions=decisions_from_dir(sweep_dir))
    written = write_report(report, sweep_dir)
    if parent_run_id:
        from ablate.report.headline import headline
        from ablate.tracking_transfer import log_to_run, upload_files

        upload_files(tracking_uri, parent_run_id, written, "report")
        log_to_run(tracking_uri, parent_run_id, *headline(report.main))
    return written
