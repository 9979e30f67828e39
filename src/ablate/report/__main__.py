"""`python -m ablate.report`: report a sweep from the MLflow store or from its folder.

    python -m ablate.report                          # latest sweep in the store
    python -m ablate.report --sweep 20261125-120501-ab12 --out reports/x
    python -m ablate.report --from-dir multirun/2026-11-25/12-05-01   # no MLflow needed

The store is `--tracking-uri`, else MLFLOW_TRACKING_URI, else `sqlite:///mlflow.db` in the
working directory. The markdown report is printed; files go to `--out` (default: the sweep
folder with `--from-dir`, else `reports/<sweep_id>/`). Mistakes in what the user gave print
one line on stderr and exit with status 2.
"""

import argparse
import sys
from pathlib import Path

from ablate.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ablate.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sweep", help="the sweep id (default: the latest sweep)")
    parser.add_argument("--experiment", help="the MLflow experiment to search (default: all)")
    parser.add_argument(
        "--tracking-uri", help="the MLflow store (default: MLFLOW_TRACKING_URI or ./mlflow.db)"
    )
    parser.add_argument(
        "--from-dir", type=Path, help="read the sweep's output folder instead of MLflow"
    )
    parser.add_argument("--out", type=Path, help="where to write the report files")
    return parser


def _frame(args):
    if args.from_dir is not None:
        from ablate.report.collect import runs_from_dir

        return runs_from_dir(args.from_dir, sweep_id=args.sweep)
    from ablate.report.collect import default_tracking_uri, runs_from_mlflow

    try:
        return runs_from_mlflow(args.tracking_uri, args.sweep, args.experiment)
    except InputError:
        raise
    except Exception as error:
        from mlflow.exceptions import MlflowException  # mlflow is imported by now

        if not isinstance(error, MlflowException):
            raise
        reason = (error.message or str(error) or type(error).__name__).splitlines()[0]
        uri = args.tracking_uri or default_tracking_uri()
        raise InputError(
            f"The MLflow store could not be read. Received: tracking_uri={uri} ({reason}). "
            "Pass --tracking-uri, or read a sweep folder with --from-dir."
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.from_dir is not None and (args.tracking_uri or args.experiment):
        _parser().error("--from-dir reads no MLflow store: drop --tracking-uri/--experiment")
    try:
        frame = _frame(args)
        from ablate.report.render import build_report, report_markdown, write_report

        report = build_report(frame)
    except InputError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    out = args.out or (
        args.from_dir if args.from_dir is not None else Path("reports", report.sweep_id)
    )
    written = write_report(report, out)
    print(report_markdown(report))
    print(f"Wrote {len(written)} files to {out}/ (open {out / 'report.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
