"""Equality, hashing and repr from `get_config`, shared by every penalty and constraint."""

from __future__ import annotations

from typing import Any

Tensor = Any  # a backend tensor, a keras.Variable or a NumPy array


class ConfigEquality:
    """Two objects are equal when they are of one class with one config (JSON-native values)."""

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
