"""Both an editable and a regular (wheel) install find the shipped configuration."""

import subprocess
import sys

import pytest
import yaml

from ablate.config import config_dir
from conftest import REPO


def test_a_checkout_or_editable_install_reads_the_repository_conf():
    assert config_dir() == REPO / "conf"
    assert (config_dir() / "config.yaml").is_file()


@pytest.mark.slow
def test_a_wheel_carries_conf_and_runs_from_any_directory(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("ablate-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    shipped = sorted(
        p.relative_to(target / "ablate" / "conf").as_posix()
        for p in (target / "ablate" / "conf").rglob("*.yaml")
    )
    in_repo = sorted(
        p.relative_to(REPO / "conf").as_posix()
        for p in (REPO / "conf").rglob("*.yaml")
        if "local" not in p.parts
    )
    assert shipped == in_repo

    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ablate, ablate.config as c; print(ablate.__file__); print(c.config_dir())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where == [str(target / "ablate" / "__init__.py"), str(target / "ablate" / "conf")]
    printed = subprocess.run(
        [sys.executable, "-m", "ablate", "--cfg", "job", "data=digits"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout)["data"]["name"] == "digits"
