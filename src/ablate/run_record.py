"""What identifies a run (config hash, tags, flat params) and the plain files it leaves behind.

Every run writes `resolved_config.yaml`, `metrics.json` and `learning_curve.png` into its
Hydra output folder, so results survive without MLflow; the same files become the MLflow
run's artifacts.
"""

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import ablate

# Keys that do not change what is trained: where results go, the replicate's seed, the sweep.
UNHASHED_KEYS = ("seed", "tracking", "ablation")
LIBRARIES = ("tensorflow", "keras", "mlflow", "hydra-core", "numpy")
# What every run logs: per epoch (MLflow step = epoch), and once at the end.
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s")
FINAL_METRICS = (
    "test_accuracy",
    "test_loss",
    "test_macro_f1",
    "test_balanced_accuracy",
    "test_ece",
    "train_time_s",
    "first_epoch_time_s",
    "steady_epoch_time_s",
    "train_throughput",
    "num_params",
    "peak_rss_mb",
)


def resolved_dict(cfg: DictConfig) -> dict:
    """Returns the config as plain Python containers with every interpolation resolved."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def config_hash(resolved: dict) -> str:
    """Returns a stable 12-hex-digit hash of the config, without its seed and output paths."""
    kept = {k: v for k, v in resolved.items() if k not in UNHASHED_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """Flattens nested dicts into dotted keys: `{"a": {"b": 1}}` -> `{"a.b": 1}`."""
    flat = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def run_tags(resolved: dict) -> dict[str, str]:
    """Tags of a run: config hash, seed, library versions and the git commit if any."""
    tags = {
        "ablate.config_hash": config_hash(resolved),
        "ablate.seed": str(resolved["seed"]),
        "ablate.version": ablate.__version__,
        "python.version": platform.python_version(),
    }
    for library in LIBRARIES:
        tags[f"{library}.version"] = metadata.version(library)
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    ablation = resolved.get("ablation") or {}
    if ablation.get("sweep_id"):
        if ablation.get("parent_run_id"):
            tags["mlflow.parentRunId"] = ablation["parent_run_id"]
        for key in ("sweep_id", "arm", "role", "factor", "value", "design", "knobs"):
            tags[f"ablate.{key}"] = str(ablation[key] or "")
    return tags


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
