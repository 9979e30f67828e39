"""Builders of synthetic sweeps for the report tests (no tests here).

`run(...)` makes one record of the tidy table; `write_sweep(folder, records)` writes those
records as the `<folder>/<job>/metrics.json` files a real sweep leaves behind.
"""

import json
from pathlib import Path

from ablate.metrics import FINAL_METRICS
from ablate.report.frame import make_frame

KNOBS = {"swa": "off", "smoothing": "0.0"}


def run(
    arm: str,
    seed: int,
    accuracy: float | None = None,
    *,
    status: str = "FINISHED",
    knobs: dict | None = None,
    design: str = "ofat",
    seeds: str = "",
    sweep_id: str = "20261125-120501-ab12",
    val_accuracy: list | None = None,
    epoch_time_s: list | None = None,
    **metrics,
) -> dict:
    """One run of an ofat sweep over `KNOBS`; `arm` is "baseline" or "knob=value"."""
    values = dict(KNOBS if knobs is None else knobs)
    if arm == "baseline":
        factor = value = ""
    else:
        factor, value = arm.split("=")
        if knobs is None:
            values[factor] = value
    record = {
        "sweep_id": sweep_id,
        "run_id": f"{arm}-{seed}",
        "arm": arm,
        "role": "baseline" if arm == "baseline" else "arm",
        "factor": factor,
        "value": value,
        "design": design,
        "seeds": seeds,
        "seed": seed,
        "status": status,
        "error": None if status == "FINISHED" else "RuntimeError: boom",
        "config_hash": f"hash-{arm}",
        **{f"knob.{k}": v for k, v in values.items()},
    }
    if status == "FINISHED":
        record["test_accuracy"] = accuracy
        record.update(metrics)
        record["history.val_accuracy"] = val_accuracy or []
        record["history.epoch_time_s"] = epoch_time_s or []
    return record


def frame_of(records: list[dict]):
    """The tidy table of `records`."""
    return make_frame(records)


def paired(arm: str, baseline: list[float], arm_values: list[float], **kwargs) -> list[dict]:
    """Baseline and arm runs for seeds 0..n-1 with the given test accuracies."""
    return [run("baseline", s, a, **kwargs) for s, a in enumerate(baseline)] + [
        run(arm, s, a, **kwargs) for s, a in enumerate(arm_values)
    ]


def sweep_tags(record: dict) -> dict[str, str]:
    """The `ablate.*` tags the sweeper gives the run that `record` describes."""
    knobs = {k.removeprefix("knob."): v for k, v in record.items() if k.startswith("knob.")}
    return {
        "ablate.sweep_id": record["sweep_id"],
        "ablate.arm": record["arm"],
        "ablate.role": record["role"],
        "ablate.factor": record["factor"],
        "ablate.value": record["value"],
        "ablate.design": record["design"],
        "ablate.seeds": record.get("seeds", ""),
        "ablate.knobs": json.dumps(knobs),
        "ablate.seed": str(record["seed"]),
        "ablate.config_hash": record["config_hash"],
    }


def write_sweep(folder: Path, records: list[dict]) -> Path:
    """Writes each record as `<folder>/<job>/metrics.json`, as a sweep's jobs do."""
    for job, record in enumerate(records):
        tags = {**sweep_tags(record), "mlflow.runId": record["run_id"], "ablate.version": "0.1.0"}
        content = {
            "status": record["status"],
            "error": record["error"],
            "tags": tags,
            "dataset": {"name": "digits"},
            "metrics": {k: record[k] for k in FINAL_METRICS if record.get(k) is not None},
            "history": {
                "val_accuracy": record.get("history.val_accuracy", []),
                "epoch_time_s": record.get("history.epoch_time_s", []),
            }
            if record["status"] == "FINISHED"
            else {},
        }
        run_folder = folder / str(job)
        run_folder.mkdir(parents=True)
        (run_folder / "metrics.json").write_text(json.dumps(content, indent=2))
    return folder


def demo_records(seeds: int = 3) -> list[dict]:
    """A small ofat sweep (swa, smoothing) with full metrics and histories, one failed run."""
    records = []
    for arm, effect in (("baseline", 0.0), ("swa=on", 0.01), ("smoothing=0.1", -0.005)):
        for seed in range(seeds):
            accuracy = 0.9 + 0.01 * seed + effect
            status = "FAILED" if (arm, seed) == ("smoothing=0.1", 1) else "FINISHED"
            records.append(
                run(
                    arm,
                    seed,
                    accuracy,
                    status=status,
                    test_loss=0.3,
                    test_macro_f1=accuracy - 0.01,
                    test_balanced_accuracy=accuracy - 0.005,
                    test_ece=0.05,
                    train_time_s=10.0 + seed,
                    first_epoch_time_s=3.0,
                    steady_epoch_time_s=1.0,
                    train_throughput=1000.0,
                    num_params=56_000,
                    peak_rss_mb=900.0,
                    val_accuracy=[accuracy - 0.1, accuracy - 0.02, accuracy],
                    epoch_time_s=[3.0, 1.0, 1.0],
                )
            )
    return records
