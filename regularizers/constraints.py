"""Weight constraints: max-norm projection and proximal (soft-thresholding) steps.

Keras applies a layer's `kernel_constraint` to the kernel after every optimizer update, so
a projection here is projected gradient descent and a soft-threshold is a proximal step.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from regularizers._config import ConfigEquality, Tensor
from regularizers._groups import EPSILON, GROUPINGS, group_size, reduce_axes
from regularizers._validation import check_choice, check_float, check_int


class _Constraint(ConfigEquality, keras.constraints.Constraint):
    """A Keras constraint with equality, hashing and repr from its config."""


@keras.saving.register_keras_serializable(package="regularizers")
class MaxNorm(_Constraint):
    """Max-norm: project each unit's incoming weight vector onto the ball `norm2(w) <= max_value`.

    `w <- w * min(norm, max_value) / (norm + 1e-7)`, with norms taken along `axis`.
    Srivastava et al. (2014) used `max_value` 3-4 with dropout on MNIST; Keras' default is 2.
    Numerically identical to `keras.constraints.MaxNorm`, but rejects `max_value <= 0`.

    Args:
        max_value: positive float, default 2.
        axis: int or list of ints, the axes a unit's incoming weights run along: 0 (the
            default, as in Keras) for a Dense kernel `(in, out)`. For a Conv2D kernel
            `(kh, kw, c_in, c_out)` the default is wrong (it would bound each position's
            weights across rows, not a filter): pass `[0, 1, 2]`, one norm per filter.

    >>> layer = keras.layers.Dense(64, kernel_constraint=MaxNorm(3.0))
    """

    def __init__(self, max_value: float = 2.0, axis: int | list[int] = 0) -> None:
        self.max_value = check_float("max_value", max_value, positive=True)
        if isinstance(axis, list | tuple):
            self.axis = [check_int("axis", a) for a in axis]
        else:
            self.axis = check_int("axis", axis)

    def __call__(self, w: Tensor) -> Tensor:
        w = ops.convert_to_tensor(w)
        axis = self.axis if isinstance(self.axis, int) else tuple(self.axis)
        norms = ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))
        desired = ops.clip(norms, 0, self.max_value)
        return w * (desired / (keras.config.epsilon() + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


@keras.saving.register_keras_serializable(package="regularizers")
class ProximalL1(_Constraint):
    """Proximal L1 step (soft-thresholding): `w <- sign(w) * max(abs(w) - threshold, 0)`.

    Applied after each update of plain SGD at a constant learning rate, with
    `threshold = learning_rate * l1`, this is the proximal gradient method (ISTA) for an
    `L1(l1)` penalty: small weights become exactly zero instead of oscillating around it.
    With momentum (about 10x the step at momentum 0.9), Adam (per-weight steps) or a
    decaying learning rate, a fixed threshold is not that step: the experiment grids refuse
    those combinations.

    Args:
        threshold: non-negative float, default 1e-4.

    >>> layer = keras.layers.Dense(64, kernel_constraint=ProximalL1(1e-5))
    """

    def __init__(self, threshold: float = 1e-4) -> None:
        self.threshold = check_float("threshold", threshold)

    def __call__(self, w: Tensor) -> Tensor:
        return ops.sign(w) * ops.maximum(ops.abs(w) - self.threshold, 0.0)

    def get_config(self) -> dict:
        return {"threshold": self.threshold}


@keras.saving.register_keras_serializable(package="regularizers")
class ProximalGroupLasso(_Constraint):
    """Proximal group-lasso step: `w_g <- w_g * max(0, 1 - threshold * sqrt(|g|) / norm2(w_g))`.

    The proximal operator of `GroupLasso(strength)` with `threshold = learning_rate * strength`
    (block soft-thresholding): a group whose norm falls below `threshold * sqrt(|g|)` becomes
    exactly zero, so with `groups="units"` whole hidden units are removed (see
    `regularizers.prune_units`). Like `ProximalL1`, the threshold is that step only under
    plain SGD at a constant learning rate.

    Args:
        threshold: non-negative float, default 1e-4.
        groups: "units" (a Dense kernel's columns, a Conv2D kernel's output filters) or
            "inputs" (a Dense kernel's rows, a Conv2D kernel's input channels).

    >>> layer = keras.layers.Dense(64, kernel_constraint=ProximalGroupLasso(1e-4))
    """

    def __init__(self, threshold: float = 1e-4, groups: str = "units") -> None:
        self.threshold = check_float("threshold", threshold)
        self.groups = check_choice("groups", groups, GROUPINGS)

    def __call__(self, w: Tensor) -> Tensor:
        shape = tuple(w.shape)
        axes = reduce_axes(len(shape), self.groups)
        norms = ops.sqrt(ops.sum(ops.square(w), axis=axes, keepdims=True) + EPSILON)
        cut = self.threshold * math.sqrt(group_size(shape, self.groups))
        return w * ops.maximum(1.0 - cut / norms, 0.0)

    def get_config(self) -> dict:
        return {"threshold": self.threshold, "groups": self.groups}
