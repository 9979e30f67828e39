"""Checks that run before anything starts, shared by `python -m ablate` and its sweeper.

A Hydra or OmegaConf error becomes one line (`one_line`, `hydra_error_message`); an output
folder that cannot be created (`check_output_folder`) and an MLflow file store in a missing
folder (`check_tracking_folder`) are refused before any data is loaded. Nothing here imports
TensorFlow, Keras or MLflow, so the sweeper may import it.
"""

import contextlib
import difflib
import os
import tempfile
import urllib.parse
from pathlib import Path

from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from ablate.errors import InputError
from ablate.validation import shown

SKIPPED_DETAILS = ("object_type", "reference_type", "Set the environment variable")


def one_line(error: Exception) -> str:
    """Joins the useful lines of a Hydra/OmegaConf error and its cause into one line."""
    lines = []
    for part in (error, error.__cause__):
        if part is None:
            continue
        text = str(part).split("Config search path")[0]
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith(SKIPPED_DETAILS) and line not in lines:
                lines.append(line)
    return " ".join(lines)


def hydra_error_message(error: Exception, overrides: list[str]) -> str:
    """The one line for a Hydra/OmegaConf composition error of the command line `overrides`.

    A key that the schema does not have (`smoothign=0.1`, `training.epoch=3`) is named with
    the closest key it has; Hydra's own advice (`+smoothign=0.1` appends a new key) would only
    hide the typo. Other errors are Hydra's lines joined by `one_line`.
    """
    cause = error.__cause__
    schema = getattr(cause, "object_type", None)
    if not (
        isinstance(cause, ConfigAttributeError | ConfigKeyError)
        and getattr(cause, "full_key", None)
        and hasattr(schema, "__dataclass_fields__")
    ):
        return one_line(error)
    key = cause.full_key
    parent, _, name = key.rpartition(".")
    prefix = f"{parent}." if parent else ""
    close = difflib.get_close_matches(name, list(schema.__dataclass_fields__), n=1)
    received = next((o for o in overrides if o.split("=", 1)[0].lstrip("+~") == key), f"{key}=...")
    suggestion = f" (did you mean `{prefix}{close[0]}`?)" if close else ""
    return (
        f"`{key}` must be a key of the config{suggestion}. Received: {shown(received)}. Fix "
        "the spelling; `python -m ablate --cfg job` prints every key."
    )


def check_output_folder(key: str, folder) -> None:
    """Refuses an output folder that cannot be created and written, before any run starts.

    Creates (and removes) a temporary folder in the nearest folder of `folder` that exists,
    so that a special file system (`/proc/x`), a file on the way (`/dev/null/x`) and a
    read-only folder are found now, not after Hydra has started the job.

    Args:
        key: the knob that names the folder, e.g. `hydra.run.dir`.
        folder: the folder.

    Raises:
        InputError: naming `key`, the folder and what is wrong with it.
    """
    path = Path(folder).absolute()
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    name_max = 255
    with contextlib.suppress(OSError, ValueError):
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    if len(str(path)) > 4096 or any(len(part) > name_max for part in path.parts):
        reason = f"longer than the file system allows: {name_max} characters a name"
    elif not existing.is_dir():
        reason = f"{shown(existing)} is not a folder"
    else:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".ablate-probe-", dir=existing))
            return
        except OSError as error:
            reason = f"cannot create a folder in {shown(existing)}: {error.strerror}"
    raise InputError(
        f"`{key}` must name a folder that can be created and written. Received: "
        f"{key}={shown(folder)} ({reason}). Choose another folder, e.g. {key}=outputs/run1."
    )


def check_tracking_folder(tracking: DictConfig) -> None:
    """Refuses an MLflow file store (`tracking.uri=file:///...` or a plain path) whose folder
    does not exist, as `ablate.tracking` refuses an SQLite file in a missing folder.

    Raises:
        InputError: naming `tracking.uri` and the missing folder.
    """
    if tracking.backend != "mlflow":
        return
    uri = tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    parsed = urllib.parse.urlparse(uri)
    if not uri or parsed.scheme not in ("", "file"):
        return
    folder = urllib.parse.unquote(parsed.path)
    if not os.path.isdir(folder):
        raise InputError(
            "`tracking.uri` must name an existing folder for an MLflow file store. Received: "
            f"tracking.uri={shown(uri)} (no folder {shown(folder)}). Create it, or use a "
            "database store, e.g. tracking.uri=sqlite:///mlflow.db."
        )


def check_shared_store(tracking: DictConfig) -> None:
    """Refuses a tracking store on this machine's disk (SQLite, a folder) for a launcher whose
    jobs may run on other machines (a Ray cluster, SLURM): they would each write their own.

    Raises:
        InputError: naming `tracking.uri`, the store and what to use instead.
    """
    if tracking.backend != "mlflow":
        return
    uri = tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    if urllib.parse.urlparse(uri).scheme not in ("", "file", "sqlite"):
        return  # a tracking server, or a database server such as postgresql://
    raise InputError(
        "`tracking.uri` must be a tracking server that every machine of the cluster reaches "
        f"when jobs run on other machines. Received: tracking.uri={shown(uri)} (a file on this "
        "machine). Start one (`make server`) and pass tracking.uri=http://<host>:<port>, or "
        "launch on this machine (hydra/launcher=ablate_pool)."
    )
