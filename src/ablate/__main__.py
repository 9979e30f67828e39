"""`python -m ablate`: compose the config with Hydra, then train and record one run."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

import hydra  # noqa: E402

from ablate.cli import exit_without_teardown, precheck, run_from_cli  # noqa: E402
from ablate.config import config_dir, register_schemas  # noqa: E402

register_schemas()
main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")(
    run_from_cli
)


if __name__ == "__main__":
    precheck(sys.argv[1:])
    main()
    exit_without_teardown()
