"""Which weights form a group, shared by the group-lasso penalty and its proximal step.

A `Dense` kernel has shape `(in, out)` and a `Conv2D` kernel `(kh, kw, c_in, c_out)`:
- ``groups="units"``: one group per output unit or filter, the slice along the last axis
  (a Dense kernel's columns). Zeroing a group removes a hidden unit: neuron pruning.
- ``groups="inputs"``: one group per input feature or channel, the slice along axis -2
  (a Dense kernel's rows). Zeroing a group drops an input: feature selection.
"""

from __future__ import annotations

import math

GROUPINGS = ("units", "inputs")
EPSILON = 1e-12  # inside the square root, so the gradient of a norm is finite at zero


def reduce_axes(ndim: int, groups: str) -> tuple[int, ...]:
    """Axes to sum over so that one value per group remains."""
    if ndim < 2:
        raise ValueError(
            f"Group penalties need a kernel with at least 2 axes; received a tensor with {ndim}."
        )
    kept = ndim - 1 if groups == "units" else ndim - 2
    return tuple(axis for axis in range(ndim) if axis != kept)


def group_size(shape: tuple[int, ...], groups: str) -> int:
    """Number of weights in each group, `|g|`."""
    kept = shape[-1] if groups == "units" else shape[-2]
    return math.prod(shape) // kept
