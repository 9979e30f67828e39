"""What a sweep records besides its runs' own files: the store's runs it reuses, their
records and those of the runs it resumes, copied into its folder, and an adaptive sweep's
decisions.

A report read from the sweep folder (`python -m ablate.report --from-dir`) then sees every run
of the sweep, trained now or earlier, and the decisions that replace its fixed-N verdicts.
"""

import contextlib
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def record_decisions(adaptive, store, parent_run_id, sweep_dir: Path, record: dict) -> None:
    """Writes why each arm of an adaptive sweep stopped: `adaptive.csv`, the sweep
    record, the parent run (`adaptive.csv`, and `adaptive.md` as a table) and the console."""
    from ablate.report.collect import DECISIONS_FILE
    from ablate.report.tables import markdown_table

    summary = adaptive.summary()
    summary.to_csv(sweep_dir / DECISIONS_FILE, index=False)
    record["adaptive"] = summary.to_dict("records")
    text = "Adaptive seeding: seeds per arm and why it stopped\n\n" + markdown_table(summary)
    print(text)
    if store is not None:
        with contextlib.suppress(Exception):  # a dead store: the folder keeps it
            store.log_text(parent_run_id, text, "adaptive.md")
            store.log_text(parent_run_id, summary.to_csv(index=False), DECISIONS_FILE)


def reusable_runs(store, configs: dict, seeds: list[int]) -> dict:
    """`(arm label, seed) -> run`: FINISHED runs of the store with the same identity.

    Each distinct data config is fingerprinted once (a user's file or folder is hashed
    whole), not once per arm and seed.
    """
    if store is None:
        return {}
    from ablate.identity import data_fingerprint, run_identity

    fingerprints, found = {}, {}
    for label, job in configs.items():
        data_key = json.dumps(job["data"], sort_keys=True)
        if data_key not in fingerprints:
            fingerprints[data_key] = data_fingerprint(job["data"])
        for seed in seeds:
            identity = run_identity({**job, "seed": seed}, fingerprints[data_key])
            run = store.finished_with_identity(identity)
            if run is not None:
                found[(label, seed)] = run
    return found


def restore_reused(store, source_id: str, run_id: str, tags: dict, sweep_dir: Path) -> None:
    """Writes a reused run's metrics.json, under this sweep's tags, into the sweep folder.

    Args:
        store: the sweep's `SweepStore`.
        source_id: the run whose results were copied; the copy has no files of its own.
        run_id: the copy, a run of this sweep.
        tags: the copy's sweep tags, which replace the source's.
        sweep_dir: the sweep folder.
    """
    from ablate.tracking import RUN_ID_TAG

    target = sweep_dir / "reused" / run_id
    target.mkdir(parents=True, exist_ok=True)
    try:
        path = store.client.download_artifacts(source_id, "metrics.json", str(target))
    except Exception as error:  # an artifact store that is gone must not stop a sweep
        log.warning("could not copy metrics.json of run %s: %s", source_id, error)
        return
    record = json.loads(Path(path).read_text())
    record["tags"] = {**record.get("tags", {}), **tags, RUN_ID_TAG: run_id}
    Path(path).write_text(json.dumps(record, indent=2))


def restore_skipped(store, runs, sweep_dir: Path) -> None:
    """Copies each skipped run's metrics.json into the sweep folder, for folder reports.

    A skipped run that an earlier pass of this sweep reused has no files of its own: its
    source's are restored under the copy's sweep tags, as when it was reused.
    """
    from ablate.tracking import REUSED_FROM_TAG, SWEEP_TAGS, sweep_tag

    for run in runs:
        source_id = run.data.tags.get(REUSED_FROM_TAG)
        if source_id:
            keys = [sweep_tag(key) for key in SWEEP_TAGS]
            tags = {key: run.data.tags[key] for key in keys if key in run.data.tags}
            restore_reused(store, source_id, run.info.run_id, tags, sweep_dir)
            continue
        target = sweep_dir / "resumed" / run.info.run_id
        target.mkdir(parents=True, exist_ok=True)
        try:
            store.client.download_artifacts(run.info.run_id, "metrics.json", str(target))
        except Exception as error:  # an artifact store that is gone must not stop a sweep
            log.warning("could not restore metrics.json of run %s: %s", run.info.run_id, error)
