"""A real `mlflow server` on 127.0.0.1 killed mid-sweep, restarted, then `ablate.upload`."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from ablate.report import build_report, report_markdown, runs_from_dir, runs_from_mlflow
from conftest import free_port


def start_server(folder, port: int) -> subprocess.Popen:
    """`mlflow server` on 127.0.0.1:port over an SQLite backend in `folder`; waits for health."""
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{folder}/server.db",
            "--default-artifact-root",
            str(folder / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    pytest.fail("mlflow server did not start")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, 9)
    server.wait()


def statuses(uri: str) -> list[str]:
    import mlflow

    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return [r.info.status for r in runs]


@pytest.mark.slow
def test_a_server_killed_mid_sweep_loses_nothing_and_the_upload_completes_the_store(tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "ablate", "-m", "smoothing=0,0.1", "ablation.seeds=2"]
        + ["data=digits", "training.epochs=40", f"tracking.uri={uri}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # one run finished, the next one training
            found = statuses(uri)
            if "FINISHED" in found and found.count("RUNNING") >= 2:  # the parent and a child
                break
            time.sleep(0.5)
        stop(server)  # the next job is training when the server dies
        killed_at = time.monotonic()
        stdout, stderr = sweep.communicate(timeout=300)
        ended_after = time.monotonic() - killed_at
    finally:
        sweep.kill()
        if server.poll() is None:
            stop(server)

    assert ended_after < 90, ended_after
    assert sweep.returncode == 1
    assert "stopped answering" in stderr and "python -m ablate.upload" in stderr
    assert "Traceback" not in stderr
    (sweep_dir,) = list(tmp_path.glob("multirun/*/*/"))
    folder_frame = runs_from_dir(sweep_dir)
    assert (folder_frame["status"] == "FINISHED").sum() >= 2  # training went on offline
    first_marker = sorted(sweep_dir.glob("*/not_uploaded.json"))[0]
    reason = json.loads(first_marker.read_text())["reason"]
    assert f"stopped answering ({reason}): " in stderr  # what the first failed call said

    server = start_server(tmp_path, port)
    try:
        first = run_cli_upload(sweep_dir)
        assert first.returncode == 0, first.stderr
        assert "closed the parent run" in first.stdout
        assert not list(sweep_dir.glob("*/not_uploaded.json"))
        again = run_cli_upload(sweep_dir)
        assert again.returncode == 0 and "Nothing to upload" in again.stdout
        store_frame = runs_from_mlflow(uri)
    finally:
        stop(server)
    finished = folder_frame[folder_frame["status"] == "FINISHED"]
    assert (store_frame["status"] == "FINISHED").sum() == len(finished)
    assert report_markdown(build_report(store_frame[store_frame["status"] == "FINISHED"])) == (
        report_markdown(build_report(finished))
    )


def run_cli_upload(folder):
    return subprocess.run(
        [sys.executable, "-m", "ablate.upload", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_upload_of_a_folder_without_markers_does_nothing(tmp_path):
    result = run_cli_upload(tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"Nothing to upload under {tmp_path}."


def test_upload_to_a_store_that_is_still_away_is_one_line(tmp_path):
    run = tmp_path / "0"
    run.mkdir()
    target = {"run_id": "abc", "tracking_uri": f"http://127.0.0.1:{free_port()}", "reason": "x"}
    (run / "not_uploaded.json").write_text(json.dumps(target))
    result = run_cli_upload(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("ablate: error: `tracking.uri` must point to a")
    assert len(result.stderr.strip().splitlines()) == 1
