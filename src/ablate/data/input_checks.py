"""Checks and error text that several data sources share.

The user's paths (`data.path` must name an existing file or directory), the refusal of a
value outside a list of choices, worded as `ablate.config.validate` words it, and the
one-line form of an underlying error quoted inside an `InputError`.
"""

import os

from ablate.errors import InputError


def existing_file(path, suffix: str) -> str:
    """Returns `path`, with `~` expanded, if it is an existing file.

    Args:
        path: the `data.path` value, possibly `None`.
        suffix: the expected extension, for the error message.

    Returns:
        The expanded path.

    Raises:
        InputError: if `path` is unset or no file exists there.
    """
    if path is None or not os.path.isfile(os.path.expanduser(str(path))):
        raise InputError(
            f"`data.path` must point to an existing {suffix} file. "
            f"Received: data.path={path} (no such file). Check the path."
        )
    return os.path.expanduser(str(path))


def existing_dir(path) -> str:
    """Returns `path`, with `~` expanded, if it is an existing directory.

    Args:
        path: the `data.path` value, possibly `None`.

    Returns:
        The expanded path.

    Raises:
        InputError: if `path` is unset or no directory exists there.
    """
    if path is None or not os.path.isdir(os.path.expanduser(str(path))):
        raise InputError(
            "`data.path` must point to an existing directory with one subfolder per class. "
            f"Received: data.path={path} (no such directory). Check the path."
        )
    return os.path.expanduser(str(path))


def not_one_of(key: str, value, choices) -> InputError:
    """Returns the error for a `key` whose `value` is not among `choices`.

    The wording is the one `ablate.config.validate` uses for its choices, so a value that
    reaches a loader without validation is refused in the same words.

    Args:
        key: the full config key, e.g. `"data.name"`.
        value: the value received.
        choices: the allowed values, in the order to list them.

    Returns:
        The `InputError` to raise.
    """
    return InputError(f"`{key}` must be one of {list(choices)}. Received: {key}={value}")


def one_line(err) -> str:
    """Returns the text of `err` with all whitespace runs collapsed to single spaces."""
    return " ".join(str(err).split())
