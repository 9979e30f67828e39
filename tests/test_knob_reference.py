"""`docs/knobs.md` is generated from the schemas and the options, and kept up to date."""

import pytest

from ablate import knob_reference
from ablate.config import RULES
from conftest import REPO


@pytest.fixture(scope="module")
def reference() -> str:
    return knob_reference.render()


def test_docs_knobs_md_is_the_generated_reference(reference):
    stale = f"docs/knobs.md is stale: regenerate it with `{knob_reference.COMMAND}`"
    assert (REPO / "docs" / "knobs.md").read_text() == reference, stale


def test_reference_has_every_option_and_every_checked_key(reference):
    for path in (REPO / "conf").glob("*/*.yaml"):
        if path.parent.name not in ("experiment", "local"):
            assert f"### `{path.parent.name}={path.stem}`" in reference
    for key, rule in RULES.items():
        assert f"| `{key}` |" in reference and rule.allowed in reference


def test_reference_shows_each_option_s_own_values(reference):
    sgd = reference.split("### `optimizer=sgd`")[1].split("###")[0]
    assert "| `optimizer.learning_rate` | float | `0.01` | > 0 |" in sgd
    mobilenet = reference.split("### `model=mobilenet_v3_small`")[1].split("###")[0]
    assert "| `model.dropout` | float | `0.2` | in [0, 1) |" in mobilenet
    path = "| `data.path` | str | *required* | a non-empty path of at most 4096 characters |"
    assert path in reference


def test_reference_lists_the_refused_combinations(reference):
    assert "- `swa=on` with `ema=on`: both replace the final weights with an average." in reference
    assert "- `attention=mhsa` needs a convolutional model" in reference


def test_values_are_written_as_on_the_command_line():
    assert knob_reference._plain([32, 64]) == "[32, 64]"
    assert knob_reference._plain(None) == "null"
    assert knob_reference._plain({}) == "{}"
    assert knob_reference._value("???") == "*required*"
    assert knob_reference._type_name(int | None) == "int or null"
    assert knob_reference._type_name(list[int]) == "list of int"
