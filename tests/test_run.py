"""End to end: real data, real Keras `fit`, a real MLflow store, the real CLI."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from ablate.errors import InputError
from ablate.run import run
from conftest import TINY, compose, run_cli, runs_in

FINAL_METRICS = {
    "test_accuracy",
    "test_loss",
    "test_macro_f1",
    "test_balanced_accuracy",
    "test_ece",
    "train_time_s",
    "first_epoch_time_s",
    "steady_epoch_time_s",
    "train_throughput",
    "num_params",
    "num_replicas",
    "test_nll",
    "optimizer_updates",
    "lr_first",
    "lr_peak",
    "lr_last",
    "attention_tokens",
    "attention_params",
    "peak_rss_mb",
}
EPOCH_METRICS = {
    "loss",
    "accuracy",
    "nll",
    "val_loss",
    "val_accuracy",
    "val_nll",
    "lr",
    "epoch_time_s",
}


def test_a_run_is_recorded_completely_in_the_default_store(tmp_path):
    import mlflow

    result = run_cli("data=digits", "training.epochs=3", "seed=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")  # MLflow's default store, in the cwd
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert {c.removeprefix("metrics.") for c in runs.columns} >= FINAL_METRICS | EPOCH_METRICS
    assert run["metrics.test_accuracy"] > 0.8
    assert run["metrics.num_params"] == 320 + 18496 + (2 * 2 * 64 * 10 + 10)
    assert run["params.data.name"] == "digits" and run["params.training.epochs"] == "3"
    assert run["params.dataset.num_classes"] == "10"
    assert run["params.dataset.input_shape"] == "[8, 8, 1]"
    assert run["tags.ablate.seed"] == "1" and len(run["tags.ablate.config_hash"]) == 12
    assert run["tags.keras.version"].startswith("3.")

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    history = client.get_metric_history(run["run_id"], "val_accuracy")
    assert [m.step for m in history] == [0, 1, 2]
    artifacts = {a.path for a in client.list_artifacts(run["run_id"])}
    assert {"resolved_config.yaml", "metrics.json", "learning_curve.png"} <= artifacts

    (output_dir,) = (tmp_path / "outputs").glob("*/*")
    record = json.loads((output_dir / "metrics.json").read_text())
    assert record["status"] == "FINISHED"
    assert record["metrics"]["test_accuracy"] == pytest.approx(run["metrics.test_accuracy"])
    assert len(record["history"]["val_accuracy"]) == 3
    assert sum(record["dataset"]["class_counts"]["test"]) == 360
    assert (output_dir / "resolved_config.yaml").exists()


def test_same_config_and_seed_give_identical_results_in_one_process(tmp_path):
    cfg = compose(*TINY, "tracking=none")
    first = run(cfg, tmp_path / "a", "first")
    second = run(cfg, tmp_path / "b", "second")
    assert first["test_accuracy"] == second["test_accuracy"]
    assert first["test_loss"] == second["test_loss"]
    other_seed = run(compose(*TINY, "tracking=none", "seed=1"), tmp_path / "c", "other")
    assert other_seed["test_loss"] != first["test_loss"]


def test_the_stock_multirun_over_seeds_gives_two_finished_runs(tmp_path):
    result = run_cli("-m", "hydra/sweeper=basic", "seed=0,1", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    assert sorted(runs["tags.ablate.seed"]) == ["0", "1"]
    assert set(runs["status"]) == {"FINISHED"}
    assert runs["tags.ablate.config_hash"].nunique() == 1


def test_a_diverged_run_ends_failed_never_finished(tmp_path, store_uri):
    result = run_cli(
        *TINY, "optimizer.learning_rate=1e12", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": store_uri}
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ablate: run FAILED: diverged")
    (run,) = runs_in(store_uri).to_dict("records")
    assert run["status"] == "FAILED"
    assert run["tags.ablate.failure_reason"] == "diverged"
    assert "nan" in run["tags.ablate.error"]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/*/*/metrics.json")]
    assert record["status"] == "FAILED" and record["error"].startswith("diverged")


def test_sigterm_marks_the_run_killed(tmp_path, store_uri):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ablate", "data=digits", "training.epochs=500"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:  # wait until training is under way
        if line.startswith("Epoch 2/"):
            break
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "interrupted by SIGTERM; run recorded as KILLED" in output
    (run,) = runs_in(store_uri).to_dict("records")
    assert run["status"] == "KILLED"
    assert run["tags.ablate.failure_reason"] == "interrupted"


def _write_npz(path, x, y):
    np.savez(path, x_train=x, y_train=y)
    return [f"data.path={path}"]


def bad_data(tmp_path, case):
    """Overrides for one kind of bad data, with files made in `tmp_path`."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)).astype("float32"), np.arange(60) % 3
    npz = ["data=npz", "model=mlp"]
    if case == "npz missing":
        return npz + [f"data.path={tmp_path}/none.npz"]
    if case == "npz with nan":
        x[3, 1] = np.nan
        return npz + _write_npz(tmp_path / "x.npz", x, y)
    if case == "npz single class":
        return npz + _write_npz(tmp_path / "x.npz", x, np.zeros(60, int))
    if case == "npz too small for the split":
        return npz + _write_npz(tmp_path / "x.npz", x[:8], y[:8])
    if case == "batch larger than the training split":
        return npz + _write_npz(tmp_path / "x.npz", x, y) + ["training.batch_size=512"]
    if case == "empty image folder":
        (tmp_path / "images").mkdir()
        return ["data=image_folder", f"data.path={tmp_path}/images"]
    if case == "csv without label column":
        (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
        return ["data=csv", "model=mlp", f"data.path={tmp_path}/t.csv"]
    if case == "small_cnn on tabular data":
        return ["data=npz"] + _write_npz(tmp_path / "x.npz", x, y)
    raise ValueError(case)


@pytest.mark.parametrize(
    "case, key",
    [
        ("npz missing", "data.path"),
        ("npz with nan", "data.path"),
        ("npz single class", "data.path"),
        ("npz too small for the split", "data.test_fraction"),
        ("batch larger than the training split", "training.batch_size"),
        ("empty image folder", "data.path"),
        ("csv without label column", "data.label_column"),
        ("small_cnn on tabular data", "model=small_cnn"),
    ],
)
def test_bad_data_is_refused_before_any_run_is_opened(tmp_path, store_uri, case, key):
    cfg = compose(*bad_data(tmp_path, case), f"tracking.uri={store_uri}")
    with pytest.raises(InputError) as raised:
        run(cfg, tmp_path / "out", "bad")
    assert key in str(raised.value) and "Received:" in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1
    assert not (tmp_path / "mlflow.db").exists() or runs_in(store_uri).empty


def test_cli_data_error_and_unreachable_store_exit_2_in_one_line(tmp_path):
    missing = run_cli("data=npz", f"data.path={tmp_path}/none.npz", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("ablate: error: `data.path`")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = run_cli(*TINY, f"tracking.uri=http://127.0.0.1:{port}", cwd=tmp_path)
    assert unreachable.returncode == 2
    last = unreachable.stderr.strip().splitlines()[-1]
    assert last.startswith("ablate: error: `tracking.uri`") and f":{port}" in last
    assert "Traceback" not in missing.stderr + unreachable.stderr


def test_nll_is_the_plain_cross_entropy_whatever_the_smoothing(tmp_path):
    plain = run(compose(*TINY, "tracking=none"), tmp_path / "a", "plain")
    assert plain["test_nll"] == pytest.approx(plain["test_loss"], abs=1e-5)
    smoothed = run(compose(*TINY, "tracking=none", "smoothing=0.2"), tmp_path / "b", "smoothed")
    assert smoothed["test_loss"] > smoothed["test_nll"] + 0.05  # the smoothed targets cost more
    history = json.loads((tmp_path / "b" / "metrics.json").read_text())["history"]
    assert len(history["val_nll"]) == 2 and history["val_nll"] != history["val_loss"]


def test_each_run_logs_its_training_data_as_an_mlflow_dataset(tmp_path, store_uri):
    import hashlib

    import mlflow

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)).astype("float32"), np.arange(60) % 3
    npz = _write_npz(tmp_path / "table.npz", x, y)
    env = {"MLFLOW_TRACKING_URI": store_uri}
    for overrides in (TINY, ["data=npz", "model=mlp", "training.epochs=1", *npz]):
        result = run_cli(*overrides, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr[-3000:]

    client = mlflow.MlflowClient(store_uri)
    inputs = {}
    for run_id in runs_in(store_uri)["run_id"]:
        (logged,) = client.get_run(run_id).inputs.dataset_inputs
        assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "training")]
        inputs[logged.dataset.name] = logged.dataset
    assert set(inputs) == {"digits", "table.npz"}
    assert inputs["digits"].source_type == "code"
    assert inputs["digits"].source == "ablate loader digits (version 1)"
    assert inputs["digits"].digest == hashlib.sha256(b"loader:digits::1").hexdigest()[:16]
    table = inputs["table.npz"]
    assert (table.source_type, table.source) == ("local", str(tmp_path / "table.npz"))
    content = b"table.npz" + (tmp_path / "table.npz").read_bytes()  # name and bytes
    assert table.digest == hashlib.sha256(content).hexdigest()[:16]


