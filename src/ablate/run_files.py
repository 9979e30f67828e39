"""The plain files a run leaves in its output folder, so results survive without MLflow.

Every run writes `resolved_config.yaml`, `metrics.json` and `learning_curve.png` into its
Hydra output folder; the same files become the MLflow run's artifacts, and a sweep's report
can be built from the folder alone (`ablate.report.runs_from_dir`). With
`tracking.log_model=true` the folder also holds the trained model (`model/`).
"""

import json
from pathlib import Path

from omegaconf import OmegaConf


def learning_curve_figure(history: dict[str, list[float]]):
    """Draws loss and accuracy per epoch, training and validation, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.5), layout="constrained")
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + metric, [])
            axes.plot(range(1, len(values) + 1), values, marker="o", label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.legend()
    return figure


def write_run_files(
    folder: Path,
    resolved: dict,
    tags: dict[str, str],
    status: str,
    history: dict | None,
    metrics: dict | None,
    dataset: dict,
    error: str | None = None,
) -> None:
    """Writes `resolved_config.yaml`, `metrics.json` and (with a history) the curve PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "resolved_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(resolved)))
    record = {
        "status": status,
        "error": error,
        "tags": tags,
        "dataset": dataset,
        "metrics": metrics or {},
        "history": history or {},
    }
    (folder / "metrics.json").write_text(json.dumps(record, indent=2))
    if history:
        learning_curve_figure(history).savefig(folder / "learning_curve.png", dpi=100)


UPLOAD_MARKER = "not_uploaded.json"
# With `tracking.log_model=true`: the trained model as an MLflow Model (`ablate.mlflow_model`),
# logged as the run's model, not among its artifacts (`ablate.tracking.log_run_folder`).
MODEL_FOLDER = "model"
# With `quantize=dynamic|float16|int8`: the converted model (`ablate.techniques.quantization`).
TFLITE_FILE = "model.tflite"


def write_upload_marker(folder: Path, run_id: str, tracking_uri: str, reason: str) -> None:
    """Marks a run whose results did not reach its tracking store (`python -m ablate.upload`).

    Args:
        folder: the run's output folder, holding its `metrics.json`.
        run_id: the MLflow run the results belong to.
        tracking_uri: the store that did not answer.
        reason: the first error, one line.
    """
    record = {"run_id": run_id, "tracking_uri": tracking_uri, "reason": reason}
    (folder / UPLOAD_MARKER).write_text(json.dumps(record, indent=2))
