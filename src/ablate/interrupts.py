"""SIGINT and SIGTERM as `KeyboardInterrupt`, remembered, so that a stop is never lost.

Python raises a signal handler's exception in whatever bytecode the main thread runs next.
When that is a destructor or a weakref callback (TensorFlow and Keras run many during `fit`),
Python prints "Exception ignored in ..." and carries on: the job would train to the end. So
the handler also remembers the signal, and `raise_if_interrupted` (called by a Keras callback
before every batch and once more before a run is marked FINISHED) raises it again. Python's
"Exception ignored" report of such a swallowed interrupt, a traceback, is not printed.

Used by the job (`ablate.cli.run_from_cli`) and by the sweeper; it imports nothing heavy.
"""

import contextlib
import signal
import sys
import threading

_received: list[str] = []  # names of the signals received inside `interruptible()`


@contextlib.contextmanager
def interruptible(once: bool = False):
    """SIGINT and SIGTERM raise `KeyboardInterrupt(<signal name>)` while the block runs.

    SIGINT keeps its disposition where it is not Python's default (e.g. ignored).

    Args:
        once: raise for the first signal only; later ones are only remembered, so that a job
            recording itself KILLED after Ctrl-C is not cut short by the SIGTERM its sweeper
            sends next. Defaults to False (a second Ctrl-C interrupts the cleanup).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        name = signal.Signals(signum).name
        _received.append(name)
        if len(_received) == 1 or not once:
            raise KeyboardInterrupt(name)

    def report_unless_interrupt(unraisable):
        if not (_received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous_hook(unraisable)

    _received.clear()
    previous_hook, sys.unraisablehook = sys.unraisablehook, report_unless_interrupt
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook
        _received.clear()  # outside a block there is nothing to raise again


def raise_if_interrupted() -> None:
    """Raises `KeyboardInterrupt` again if a signal came inside the current `interruptible()`
    block (outside one, never).

    Raises:
        KeyboardInterrupt: named after the first signal received.
    """
    if _received:
        raise KeyboardInterrupt(_received[0])
