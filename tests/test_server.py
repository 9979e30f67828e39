"""`python -m ablate.server`: a real `mlflow server` on a real PostgreSQL, and a parallel sweep
against it."""

import json
import shutil
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import mlflow
import pytest

from ablate.report import build_report, report_markdown, runs_from_dir, runs_from_mlflow
from conftest import TINY, free_port, new_server_folder, run_cli, server_command


@pytest.fixture(name="server_folder")
def stopped_after_the_test():
    folder = new_server_folder()
    yield folder
    server_command("stop", folder)
    shutil.rmtree(folder, ignore_errors=True)


def tables_of_the_database(folder: Path, database_port: int) -> set[str]:
    import psycopg2

    password = (folder / "postgres.password").read_text()
    with (
        psycopg2.connect(
            host="127.0.0.1", port=database_port, user="mlflow", password=password, dbname="mlflow"
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.slow
def test_the_server_runs_mlflow_on_postgresql_and_starts_and_stops_once(server_folder):
    port, database_port = free_port(), free_port()
    options = ("--port", str(port), "--database-port", str(database_port))
    started = server_command("start", server_folder, *options)
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    assert started.stdout.splitlines()[0] == (
        f"Tracking server at {url} (PostgreSQL, artifacts in {server_folder})."
    )
    assert server_command("status", server_folder).stdout.strip() == f"Running at {url}."
    client = mlflow.MlflowClient(url)
    experiment = client.create_experiment("server-check")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "accuracy", 0.5)
    client.log_text(run.info.run_id, "hello", "note.txt")
    assert client.get_run(run.info.run_id).data.metrics == {"accuracy": 0.5}
    assert {"runs", "metrics", "experiments"} <= tables_of_the_database(
        server_folder, database_port
    )  # MLflow's tables live in PostgreSQL, not in a file
    (stored,) = (server_folder / "artifacts").rglob("note.txt")  # served by the server
    assert stored.read_text() == "hello"

    again = server_command("start", server_folder, *options)
    assert again.returncode == 2
    assert again.stderr == (
        f"ablate.server: error: a server of {server_folder} is already running at {url}.\n"
    )
    stopped = server_command("stop", server_folder)
    assert stopped.stdout.strip() == "Stopped."
    status = server_command("status", server_folder)
    assert status.returncode == 1
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/health", timeout=2)

    restarted = server_command("start", server_folder, *options)  # the same database again
    assert restarted.returncode == 0, restarted.stderr
    assert mlflow.MlflowClient(url).get_run(run.info.run_id).data.metrics == {"accuracy": 0.5}


@pytest.mark.slow
def test_a_parallel_sweep_against_the_server_reports_as_its_folder(tmp_path, tracking_server):
    experiment = f"parallel-{uuid.uuid4().hex[:8]}"
    result = run_cli(
        "-m",
        "smoothing=0,0.1",
        "ablation.seeds=2",
        *TINY,
        "hydra.launcher.workers=2",
        f"tracking.uri={tracking_server}",
        f"tracking.experiment={experiment}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = [p.parent for p in tmp_path.glob("multirun/*/*/sweep.json")]
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["tracking_uri"] == tracking_server
    workers = {json.loads(line)["worker"] for line in (sweep_dir / "workers.jsonl").open()}
    assert len(workers) == 2  # two jobs at a time, each worker its own process

    client = mlflow.MlflowClient(tracking_server)
    (experiment_id,) = [
        e.experiment_id for e in client.search_experiments() if e.name == experiment
    ]
    link = f"{tracking_server}/#/experiments/{experiment_id}?workflowType=machine_learning"
    assert f"Runs in the MLflow UI: {link}\n" in result.stdout  # as tests/test_mlflow_ui.py opens
    runs = client.search_runs([experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(
        ["baseline seed=0", "baseline seed=1", "smoothing=0.1 seed=0", "smoothing=0.1 seed=1"]
        + [f"sweep {record['sweep_id']}"]
    )
    assert {r.info.status for r in runs} == {"FINISHED"}

    from_server = runs_from_mlflow(tracking_server, record["sweep_id"], experiment)
    from_folder = runs_from_dir(sweep_dir)
    assert len(from_server) == len(from_folder) == 4
    assert report_markdown(build_report(from_server)) == report_markdown(build_report(from_folder))
    shown = subprocess.run(
        [sys.executable, "-m", "ablate.report", "--tracking-uri", tracking_server]
        + ["--experiment", experiment, "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "report" / "report.md").read_text() == (sweep_dir / "report.md").read_text()


def log_at_once(runs, description: dict) -> None:
    """Each of `runs` logs the dataset `description` from its own thread, all at one moment."""
    together = threading.Barrier(len(runs))

    def log(run):
        together.wait()
        run.log_dataset(description)

    threads = [threading.Thread(target=log, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.slow
def test_parallel_runs_logging_the_same_data_each_list_it_once(tracking_server):
    from ablate.tracking import MlflowRun

    client = mlflow.MlflowClient(tracking_server)
    experiment_id = client.create_experiment(f"datasets-{uuid.uuid4().hex[:8]}")
    for _ in range(5):  # rounds of 4 runs logging a dataset new to the store at the same moment
        digest = uuid.uuid4().hex[:8]
        description = {"name": "digits", "digest": digest, "source_type": "code", "source": "x"}
        runs = [MlflowRun(client, client.create_run(experiment_id).info.run_id) for _ in range(4)]
        log_at_once(runs, description)
        assert [run.unreached for run in runs] == [None] * 4
        for run in runs:
            (logged,) = client.get_run(run.run_id).inputs.dataset_inputs
            assert logged.dataset.digest == digest
