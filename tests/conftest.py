"""Shared helpers: composing configs, running the real CLI, and reading the MLflow store."""

import contextlib
import os
import shutil
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


def load_script(path: Path):
    """Imports a script that is not in a package (a benchmark, a study's helper) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def missing_service(reason: str):
    """Skips a test whose service or package is missing here; fails it where CI promised the
    services (`ABLATE_REQUIRE_SERVICES=1`, set by `.ci/run`)."""
    if os.environ.get("ABLATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ABLATE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(action: str, folder: Path, *options: str):
    """Runs `python -m ablate.server <action> --folder <folder> <options>`."""
    return subprocess.run(
        [sys.executable, "-m", "ablate.server", action, "--folder", str(folder), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )


def new_server_folder() -> Path:
    """A new folder for `python -m ablate.server`, once PostgreSQL is known to be installed."""
    from ablate.errors import InputError
    from ablate.server import postgres_programs

    try:
        postgres_programs()
    except InputError as error:
        missing_service(str(error))
    folder = Path(tempfile.mkdtemp(prefix="ablate-tests-server-"))
    folder.chmod(0o755)  # as root, PostgreSQL runs as `postgres`, who must reach it
    return folder


@pytest.fixture(scope="session")
def tracking_server() -> str:
    """The URI of a real `mlflow server` on PostgreSQL: `ABLATE_TEST_SERVER_URI` (started by
    `.ci/run` with `python -m ablate.server start`), else one this session starts the same way.
    Tests sharing it keep to their own `tracking.experiment`."""
    uri = os.environ.get("ABLATE_TEST_SERVER_URI")
    if uri:
        yield uri
        return
    folder = new_server_folder()
    options = ("--port", str(free_port()), "--database-port", str(free_port()))
    started = server_command("start", folder, *options)
    assert started.returncode == 0, started.stderr
    yield started.stdout.split("Tracking server at ", 1)[1].split()[0]
    server_command("stop", folder)
    shutil.rmtree(folder, ignore_errors=True)


def a_job_is_training(folder: Path) -> bool:
    """Whether a job of the sweep in `folder` has taken its run over (RUNNING, params logged),
    read with SQLite alone: MLflow's client would race the sweep's creation of a fresh store."""
    import sqlite3

    query = (
        "SELECT count(*) FROM runs WHERE status = 'RUNNING' AND name NOT LIKE 'sweep %' "
        "AND run_uuid IN (SELECT run_uuid FROM params)"
    )
    try:
        with sqlite3.connect(f"file:{folder / 'mlflow.db'}?mode=ro", uri=True) as db:
            return db.execute(query).fetchone()[0] >= 1
    except sqlite3.Error:  # not created yet
        return False


def processes_running(marker: bytes) -> list[int]:
    """Pids of the processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker in command:
                found.append(int(entry))
    return found


def sweep_with_a_job_killed(folder: Path, arguments: list[str], victims) -> tuple:
    """Runs `python -m ablate *arguments` in `folder`; once a job trains, SIGKILLs the first
    pid that `victims(sweep_pid)` returns, as the OOM killer would.

    Returns:
        `(exit code, stdout, stderr, the killed pid)` once the sweep has ended.
    """
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ablate", *arguments],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline, victim = time.monotonic() + 240, None
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.5)
        found = victims(process.pid) if a_job_is_training(folder) else []
        victim = found[0] if found else None
    if victim is None:
        process.kill()
        pytest.fail("no job to kill was found while the sweep trained")
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr, victim
