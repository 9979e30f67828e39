"""The plain files each run leaves in its output folder."""

import json

from ablate.config import resolved_dict
from ablate.run_files import write_run_files
from conftest import compose


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
