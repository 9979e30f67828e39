"""Reading sweeps: `runs_from_dir` on hand-written metrics.json, `runs_from_mlflow` on a real
SQLite store filled with `MlflowClient`, and the `python -m ablate.report` command line."""

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
from synthetic_sweeps import demo_records, sweep_tags, write_sweep

from ablate.errors import InputError
from ablate.report import SweepNotFoundError, runs_from_dir, runs_from_mlflow
from ablate.report.__main__ import DEFAULT_ROPE_PP, main
from ablate.report.frame import FINAL_METRICS, ID_COLUMNS
from ablate.report.stats import ROPE
from ablate.sweep.callback import report_sweep

OLD, NEW = "20261124-090000-aaaa", "20261125-120501-ab12"


def test_runs_from_dir_reads_every_run_into_the_tidy_table(tmp_path):
    write_sweep(tmp_path, demo_records())
    (tmp_path / "multirun.yaml").write_text("not a run")
    outside = tmp_path / "not-a-sweep-run"
    outside.mkdir()
    (outside / "metrics.json").write_text(json.dumps({"status": "FINISHED", "tags": {}}))
    frame = runs_from_dir(tmp_path)
    assert list(frame.columns[: len(ID_COLUMNS)]) == list(ID_COLUMNS)
    assert list(frame.columns[len(ID_COLUMNS) : len(ID_COLUMNS) + 2]) == [
        "knob.smoothing",
        "knob.swa",
    ]
    assert set(FINAL_METRICS) <= set(frame.columns)
    assert list(frame.columns[-2:]) == ["history.val_accuracy", "history.epoch_time_s"]
    assert len(frame) == 9
    assert frame["arm"].tolist()[:3] == ["baseline"] * 3
    assert frame["seed"].dtype == "int64"
    failed = frame[frame["status"] == "FAILED"].iloc[0]
    assert (failed["arm"], failed["seed"], failed["error"]) == (
        "smoothing=0.1",
        1,
        "RuntimeError: boom",
    )
    assert math.isnan(failed["test_accuracy"]) and failed["history.val_accuracy"] == []
    swa = frame[(frame["arm"] == "swa=on") & (frame["seed"] == 2)].iloc[0]
    assert swa[["role", "factor", "value", "design", "knob.swa", "knob.smoothing"]].tolist() == [
        "arm",
        "swa",
        "on",
        "ofat",
        "on",
        "0.0",
    ]
    assert swa["test_accuracy"] == pytest.approx(0.93)
    assert swa["history.val_accuracy"] == pytest.approx([0.83, 0.91, 0.93])
    assert swa["history.epoch_time_s"] == [3.0, 1.0, 1.0]


def test_runs_from_dir_drops_attempts_that_a_finished_rerun_replaced(tmp_path):
    records = demo_records()
    write_sweep(tmp_path / "first", [dict(r, status="FAILED", error="x") for r in records[:3]])
    write_sweep(tmp_path / "second", records)
    write_sweep(tmp_path / "third", [records[7]])  # smoothing=0.1 seed 1 failed again
    frame = runs_from_dir(tmp_path)
    assert len(frame) == 10
    assert frame[frame["arm"] == "baseline"]["status"].tolist() == ["FINISHED"] * 3
    failed = frame[frame["status"] == "FAILED"]
    assert failed[["arm", "seed"]].value_counts().to_dict() == {("smoothing=0.1", 1): 2}


def test_runs_from_dir_errors_are_clear(tmp_path):
    with pytest.raises(SweepNotFoundError, match="Received: .*no metrics.json"):
        runs_from_dir(tmp_path)
    with pytest.raises(SweepNotFoundError, match="not a folder"):
        runs_from_dir(tmp_path / "missing")
    write_sweep(tmp_path / "a", demo_records())
    write_sweep(tmp_path / "b", [dict(r, sweep_id=OLD) for r in demo_records()])
    with pytest.raises(InputError, match="several sweeps"):
        runs_from_dir(tmp_path)
    assert set(runs_from_dir(tmp_path, sweep_id=OLD)["sweep_id"]) == {OLD}
    with pytest.raises(SweepNotFoundError, match="sweep=nope"):
        runs_from_dir(tmp_path, sweep_id="nope")
    (tmp_path / "a" / "0" / "metrics.json").write_text("{truncated")
    with pytest.raises(InputError, match="must be a JSON object"):
        runs_from_dir(tmp_path / "a")


