"""The one exception type for mistakes in what the user gave `ablate`."""


class InputError(ValueError):
    """A problem with the user's configuration, data or environment.

    `python -m ablate` reports it as one line on stderr, without a traceback, and exits
    with status 2 before any training starts. The message follows the Keras idiom: what
    was expected, then `Received: key=value`, then how to fix it.

    Example:

    >>> raise InputError(
    ...     "`smoothing` must be in [0, 1). Received: smoothing=1.5"
    ... )
    """


class DivergedError(RuntimeError):
    """Training produced a NaN or infinite loss; the run is recorded FAILED ("diverged")."""


class SweepNotFoundError(InputError):
    """No sweep matches: an empty folder or store, or an unknown sweep id."""
