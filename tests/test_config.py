"""Every config option composes and validates; bad input fails in one line before training."""

import dataclasses

import pytest
import yaml

from ablate.config import (
    DATA_SOURCES,
    MODELS,
    RULES,
    SCHEMAS,
    TRACKING_BACKENDS,
    check_knob,
    config_hash,
    flatten,
    resolved_dict,
    validate,
    validate_for_data,
)
from ablate.errors import InputError
from ablate.technique_config import BALANCE_METHODS, RESAMPLING
from ablate.validation import ATTENTIONS, IMAGE_AUGMENTATIONS, MODALITY_OF_SOURCE, SMOTE_METHODS
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
        "profile",
        "quantize",
        "tracking",
    }
    assert {("swa", "on"), ("swa", "off"), ("attention", "mhsa"), ("ema", "on")} <= set(OPTIONS)
    assert {("profile", "on"), ("quantize", "int8"), ("quantize", "float16")} <= set(OPTIONS)


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_option_composes_and_validates(group, option):
    cfg = compose(*REQUIRED.get((group, option), []), f"{group}={option}")
    validate(cfg)
    selected = cfg[group]
    if "name" in selected:
        assert selected.name == option
    elif "enabled" in selected:
        assert selected.enabled == (option == "on")


def option_names(group: str) -> set[str]:
    return {option for g, option in OPTIONS if g == group}


def test_option_lists_name_the_option_files():
    assert set(DATA_SOURCES) == option_names("data") >= set(MODALITY_OF_SOURCE)
    assert set(MODELS) == option_names("model")
    assert {"none", *IMAGE_AUGMENTATIONS, "eda"} == option_names("augment")
    assert set(BALANCE_METHODS) == option_names("balance") > set(SMOTE_METHODS)
    assert RESAMPLING == ("oversample", "smote", "undersample", "smote_undersample")
    assert set(TRACKING_BACKENDS) == option_names("tracking")
    assert set(ATTENTIONS) == option_names("attention")


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_option_file_lists_every_field_of_its_schema(group, option):
    text = (REPO / "conf" / group / f"{option}.yaml").read_text()
    assert text.startswith("# ")  # what the option is, for docs/knobs.md
    values = yaml.safe_load(text)
    (extends,) = values.pop("defaults")
    schema = SCHEMAS[group][extends.removeprefix(f"/schema/{group}/").removesuffix("@_here_")]
    assert list(values) == [field.name for field in dataclasses.fields(schema)]


def test_every_field_says_what_it_does():
    nodes = {node for named in SCHEMAS.values() for node in named.values()}
    for node in nodes:
        for field in dataclasses.fields(node):
            assert field.metadata.get("help"), f"{node.__name__}.{field.name} has no help"