def _fill_store(uri: str, artifacts) -> dict[str, str]:
    """Two sweeps (OLD started first) and one plain run, as the sweeper logs them."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(uri)
    experiment = client.create_experiment("ablate", artifact_location=str(artifacts))
    client.create_run(experiment, tags={"ablate.seed": "0"}, start_time=3_000)  # not a sweep
    parents = {}
    for sweep_id, start in ((OLD, 1_000), (NEW, 2_000)):
        parent = client.create_run(
            experiment,
            tags={"ablate.kind": "sweep", "ablate.sweep_id": sweep_id},
            start_time=start,
        )
        parents[sweep_id] = parent.info.run_id
        for record in demo_records():
            tags = {
                **sweep_tags(record),
                "mlflow.parentRunId": parent.info.run_id,
                "ablate.sweep_id": sweep_id,
            }
            if record["error"]:
                tags["ablate.error"] = record["error"]
            child = client.create_run(experiment, tags=tags, start_time=start + 1)
            metrics = [
                Metric(name, float(record[name]), 0, 0)
                for name in FINAL_METRICS
                if record.get(name) is not None
            ]
            history = zip(
                record.get("history.val_accuracy", []),
                record.get("history.epoch_time_s", []),
                strict=True,
            )
            for epoch, (val, seconds) in enumerate(history):
                metrics += [
                    Metric("val_accuracy", val, 0, epoch),
                    Metric("epoch_time_s", seconds, 0, epoch),
                    Metric("loss", 1.0 / (epoch + 1), 0, epoch),
                ]
            client.log_batch(child.info.run_id, metrics=metrics)
            client.set_terminated(child.info.run_id, status=record["status"])
        superseded = client.create_run(  # a failed first attempt, rerun by a resumed sweep
            experiment,
            tags={
                "mlflow.parentRunId": parent.info.run_id,
                "ablate.sweep_id": sweep_id,
                "ablate.arm": "smoothing=0.1",
                "ablate.seed": "1",
                "ablate.superseded": "true",
            },
        )
        client.set_terminated(superseded.info.run_id, status="FAILED")
        client.set_terminated(parent.info.run_id)
    return parents


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder}/mlflow.db"
    return uri, _fill_store(uri, folder / "artifacts"), folder


def test_runs_from_mlflow_reads_the_latest_sweep_like_the_folder(store, tmp_path):
    uri, parents, _ = store
    frame = runs_from_mlflow(uri)
    assert set(frame["sweep_id"]) == {NEW}
    assert len(frame) == 9
    from_dir = runs_from_dir(write_sweep(tmp_path, demo_records()))
    assert list(frame.columns) == list(from_dir.columns)
    ignored = ["run_id", "config_hash"]
    pd.testing.assert_frame_equal(frame.drop(columns=ignored), from_dir.drop(columns=ignored))
    assert frame.loc[0, "history.val_accuracy"] == pytest.approx([0.8, 0.88, 0.9])


def test_runs_from_mlflow_selects_a_sweep_and_rejects_unknown_ones(store):
    uri, _, folder = store
    assert set(runs_from_mlflow(uri, sweep_id=OLD)["sweep_id"]) == {OLD}
    assert set(runs_from_mlflow(uri, experiment="ablate")["sweep_id"]) == {NEW}
    with pytest.raises(SweepNotFoundError, match=f"sweep=nope .known: {OLD}, {NEW}"):
        runs_from_mlflow(uri, sweep_id="nope")
    with pytest.raises(SweepNotFoundError, match="experiment=other"):
        runs_from_mlflow(uri, experiment="other")
    with pytest.raises(SweepNotFoundError, match="no such file"):
        runs_from_mlflow(f"sqlite:///{folder}/absent.db")


def test_runs_from_mlflow_reports_a_store_without_sweeps(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    client.create_run(client.create_experiment("e", artifact_location=str(tmp_path)))
    with pytest.raises(SweepNotFoundError, match="No sweep found in the MLflow store"):
        runs_from_mlflow(uri)


def test_report_sweep_writes_into_the_folder_and_logs_artifacts(store, tmp_path):
    from mlflow import MlflowClient

    uri, parents, _ = store
    write_sweep(tmp_path, demo_records())
    written = report_sweep(tmp_path, uri, parents[OLD])
    assert [p.name for p in written] == [
        "report.md",
        "report.csv",
        "report.html",
        "forest.png",
        "pareto.png",
        "learning_curves.png",
        "per_seed.png",
    ]
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in written)
    logged = MlflowClient(uri).list_artifacts(parents[OLD], "report")
    assert sorted(a.path for a in logged) == sorted(f"report/{p.name}" for p in written)
    table = pd.read_csv(tmp_path / "report.csv").set_index("arm")
    parent = MlflowClient(uri).get_run(parents[OLD]).data
    for arm in ("swa=on", "smoothing=0.1"):  # the headline numbers are the report's
        name = arm.replace("=", ":")
        delta_pp = round(100 * table.loc[arm, "delta_accuracy"], 4)
        assert parent.metrics[f"delta_pp/{name}"] == delta_pp
        assert parent.metrics[f"pairs/{name}"] == table.loc[arm, "n_pairs"]
        assert parent.tags[f"verdict/{name}"] == table.loc[arm, "verdict"]
    assert parent.metrics["baseline_test_accuracy"] == table.loc["baseline", "test_accuracy_mean"]


def _cli(*args, cwd, python_flags=()):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "ablate.report", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_reports_a_folder_in_a_subprocess_without_importing_mlflow(tmp_path):
    write_sweep(tmp_path / "sweep", demo_records())
    completed = _cli("--from-dir", "sweep", cwd=tmp_path, python_flags=("-X", "importtime"))
    assert completed.returncode == 0, completed.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()]
    assert "mlflow" not in imported
    assert "| swa=on | swa=on | 3/0/0 | 3 | 3/0/0 |" in completed.stdout
    assert "# Ablation report: 20261125-120501-ab12" in completed.stdout
    for name in ("report.md", "report.csv", "report.html", "forest.png", "per_seed.png"):
        assert (tmp_path / "sweep" / name).is_file()
    html = (tmp_path / "sweep" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    csv = pd.read_csv(tmp_path / "sweep" / "report.csv")
    assert csv["arm"].tolist() == ["baseline", "swa=on", "smoothing=0.1"]


def test_cli_bad_folder_is_one_line_and_exit_2(tmp_path):
    bad = _cli("--from-dir", "no-such-folder", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: `--from-dir` must be a sweep's output folder. Received: no-such-folder "
        "(not a folder)."
    ]


def test_cli_reads_the_store(store, tmp_path, monkeypatch, capsys):
    uri, _, _ = store
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main([]) == 2  # no mlflow.db in the working directory
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "no such file" in error

    assert main(["--tracking-uri", uri, "--out", "here"]) == 0
    assert "verdict (Holm)" in capsys.readouterr().out
    assert (tmp_path / "here" / "report.html").is_file()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["--sweep", OLD]) == 0
    assert (tmp_path / "reports" / OLD / "report.md").is_file()
    capsys.readouterr()
    assert main(["--sweep", "nope"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: `sweep` must name a sweep of the store {uri}. Received: sweep=nope "
        f"(known: {OLD}, {NEW})."
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(["--from-dir", "x", "--tracking-uri", uri])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_plan_prints_the_seeds_each_arm_needs_and_writes_nothing(tmp_path, capsys):
    write_sweep(tmp_path / "sweep", demo_records(6))
    folder = str(tmp_path / "sweep")
    assert main(["--from-dir", folder, "--plan", "--min-effect", "0.5"]) == 0
    out = capsys.readouterr().out
    assert (
        "| arm | N pairs | ties | s_d pp | d_z | effect to detect pp | seeds for 80 % power |"
    ) in out
    # swa=on gains exactly +1 pp on every seed: no noise, but with 2 arms the sign test runs
    # at 2.5 %, which 6 agreeing pairs (p = 2^-5) miss and 7 (2^-6) reach.
    assert "| swa=on | 6 | 0 | 0.00 | n/a | +0.50 (--min-effect) | 7 |" in out
    assert "5 % / 2 arm(s)" in out
    assert not (tmp_path / "sweep" / "report.md").exists()


def test_cli_rope_is_used_and_bad_values_exit_2(tmp_path, capsys):
    assert DEFAULT_ROPE_PP == 100 * ROPE
    write_sweep(tmp_path / "sweep", demo_records(6))
    folder = str(tmp_path / "sweep")
    assert main(["--from-dir", folder, "--rope", "2", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "ROPE ±2.00 pp" in out
    assert "| equivalent (within ROPE) |" in out  # +1 pp on 6 of 6 seeds: within ±2 pp
    for flag, value, message in (
        ("--rope", "-1", "`--rope` must be >= 0 percentage points. Received: --rope=-1"),
        ("--min-effect", "0", "`--min-effect` must be > 0 percentage points. Received: "),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["--from-dir", folder, flag, value])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0]
