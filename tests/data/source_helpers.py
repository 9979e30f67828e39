"""Shared helpers of the data-source tests: a data config, and a literal `pytest.raises` pattern."""

import re
import types


def cfg(**fields):
    """A data config with attribute access, as the Hydra `data` section provides."""
    return types.SimpleNamespace(**fields)


def match(*parts):
    """A `pytest.raises` pattern matching the literal `parts` in this order."""
    return ".*".join(re.escape(str(part)) for part in parts)