# What each key allows, in the words of its error message (`must be ...`), pinned.
ALLOWED = {
    "training.epochs": "an integer in [1, 100000]",
    "training.batch_size": "an integer in [1, 1000000]",
    "smoothing": "in [0, 1)",
    "accumulation": "an integer >= 1 (1 = no gradient accumulation)",
    "seed": "an integer in [0, 4294967295] (NumPy's seed range)",
    "optimizer.learning_rate": "> 0",
    "optimizer.momentum": "in [0, 1)",
    "optimizer.weight_decay": ">= 0",
    "schedule.alpha": "in [0, 1] (the final fraction of the rate)",
    "schedule.warmup": "in [0, 1) (a fraction of all optimizer updates)",
    "model.dropout": "in [0, 1)",
    "model.alpha": "> 0 (the width multiplier)",
    "model.bn_momentum": "in [0, 1)",
    "model.min_size": ">= 32 (MobileNetV3's smallest input)",
    "model.max_tokens": "an integer >= 3",
    "model.kernel_size": "an integer >= 1",
    "model.sequence_length": "an integer >= 1",
    "model.embedding_dim": "an integer >= 1",
    "model.filters": "a non-empty list of integers >= 1",
    "model.hidden_units": "a non-empty list of integers >= 1",
    "model.weights": "one of [None, 'imagenet']",
    "data.name": f"one of {list(DATA_SOURCES)}",
    "data.val_fraction": "in (0, 1)",
    "data.test_fraction": "in (0, 1)",
    "data.image_size": "null or an integer >= 1",
    "data.imbalance": ">= 1 (1 = the data as it is)",
    "data.color_mode": "one of ['rgb', 'grayscale']",
    "data.dataset": "one of ['mnist', 'fashion_mnist', 'cifar10', 'cifar100']",
    "augment.factor": "in [0, 1]",
    "augment.num_ops": "an integer >= 1",
    "augment.alpha": "> 0",
    "augment.num_chains": "an integer >= 1",
    "augment.chain_depth": "an integer >= 1",
    "augment.alpha_sr": "in [0, 1]",
    "augment.alpha_ri": "in [0, 1]",
    "augment.alpha_rs": "in [0, 1]",
    "augment.p_rd": "in [0, 1]",
    "augment.num_aug": "an integer >= 0",
    "balance.k_neighbors": "an integer >= 1",
    "balance.smote_ratio": "in (0, 1]",
    "balance.undersample_ratio": "in (0, 1]",
    "attention.name": "one of ['off', 'se', 'cbam', 'mhsa']",
    "attention.reduction": "an integer >= 1",
    "attention.heads": "an integer >= 1",
    "attention.key_dim": "an integer >= 1",
    "swa.learning_rate": "null or > 0",
    "swa.frequency": "an integer >= 1 (epochs between snapshots)",
    "ema.momentum": "in [0, 1)",
    "ema.overwrite_frequency": "null or an integer >= 1",
    "tracking.backend": "one of ['mlflow', 'none']",
    "ablation.design": "one of ['ofat', 'loo', 'factorial']",
    "ablation.seeds": "an integer >= 1, or auto (paired seeds per arm)",
    "ablation.max_seeds": "null or an integer >= 1",
    "ablation.min_seeds": "an integer >= 2",
    "ablation.seeds_per_round": "an integer >= 1",
    "ablation.budget_s": "null or >= 1",
    "data.path": "a non-empty path of at most 4096 characters",
    "data.label_column": "a non-empty name of at most 500 characters",
    "data.text_column": "a non-empty name of at most 500 characters",
    "augment.synonyms_path": "null or a non-empty path of at most 4096 characters",
    "tracking.uri": "null or a non-empty URI of at most 4096 characters",
    "tracking.experiment": "a non-empty name of at most 500 characters (MLflow's limit)",
}


def test_each_key_allows_what_its_message_says():
    checked = {key: rule.allowed for key, rule in RULES.items() if rule.test is not None}
    assert {key: checked[key] for key in ALLOWED} == ALLOWED


@pytest.mark.parametrize(
    "key, value",
    [
        ("training.epochs", 0),
        ("training.epochs", 2.5),
        ("training.epochs", True),
        ("model.filters", []),
        ("model.filters", [32, 0]),
        ("data.image_size", 0),
        ("smoothing", float("nan")),
        ("data.name", "svhn"),
    ],
)
def test_check_knob_refuses_in_the_words_of_validate(key, value):
    with pytest.raises(InputError) as raised:
        check_knob(key, value)
    assert str(raised.value) == f"`{key}` must be {ALLOWED[key]}. Received: {key}={value}"


@pytest.mark.parametrize("key, value", [("model.filters", [1]), ("data.image_size", None)])
def test_check_knob_accepts_what_is_allowed(key, value):
    check_knob(key, value)


