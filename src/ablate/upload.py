"""`python -m ablate.upload FOLDER`: send the runs that did not reach their tracking store.

When a store stops answering mid-run (a dead tracking server), the run goes on, keeps its
results in its output folder and leaves a `not_uploaded.json` there; a sweep records in
`sweep.json` whether it could close its parent run. Once the store is back, this command
uploads every marked run under FOLDER (a run's folder or a sweep's), closes the sweep's
parent run with the status it should have had and attaches the sweep's report, then removes
the markers. Running it twice uploads nothing twice. Exit status 2, with one line, when the
store still does not answer.
"""

import argparse
import json
import sys
from pathlib import Path

from ablate.errors import InputError
from ablate.run_files import UPLOAD_MARKER

REPORT_FILES = ("report.md", "report.csv", "report.html", "*.png")


def upload_folder(folder: Path) -> list[str]:
    """Uploads the marked runs under `folder` and closes an unclosed sweep; returns what it did.

    Raises:
        InputError: if a store cannot be reached.
    """
    from ablate.tracking_transfer import close_parent_run, upload_files, upload_run

    done = []
    for marker in sorted(folder.rglob(UPLOAD_MARKER)):
        target = json.loads(marker.read_text())
        upload_run(target["tracking_uri"], target["run_id"], marker.parent)
        marker.unlink()
        done.append(f"uploaded run {target['run_id']} from {marker.parent}")
    sweep_path = folder / "sweep.json"
    if sweep_path.exists():
        sweep = json.loads(sweep_path.read_text())
        if sweep.get("parent_closed") is False and sweep.get("parent_run_id"):
            uri, parent = sweep["tracking_uri"], sweep["parent_run_id"]
            report = sorted(p for pattern in REPORT_FILES for p in folder.glob(pattern))
            if report:
                upload_files(uri, parent, report, "report")
            close_parent_run(uri, parent, sweep["parent_status"])
            sweep["parent_closed"] = True
            sweep_path.write_text(json.dumps(sweep, indent=2))
            done.append(f"closed the parent run {parent} of sweep {sweep['sweep_id']}")
    return done


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ablate.upload", description=__doc__)
    parser.add_argument("folder", type=Path, help="a run's or a sweep's output folder")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"ablate: error: FOLDER must be a folder. Received: {args.folder}", file=sys.stderr)
        return 2
    try:
        done = upload_folder(args.folder)
    except InputError as error:
        print(f"ablate: error: {error}", file=sys.stderr)
        return 2
    print("\n".join(done) or f"Nothing to upload under {args.folder}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
