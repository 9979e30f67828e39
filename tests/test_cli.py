"""The command line (`ablate.cli`): bad input is one line on stderr, exit 2, nothing recorded.

Each case runs the real `python -m ablate` in a subprocess, in a fresh folder whose default
MLflow store (`./mlflow.db`) must not exist afterwards.
"""

import numpy as np
import pytest
import yaml

from conftest import read_only_folder, run_cli

LONG = "x" * 10_000


def assert_refused(result, *parts: str) -> str:
    """Exit 2, and stderr is exactly one line, `ablate: error: ...`, holding every part."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("ablate: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def assert_nothing_recorded(folder):
    assert not (folder / "mlflow.db").exists() and not (folder / "mlruns").exists()


@pytest.mark.parametrize(
    "overrides, parts",
    [
        (
            ["training.epochs=99999999999999999999"],
            ["`training.epochs` must be an integer in [1, 100000]", "=99999999999999999999"],
        ),
        ([f"seed={10**30}"], ["`seed` must be an integer in [0, 4294967295]", f"={10**30}"]),
        (["tracking.experiment="], ["`tracking.experiment` must be a non-empty name"]),
        (
            [f"tracking.experiment={LONG}"],
            ["of at most 500 characters", "tracking.experiment=xxx", "(10000 characters)"],
        ),
        (["model="], ["model/", "Available options in 'model'", "mlp"]),
        (["data=npz", "data.path="], ["`data.path` must be a non-empty path"]),
        (["data=npz", f"data.path={LONG}"], ["of at most 4096 characters", "(10000 characters)"]),
        (
            ["smoothign=0.1"],
            ["`smoothign` must be a key of the config (did you mean `smoothing`?)", "=0.1"],
        ),
        (["training.epoch=3"], ["(did you mean `training.epochs`?). Received: training.epoch=3"]),
        (
            ["tracking.uri=file:///nonexistent/dir"],
            ["`tracking.uri` must name an existing folder", "(no folder /nonexistent/dir)"],
        ),
    ],
)
def test_bad_values_are_one_line_before_anything_starts(tmp_path, overrides, parts):
    result = run_cli(*overrides, cwd=tmp_path)
    line = assert_refused(result, *parts)
    assert len(line) < 400
    assert_nothing_recorded(tmp_path)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    "folder, reason",
    [
        ("/proc/ablate-run", "cannot create a folder in /proc"),
        ("/dev/null/run", "/dev/null is not a folder"),
        (f"/tmp/{'d' * 300}/run", "longer than the file system allows"),
    ],
)
def test_an_output_folder_that_cannot_be_made_is_refused_before_the_run(tmp_path, folder, reason):
    result = run_cli("data=digits", f"hydra.run.dir={folder}", cwd=tmp_path)
    assert_refused(result, "`hydra.run.dir` must name a folder that can be created", reason)
    assert_nothing_recorded(tmp_path)


def test_a_read_only_output_folder_is_refused_before_the_run(tmp_path):
    with read_only_folder(tmp_path / "locked") as locked:
        result = run_cli("data=digits", f"hydra.run.dir={locked}/run", cwd=tmp_path)
    line = assert_refused(result, "`hydra.run.dir` must name a folder that can be created")
    assert "Permission denied" in line or "Read-only file system" in line
    assert_nothing_recorded(tmp_path)


@pytest.fixture
def extra_configs(tmp_path):
    """A `--config-dir` with a model option and a primary config of its own."""
    folder = tmp_path / "extra"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "tiny_mlp.yaml").write_text(
        "defaults:\n  - /schema/model/base_mlp@_here_\nname: mlp\ndropout: 0.1\nhidden_units: [8]\n"
    )
    (folder / "no_epochs.yaml").write_text(
        "defaults:\n  - config\n  - _self_\ntraining:\n  epochs: 0\n"
    )
    return folder


def test_the_precheck_reads_the_config_dir_and_config_name(tmp_path, extra_configs):
    shown = run_cli("-cd", str(extra_configs), "model=tiny_mlp", "--cfg", "job", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert yaml.safe_load(shown.stdout)["model"]["hidden_units"] == [8]
    # --cfg prints without running: only the pre-check can refuse the config it names.
    refused = run_cli(
        f"--config-dir={extra_configs}", "--config-name", "no_epochs", "--cfg", "job", cwd=tmp_path
    )
    assert_refused(refused, "Received: training.epochs=0")
    missing = run_cli("-cd", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert_refused(missing, "`--config-dir` must name an existing folder", "nowhere")
    assert_nothing_recorded(tmp_path)


def write_images(folder, broken: bool):
    """Two classes of 6 small JPEGs each; with `broken`, one file is cut in half."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for index in range(6):
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{index}.jpg")
    if broken:
        whole = (folder / "a" / "0.jpg").read_bytes()
        (folder / "b" / "broken.jpg").write_bytes(whole[: len(whole) // 2])


def test_a_corrupt_jpeg_is_the_only_line_on_stderr(tmp_path):
    write_images(tmp_path / "images", broken=True)
    result = run_cli(
        "data=image_folder", f"data.path={tmp_path}/images", "data.image_size=8", cwd=tmp_path
    )
    assert_refused(result, "Every image file in `data.path` must be a readable image")
    assert "JPEG library" not in result.stdout + result.stderr
    assert_nothing_recorded(tmp_path)


def test_a_data_error_leaves_no_store_and_no_tensorflow_chatter(tmp_path):
    result = run_cli("data=npz", "model=mlp", f"data.path={tmp_path}/none.npz", cwd=tmp_path)
    assert_refused(result, "`data.path` must point to an existing .npz file")
    assert_nothing_recorded(tmp_path)
    assert (tmp_path / "outputs").exists()  # the run got as far as loading the data
