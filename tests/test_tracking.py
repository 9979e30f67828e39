"""MLflow tracking against a real SQLite store and a real closed port."""

import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from ablate.config import config_hash, resolved_dict
from ablate.errors import InputError
from ablate.tracking import Tracker, run_tags
from conftest import compose, read_only_folder, run_cli


def test_a_run_gets_params_in_batches_metrics_per_step_and_a_terminal_status(store_uri):
    import mlflow

    tracker = Tracker(compose(f"tracking.uri={store_uri}").tracking)
    run = tracker.start_run("demo", {"ablate.seed": "0"})
    run.log_params({f"p{i}": i for i in range(250)})  # more than one log_batch call holds
    run.log_metrics({"val_accuracy": 0.5}, step=0)
    run.log_metrics({"val_accuracy": 0.75}, step=1)
    run.end("FAILED", reason="diverged", error="diverged: the training loss became nan")

    client = mlflow.MlflowClient(store_uri)
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FAILED"
    assert len(stored.data.params) == 250 and stored.data.params["p249"] == "249"
    assert stored.data.tags["ablate.failure_reason"] == "diverged"
    assert stored.data.tags["ablate.error"].startswith("diverged:")
    history = client.get_metric_history(run.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.75)]
    assert client.get_experiment(stored.info.experiment_id).name == "ablate"


def test_an_unreachable_server_is_refused_quickly():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(
        InputError,
        match=rf"`tracking.uri` must point to a reachable.*"
        rf"Received: tracking.uri={uri}",
    ):
        Tracker(compose(f"tracking.uri={uri}").tracking)


def test_an_sqlite_file_in_a_missing_folder_is_refused(tmp_path):
    uri = f"sqlite:///{tmp_path}/nowhere/mlflow.db"
    with pytest.raises(InputError, match=r"existing folder. Received: tracking.uri=sqlite"):
        Tracker(compose(f"tracking.uri={uri}").tracking)


def test_tracking_none_never_imports_mlflow():
    code = (
        "import sys; from ablate.tracking import Tracker; from omegaconf import OmegaConf; "
        "t = Tracker(OmegaConf.create({'backend': 'none', 'uri': None, 'experiment': 'x'})); "
        "r = t.start_run('x', {}); r.log_params({'a': 1}); r.log_metrics({'m': 1.0}); "
        "r.end('FINISHED'); print('mlflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_run_tags_carry_hash_seed_and_versions():
    resolved = resolved_dict(compose("seed=3"))
    tags = run_tags(resolved)
    assert tags["ablate.config_hash"] == config_hash(resolved)
    assert tags["ablate.seed"] == "3"
    assert tags["keras.version"].startswith("3.")
    assert {"tensorflow.version", "mlflow.version", "hydra-core.version"} <= set(tags)


@pytest.mark.slow
def test_three_sweeps_started_together_on_a_fresh_store_all_succeed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ablate",
                    "-m",
                    sweep,
                    "data=digits",
                    "ablation.dry_run=true",
                ],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for sweep in ("swa=on,off", "smoothing=0,0.1", "ema=on,off")
        ]
        outputs = [p.communicate(timeout=300) for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], outputs
        with sqlite3.connect(folder / "mlflow.db") as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            names = sorted(row[0] for row in db.execute("SELECT name FROM experiments"))
        assert not any(t.startswith("_alembic_tmp_") for t in tables)
        assert names == ["Default", "ablate"]


def test_a_corrupt_store_is_named_as_such(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match=r"corrupt or not an SQLite database"):
        Tracker(compose(f"tracking.uri=sqlite:///{tmp_path}/mlflow.db").tracking)


def test_a_half_migrated_store_is_reported_with_the_fix_and_left_alone(tmp_path, store_uri):
    Tracker(compose(f"tracking.uri={store_uri}").tracking)
    path = tmp_path / "mlflow.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE _alembic_tmp_tags (x INTEGER)")
    size = path.stat().st_size
    with pytest.raises(InputError, match=r"migration was interrupted.*_alembic_tmp_tags.*upgrade"):
        Tracker(compose(f"tracking.uri={store_uri}").tracking)
    assert path.stat().st_size == size


def test_a_read_only_store_folder_is_named_as_such(tmp_path):
    uri = f"tracking.uri=sqlite:///{tmp_path}/store/mlflow.db"
    with read_only_folder(tmp_path / "store"), pytest.raises(InputError, match="read-only"):
        Tracker(compose(uri).tracking)


def test_the_cli_reports_a_corrupt_store_in_one_line(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"garbage" * 1000)
    result = run_cli("data=digits", "training.epochs=1", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("ablate: error: `tracking.uri` must name an MLflow SQLite store")
    assert "Traceback" not in result.stderr


def test_the_experiment_opens_as_model_training_in_the_mlflow_ui(store_uri):
    import mlflow

    from ablate.tracking import get_or_create_experiment

    client = mlflow.MlflowClient(store_uri)
    created = get_or_create_experiment(client, store_uri, "fresh")
    assert client.get_experiment(created).tags["mlflow.experimentKind"] == (
        "custom_model_development"
    )
    untagged = client.create_experiment("made before ablate tagged experiments")
    assert get_or_create_experiment(client, store_uri, "made before ablate tagged experiments") == (
        untagged
    )
    assert client.get_experiment(untagged).tags["mlflow.experimentKind"] == (
        "custom_model_development"
    )
    genai = client.create_experiment(
        "a user's", tags={"mlflow.experimentKind": "genai_development"}
    )
    get_or_create_experiment(client, store_uri, "a user's")
    assert client.get_experiment(genai).tags["mlflow.experimentKind"] == "genai_development"
