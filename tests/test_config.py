"""Every config option composes and validates; bad input fails in one line before training."""

import pytest
import yaml

from ablate.config import validate
from ablate.errors import InputError
from conftest import REPO, compose, run_cli

# Options whose source needs a file: a placeholder path lets them compose and validate.
REQUIRED = {
    ("data", "npz"): ["data.path=/data/x.npz"],
    ("data", "image_folder"): ["data.path=/data/images"],
    ("data", "csv"): ["data.path=/data/x.csv"],
}
OPTIONS = sorted(
    (path.parent.name, path.stem)
    for path in (REPO / "conf").glob("*/*.yaml")
    if path.parent.name not in ("experiment", "local")
)


def test_every_group_has_options():
    groups = {group for group, _ in OPTIONS}
    assert groups == {"data", "model", "training", "optimizer", "swa", "tracking"}
    assert ("swa", "on") in OPTIONS and ("swa", "off") in OPTIONS


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_option_composes_and_validates(group, option):
    cfg = compose(f"{group}={option}", *REQUIRED.get((group, option), []))
    if (group, option) == ("swa", "on"):
        with pytest.raises(InputError, match="`swa=on` is not implemented yet"):
            validate(cfg)
        return
    validate(cfg)
    if group == "data":
        assert cfg.data.name == option


def test_baseline_defaults():
    cfg = compose()
    assert (cfg.data.name, cfg.model.name, cfg.optimizer.name) == ("mnist5k", "small_cnn", "adam")
    assert (cfg.training.epochs, cfg.training.batch_size) == (10, 32)
    assert (cfg.smoothing, cfg.seed, cfg.deterministic, cfg.swa.enabled) == (0.0, 0, True, False)
    assert (cfg.tracking.backend, cfg.tracking.uri) == ("mlflow", None)


def test_smoothing_is_a_float_even_when_given_as_an_int():
    assert isinstance(compose("smoothing=0").smoothing, float)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "training.epochs=0",
            "`training.epochs` must be an integer >= 1. Received: training.epochs=0",
        ),
        ("training.batch_size=-1", "Received: training.batch_size=-1"),
        ("smoothing=1.5", "`smoothing` must be in [0, 1). Received: smoothing=1.5"),
        (
            "data.val_fraction=1.5",
            "`data.val_fraction` must be in (0, 1). Received: data.val_fraction=1.5",
        ),
        ("data.test_fraction=0.95", "data.val_fraction + data.test_fraction < 1"),
        ("optimizer.learning_rate=0", "Received: optimizer.learning_rate=0.0"),
        ("model.dropout=1.0", "Received: model.dropout=1.0"),
        ("seed=-1", "Received: seed=-1"),
        ("tracking.backend=wandb", "one of ['mlflow', 'none']. Received: tracking.backend=wandb"),
    ],
)
def test_validate_rejects_out_of_range_values(override, message):
    with pytest.raises(InputError) as raised:
        validate(compose(override))
    assert message in str(raised.value)


def test_validate_names_the_keras_datasets():
    with pytest.raises(InputError, match=r"data.dataset.*'cifar100'.*Received: data.dataset=svhn"):
        validate(compose("data=keras", "data.dataset=svhn"))


def test_validate_requires_the_npz_path():
    with pytest.raises(InputError, match=r"`data.path` is required.*Received: data.path=\?\?\?"):
        validate(compose("data=npz"))


@pytest.mark.parametrize(
    "override, expected",
    [
        ("smoothign=0.1", ["smoothign"]),
        ("training.epochs=abc", ["training.epochs", "'abc'", "Integer"]),
        ("training.epochs=0", ["training.epochs", "Received: training.epochs=0"]),
        ("smoothing=1.5", ["Received: smoothing=1.5"]),
        ("model=resnet999", ["model/resnet999", "mlp", "small_cnn"]),
        ("swa=maybe", ["swa/maybe", "on", "off"]),
        ("data=npz", ["data.path"]),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_records_nothing(tmp_path, override, expected):
    result = run_cli(override, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ablate: error: ")
    for part in expected:
        assert part in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "outputs").exists()


def test_cfg_job_prints_the_resolved_validated_config(tmp_path):
    result = run_cli("--cfg", "job", "data=digits", "training.epochs=3", "seed=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["data"]["name"] == "digits"
    assert (printed["training"]["epochs"], printed["seed"]) == (3, 1)
    refused = run_cli("--cfg", "job", "training.epochs=0", cwd=tmp_path)
    assert refused.returncode == 2 and "training.epochs=0" in refused.stderr


@pytest.mark.parametrize(
    "experiment", sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
)
def test_every_experiment_composes_and_validates(experiment):
    cfg = compose(f"experiment={experiment}")
    validate(cfg)
    text = (REPO / "conf" / "experiment" / f"{experiment}.yaml").read_text()
    assert f"python -m ablate experiment={experiment}" in text  # files start with their command


def test_digits_quick_experiment_overrides_data_and_epochs():
    cfg = compose("experiment=digits_quick")
    assert (cfg.data.name, cfg.training.epochs) == ("digits", 8)
