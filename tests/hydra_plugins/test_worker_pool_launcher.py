"""The warm-worker launcher, `hydra/launcher=ablate_pool`: real sweeps, a real store."""

import json
import os
from pathlib import Path

import pytest

from conftest import TINY, run_cli, runs_in, sweep_with_a_job_killed

POOL = "hydra/launcher=ablate_pool"
SWEEP = ("-m", "smoothing=0,0.1", *TINY, POOL)


def worker_log(folder) -> list[dict]:
    """The lines of the sweep's `workers.jsonl`, in the order jobs finished."""
    (path,) = folder.glob("multirun/*/*/workers.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def results(folder) -> dict:
    """`(arm, seed) -> (metrics, history)` of every run, without wall times and memory."""
    found = {}
    for path in folder.glob("multirun/*/*/*/metrics.json"):
        record = json.loads(path.read_text())
        varying = ("time", "throughput", "rss")
        metrics = {k: v for k, v in record["metrics"].items() if not any(w in k for w in varying)}
        history = {k: v for k, v in record["history"].items() if "time" not in k}
        found[(record["tags"]["ablate.arm"], record["tags"]["ablate.seed"])] = (metrics, history)
    return found


@pytest.mark.slow
def test_warm_workers_give_bitwise_the_results_of_fresh_processes_and_retire_after_n_jobs(
    tmp_path,
):
    (tmp_path / "fresh").mkdir()
    (tmp_path / "pool").mkdir()
    sweep = (*SWEEP, "ablation.seeds=2", "ablation.report=false")
    fresh = run_cli(*sweep, "hydra/launcher=ablate_process", cwd=tmp_path / "fresh")
    pool = run_cli(*sweep, "hydra.launcher.jobs_per_worker=3", cwd=tmp_path / "pool")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert pool.returncode == 0, pool.stderr[-3000:]

    assert len(results(tmp_path / "pool")) == 4
    assert results(tmp_path / "pool") == results(tmp_path / "fresh")  # every float, bitwise
    lines = worker_log(tmp_path / "pool")
    assert [line["job"] for line in lines] == [0, 1, 2, 3]
    assert [line["job_in_worker"] for line in lines] == [1, 2, 3, 1]
    pids = [line["worker"] for line in lines]
    assert pids[0] == pids[1] == pids[2] != pids[3]  # retired after 3 jobs, a fresh one took over


def test_a_worker_over_its_memory_limit_is_replaced_after_its_job(tmp_path):
    result = run_cli(*SWEEP, "hydra.launcher.max_rss_mb=1", "ablation.report=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = worker_log(tmp_path)
    assert [line["job_in_worker"] for line in lines] == [1, 1]
    assert lines[0]["worker"] != lines[1]["worker"]
    assert all(line["rss_mb"] > 100 for line in lines)  # TensorFlow is loaded: over the limit
    runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    assert sorted(runs["status"]) == ["FINISHED"] * 3  # the parent and both runs


def test_parallel_workers_split_the_cores_between_them(tmp_path):
    result = run_cli(*SWEEP, "hydra.launcher.workers=2", "ablation.report=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = worker_log(tmp_path)
    assert len({line["worker"] for line in lines}) == 2
    cores = len(os.sched_getaffinity(0))
    assert [line["threads"] for line in lines] == [max(1, cores // 2)] * 2
    assert "on 2 warm worker(s)" in result.stdout + result.stderr


def test_bad_pool_settings_are_refused_in_one_line_before_anything_runs(tmp_path):
    result = run_cli(*SWEEP, "hydra.launcher.jobs_per_worker=0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "ablate: error: hydra.launcher.jobs_per_worker=0: expected a number >= 1 "
        "(jobs before a worker is replaced)."
    )
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


def workers_of(pid: int) -> list[int]:
    """Pids of the spawned worker processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"multiprocessing.spawn" in command and parent == pid:
            found.append(int(entry))
    return found


@pytest.mark.slow
def test_a_worker_killed_during_a_job_fails_that_job_only_and_the_sweep_goes_on(tmp_path):
    command = ["-m", "smoothing=0,0.1,0.2", "data=digits", "training.epochs=40", POOL]
    code, stdout, stderr, victim = sweep_with_a_job_killed(
        tmp_path, [*command, "training.batch_size=64"], workers_of
    )

    runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert sorted(children["status"]) == ["FAILED", "FINISHED", "FINISHED"], stdout + stderr
    failed = children[children["status"] == "FAILED"].iloc[0]
    reason = failed["tags.ablate.failure_reason"]
    assert reason == "RuntimeError: the worker process died (signal SIGKILL)"
    assert list(parent["status"]) == ["FAILED"]
    lines = worker_log(tmp_path)
    assert len(lines) == 2 and {line["worker"] for line in lines} != {victim}
    assert f"FAILED {failed['tags.ablate.arm']} seed=0: {reason}" in stdout
    assert "Traceback" not in stderr
