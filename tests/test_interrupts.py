"""A signal whose `KeyboardInterrupt` Python swallowed (raised inside a destructor) still stops
the job: `raise_if_interrupted` raises it again, and `StopOnInterrupt` does so inside `fit`."""

import os
import signal
import sys

import keras
import numpy as np
import pytest

from ablate.interrupts import interruptible, raise_if_interrupted
from ablate.run import StopOnInterrupt


class SignalledInDestructor:
    """Sends `signum` to this process from `__del__`, where Python swallows the exception."""

    def __init__(self, signum):
        self.signum = signum

    def __del__(self):
        os.kill(os.getpid(), self.signum)
        sum(range(1000))  # bytecode for the handler to run in, inside the destructor


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_swallowed_in_a_destructor_is_raised_again_without_a_traceback(
    signum, monkeypatch
):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    with interruptible():
        SignalledInDestructor(signum)  # the temporary dies at once; Python goes on
        assert reported == []  # no "Exception ignored ..." traceback
        with pytest.raises(KeyboardInterrupt, match=signal.Signals(signum).name):
            raise_if_interrupted()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert sys.unraisablehook == reported.append


def test_other_unraisable_errors_are_still_reported(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    class FailsInDestructor:
        def __del__(self):
            raise ValueError("boom")

    with interruptible():
        FailsInDestructor()
    assert [str(r.exc_value) for r in reported] == ["boom"]


def test_once_raises_for_the_first_signal_only_and_remembers_it():
    with interruptible(once=True):
        with pytest.raises(KeyboardInterrupt, match="SIGINT"):
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))
        os.kill(os.getpid(), signal.SIGTERM)  # the sweeper's SIGTERM after a Ctrl-C
        sum(range(1000))  # cleanup goes on
        with pytest.raises(KeyboardInterrupt, match="SIGINT"):
            raise_if_interrupted()


def test_a_signal_is_raised_again_only_inside_its_own_block(monkeypatch):
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)
    with interruptible():
        SignalledInDestructor(signal.SIGTERM)
    raise_if_interrupted()  # outside any block: nothing (a later in-process run trains on)
    with interruptible():
        raise_if_interrupted()  # the earlier block's signal is not this one's


def test_fit_stops_before_the_next_batch_after_a_swallowed_interrupt(monkeypatch):
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    batches = []

    class SwallowedAtBatchThree(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 2:
                SignalledInDestructor(signal.SIGTERM)

    with interruptible(), pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        model.fit(
            np.zeros((20, 2)),
            np.zeros(20),
            batch_size=2,
            epochs=3,
            callbacks=[SwallowedAtBatchThree(), StopOnInterrupt()],
            verbose=0,
        )
    assert batches == [0, 1, 2]  # 3 of 30 batches, none after the signal