@pytest.mark.parametrize(
    "modality, fix", [("tabular", "Use model=mlp."), ("text", "Use model=text_embedding.")]
)
def test_validate_for_data_refuses_convolutional_models_without_images(modality, fix):
    with pytest.raises(InputError) as raised:
        validate_for_data(compose("model=mobilenet_v3_small"), modality)
    assert str(raised.value) == (
        "`model=mobilenet_v3_small` cannot be combined with `data=mnist5k`: the model needs "
        f"images and the data is {modality}. Received: model=mobilenet_v3_small with "
        f"data=mnist5k. {fix}"
    )


def test_baseline_defaults():
    cfg = compose()
    assert (cfg.data.name, cfg.model.name, cfg.optimizer.name) == ("mnist5k", "small_cnn", "adam")
    assert (cfg.training.epochs, cfg.training.batch_size) == (10, 32)
    assert (cfg.smoothing, cfg.seed, cfg.deterministic, cfg.accumulation) == (0.0, 0, True, 1)
    assert (cfg.schedule.name, cfg.augment.name, cfg.balance.name) == ("constant", "none", "none")
    assert not (cfg.swa.enabled or cfg.ema.enabled)
    assert cfg.attention.name == "off"
    assert (cfg.tracking.backend, cfg.tracking.uri) == ("mlflow", None)


def test_smoothing_is_a_float_even_when_given_as_an_int():
    assert isinstance(compose("smoothing=0").smoothing, float)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "training.epochs=0",
            "`training.epochs` must be an integer in [1, 100000]. Received: training.epochs=0",
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
        ("swa=off swa.start=1.0", None),  # checked with swa=on only, as before
        ("model=small_cnn model.filters=[]", "Received: model.filters=[]"),
        ("model=mlp model.hidden_units=[64,0]", "Received: model.hidden_units=[64, 0]"),
        ("data=keras data.dataset=svhn", "Received: data.dataset=svhn"),
        ("attention=mhsa model=mlp data=csv data.path=x", "`attention=mhsa` cannot be combined"),
        ("attention=se model=mobilenet_v3_small", "MobileNetV3-Small has its own squeeze-and"),
        ("attention=cbam model=mlp data=csv data.path=x", "`attention=cbam` cannot be combined"),
        ("attention=se attention.reduction=0", "Received: attention.reduction=0"),
        ("model=mobilenet_v3_small model.weights=imagenet model.se=false", "model.se=False with"),
        ("model=mobilenet_v3_small model.weights=imagenet model.alpha=0.5", "model.alpha=0.5"),
        ("schedule=cosine_warmup schedule.warmup=1.5", "Received: schedule.warmup=1.5"),
        ("augment=randaugment augment.num_ops=0", "Received: augment.num_ops=0"),
        ("balance=smote balance.k_neighbors=0", "Received: balance.k_neighbors=0"),
        ("model=mobilenet_v3_small model.min_size=16", "Received: model.min_size=16"),
        ("model=mobilenet_v3_small model.weights=places", "Received: model.weights=places"),
    ],
)
def test_validate_rejects_out_of_range_values(override, message):
    if message is None:
        validate(compose(*override.split()))
        return
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


def test_config_hash_ignores_seed_and_tracking_but_not_the_experiment():
    base = config_hash(resolved_dict(compose()))
    assert len(base) == 12
    assert config_hash(resolved_dict(compose("seed=5"))) == base
    assert config_hash(resolved_dict(compose("tracking=none"))) == base
    assert config_hash(resolved_dict(compose("tracking.uri=sqlite:///x.db"))) == base
    assert config_hash(resolved_dict(compose("smoothing=0.1"))) != base
    assert config_hash(resolved_dict(compose("data=digits"))) != base


def test_flatten_gives_dotted_keys():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": None,
    }


