"""Measures the steady epoch time of small_cnn on mnist5k with every image augmentation.

Runs `python -m ablate data=mnist5k model=small_cnn augment=A training.epochs=E
tracking=none` as a whole process for `augment=none` and each image augmentation (`basic`,
`randaugment`, `augmix`, `autoaugment`, `mixup`, `cutmix`), `--repeats` rounds of all of
them, and reads each run's `steady_epoch_time_s` from the `metrics.json` it writes: the
median of epochs 2..E of `fit`'s per-epoch wall time (`ablate.run.EpochClock`, which
includes the epoch's validation pass), so that the first epoch's tracing is left out. Every
round runs the arms in a rotated order, so that a slow stretch of a shared machine does not
always hit the same arm.

`--src DIR` (repeatable) measures other checkouts of `ablate` in the same process run: each
run's child gets `PYTHONPATH=DIR` (a `src/` folder, with its `conf/` next to it), and every
arm of a round runs once per checkout, back to back in alternating order, so that the
checkouts meet the same load. Without `--src`, the checkout the script runs from is measured.

It prints every run, then one table per checkout: per arm the median steady epoch time over
the rounds, its ratio to the median of `augment=none`, the median of the per-round ratios
(each run against the `none` run of its own round and checkout), and whether every round of
the arm gave the same test accuracy and loss (the runs are seeded and deterministic, so they
should: a check that the arms stayed reproducible). All run folders go to one temporary
directory.

    python benchmarks/augmentation_throughput.py [--repeats 3] [--epochs 6] [--arms none,...]
        [--src /path/to/other/src ...]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = ("none", "basic", "randaugment", "augmix", "autoaugment", "mixup", "cutmix")


def run_arm(arm: str, epochs: int, folder: Path, src: str | None) -> dict:
    """Runs one `python -m ablate` process and returns the metrics of its `metrics.json`.

    Args:
        arm: the `augment` option.
        epochs: `training.epochs`.
        folder: the run folder (`hydra.run.dir`).
        src: a `src/` folder put first on the child's `PYTHONPATH`, or None for this one.

    Raises:
        RuntimeError: if the process fails or writes no metrics.
    """
    command = [
        sys.executable,
        "-m",
        "ablate",
        "data=mnist5k",
        "model=small_cnn",
        f"augment={arm}",
        f"training.epochs={epochs}",
        "tracking=none",
        f"hydra.run.dir={folder}",
    ]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    record = folder / "metrics.json"
    if completed.returncode != 0 or not record.exists():
        raise RuntimeError(
            f"{' '.join(command[1:])} failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    return json.loads(record.read_text())["metrics"]


def table(arms: list[str], times: dict, ratios: dict, results: dict) -> str:
    """The Markdown table of one checkout's runs."""
    base = statistics.median(times["none"])
    lines = [
        "| augment | steady epoch s (median) | ratio vs none | median per-round ratio "
        "| same test metrics every round |",
        "|---|---|---|---|---|",
    ]
    for arm in arms:
        median = statistics.median(times[arm])
        same = "yes" if len(results[arm]) == 1 else "NO"
        lines.append(
            f"| {arm} | {median:.3f} | {median / base:.2f} | "
            f"{statistics.median(ratios[arm]):.2f} | {same} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all arms")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (at least 2)")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated; none first")
    parser.add_argument(
        "--src", action="append", help="another checkout's src/ folder (repeatable)"
    )
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    if arms[0] != "none" or args.epochs < 2:
        parser.error("--arms must start with none, and --epochs must be at least 2")
    sources = args.src or [None]

    print(
        f"python -m ablate data=mnist5k model=small_cnn training.epochs={args.epochs} "
        f"tracking=none, {args.repeats} rounds, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    times = {src: {arm: [] for arm in arms} for src in sources}
    ratios = {src: {arm: [] for arm in arms} for src in sources}
    results = {src: {arm: set() for arm in arms} for src in sources}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="augmentation-throughput-") as tmp:
        for round_ in range(args.repeats):
            shift = round_ % len(arms)
            steady = {src: {} for src in sources}
            for position, arm in enumerate(arms[shift:] + arms[:shift]):
                order = sources if (round_ + position) % 2 == 0 else sources[::-1]
                for src in order:
                    index = sources.index(src)
                    folder = Path(tmp) / f"{round_}-{arm}-{index}"
                    metrics = run_arm(arm, args.epochs, folder, src)
                    steady[src][arm] = metrics["steady_epoch_time_s"]
                    results[src][arm].add((metrics["test_accuracy"], metrics["test_loss"]))
                    print(
                        f"round {round_ + 1} {arm:12s} {src or 'this checkout'}: steady "
                        f"{steady[src][arm]:.3f} s  first {metrics['first_epoch_time_s']:.2f} s"
                        f"  test acc {metrics['test_accuracy']:.4f} loss "
                        f"{metrics['test_loss']:.6f}",
                        flush=True,
                    )
            for src in sources:
                for arm in arms:
                    times[src][arm].append(steady[src][arm])
                    ratios[src][arm].append(steady[src][arm] / steady[src]["none"])
    print(
        f"load average {os.getloadavg()[0]:.2f} at the end, "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    for src in sources:
        print(f"\n{src or 'this checkout'}\n")
        print(table(arms, times[src], ratios[src], results[src]))


if __name__ == "__main__":
    main()
