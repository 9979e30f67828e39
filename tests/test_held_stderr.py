"""`held_stderr`: native stderr held back while a block runs, written back unless bad input."""

import os

import pytest

from ablate.errors import InputError
from ablate.held_stderr import held_stderr, hidden_by_tf_log_level

NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
INFO = "I0000 00:00:1796011286.900162   28694 cudart_stub.cc:31] Could not find cuda drivers"
ERROR = "E0000 00:00:1796012121.172279    8168 cuda_platform.cc:52] failed call to cuInit"


def write_natively(*lines: str) -> None:
    os.write(2, "".join(f"{line}\n" for line in lines).encode())


def test_held_lines_come_back_filtered_when_the_block_ends(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with held_stderr(lambda line: not hidden_by_tf_log_level(line)):
        write_natively(NOTICE, INFO, ERROR, "a plain line")
        assert capfd.readouterr().err == ""  # held, not yet written
    assert capfd.readouterr().err == f"{ERROR}\na plain line\n"


def test_bad_input_drops_the_held_lines(capfd):
    with pytest.raises(InputError), held_stderr():
        write_natively("Improper call to JPEG library in state 201")
        raise InputError("`data.path` must hold readable images. Received: data.path=x")
    assert capfd.readouterr().err == ""


def test_any_other_failure_brings_every_held_line_back(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with pytest.raises(RuntimeError), held_stderr(lambda line: False):
        write_natively(INFO, "why it failed")
        raise RuntimeError("boom")
    assert capfd.readouterr().err == f"{INFO}\nwhy it failed\n"


@pytest.mark.parametrize(
    "level, hidden",
    [("0", []), ("1", [NOTICE, INFO]), ("2", [NOTICE, INFO]), ("3", [NOTICE, INFO, ERROR])],
)
def test_the_tf_log_level_decides_which_lines_are_hidden(monkeypatch, level, hidden):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    lines = [NOTICE, INFO, ERROR, "Epoch 1/2"]
    assert [line for line in lines if hidden_by_tf_log_level(line)] == hidden