# Issue 12, point 5: values that used to pass the rules and fail deep inside a library.
@pytest.mark.parametrize(
    "override, message",
    [
        (
            "training.epochs=99999999999999999999",
            "`training.epochs` must be an integer in [1, 100000]. "
            "Received: training.epochs=99999999999999999999",
        ),
        (
            "training.batch_size=1000001",
            "`training.batch_size` must be an integer in [1, 1000000]. "
            "Received: training.batch_size=1000001",
        ),
        (
            f"seed={10**30}",
            "`seed` must be an integer in [0, 4294967295] (NumPy's seed range). "
            f"Received: seed={10**30}",
        ),
        (
            "tracking.experiment=",
            "`tracking.experiment` must be a non-empty name of at most 500 characters (MLflow's "
            "limit). Received: tracking.experiment=",
        ),
        ("data=npz data.path=", "`data.path` must be a non-empty path of at most 4096 characters"),
        ("data=csv data.path=x.csv data.label_column=", "`data.label_column` must be a non-empty"),
        ("tracking.uri=", "`tracking.uri` must be null or a non-empty URI"),
    ],
)
def test_validate_refuses_huge_numbers_and_empty_names(override, message):
    with pytest.raises(InputError) as raised:
        validate(compose(*override.split()))
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    "overrides",
    [
        ["training.epochs=100000", "training.batch_size=1000000", "seed=4294967295"],
        [f"tracking.experiment={'x' * 500}", "tracking.uri=sqlite:///x.db"],
        ["ablation.seeds=1000", "data=npz", f"data.path=/{'d' * 4000}.npz"],
    ],
)
def test_validate_accepts_the_largest_allowed_values(overrides):
    validate(compose(*overrides))


@pytest.mark.parametrize("key", ["tracking.experiment", "data.path"])
def test_a_very_long_value_is_refused_in_one_short_line(key):
    with pytest.raises(InputError) as raised:
        check_knob(key, "x" * 10000)
    message = str(raised.value)
    assert message.endswith(f"Received: {key}={'x' * 40}... (10000 characters)")
    assert len(message) < 200 and "\n" not in message


def test_a_blank_name_is_refused():
    with pytest.raises(InputError, match="`tracking.experiment` must be a non-empty name"):
        check_knob("tracking.experiment", "   ")


def test_more_seeds_than_the_cap_need_the_cap_raised():
    from ablate.validation import check_seeds

    with pytest.raises(InputError) as raised:
        check_seeds(0, 100000, 1000)
    assert str(raised.value) == (
        "`ablation.seeds` must be at most ablation.max_seeds=1000, so that a typo does not "
        "plan 100000 runs per arm. Received: ablation.seeds=100000. Lower it, or raise the cap "
        "explicitly: ablation.max_seeds=100000."
    )
    check_seeds(0, 100000, 100000)
    check_seeds(0, 1000, 1000)


def test_a_sweeps_last_seed_must_stay_in_numpys_range():
    from ablate.validation import check_seeds

    check_seeds(2**32 - 3, 3, 1000)
    with pytest.raises(InputError, match=r"Received: seed=4294967293 with ablation.seeds=4 "):
        check_seeds(2**32 - 3, 4, 1000)


def test_max_seeds_is_a_knob_of_the_ablation_with_its_help():
    from ablate.validation import check_seeds, max_seeds_of

    cfg = compose("ablation.max_seeds=5000")
    assert (cfg.ablation.max_seeds, compose().ablation.max_seeds) == (5000, None)
    assert (max_seeds_of(3, None), max_seeds_of("auto", None), max_seeds_of("auto", 8)) == (
        1000,
        20,
        8,
    )
    validate(cfg)
    with pytest.raises(InputError, match="`ablation.max_seeds` must be null or an integer >= 1"):
        validate(compose("ablation.max_seeds=0"))
    with pytest.raises(InputError, match="`ablation.seeds` must be an integer >= 1, or auto"):
        validate(compose("ablation.seeds=many"))
    message = (
        "`ablation.min_seeds` must be at most ablation.max_seeds=4 with ablation.seeds=auto. "
        "Received: ablation.min_seeds=5"
    )
    with pytest.raises(InputError, match=message):
        check_seeds(0, "auto", 4, min_seeds=5)