def test_profile_and_quantize_record_their_evidence_and_log_their_files(tmp_path, store_uri):
    import mlflow

    overrides = ("profile=on", "profile.start_step=5", "profile.steps=8", "quantize=int8")
    cfg = compose(*TINY, *overrides, f"tracking.uri={store_uri}")
    metrics = run(cfg, tmp_path / "out", "deployed")

    assert metrics["profile_steps"] == 8  # training batches 6..13
    assert metrics["profile_step_time_ms"] > 0
    assert 0 <= metrics["profile_input_wait_share"] < 0.5  # in-memory digits: compute-bound
    tflite = (tmp_path / "out" / "model.tflite").read_bytes()
    assert metrics["tflite_size_bytes"] == len(tflite)
    assert metrics["tflite_size_bytes"] < 0.35 * metrics["float32_tflite_size_bytes"]
    assert abs(metrics["tflite_test_accuracy"] - metrics["test_accuracy"]) < 0.05
    assert metrics["tflite_latency_ms"] > 0 and metrics["float32_tflite_latency_ms"] > 0
    assert metrics["tflite_int8_tensor_share"] >= 0.45  # all but biases, shapes and the edges

    client = mlflow.MlflowClient(store_uri)
    (logged,) = runs_in(store_uri).to_dict("records")
    assert logged["metrics.profile_steps"] == 8
    assert logged["metrics.tflite_size_bytes"] == len(tflite)
    run_id = logged["run_id"]
    assert "model.tflite" in {a.path for a in client.list_artifacts(run_id)}
    folder = "profile/train/plugins/profile"
    (moment,) = client.list_artifacts(run_id, folder)  # one trace, in TensorBoard's layout
    (trace,) = client.list_artifacts(run_id, moment.path)
    assert trace.path.endswith(".xplane.pb") and trace.file_size > 0


def test_a_profiling_window_past_the_end_of_training_is_refused_before_any_run(tmp_path, store_uri):
    # digits, batch 64: 20 training batches an epoch, 40 in the 2 epochs of TINY
    cfg = compose(*TINY, "profile=on", "profile.start_step=30", f"tracking.uri={store_uri}")
    with pytest.raises(InputError) as raised:
        run(cfg, tmp_path / "out", "too long")
    assert str(raised.value) == (
        "`profile.start_step` + `profile.steps` must be at most the training batches (40: 2 "
        "epoch(s) of 20). Received: profile.start_step=30, profile.steps=20. Lower them or "
        "raise training.epochs."
    )
    assert not (tmp_path / "mlflow.db").exists() or runs_in(store_uri).empty
