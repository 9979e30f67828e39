"""Holding back what native code writes to the process's stderr while a block runs.

TensorFlow's C++ code and the libraries it bundles write to file descriptor 2 directly, below
Python's `sys.stderr`: TensorFlow 2.21 logs its start-up lines through absl before its log is
set up, so `TF_CPP_MIN_LOG_LEVEL` does not hide them (`oneDNN custom operations are on`,
`Could not find cuda drivers`), and libjpeg prints `Improper call to JPEG library` by itself
when a broken file is decoded. `python -m ablate` promises one line for bad input; these lines
would come before it. `held_stderr` sends descriptor 2 to a temporary file while a block runs
and writes back what should be seen when it ends.
"""

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable

from ablate.errors import InputError

# absl's log line: severity, date, time, thread, source file and line, e.g.
# "I0000 00:00:1796011286.900162   28694 port.cc:153] oneDNN custom operations are on. ..."
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
_SEVERITIES = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 0..3 hides the severities before its own


def hidden_by_tf_log_level(line: str) -> bool:
    """Whether `line` is a TensorFlow C++ log line that `TF_CPP_MIN_LOG_LEVEL` asks to hide.

    With `TF_CPP_MIN_LOG_LEVEL=2` (the default of `python -m ablate`), the info and warning
    lines (`I0000 00:00:1796011286.9 28694 cudart_stub.cc:31] Could not find cuda drivers`)
    and absl's notice before them are hidden; errors are not.
    """
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return False
    if line.startswith(_ABSL_PREAMBLE):
        return level >= 1
    match = _ABSL_LINE.match(line)
    return bool(match) and _SEVERITIES.index(match.group(1)) < level


def _everything(line: str) -> bool:
    return True


@contextlib.contextmanager
def held_stderr(keep: Callable[[str], bool] = _everything):
    """Holds back what is written to file descriptor 2 while the block runs.

    When the block ends, the held lines that `keep` accepts are written to stderr. When it
    raises an `InputError`, none are: its one-line message says what went wrong. When it
    raises anything else, every held line comes back, so that nothing that explains a failure
    is lost.

    Args:
        keep: takes a held line (without its newline) and returns whether to write it back.
            Defaults to keeping every line.

    Example:

    >>> with held_stderr(lambda line: not hidden_by_tf_log_level(line)):
    ...     import tensorflow  # doctest: +SKIP
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        show = keep
        try:
            yield
        except InputError:
            show = None
            raise
        except BaseException:
            show = _everything
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if show is not None:
                held.seek(0)
                lines = held.read().decode(errors="replace").splitlines(keepends=True)
                sys.stderr.write("".join(line for line in lines if show(line.rstrip("\n"))))
                sys.stderr.flush()
