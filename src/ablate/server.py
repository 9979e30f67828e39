"""`python -m ablate.server`: a team's tracking server, `mlflow server` on a PostgreSQL database.

    python -m ablate.server start     # PostgreSQL + mlflow server in .ablate-server/; its URI
    python -m ablate.server status    # the URI, or that nothing runs
    python -m ablate.server stop

PostgreSQL is Debian's package (`apt-get install postgresql`; its programs are found under
/usr/lib/postgresql/<version>/bin or through `pg_config`); its database cluster, the server's
artifacts and both logs live in `--folder`. The database listens on 127.0.0.1 only, with a
password kept in `<folder>/postgres.password`; `mlflow server` serves runs and artifacts
(`--artifacts-destination <folder>/artifacts`, uploaded through the server, so clients need no
shared disk) on `--host` (127.0.0.1; `0.0.0.0` opens it to the team's machines: put it behind
the team's network rules). As root, PostgreSQL runs as the `postgres` user. `start` returns
once the server answers; sweeps then use `tracking.uri=<the URI>`.
"""

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ablate.errors import InputError

DEFAULT_FOLDER = ".ablate-server"
STATE_FILE = "server.json"
DATABASE = USER = "mlflow"
START_TIMEOUT_S = 180
# MLflow 3 starts 8 more processes for GenAI jobs (about 1.9 GB) unless told not to.
SERVER_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def postgres_programs() -> Path:
    """The folder of PostgreSQL's server programs (`initdb`, `pg_ctl`, `createdb`).

    Raises:
        InputError: if PostgreSQL is not installed.
    """
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates = [found.stdout.strip()] if found.returncode == 0 else []
    except OSError:
        candidates = []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if Path(folder, "initdb").exists():
            return Path(folder)
    raise InputError(
        "PostgreSQL's server programs (initdb, pg_ctl) were not found: install them "
        "(`apt-get install postgresql`) and run `python -m ablate.server start` again."
    )


def _version(folder: str) -> float:
    try:
        return float(Path(folder).parent.name)
    except ValueError:
        return 0.0


def _as_database_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, `command` runs as `postgres`."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str], password: str | None = None) -> None:
    env = {**os.environ, "PGPASSWORD": password} if password else None
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[-300:]
        raise RuntimeError(f"`{' '.join(command[-3:])}` failed: {detail}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start(folder: Path, host: str, port: int, database_port: int) -> str:
    """Starts PostgreSQL and `mlflow server` in `folder`; returns the tracking URI.

    Args:
        folder: where the database cluster, artifacts, logs and state live (created).
        host: the address `mlflow server` listens on.
        port: the port of `mlflow server`.
        database_port: the port of PostgreSQL, on 127.0.0.1.

    Raises:
        InputError: if PostgreSQL is missing or a server of `folder` is already running.
        RuntimeError: if PostgreSQL or `mlflow server` does not start (its log is named).
    """
    folder = folder.absolute()
    running = status(folder)
    if running:
        raise InputError(f"a server of {folder} is already running at {running}.")
    programs = postgres_programs()
    data = folder / "postgres"
    password_file = folder / "postgres.password"
    folder.mkdir(parents=True, exist_ok=True)
    if not password_file.exists():
        password_file.write_text(secrets.token_hex(16))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        data.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres")
            if subprocess.run(_as_database_user(["test", "-w", str(data)])).returncode != 0:
                raise InputError(
                    f"as root, PostgreSQL runs as the user postgres, who cannot reach {folder} "
                    "(a folder above it is private): pass --folder a folder it can reach."
                )
        password_copy = folder / "initdb.password"  # readable by postgres, deleted after use
        password_copy.write_text(password)
        password_copy.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(password_copy, "postgres")
        command = [str(programs / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256"]
        try:
            _run(_as_database_user([*command, f"--pwfile={password_copy}"]))
        finally:
            password_copy.unlink()
    log = data / "server.log"  # inside the cluster folder: writable by postgres
    options = f"-h 127.0.0.1 -p {database_port} -k {data}"
    _run(_as_database_user([str(programs / "pg_ctl"), "-D", str(data), "-l", str(log), "-o",
                            options, "-w", "start"]))  # fmt: skip
    if fresh:
        createdb = [str(programs / "createdb"), "-h", "127.0.0.1", "-p", str(database_port)]
        _run([*createdb, "-U", USER, DATABASE], password)
    backend = f"postgresql+psycopg2://{USER}:{password}@127.0.0.1:{database_port}/{DATABASE}"
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    with open(folder / "mlflow.log", "ab") as mlflow_log:
        server = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "mlflow"),
                "server",
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=mlflow_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **SERVER_ENVIRONMENT},
        )
    state = {"url": url, "pid": server.pid, "postgres": str(data), "programs": str(programs)}
    (folder / STATE_FILE).write_text(json.dumps(state))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(url):
        if server.poll() is not None or time.monotonic() > deadline:
            stop(folder)
            raise RuntimeError(f"mlflow server did not start: see {folder / 'mlflow.log'}")
        time.sleep(0.5)
    return url


def status(folder: Path) -> str | None:
    """The URI of the running server of `folder`, or None."""
    path = folder.absolute() / STATE_FILE
    if not path.exists():
        return None
    url = json.loads(path.read_text())["url"]
    return url if _answers(url) else None


def stop(folder: Path) -> bool:
    """Stops the server of `folder` and its PostgreSQL; returns whether one was running."""
    path = folder.absolute() / STATE_FILE
    if not path.exists():
        return False
    state = json.loads(path.read_text())
    try:
        os.killpg(state["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            os.killpg(state["pid"], 0)
            time.sleep(0.2)
        os.killpg(state["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    pg_ctl = [str(Path(state["programs"]) / "pg_ctl"), "-D", state["postgres"], "-m", "fast"]
    subprocess.run(_as_database_user([*pg_ctl, "-w", "stop"]), capture_output=True)
    path.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ablate.server", description=__doc__)
    parser.add_argument("action", choices=["start", "status", "stop"])
    parser.add_argument("--folder", type=Path, default=Path(DEFAULT_FOLDER))
    parser.add_argument("--host", default="127.0.0.1", help="where mlflow server listens")
    parser.add_argument("--port", type=int, default=5000, help="the port of mlflow server")
    parser.add_argument("--database-port", type=int, default=5433, help="PostgreSQL's port")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            url = start(args.folder, args.host, args.port, args.database_port)
            print(f"Tracking server at {url} (PostgreSQL, artifacts in {args.folder}).")
            print(f"Sweep against it: python -m ablate -m ... tracking.uri={url}")
        elif args.action == "status":
            url = status(args.folder)
            print(f"Running at {url}." if url else f"No server of {args.folder} is running.")
            return 0 if url else 1
        else:
            stopped = stop(args.folder)
            print("Stopped." if stopped else f"No server of {args.folder} was running.")
    except (InputError, RuntimeError) as error:
        print(f"ablate.server: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
