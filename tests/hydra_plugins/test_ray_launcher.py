"""`hydra/launcher=ray`: real sweeps on a real local Ray, a real SQLite store."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

from conftest import (
    TINY,
    missing_service,
    processes_running,
    run_cli,
    runs_in,
    sweep_with_a_job_killed,
)
from hydra_plugins.ablate_sweeper.ray_launcher import RayLauncher

RAY = "hydra/launcher=ray"


@pytest.fixture(autouse=True)
def ray_installed():
    if importlib.util.find_spec("ray") is None:
        missing_service("Ray is not installed (pip install 'ablate[ray]')")


def sweep_runs(folder: Path):
    runs = runs_in(f"sqlite:///{folder}/mlflow.db")
    return runs[runs["tags.mlflow.parentRunId"].notna()], runs[runs["tags.ablate.kind"] == "sweep"]


@pytest.mark.slow
def test_a_sweep_on_a_local_ray_runs_two_jobs_at_once_and_resumes(tmp_path):
    command = ("-m", "smoothing=0,0.1", "ablation.seeds=2", *TINY, RAY, "ablation.report=false")
    first = run_cli(*command, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    cores = len(os.sched_getaffinity(0))
    assert f"Launcher: a local Ray of {cores} CPU(s) started for the sweep; each job a task " in (
        first.stdout
    )
    assert "4 finished, 0 failed" in first.stdout

    children, parents = sweep_runs(tmp_path)
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    parent = parents.iloc[0]
    assert sorted(children["tags.mlflow.runName"]) == [
        "baseline seed=0",
        "baseline seed=1",
        "smoothing=0.1 seed=0",
        "smoothing=0.1 seed=1",
    ]
    assert set(children["status"]) == {"FINISHED"}
    assert set(children["tags.mlflow.parentRunId"]) == {parent["run_id"]}
    assert (children["start_time"] >= parent["start_time"]).all()  # the parent came first
    (sweep_dir,) = [p.parent for p in tmp_path.glob("multirun/*/*/sweep.json")]
    records = [json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")]
    assert sorted(r["tags"]["mlflow.runId"] for r in records) == sorted(children["run_id"])
    # Two 1-CPU tasks on 2 cores: the first two jobs overlapped in time.
    spans = sorted(zip(children["start_time"], children["end_time"], strict=True))
    assert spans[1][0] < spans[0][1] or cores < 2

    again = run_cli(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skipping 4 run(s) already FINISHED" in again.stdout
    assert "0 run(s) to launch" in again.stdout
    children_after, parents_after = sweep_runs(tmp_path)
    assert len(children_after) == 4 and len(parents_after) == 1


@pytest.mark.slow
def test_a_ray_worker_killed_during_a_job_fails_that_job_only(tmp_path):
    command = ["-m", "smoothing=0,0.1,0.2", "data=digits", "training.epochs=40", RAY]
    code, stdout, stderr, _ = sweep_with_a_job_killed(
        tmp_path, command, lambda _: processes_running(b"ray::_run_job")
    )

    children, parents = sweep_runs(tmp_path)
    assert sorted(children["status"]) == ["FAILED", "FINISHED", "FINISHED"], stdout + stderr
    failed = children[children["status"] == "FAILED"].iloc[0]
    reason = failed["tags.ablate.failure_reason"]
    assert reason == "RuntimeError: the job's Ray worker process died"
    assert list(parents["status"]) == ["FAILED"]
    assert code == 1
    assert f"FAILED {failed['tags.ablate.arm']} seed=0: {reason}" in stdout
    assert "Traceback" not in stderr


def test_ray_jobs_on_other_machines_need_a_tracking_server(tmp_path):
    result = run_cli(
        "-m", "smoothing=0,0.1", *TINY, RAY, "hydra.launcher.address=auto", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ablate: error: `tracking.uri` must be a tracking server that every machine of the "
        "cluster reaches when jobs run on other machines. Received: tracking.uri="
        "sqlite:///mlflow.db (a file on this machine). Start one (`make server`) and pass "
        "tracking.uri=http://<host>:<port>, or launch on this machine "
        "(hydra/launcher=ablate_pool)."
    ]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"cpus_per_job": 0}, "hydra.launcher.cpus_per_job=0: expected a number >= 0.01"),
        (
            {"address": "auto", "num_cpus": 4},
            "hydra.launcher.num_cpus=4: sizes a local Ray only; with "
            "hydra.launcher.address=auto set it to null.",
        ),
    ],
)
def test_bad_ray_settings_are_one_line(settings, expected):
    assert RayLauncher(**settings).problem().startswith(expected)


def test_without_ray_installed_the_launcher_says_which_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    assert RayLauncher().problem() == (
        "hydra/launcher=ray needs Ray, which is not installed: pip install 'ablate[ray]'."
    )
