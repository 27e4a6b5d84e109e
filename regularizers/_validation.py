"""One argument checker for every regularizer and constraint, with one message shape."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real


def _message(name: str, expected: str, value: object) -> str:
    return f"Invalid value for argument `{name}`: expected {expected}. Received: {name}={value!r}"


def check_float(
    name: str,
    value: object,
    *,
    positive: bool = False,
    maximum: float | None = None,
) -> float:
    """Return `value` as a float after checking it is a finite, non-negative real number.

    `positive=True` also rejects zero; `maximum` is an inclusive upper bound.
    Raises `TypeError` for a non-number (bools included) and `ValueError` for NaN, inf or a
    value out of range, both in the form
    ``Invalid value for argument `l2`: expected a non-negative float. Received: l2=-1``.
    """
    if positive:
        expected = "a positive float"
    elif maximum is not None:
        expected = f"a float in [0, {maximum:g}]"
    else:
        expected = "a non-negative float"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(_message(name, expected, value))
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(_message(name, expected, value)) from None
    if (
        not math.isfinite(number)
        or number < 0
        or (positive and number == 0)
        or (maximum is not None and number > maximum)
    ):
        raise ValueError(_message(name, expected, value))
    return number


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return `value` after checking it is one of the strings in `choices`."""
    expected = "one of " + ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(_message(name, expected, value))
    if value not in choices:
        raise ValueError(_message(name, expected, value))
    return value


def check_int(name: str, value: object) -> int:
    """Return `value` after checking it is an int (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(_message(name, "an integer", value))
    return value
