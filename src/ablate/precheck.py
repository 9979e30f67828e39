"""Reject bad command-line input in one line, before Hydra starts a job or TensorFlow loads.

Hydra reports composition errors over several lines (and `--cfg job` prints a config without
running any job, so `validate` would never see it). For a single run, the command line is
composed here once with Hydra's Compose API and validated; any problem becomes one line on
stderr and exit status 2. Sweeps (`-m`) are checked job by job instead.
"""

import sys

import hydra
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from ablate.config import validate
from ablate.errors import InputError
from ablate.paths import config_dir

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


def overrides_of(argv: list[str]) -> list[str]:
    """Returns the `key=value` overrides of a Hydra command line."""
    return [arg for arg in argv if "=" in arg and not arg.startswith("-")]


def precheck(argv: list[str]) -> None:
    """Composes and validates a single-run command line; exits 2 with one line on error."""
    if {"-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "-i"} & set(argv):
        return
    try:
        with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
            validate(hydra.compose("config", overrides=overrides_of(argv)))
    except InputError as error:
        message = str(error)
    except (HydraException, OmegaConfBaseException) as error:
        message = one_line(error)
    else:
        return
    print(f"ablate: error: {message}", file=sys.stderr)
    sys.exit(2)
