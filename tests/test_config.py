"""Every config option composes and validates; bad input fails in one line before training."""

import pytest
import yaml

from ablate.config import validate
from ablate.errors import InputError
from conftest import REPO, compose, run_cli

# Options whose source needs a file: a placeholder path lets them compose and validate.
TEXT = ["data=text_csv", "data.path=/data/x.csv", "model=text_embedding"]
REQUIRED = {
    ("data", "npz"): ["data.path=/data/x.npz"],
    ("data", "image_folder"): ["data.path=/data/images"],
    ("data", "csv"): ["data.path=/data/x.csv", "model=mlp"],
    ("data", "text_csv"): TEXT,
    ("model", "text_embedding"): TEXT,
    ("augment", "eda"): TEXT,
}
OPTIONS = sorted(
    (path.parent.name, path.stem)
    for path in (REPO / "conf").glob("*/*.yaml")
    if path.parent.name not in ("experiment", "local")
)


def test_every_group_has_options():
    groups = {group for group, _ in OPTIONS}
    assert groups == {
        "data",
        "model",
        "training",
        "optimizer",
        "schedule",
        "augment",
        "balance",
        "attention",
        "swa",
        "ema",
        "tracking",
    }
    assert {("swa", "on"), ("swa", "off"), ("attention", "on"), ("ema", "on")} <= set(OPTIONS)


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_option_composes_and_validates(group, option):
    cfg = compose(*REQUIRED.get((group, option), []), f"{group}={option}")
    validate(cfg)
    selected = cfg[group]
    if "name" in selected:
        assert selected.name == option
    elif "enabled" in selected:
        assert selected.enabled == (option == "on")


def test_baseline_defaults():
    cfg = compose()
    assert (cfg.data.name, cfg.model.name, cfg.optimizer.name) == ("mnist5k", "small_cnn", "adam")
    assert (cfg.training.epochs, cfg.training.batch_size) == (10, 32)
    assert (cfg.smoothing, cfg.seed, cfg.deterministic, cfg.accumulation) == (0.0, 0, True, 1)
    assert (cfg.schedule.name, cfg.augment.name, cfg.balance.name) == ("constant", "none", "none")
    assert not (cfg.swa.enabled or cfg.ema.enabled or cfg.attention.enabled)
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
        ("accumulation=0", "Received: accumulation=0"),
        ("data.imbalance=0.5", "`data.imbalance` must be >= 1"),
        ("swa=on swa.start=1.0", "`swa.start` must leave at least one epoch to average"),
        ("schedule=cosine_warmup schedule.warmup=1.5", "Received: schedule.warmup=1.5"),
        ("augment=randaugment augment.num_ops=0", "Received: augment.num_ops=0"),
        ("balance=smote balance.k_neighbors=0", "Received: balance.k_neighbors=0"),
        ("model=mobilenet_v3_small model.min_size=16", "Received: model.min_size=16"),
        ("model=mobilenet_v3_small model.weights=places", "Received: model.weights=places"),
    ],
)
def test_validate_rejects_out_of_range_values(override, message):
    with pytest.raises(InputError) as raised:
        validate(compose(*override.split()))
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["augment=eda"], "`augment=eda` cannot be combined with `data=mnist5k`"),
        (
            ["augment=mixup", "data=csv", "data.path=x", "model=mlp"],
            "`augment=mixup` cannot be combined with `data=csv`: it transforms images",
        ),
        (["augment=basic", *TEXT], "`augment=basic` cannot be combined with `data=text_csv`"),
        (
            ["model=mobilenet_v3_small", "data=csv", "data.path=x"],
            "`model=mobilenet_v3_small` cannot be combined with `data=csv`",
        ),
        (
            ["data=text_csv", "data.path=x"],
            "`model=small_cnn` cannot be combined with `data=text_csv`",
        ),
        (["model=text_embedding"], "`model=text_embedding` cannot be combined with `data=mnist5k`"),
        (["balance=smote", *TEXT], "`balance=smote` cannot be combined with `data=text_csv`"),
        (["swa=on", "ema=on"], "`swa=on` cannot be combined with `ema=on`"),
        (
            ["swa=on", "swa.start=1.0", "training.epochs=10"],
            "Received: swa.start=1.0 with training.epochs=10",
        ),
    ],
)
def test_validate_refuses_combinations_naming_both_knobs(overrides, message):
    with pytest.raises(InputError) as raised:
        validate(compose(*overrides))
    assert message in str(raised.value) and "Received:" in str(raised.value)


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
        ("augment=eda", ["augment=eda", "data=mnist5k", "image"]),
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
    commands = (
        f"python -m ablate experiment={experiment}",
        f"python -m ablate -m experiment={experiment}",
    )
    assert any(command in text for command in commands)  # files start with their command


def test_digits_quick_experiment_overrides_data_and_epochs():
    cfg = compose("experiment=digits_quick")
    assert (cfg.data.name, cfg.training.epochs) == ("digits", 8)
