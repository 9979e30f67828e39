"""Shared helpers: composing configs, running the real CLI, and reading the MLflow store."""

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Keras reads KERAS_HOME once, at import: point it away from ~/.keras before anything imports it.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="ablate-tests-keras-")
os.environ["ABLATE_CACHE_DIR"] = tempfile.mkdtemp(prefix="ablate-tests-cache-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small enough for a few seconds of training on 2 cores, big enough to learn something.
TINY = ("data=digits", "training.epochs=2", "training.batch_size=64")


def compose(*overrides: str):
    """Composes `conf/config.yaml` with `overrides`, as `python -m ablate` would."""
    import hydra

    from ablate.config import config_dir, register_schemas

    register_schemas()
    with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
        return hydra.compose("config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    """Runs `python -m ablate *args` in `cwd` (MLflow's default store unless `env` names one)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ablate", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs_in(uri: str):
    """Returns every run of every experiment in the store at `uri`, as a DataFrame."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(search_all_experiments=True)


@pytest.fixture
def store_uri(tmp_path) -> str:
    """A fresh SQLite MLflow store in the test's folder."""
    return f"sqlite:///{tmp_path}/mlflow.db"


@contextlib.contextmanager
def read_only_folder(path: Path):
    """A folder that cannot be written: mode 555 for a user, a read-only tmpfs for root."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("root writes anywhere, and this machine refuses a read-only tmpfs mount")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)
