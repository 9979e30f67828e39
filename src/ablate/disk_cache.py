"""ablate's cache folder, and named arrays computed once and kept in it.

The folder is `$ABLATE_CACHE_DIR`, default `~/.cache/ablate`. It holds resampled training
splits (`ablate.techniques.balancing`), the parsed bundled digits (`ablate.data.bundled`) and
the prepared WordNet (`ablate.techniques.wordnet`). Deleting it is always safe: what it holds
is computed again when needed.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """`$ABLATE_CACHE_DIR`, else `~/.cache/ablate`."""
    return Path(
        os.environ.get("ABLATE_CACHE_DIR") or Path.home() / ".cache" / "ablate"
    ).expanduser()


def cached_arrays(
    folder: str | os.PathLike, key, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Returns `compute()`, a dict of named arrays, computed once per `key` and kept on disk.

    The file is `<folder>/<digest>.npz`, where `digest` is the first 16 hex digits of the
    SHA-256 of the JSON of `key` (keys sorted). The arrays are not hashed: `key` must identify
    them. A new file is written to a temporary file in `folder` and moved into place with
    `os.replace`, so processes running in parallel never read half a file; two that compute
    the same entry at once both write the same arrays. A file that cannot be read (cut short
    by a full disk) is computed and written again.

    Args:
        folder: the cache folder; created when missing.
        key: a JSON-serializable description of what `compute` returns.
        compute: makes the arrays.

    Returns:
        The arrays by name.

    Raises:
        TypeError: if `key` is not JSON-serializable.
    """
    text = json.dumps(key, sort_keys=True)
    path = Path(folder) / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            pass  # unreadable: computed again below
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        np.savez(handle, **arrays)
    os.replace(handle.name, path)
    return arrays
