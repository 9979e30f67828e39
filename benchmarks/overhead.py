"""Measures what `python -m ablate` costs over the same training in plain Keras.

Runs (a) `python benchmarks/bare_keras.py --epochs E` and (b) `python -m ablate
training.epochs=E` (MLflow tracking on, MLflow's default store) as whole processes,
alternating a, b, a, b, ... `--repeats` times, and prints per-run wall time and peak RSS, the
CPU time (user + system, all threads) and peak RSS, the medians, the ratios median(b) /
median(a) of wall and CPU time, and the test accuracy each run reported.

Both run in one temporary working directory that lives for the whole benchmark, so ablate's
`mlflow.db` and `outputs/` accumulate there as they would in a project. Before the timed runs,
one untimed `python -m ablate training.epochs=1` creates the MLflow database (its first run
creates the tables) and warms the OS file cache for both commands.

    python benchmarks/overhead.py [--repeats 3] [--epochs 10]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_SCRIPT = Path(__file__).resolve().parent / "bare_keras.py"
RSS_MARKER = "overhead.peak_rss_kib="
CPU_MARKER = "overhead.cpu_s="
# Runs its arguments as a child and reports the child's peak RSS and CPU time: RUSAGE_CHILDREN
# of this fresh process covers only that child (and the processes it waited for).
LAUNCHER = f"""
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak = usage.ru_maxrss
print("{RSS_MARKER}%d" % (peak // 1024 if sys.platform == "darwin" else peak), file=sys.stderr)
print("{CPU_MARKER}%.3f" % (usage.ru_utime + usage.ru_stime), file=sys.stderr)
sys.exit(code)
"""


def run_measured(command: list[str], cwd: Path, env: dict) -> tuple[float, float, float, str]:
    """Runs `command` as a child process and measures it.

    Args:
        command: the program and its arguments.
        cwd: the working directory.
        env: the environment.

    Returns:
        `(wall_s, cpu_s, peak_rss_mb, output)`: wall time of the whole process (including the
        few milliseconds of the launcher), the child's CPU seconds (user + system, all its
        threads) and peak resident set size in MiB, and its stdout and stderr together.

    Raises:
        RuntimeError: if the command fails.
    """
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wall_s = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{command} exited {completed.returncode}:\n{completed.stdout[-3000:]}")
    peak_kib = int(re.findall(rf"{RSS_MARKER}(\d+)", completed.stdout)[-1])
    cpu_s = float(re.findall(rf"{CPU_MARKER}([0-9.]+)", completed.stdout)[-1])
    return wall_s, cpu_s, peak_kib / 1024.0, completed.stdout


def bare_accuracy(output: str) -> float:
    """Returns the test accuracy that `bare_keras.py` printed."""
    return float(re.findall(r"^test_accuracy: ([0-9.]+)$", output, flags=re.M)[-1])


def ablate_accuracy(workdir: Path, before: set[Path]) -> float:
    """Returns the test accuracy in the `metrics.json` of the one ablate run not in `before`."""
    (new,) = set(workdir.glob("outputs/*/*/metrics.json")) - before
    return json.loads(new.read_text())["metrics"]["test_accuracy"]


def load_average() -> str:
    """Returns the 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    """Runs the benchmark and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)  # MLflow's default store: sqlite:///mlflow.db in cwd
    bare = [sys.executable, str(BARE_SCRIPT), "--epochs", str(args.epochs)]
    ablate = [sys.executable, "-m", "ablate", f"training.epochs={args.epochs}"]
    print(f"load average before: {load_average()}")

    with tempfile.TemporaryDirectory(prefix="ablate-overhead-") as name:
        workdir = Path(name)
        print(f"working directory: {workdir}")
        print("warm-up (untimed): python -m ablate training.epochs=1, creates mlflow.db")
        run_measured([*ablate[:-1], "training.epochs=1"], workdir, env)

        rows = []  # (repetition, label, wall_s, cpu_s, peak_rss_mb, test_accuracy)
        for repetition in range(1, args.repeats + 1):
            wall_s, cpu_s, rss_mb, output = run_measured(bare, workdir, env)
            accuracy = bare_accuracy(output)
            rows.append((repetition, "a bare_keras", wall_s, cpu_s, rss_mb, accuracy))
            before = set(workdir.glob("outputs/*/*/metrics.json"))
            wall_s, cpu_s, rss_mb, _ = run_measured(ablate, workdir, env)
            accuracy = ablate_accuracy(workdir, before)
            rows.append((repetition, "b python -m ablate", wall_s, cpu_s, rss_mb, accuracy))
            print(f"repetition {repetition}/{args.repeats} done")

    print(f"\nepochs={args.epochs}, repeats={args.repeats}")
    header = f"{'rep':>3}  {'command':<20} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}"
    print(f"{header} {'test acc':>9}")
    for repetition, label, wall_s, cpu_s, rss_mb, accuracy in rows:
        print(
            f"{repetition:>3}  {label:<20} {wall_s:>8.2f} {cpu_s:>8.2f} {rss_mb:>12.0f} "
            f"{accuracy:>9.4f}"
        )
    medians = {}
    for label in ("a bare_keras", "b python -m ablate"):
        mine = [row for row in rows if row[1] == label]
        medians[label] = [statistics.median(row[i] for row in mine) for i in (2, 3)]
        print(
            f"median {label:<20} {medians[label][0]:>8.2f} s wall, {medians[label][1]:.2f} s "
            f"CPU, peak RSS max {max(row[4] for row in mine):.0f} MB"
        )
    (wall_b, cpu_b), (wall_a, cpu_a) = medians["b python -m ablate"], medians["a bare_keras"]
    print(f"ratio median(b) / median(a): wall {wall_b / wall_a:.3f}, CPU {cpu_b / cpu_a:.3f}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
