"""Config hash, flat params, tags and the plain files each run leaves."""

import json

from ablate.run_record import config_hash, flatten, resolved_dict, run_tags, write_run_files
from conftest import compose


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


def test_run_tags_carry_hash_seed_and_versions():
    resolved = resolved_dict(compose("seed=3"))
    tags = run_tags(resolved)
    assert tags["ablate.config_hash"] == config_hash(resolved)
    assert tags["ablate.seed"] == "3"
    assert tags["keras.version"].startswith("3.")
    assert {"tensorflow.version", "mlflow.version", "hydra-core.version"} <= set(tags)


def test_write_run_files(tmp_path):
    resolved = resolved_dict(compose("data=digits"))
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.7],
        "accuracy": [0.5, 0.8],
        "val_accuracy": [0.4, 0.7],
    }
    write_run_files(
        tmp_path,
        resolved,
        {"ablate.seed": "0"},
        "FINISHED",
        history,
        {"test_accuracy": 0.75},
        {"num_classes": 10},
    )
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "FINISHED" and record["error"] is None
    assert record["metrics"] == {"test_accuracy": 0.75}
    assert record["history"]["val_loss"] == [1.1, 0.7]
    assert record["dataset"] == {"num_classes": 10}
    assert "name: digits" in (tmp_path / "resolved_config.yaml").read_text()
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
