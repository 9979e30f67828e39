"""SIGTERM handled like Ctrl-C, so that a run or a sweep stops the same way on either signal.

Used by the job (`ablate.cli.run_from_cli`) and by the sweeper; it imports nothing heavy.
"""

import contextlib
import signal
import threading


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Turns SIGTERM into `KeyboardInterrupt` (as SIGINT already is) while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
