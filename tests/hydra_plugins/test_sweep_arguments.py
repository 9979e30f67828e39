"""The sweep's reading of its command line (`sweep_arguments`); through the CLI, the sweeper's
refusals are tested in `test_ablate_sweeper.py`."""

import pytest

from ablate.errors import InputError
from hydra_plugins.ablate_sweeper.sweep_arguments import check_listed_once, same_value


@pytest.mark.parametrize(
    ("listed", "baseline", "same"),
    [
        ("0", 0.0, True),
        ("0.10", 0.1, True),
        ("true", True, True),
        ("True", "true", True),
        ("on", "on", True),
        ("on", "off", False),
        ("1", True, True),  # numerically equal, as YAML reads them
        ("null", None, False),
    ],
)
def test_a_listed_value_spells_its_baseline_as_the_same_text_number_or_boolean(
    listed, baseline, same
):
    assert same_value(listed, baseline) is same


def test_a_value_listed_twice_is_refused_with_both_spellings():
    check_listed_once("swa", ["on", "off"], "swa=on,off")
    with pytest.raises(InputError, match=r"Received: smoothing=0,0.0 \(0 and 0.0 are equal\)"):
        check_listed_once("smoothing", ["0", "0.0"], "smoothing=0,0.0")
    with pytest.raises(InputError, match=r"^`swa` must list each value once.*\(on twice\)"):
        check_listed_once("swa", ["on", "on"], "swa=on,on")
