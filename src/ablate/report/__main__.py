"""`python -m ablate.report`: report a sweep from the MLflow store or from its folder.

    python -m ablate.report                          # latest sweep in the store
    python -m ablate.report --sweep 20261125-120501-ab12 --out reports/x
    python -m ablate.report --from-dir multirun/2026-11-25/12-05-01   # no MLflow needed
    python -m ablate.report --rope 0.2 --min-effect 0.5   # ±0.2 pp equivalence, plan for +0.5 pp
    python -m ablate.report --plan                   # seeds each arm needs, from this pilot

`--rope` is the region of practical equivalence in percentage points of accuracy (default
±0.5 pp): an arm whose mean difference is shown inside it is "equivalent". `--plan` prints how
many seeds each arm needs for 80 % power to detect `--min-effect` (default: the source
article's claimed gain for the arm's technique, else +1 pp) given this sweep's noise, ties and
number of arms, and writes no files. Method: docs/statistics.md.

The store is `--tracking-uri`, else MLFLOW_TRACKING_URI, else `sqlite:///mlflow.db` in the
working directory. The markdown report is printed; files go to `--out` (default: the sweep
folder with `--from-dir`, else `reports/<sweep_id>/`). Mistakes in what the user gave print
one line on stderr and exit with status 2.
"""

import argparse
import sys
from pathlib import Path

from ablate.errors import InputError

DEFAULT_ROPE_PP = 0.5  # = 100 * ablate.report.stats.ROPE (not imported: it loads scipy)


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
    parser.add_argument(
        "--rope",
        type=float,
        default=DEFAULT_ROPE_PP,
        metavar="PP",
        help="region of practical equivalence, ± this many percentage points of accuracy "
        f"(default: {DEFAULT_ROPE_PP})",
    )
    parser.add_argument(
        "--min-effect",
        type=float,
        metavar="PP",
        help="the accuracy gain in pp to plan seeds for (default: the claimed gain of the "
        "arm's technique, else 1)",
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print only the seeds each arm needs for 80 %% power; write no files",
    )
    return parser


def _check(args) -> None:
    if args.from_dir is not None and (args.tracking_uri or args.experiment):
        _parser().error("--from-dir reads no MLflow store: drop --tracking-uri/--experiment")
    if not args.rope >= 0:
        _parser().error(f"`--rope` must be >= 0 percentage points. Received: --rope={args.rope:g}")
    if args.min_effect is not None and not args.min_effect > 0:
        _parser().error(
            "`--min-effect` must be > 0 percentage points. Received: "
            f"--min-effect={args.min_effect:g}"
        )


def _plan(frame, args) -> int:
    from ablate.report.tables import main_table, markdown_table, plan_note, plan_table

    min_effect = None if args.min_effect is None else args.min_effect / 100
    table = main_table(frame, args.rope / 100, min_effect)
    print(markdown_table(plan_table(table)))
    print()
    print(plan_note(table))
    return 0


def _frame(args):
    from ablate.report.collect import runs_from_dir, runs_from_mlflow

    if args.from_dir is not None:
        return runs_from_dir(args.from_dir, sweep_id=args.sweep)
    return runs_from_mlflow(args.tracking_uri, args.sweep, args.experiment)


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    _check(args)
    try:
        frame = _frame(args)
        if args.plan:
            return _plan(frame, args)
        from ablate.report.render import build_report, report_markdown, write_report

        min_effect = None if args.min_effect is None else args.min_effect / 100
        from ablate.report.collect import decisions_from_dir, decisions_from_mlflow

        if args.from_dir is not None:
            decisions = decisions_from_dir(args.from_dir)
        else:
            sweep_id = str(frame["sweep_id"].iloc[0])  # the sweep read, not a newer one
            decisions = decisions_from_mlflow(args.tracking_uri, sweep_id, args.experiment)
        report = build_report(frame, args.rope / 100, min_effect, decisions)
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
