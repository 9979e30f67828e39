"""The control-variable sweeper end to end: real Hydra multiruns in subprocesses, a real store."""

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import nbclient
import nbformat
import pytest

from conftest import REPO, TINY, run_cli, runs_in
from test_every_option_runs import text_csv

SWEEP_TAGS = (
    "ablate.sweep_id",
    "ablate.arm",
    "ablate.role",
    "ablate.factor",
    "ablate.value",
    "ablate.seed",
    "ablate.config_hash",
)


def store_of(folder):
    return f"sqlite:///{folder}/mlflow.db"


def children_and_parents(folder):
    runs = runs_in(store_of(folder))
    parents = runs[runs["tags.ablate.kind"] == "sweep"] if "tags.ablate.kind" in runs else runs[:0]
    return runs[runs["tags.mlflow.parentRunId"].notna()], parents


def test_the_design_card_command_runs_three_children_under_one_parent_and_resumes(tmp_path):
    result = run_cli("-m", "swa=on,off", "smoothing=0,0.1", *TINY, "swa.start=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Ablation plan (ofat, 3 configurations x 1 seed(s) [0] = 3 runs)" in result.stdout
    children, parents = children_and_parents(tmp_path)
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    parent = parents.iloc[0]
    assert len(children) == 3
    assert set(children["tags.mlflow.parentRunId"]) == {parent["run_id"]}
    assert set(children["status"]) == {"FINISHED"}
    rows = {r["tags.ablate.arm"]: r for r in children.to_dict("records")}
    assert set(rows) == {"baseline", "swa=on", "smoothing=0.1"}
    assert (rows["baseline"]["tags.ablate.role"], rows["swa=on"]["tags.ablate.role"]) == (
        "baseline",
        "arm",
    )
    assert (rows["swa=on"]["tags.ablate.factor"], rows["swa=on"]["tags.ablate.value"]) == (
        "swa",
        "on",
    )
    assert (
        rows["smoothing=0.1"]["tags.ablate.factor"],
        rows["smoothing=0.1"]["tags.ablate.value"],
    ) == ("smoothing", "0.1")
    for row in rows.values():
        baseline = row["tags.ablate.role"] == "baseline"
        for tag in SWEEP_TAGS:
            empty = baseline and tag in ("ablate.factor", "ablate.value")
            assert (row[f"tags.{tag}"] in ("", None)) if empty else row[f"tags.{tag}"], tag
        assert row["tags.ablate.sweep_id"] == parent["tags.ablate.sweep_id"]
        assert json.loads(row["tags.ablate.knobs"]).keys() == {"swa", "smoothing"}
    assert len(set(children["tags.ablate.config_hash"])) == 3

    (sweep_dir,) = [p.parent for p in tmp_path.glob("multirun/*/*/sweep.json")]
    report_files = {
        "report.md",
        "report.csv",
        "report.html",
        "forest.png",
        "pareto.png",
        "learning_curves.png",
        "per_seed.png",
    }
    assert report_files <= {p.name for p in sweep_dir.iterdir()}
    assert "| swa=on | swa=on | 1/0/0 | 1 |" in (sweep_dir / "report.md").read_text()
    assert "| swa=on |" in result.stdout  # the table is printed at the end of the sweep
    client = mlflow.MlflowClient(store_of(tmp_path))
    logged = {a.path for a in client.list_artifacts(parent["run_id"], "report")}
    assert {f"report/{name}" for name in report_files} <= logged
    assert "plan.md" in {a.path for a in client.list_artifacts(parent["run_id"])}

    notebook = nbformat.read(REPO / "notebooks" / "ablation_report.ipynb", as_version=4)
    env_before = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:  # the notebook reads the latest sweep of ./mlflow.db, the store this sweep made
        nbclient.NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
    finally:
        if env_before is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env_before
    shown = "\n".join(
        o.get("data", {}).get("text/markdown", "")
        for cell in notebook.cells
        for o in cell.get("outputs", [])
    )
    assert "| smoothing=0.1 | smoothing=0.1 | 1/0/0 | 1 |" in shown

    again = run_cli("-m", "swa=on,off", "smoothing=0,0.1", *TINY, "swa.start=0", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skipping 3 run(s) already FINISHED" in again.stdout
    assert "0 run(s) to launch" in again.stdout
    children_after, parents_after = children_and_parents(tmp_path)
    assert len(children_after) == 3 and len(parents_after) == 1


@pytest.mark.slow
def test_a_failed_arm_is_recorded_the_sweep_goes_on_and_a_rerun_runs_only_it(tmp_path):
    options = tmp_path / "extra" / "augment"
    options.mkdir(parents=True)
    (options / "eda_file.yaml").write_text(
        "defaults:\n  - /schema/augment/base_eda@_here_\nname: eda\n"
        f"synonyms_path: {tmp_path}/my_synonyms.txt\nnum_aug: 1\n"
    )
    command = [
        "-m",
        "augment=none,eda_file",
        "smoothing=0,0.1",
        *text_csv(tmp_path),
        "training.epochs=2",
        "training.batch_size=16",
        f"hydra.searchpath=[file://{tmp_path}/extra]",
    ]
    first = run_cli(*command, cwd=tmp_path)
    assert first.returncode == 1  # documented: non-zero when any run failed
    assert "2 finished, 1 failed" in first.stdout
    assert "FAILED augment=eda_file seed=0: InputError: `augment.synonyms_path`" in first.stdout
    children, parents = children_and_parents(tmp_path)
    status = dict(zip(children["tags.ablate.arm"], children["status"], strict=True))
    assert status == {
        "baseline": "FINISHED",
        "augment=eda_file": "FAILED",
        "smoothing=0.1": "FINISHED",
    }
    assert parents.iloc[0]["status"] == "FAILED"
    failed = children[children["status"] == "FAILED"].iloc[0]
    assert failed["tags.ablate.failure_reason"] == "input_error"

    (tmp_path / "my_synonyms.txt").write_text("good: fine, nice\nbad: poor, awful\n")
    second = run_cli(*command, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "skipping 2 run(s) already FINISHED" in second.stdout
    assert "1 run(s) to launch" in second.stdout
    children, parents = children_and_parents(tmp_path)
    assert len(children) == 4  # the failed run is kept, tagged as superseded
    kept = children[children["tags.ablate.superseded"] != "true"]
    assert sorted(kept["status"]) == ["FINISHED"] * 3
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_loses_nothing_and_duplicates_nothing(tmp_path):
    command = [
        sys.executable,
        "-m",
        "ablate",
        "-m",
        "smoothing=0,0.1,0.2",
        "data=digits",
        "training.epochs=40",
        "training.batch_size=64",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill once one run is FINISHED and the next RUNNING
        if list(tmp_path.glob("multirun/*/*/*/metrics.json")):
            children, _ = children_and_parents(tmp_path)
            if {"FINISHED", "RUNNING"} <= set(children["status"]):
                break
        time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before, _ = children_and_parents(tmp_path)
    finished_before = set(before[before["status"] == "FINISHED"]["tags.ablate.arm"])
    assert len(finished_before) >= 1 and "RUNNING" in set(before["status"])

    rerun = run_cli(*command[3:], cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"skipping {len(finished_before)} run(s) already FINISHED" in rerun.stdout
    assert "stale run(s)" in rerun.stdout
    after, _ = children_and_parents(tmp_path)
    finished = after[after["status"] == "FINISHED"]
    assert sorted(finished["tags.ablate.arm"]) == ["baseline", "smoothing=0.1", "smoothing=0.2"]
    assert set(before[before["status"] == "FINISHED"]["run_id"]) <= set(finished["run_id"])
    assert "RUNNING" not in set(after["status"]) and "KILLED" in set(after["status"])


@pytest.mark.slow
def test_joblib_with_two_workers_on_a_fresh_store_and_paired_seeds(tmp_path):
    result = run_cli(
        "-m",
        "smoothing=0,0.1",
        "ablation.seeds=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    children, parents = children_and_parents(tmp_path)
    assert len(parents) == 1 and len(children) == 4
    assert set(children["status"]) == {"FINISHED"}
    pairs = sorted(zip(children["tags.ablate.arm"], children["tags.ablate.seed"], strict=True))
    assert pairs == [
        ("baseline", "0"),
        ("baseline", "1"),
        ("smoothing=0.1", "0"),
        ("smoothing=0.1", "1"),
    ]


@pytest.mark.slow
def test_the_stock_sweeper_is_one_override_away(tmp_path):
    result = run_cli(
        "-m",
        "hydra/sweeper=basic",
        "swa=on,off",
        "smoothing=0,0.1",
        "data=digits",
        "training.epochs=2",
        "swa.start=0",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_in(store_of(tmp_path))
    assert len(runs) == 4 and set(runs["status"]) == {"FINISHED"}


def test_max_batch_size_splits_the_launches(tmp_path):
    result = run_cli(
        "-m",
        "smoothing=0,0.1,0.2",
        "hydra.sweeper.max_batch_size=2",
        "data=digits",
        "training.epochs=1",
        "tracking=none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    launches = [
        line
        for line in result.stdout.splitlines() + result.stderr.splitlines()
        if "Launching" in line
    ]
    assert [" ".join(line.split("Launching ")[1].split()[:2]) for line in launches] == [
        "2 jobs",
        "1 jobs",
    ]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["seed=0,1"], "`seed` cannot be swept"),
        (
            ["smoothing=0,1.5"],
            "arm smoothing=1.5: `smoothing` must be in [0, 1). Received: smoothing=1.5",
        ),
        (["swa=on,off", "ablation.design=loo", "smoothing=0,0.1,0.2"], "ablation.full"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_runs(tmp_path, arguments, expected):
    result = run_cli("-m", *arguments, *TINY, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("multirun/*/*/*/metrics.json"))


def test_the_confound_guard_aborts_on_an_option_that_changes_the_batch_size(tmp_path):
    options = tmp_path / "extra" / "swa"
    options.mkdir(parents=True)
    (options / "sneaky.yaml").write_text(
        "# @package _global_\nswa:\n  enabled: true\ntraining:\n  batch_size: 128\n"
    )
    (options / "clean.yaml").write_text("# @package _global_\nswa:\n  enabled: true\n")
    common = ["data=digits", f"hydra.searchpath=[file://{tmp_path}/extra]", "ablation.dry_run=true"]
    refused = run_cli("-m", "swa=off,sneaky", *common, cwd=tmp_path)
    assert refused.returncode == 2
    line = refused.stderr.strip().splitlines()[-1]
    assert "arm swa=sneaky changes keys it does not declare" in line
    assert "training.batch_size: 32 -> 128" in line
    clean = run_cli("-m", "swa=off,clean", *common, cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert "| swa=clean | arm | swa.enabled | 1 |" in clean.stdout
    assert "nothing was run" in clean.stdout


def test_hydra_discovers_the_sweeper_plugin(tmp_path):
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    names = {cls.__name__ for cls in Plugins.instance().discover(Sweeper)}
    assert {"AblateSweeper", "BasicSweeper"} <= names
    info = run_cli("--info", "plugins", cwd=tmp_path)
    assert "AblateSweeper" in info.stdout


@pytest.mark.slow
def peak_memory_per_run(*launcher: str, folder) -> list[float]:
    """Each run's peak resident memory (MiB), in job order, of a 6-run sweep on `launcher`."""
    result = run_cli(
        "-m",
        "ablation.seeds=6",
        "data=digits",
        "training.epochs=1",
        "tracking=none",
        "ablation.report=false",
        *launcher,
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = sorted(
        folder.glob("multirun/*/*/[0-9]*/metrics.json"), key=lambda p: int(p.parent.name)
    )
    return [json.loads(p.read_text())["metrics"]["peak_rss_mb"] for p in records]


@pytest.mark.slow
def test_memory_does_not_grow_run_after_run_in_fresh_processes(tmp_path):
    peaks = peak_memory_per_run("hydra/launcher=ablate_process", folder=tmp_path)
    assert len(peaks) == 6
    assert max(peaks) - min(peaks) < 15  # in one process the peak grew ~7-10 MB per run


def test_warm_workers_are_replaced_before_their_memory_grows_far(tmp_path):
    peaks = peak_memory_per_run(
        "hydra/launcher=ablate_pool", "hydra.launcher.jobs_per_worker=3", folder=tmp_path
    )
    assert len(peaks) == 6
    assert abs(peaks[3] - peaks[0]) < 15  # a fresh worker starts where the first one did
    assert max(peaks) - min(peaks) < 45  # at most 3 jobs' growth


def assert_one_line_refusal(result, *parts):
    """Exit 2, one stderr line `ablate: error: ...` holding every part, no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ablate: error: "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.mark.parametrize(
    "arguments, parts",
    [
        (  # an unknown swept key: Hydra's multi-line error before
            ["smoothign=0,0.1"],
            ["`smoothign` must be a key of the config (did you mean `smoothing`?)", "=0,0.1"],
        ),
        (  # an unknown key beside the swept ones fails while Hydra composes the sweep
            ["smoothign=0.1", "swa=on,off"],
            ["`smoothign` must be a key of the config", "Received: smoothign=0.1"],
        ),
        (  # one value is a plain override: the sweep was the baseline alone
            ["smoothing=0.1"],
            ["`smoothing` must be listed with its baseline", "(baseline smoothing=0.0)"],
        ),
        (["swa=on"], ["`swa` must be listed with its baseline", "List them: swa=off,on"]),
        (["swa=on,on"], ["`swa` must list each value once", "Received: swa=on,on (on twice)"]),
        (["smoothing=0,0.0,0.1"], ["`smoothing` must list each value once", "0 and 0.0"]),
        (
            ["smoothing=0,0.1", "ablation.seeds=100000"],
            ["`ablation.seeds` must be at most ablation.max_seeds=1000", "=100000"],
        ),
        (
            ["smoothing=0,0.1", "seed=4294967295", "ablation.seeds=2"],
            ["`seed` must leave room for the sweep's paired seeds", "(last seed 4294967296)"],
        ),
        (
            ["smoothing=0,0.1", "hydra.sweep.dir=/proc/ablate-sweep"],
            ["`hydra.sweep.dir` must name a folder that can be created", "/proc"],
        ),
        (
            ["smoothing=0,0.1", "tracking.uri=file:///nonexistent/dir"],
            ["`tracking.uri` must name an existing folder", "(no folder /nonexistent/dir)"],
        ),
    ],
)
def test_sweep_mistakes_are_one_line_and_nothing_runs(tmp_path, arguments, parts):
    result = run_cli("-m", *arguments, "data=digits", "training.epochs=1", cwd=tmp_path)
    assert_one_line_refusal(result, *parts)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


def test_more_seeds_than_the_cap_run_once_the_cap_is_raised(tmp_path):
    common = ["-m", "smoothing=0,0.1", "data=digits", "ablation.dry_run=true", "tracking=none"]
    result = run_cli(*common, "ablation.seeds=1001", "ablation.max_seeds=1001", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 configurations x 1001 seed(s)" in result.stdout


def test_a_baseline_only_sweep_over_several_seeds_is_still_allowed(tmp_path):
    common = ["-m", "data=digits", "ablation.dry_run=true", "tracking=none"]
    result = run_cli(*common, "ablation.seeds=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 configurations x 3 seed(s) [0, 1, 2] = 3 runs" in result.stdout


@pytest.mark.slow
def test_a_real_sweep_runs_seed_by_seed_in_the_planned_shuffled_order(tmp_path):
    result = run_cli("-m", "smoothing=0,0.1", "ema=on,off", "ablation.seeds=2", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = []
    for line in result.stdout.splitlines():
        if line.startswith("- seed "):
            seed, labels = line.removeprefix("- seed ").split(": ")
            planned += [(label, seed) for label in labels.split(", ")]
    assert len(planned) == 6 and [s for _, s in planned] == ["0"] * 3 + ["1"] * 3
    children, _ = children_and_parents(tmp_path)
    for column in ("start_time", "end_time"):  # claimed in order, trained in order
        ordered = children.sort_values(column)
        pairs = zip(ordered["tags.ablate.arm"], ordered["tags.ablate.seed"], strict=True)
        assert list(pairs) == planned


@pytest.mark.slow
def test_a_second_sweep_reuses_the_finished_baseline_and_trains_only_its_arms(tmp_path):
    common = ("ablation.seeds=2", *TINY, "training.epochs=4")
    first = run_cli("-m", "swa=on,off", *common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("-m", "ema=on,off", *common, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Reuse: 2 of 4 run(s)" in second.stdout
    sweep_dirs = sorted(tmp_path.glob("multirun/*/*/"))
    assert len(list(sweep_dirs[-1].glob("*/metrics.json"))) == 2  # only ema=on trained
    runs = runs_in(store_of(tmp_path))
    copies = runs[runs["tags.ablate.reused_from"].notna()]
    assert sorted(copies["tags.ablate.seed"]) == ["0", "1"]
    assert set(copies["tags.ablate.arm"]) == {"baseline"}
    sources = runs.set_index("run_id").loc[copies["tags.ablate.reused_from"]]
    assert copies["metrics.test_accuracy"].tolist() == sources["metrics.test_accuracy"].tolist()
    assert "| ema=on |" in (sweep_dirs[-1] / "report.md").read_text()

    rerun = run_cli("-m", "ema=on,off", *common, cwd=tmp_path)  # resumes: the copies are skipped
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "0 finished, 0 failed, 4 skipped (already finished)" in rerun.stdout
    rebuilt = sorted(tmp_path.glob("multirun/*/*/"))[-1]
    assert len(list(rebuilt.glob("reused/*/metrics.json"))) == 2  # the copies' source files
    assert (rebuilt / "report.csv").read_text() == (sweep_dirs[-1] / "report.csv").read_text()

    again = run_cli(
        "-m", "ema=on,off", *common, "ablation.reuse=false", "ablation.resume=false", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(ablation.reuse=false: none reused)" in again.stdout
    assert len(list(sorted(tmp_path.glob("multirun/*/*/"))[-1].glob("*/metrics.json"))) == 4


@pytest.mark.slow
def test_adaptive_seeding_stops_an_inactive_arm_early_and_reports_seeds_per_arm(tmp_path):
    import pandas as pd

    result = run_cli(
        "-m",
        "tracking.retries=1,2",  # changes nothing numerically: every pair ties
        "smoothing=0,0.1",
        "ablation.seeds=auto",
        "ablation.min_seeds=5",
        "ablation.max_seeds=6",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Adaptive seeding (ablation.seeds=auto): the first round is the plan" in result.stdout
    (sweep_dir,) = tmp_path.glob("multirun/*/*")
    decisions = pd.read_csv(sweep_dir / "adaptive.csv").set_index("arm")
    inactive = decisions.loc["tracking.retries=2"]
    assert (inactive["seeds"], inactive["verdict"]) == (5, "no effect: technique inactive?")
    smoothing = int(decisions.loc["smoothing=0.1", "seeds"])
    assert smoothing in (5, 6)
    children, parents = children_and_parents(tmp_path)
    assert parents.iloc[0]["status"] == "FINISHED"
    runs_per_arm = children.groupby("tags.ablate.arm").size().to_dict()
    assert runs_per_arm == {
        "baseline": smoothing,
        "smoothing=0.1": smoothing,
        "tracking.retries=2": 5,
    }
    assert set(children["tags.ablate.seeds"]) == {"auto"}
    report = (sweep_dir / "report.md").read_text()
    assert "## Adaptive seeding: paired seeds per arm and why it stopped" in report
    assert "0 expected run(s) missing" in report  # stopped arms are not missing runs

    from_store = subprocess.run(  # the report from the MLflow store has the same decisions
        [sys.executable, "-m", "ablate.report", "--tracking-uri", store_of(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert from_store.returncode == 0, from_store.stderr[-3000:]
    section = report.split("## Adaptive seeding")[1].split("\n## ")[0]
    assert section in from_store.stdout
    assert "no effect: technique inactive?" in section
