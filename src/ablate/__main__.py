"""`python -m ablate`: compose the config with Hydra, then train and record one run."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from ablate.config import register_schemas  # noqa: E402
from ablate.paths import config_dir  # noqa: E402
from ablate.precheck import precheck  # noqa: E402

register_schemas()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> float:
    """Runs one job and returns its test accuracy (the value a Hydra sweeper optimizes)."""
    from ablate.job import run_from_cli

    return run_from_cli(cfg)


if __name__ == "__main__":
    precheck(sys.argv[1:])
    main()
