"""Measures how many runs an hour a sweep delivers, and what it costs beyond training.

Every command runs as a whole process; the two sides of a comparison alternate, a, b, a, b,
... (`--repeats` pairs), each side in its own temporary folder that lives for the whole part
(so its `mlflow.db` exists after an untimed warm-up and accumulates as in a project). Sweeps
run with `ablation.resume=false ablation.reuse=false`, so every repeat trains every run.

Parts:
    overhead     the 6-run sweep `-m swa=on,off smoothing=0,0.1 data=digits
                 training.epochs=2 swa.start=0 ablation.seeds=2` on `hydra/launcher=ablate_pool`
                 (warm workers) against `ablate_process` (a fresh process per run); per-run
                 overhead = (sweep wall - sum of the runs' `train_time_s`) / runs.
    launchers    the same per-run overhead for `ablate_pool`, `ray` (a local Ray, a fresh
                 worker process per job, 2 jobs at a time on 2 cores) and `slurm_local`
                 (submitit's local executor, one job at a time).
    design-card  `python -m ablate -m experiment=swa_smoothing` (9 runs: 3 seeds of the
                 baseline, smoothing=0.1 and swa=on, mnist5k, 10 epochs) against the same 9
                 trainings in one plain Keras process (`bare_keras.py --design-card`).
    workers      runs per hour of a 4-run sweep (`-m ablation.seeds=4`, mnist5k) with 1
                 worker x all threads against 2 workers x cores/2 threads, for small_cnn and
                 mobilenet_v3_small.
    memory       resident memory of the warm workers over a 50-run sweep (digits, 1 epoch),
                 from the sweep's `workers.jsonl`.

    python benchmarks/sweep_throughput.py overhead [--repeats 3]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_SCRIPT = Path(__file__).resolve().parent / "bare_keras.py"
FRESH = ("ablation.resume=false", "ablation.reuse=false")
POOL = "hydra/launcher=ablate_pool"
SMALL_SWEEP = (
    "swa=on,off",
    "smoothing=0,0.1",
    "data=digits",
    "training.epochs=2",
    "swa.start=0",
    "ablation.seeds=2",
)


def run_timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Runs `command` to completion; returns its wall and CPU seconds (itself + children)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"{command} exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def ablate(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "ablate", "-m", *arguments]


def newest_sweep(folder: Path) -> Path:
    return max(folder.glob("multirun/*/*"), key=lambda path: path.stat().st_mtime)


def train_seconds(sweep: Path) -> tuple[float, int]:
    """Sum of the sweep's runs' `train_time_s`, and how many runs it has."""
    records = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    return sum(r["metrics"]["train_time_s"] for r in records), len(records)


def alternate(sides: dict[str, list[str]], repeats: int, measure) -> dict[str, list]:
    """Runs each side once untimed, then `repeats` alternating timed rounds; returns
    `{side: [measure(folder, wall, cpu), ...]}`."""
    folders = {name: Path(tempfile.mkdtemp(prefix="bench-")) for name in sides}
    for name, command in sides.items():
        run_timed(command, folders[name])
    found = {name: [] for name in sides}
    for repeat in range(1, repeats + 1):
        for name, command in sides.items():
            wall, cpu = run_timed(command, folders[name])
            found[name].append(measure(folders[name], wall, cpu))
            print(f"{repeat:3d}  {name:28s} {found[name][-1]}", flush=True)
    return found


def overhead(repeats: int, launchers=("ablate_pool", "ablate_process")) -> None:
    def measure(folder, wall, cpu):
        fit, runs = train_seconds(newest_sweep(folder))
        return {
            "wall_s": round(wall, 2),
            "fit_s": round(fit, 2),
            "runs": runs,
            "overhead_per_run_s": round((wall - fit) / runs, 2),
        }

    sides = {
        launcher: ablate(*SMALL_SWEEP, *FRESH, f"hydra/launcher={launcher}")
        for launcher in launchers
    }
    found = alternate(sides, repeats, measure)
    for name, rows in found.items():
        median = statistics.median(r["overhead_per_run_s"] for r in rows)
        wall = statistics.median(r["wall_s"] for r in rows)
        print(f"median {name:28s} wall {wall:6.2f} s, overhead {median:5.2f} s per run")


def design_card(repeats: int) -> None:
    def measure(folder, wall, cpu):
        return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}

    sides = {
        "bare Keras, one process": [sys.executable, str(BARE_SCRIPT), "--design-card"],
        "python -m ablate -m": ablate("experiment=swa_smoothing", *FRESH, POOL),
    }
    found = alternate(sides, repeats, measure)
    medians = {
        name: {key: statistics.median(r[key] for r in rows) for key in ("wall_s", "cpu_s")}
        for name, rows in found.items()
    }
    (bare, ours) = medians.values()
    print(f"medians: {medians}")
    wall, cpu = ours["wall_s"] / bare["wall_s"], ours["cpu_s"] / bare["cpu_s"]
    print(f"ratio (ablate / bare): wall {wall:.3f}, CPU {cpu:.3f}")


def workers(repeats: int) -> None:
    cores = len(os.sched_getaffinity(0))
    for model in ("small_cnn", "mobilenet_v3_small"):
        sweep = ("ablation.seeds=4", f"model={model}", "training.epochs=3", *FRESH)

        def measure(folder, wall, cpu):
            return {"wall_s": round(wall, 1), "runs_per_hour": round(4 * 3600 / wall)}

        sides = {
            f"{model} 1x{cores}": ablate(*sweep, POOL, "hydra.launcher.workers=1"),
            f"{model} 2x{max(1, cores // 2)}": ablate(*sweep, POOL, "hydra.launcher.workers=2"),
        }
        found = alternate(sides, repeats, measure)
        for name, rows in found.items():
            print(f"median {name:28s} {statistics.median(r['runs_per_hour'] for r in rows)} runs/h")


def memory(repeats: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    command = ablate(
        "ablation.seeds=50",
        "data=digits",
        "training.epochs=1",
        "tracking=none",
        "ablation.report=false",
        POOL,
    )
    wall, _ = run_timed(command, folder)
    lines = [
        json.loads(x) for x in (newest_sweep(folder) / "workers.jsonl").read_text().splitlines()
    ]
    print(f"50 runs in {wall:.1f} s; resident MiB after each job, worker by worker:")
    for pid in dict.fromkeys(line["worker"] for line in lines):
        print(pid, [line["rss_mb"] for line in lines if line["worker"] == pid])
    print(f"min {min(x['rss_mb'] for x in lines)}, max {max(x['rss_mb'] for x in lines)}")


def launchers(repeats: int) -> None:
    overhead(repeats, ("ablate_pool", "ray", "slurm_local"))


PARTS = {
    "overhead": overhead,
    "launchers": launchers,
    "design-card": design_card,
    "workers": workers,
    "memory": memory,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    PARTS[args.part](args.repeats)
