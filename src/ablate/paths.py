"""Where the shipped configuration lives, for checkouts and for installed wheels alike."""

from pathlib import Path


def config_dir() -> Path:
    """Returns the directory holding `config.yaml` and the config groups.

    A wheel carries the repository's `conf/` as `ablate/conf`; a checkout or an editable
    install reads the repository's `conf/` directly, so there is one source of truth.
    """
    packaged = Path(__file__).parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"
