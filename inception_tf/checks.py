"""Argument checks shared by the public functions, with keras-hub-style messages."""

import numpy as np


def positive_int(name, value):
    """`value` as an int; a ValueError naming `name` and the value unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)
