"""`hydra/launcher=slurm` and `slurm_local`: the preset composed into submitit's sbatch script,
the dry-run plan against a real tracking server, and real sweeps through submitit's local
executor. No SLURM runs here; its script is what SLURM would receive."""

import importlib.util
import json
import uuid

import pytest
from hydra.utils import instantiate

from conftest import (
    TINY,
    missing_service,
    processes_running,
    run_cli,
    runs_in,
    sweep_with_a_job_killed,
)

SLURM_KNOBS = (
    "hydra/launcher=slurm",
    "hydra.launcher.partition=gpu",
    "hydra.launcher.cpus_per_task=4",
    "hydra.launcher.gpus_per_node=1",
    "hydra.launcher.mem_gb=16",
    "hydra.launcher.timeout_min=90",
    "hydra.launcher.array_parallelism=3",
    "hydra.launcher.account=vision",
    "+hydra.launcher.additional_parameters.mail-type=END",
    "hydra.launcher.setup=[module load cuda]",
)


def launcher_config(*overrides: str):
    """The `hydra.launcher` node that `python -m ablate -m <overrides>` would instantiate."""
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from ablate.config import config_dir, register_schemas

    register_schemas()
    with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = hydra.compose("config", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg.hydra.launcher


@pytest.fixture(autouse=True)
def submitit_installed():
    if importlib.util.find_spec("submitit") is None:
        missing_service("submitit is not installed (pip install 'ablate[slurm]')")


def test_the_slurm_preset_composes_into_the_sbatch_script_slurm_would_receive(
    tmp_path, monkeypatch
):
    launcher = instantiate(launcher_config(*SLURM_KNOBS), folder=str(tmp_path / "%j"))
    assert launcher.remote and launcher.problem() is None
    fake_srun = tmp_path / "bin" / "srun"  # submitit only checks that SLURM's srun exists
    fake_srun.parent.mkdir()
    fake_srun.write_text("#!/bin/sh\nexit 1\n")
    fake_srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_srun.parent}:/usr/bin:/bin")

    script = launcher.executor("ablate")._executor._make_submission_file_text("python job", "u1")
    lines = set(script.splitlines())
    assert {
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --mem=16GB",
        "#SBATCH --time=90",
        "#SBATCH --account=vision",
        "#SBATCH --mail-type=END",
        "#SBATCH --job-name=ablate",
        "module load cuda",
    } <= lines, script


def test_the_defaults_of_the_slurm_presets():
    found = {}
    for preset in ("slurm", "slurm_local"):
        launcher = launcher_config(f"hydra/launcher={preset}")
        found[preset] = (
            launcher.cluster,
            launcher.cpus_per_task,
            launcher.array_parallelism,
            launcher.timeout_min,
        )
    assert found == {"slurm": ("slurm", 2, 16, 60), "slurm_local": ("local", None, 1, 60)}


def test_the_dry_run_plan_says_what_slurm_will_be_asked_and_nothing_runs(tmp_path, tracking_server):
    experiment = f"slurm-dry-run-{uuid.uuid4().hex[:8]}"
    result = run_cli(
        "-m",
        "smoothing=0,0.1",
        *TINY,
        *SLURM_KNOBS,
        f"tracking.uri={tracking_server}",
        f"tracking.experiment={experiment}",
        "ablation.dry_run=true",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = tmp_path.glob("multirun/*/*")
    assert (
        "Launcher: SLURM through submitit: one job array, 3 job(s) at a time, each with "
        "partition gpu, 4 CPU(s), 1 GPU(s), 16.0 GB, 90 min, account vision, --mail-type=END; "
        f"files under {sweep_dir.relative_to(tmp_path)}/.submitit/%j."
    ) in result.stdout
    assert "ablation.dry_run=true: nothing was run." in result.stdout
    import mlflow

    client = mlflow.MlflowClient(tracking_server)
    created = client.get_experiment_by_name(experiment)
    assert created is None or client.search_runs([created.experiment_id]) == []


def test_slurm_from_a_machine_without_slurm_or_with_a_local_store_is_one_line(tmp_path):
    local_store = run_cli("-m", "smoothing=0,0.1", *TINY, "hydra/launcher=slurm", cwd=tmp_path)
    assert local_store.returncode == 2
    assert local_store.stderr.startswith(
        "ablate: error: `tracking.uri` must be a tracking server that every machine of the "
        "cluster reaches"
    )
    assert len(local_store.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_slurm_local_runs_the_sweep_end_to_end_and_a_rerun_resumes(tmp_path):
    command = ("-m", "smoothing=0,0.1", *TINY, "hydra/launcher=slurm_local")
    first = run_cli(*command, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 finished, 0 failed" in first.stdout
    assert "Launcher: submitit's local executor on this machine, 1 job(s) at a time" in (
        first.stdout
    )
    runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    parent = runs[runs["tags.ablate.kind"] == "sweep"]
    assert sorted(children["tags.mlflow.runName"]) == ["baseline seed=0", "smoothing=0.1 seed=0"]
    assert set(children["status"]) == {"FINISHED"} and list(parent["status"]) == ["FINISHED"]
    (sweep_dir,) = [p.parent for p in tmp_path.glob("multirun/*/*/sweep.json")]
    records = [json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")]
    assert sorted(r["tags"]["mlflow.runId"] for r in records) == sorted(children["run_id"])
    assert (sweep_dir / "report.md").exists()
    assert len(list(sweep_dir.glob(".submitit/*/*_result.pkl"))) == 2  # submitit's own files

    again = run_cli(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skipping 2 run(s) already FINISHED" in again.stdout


@pytest.mark.slow
def test_a_slurm_local_job_killed_during_training_fails_alone_with_its_state(tmp_path):
    command = ["-m", "smoothing=0,0.1,0.2", "data=digits", "training.epochs=40"]
    code, stdout, stderr, _ = sweep_with_a_job_killed(  # submitit's job, not its controller
        tmp_path,
        [*command, "hydra/launcher=slurm_local"],
        lambda _: processes_running(f"submitit.core._submit\0{tmp_path}".encode()),
    )

    runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert sorted(children["status"]) == ["FAILED", "FINISHED", "FINISHED"], stdout + stderr
    failed = children[children["status"] == "FAILED"].iloc[0]
    reason = failed["tags.ablate.failure_reason"]
    assert reason.startswith("RuntimeError: the job ended without a result (")
    assert code == 1
    assert "Traceback" not in stderr
