"""What makes two runs the same experiment, so that a finished one can be reused.

Two runs are the same when they train the same configuration (`config_hash`: the resolved
config without seed, tracking and sweep bookkeeping) with the same seed, on the same data
(a content hash of a user's file or folder; the loader version for bundled and Keras
datasets), with the same `ablate` and the same numerical libraries. `run_identity` hashes
exactly these; a sweep reuses a FINISHED run of the store whose identity matches
(`ablation.reuse`). Nothing here imports TensorFlow: the sweeper computes identities before
launching anything.
"""

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

import ablate
from ablate.config import config_hash

# Bump when a bundled or Keras loader starts returning different arrays.
LOADER_VERSION = "1"
NUMERIC_LIBRARIES = ("tensorflow", "keras", "numpy", "scikit-learn", "imbalanced-learn")
_CHUNK = 1 << 20


def data_fingerprint(data: dict) -> str:
    """A hash of the data a run reads: its file's or folder's bytes, or the loader version.

    Args:
        data: the resolved `data` config group.

    Returns:
        `sha256:<hex>` for a user file or folder, `loader:<name>:<version>` otherwise.
    """
    path = data.get("path")
    if not path:
        return f"loader:{data.get('name')}:{data.get('dataset', '')}:{LOADER_VERSION}"
    root = Path(str(path)).expanduser()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode())
        if file.exists():
            with open(file, "rb") as stream:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def dataset_description(data: dict, fingerprint: str) -> dict[str, str]:
    """The data a run reads, as an MLflow dataset (the UI's Dataset column).

    Args:
        data: the resolved `data` config group.
        fingerprint: its `data_fingerprint`.

    Returns:
        `name` (the source, its Keras dataset, or the file's or folder's name), `digest` (16
        hex digits of the fingerprint: of a user's file names and bytes, else of the loader
        and its version),
        `source_type` (`local` for a user's path, `code` for a loader) and `source` (the
        absolute path, or the loader).
    """
    path = data.get("path")
    if path:
        resolved_path = Path(str(path)).expanduser().resolve()
        return {
            "name": resolved_path.name,
            "digest": fingerprint.removeprefix("sha256:")[:16],
            "source_type": "local",
            "source": str(resolved_path),
        }
    name = ":".join(str(part) for part in (data.get("name"), data.get("dataset")) if part)
    return {
        "name": name,
        "digest": hashlib.sha256(fingerprint.encode()).hexdigest()[:16],
        "source_type": "code",
        "source": f"ablate loader {name} (version {LOADER_VERSION})",
    }


def run_identity(resolved: dict, fingerprint: str | None = None) -> str:
    """The identity of a run: 16 hex digits over config hash, seed, data and versions.

    Args:
        resolved: the run's resolved config (plain containers).
        fingerprint: the `data_fingerprint` of its data, when known. Defaults to None:
            computed here.

    Returns:
        The identity; equal identities mean the same experiment.
    """
    versions = {name: metadata.version(name) for name in NUMERIC_LIBRARIES}
    material = [
        config_hash(resolved),
        resolved["seed"],
        fingerprint or data_fingerprint(resolved["data"]),
        ablate.__version__,
        platform.python_version(),
        versions,
    ]
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]
