"""Interrupts of a real sweep: Ctrl-C, SIGTERM and SIGKILL of the sweeper, then a rerun.

Each test starts `python -m ablate -m ...` as its own process group on digits, waits until one
run has FINISHED and the next is training, sends the signal and reads the SQLite store.
"""

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import missing_service, run_cli

COMMAND = (
    "-m",
    "swa=on,off",
    "smoothing=0,0.1",
    "ablation.seeds=2",
    "data=digits",
    "training.epochs=60",
    "training.batch_size=64",
)


RECORDING_GRACE_MS = 2000


def statuses(folder) -> list[tuple[str, str, int | None]]:
    """`(run name, status, end time in ms)` of every run in the folder's store."""
    with sqlite3.connect(folder / "mlflow.db") as db:
        return db.execute("SELECT name, status, end_time FROM runs").fetchall()


def jobs_running_in(folder) -> list[int]:
    """Pids of the spawned job processes whose working folder is `folder`."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except (OSError, ValueError):
            continue
        if b"multiprocessing.spawn" in command and cwd == str(folder):
            pids.append(int(entry))
    return pids


def start_and_wait_for_a_finished_run(folder, *extra):
    """Starts the sweep (`extra`: more overrides) in its own process group; returns it once a
    run FINISHED and the next one is RUNNING."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ablate", *COMMAND, *extra],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (folder / "mlflow.db").exists():
            try:
                runs = statuses(folder)
            except sqlite3.OperationalError:  # the file exists, its tables not yet
                runs = []
            if any(s == "FINISHED" for _, s, _ in runs) and any(s == "RUNNING" for _, s, _ in runs):
                return process
        time.sleep(0.5)
    process.kill()
    pytest.fail("the sweep never had a FINISHED and a RUNNING run")


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["ablate_pool", "ablate_process", "ray", "slurm_local"])
@pytest.mark.parametrize(
    ("name", "to_group", "code"), [("SIGINT", True, 130), ("SIGTERM", False, 143)]
)
def test_an_interrupt_stops_the_sweep_and_records_everything_killed(
    tmp_path, name, to_group, code, launcher
):
    extra = {"ray": "ray", "slurm_local": "submitit"}.get(launcher)
    if extra and importlib.util.find_spec(extra) is None:
        missing_service(f"{extra} is not installed (pip install 'ablate[{launcher[:5]}]')")
    process = start_and_wait_for_a_finished_run(tmp_path, f"hydra/launcher={launcher}")
    sent_ms = time.time() * 1000
    if to_group:  # Ctrl-C in a terminal signals the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
    else:  # `kill <pid>` of the sweeper alone
        os.kill(process.pid, signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    stopped_s = time.time() - sent_ms / 1000

    assert process.returncode == code
    assert stopped_s < 20  # not the 30 s stop_timeout_s: the job saw the signal
    runs = statuses(tmp_path)
    parent = [s for n, s, _ in runs if n.startswith("sweep ")]
    children = [(n, s, end) for n, s, end in runs if not n.startswith("sweep ")]
    assert parent == ["KILLED"]
    assert len(children) == 6
    assert {s for _, s, _ in children} == {"FINISHED", "KILLED"}
    # A job that had finished training and evaluation when the signal came completes writing
    # its results (its files, the artifacts, the FINISHED status: well under a second); on Ray
    # the cancel reaches a task up to 0.2 s after the sweeper's signal. Nothing runs on longer.
    after_ms = [end - sent_ms for _, s, end in children if s == "FINISHED"]
    assert max(after_ms) < RECORDING_GRACE_MS, after_ms
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("ablate: sweep ") and f"interrupted by {name}" in last
    assert "report of the finished runs" in last
    assert "Traceback" not in stderr
    assert list(tmp_path.glob("multirun/*/*/report.md"))


@pytest.mark.slow
def test_a_rerun_right_after_a_sigkill_of_the_sweeper_alone_trains_nothing_twice(tmp_path):
    process = start_and_wait_for_a_finished_run(tmp_path)
    os.kill(process.pid, signal.SIGKILL)  # its job is left to die by its parent-death signal
    process.wait()
    deadline = time.monotonic() + 60
    while jobs_running_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not jobs_running_in(tmp_path)  # no orphan outlived the sweeper

    rerun = run_cli(*COMMAND, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    runs = statuses(tmp_path)
    finished = sorted(n for n, s, _ in runs if s == "FINISHED" and not n.startswith("sweep "))
    assert finished == sorted(
        f"{arm} seed={seed}" for arm in ("baseline", "swa=on", "smoothing=0.1") for seed in (0, 1)
    )
    assert {s for _, s, _ in runs} <= {"FINISHED", "KILLED"}
