"""Weight penalties: L1, L2, elastic net, group lasso and sparse group lasso.

Each class is a `keras.regularizers.Regularizer`: Keras calls it on a layer's kernel and adds
the returned scalar to the training loss. The math is in `keras.ops`, so every backend works.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from regularizers._config import ConfigEquality, Tensor
from regularizers._groups import EPSILON, GROUPINGS, group_size, reduce_axes
from regularizers._validation import check_choice, check_float

SCALES = ("sum", "mean", "units")


class Penalty(ConfigEquality, keras.regularizers.Regularizer):
    """Base class: a summed penalty, optionally divided by a size of the tensor.

    Subclasses implement `penalty(x)` as a sum over all weights. `scale` chooses what
    `__call__` returns:

    - `"sum"` (Keras' convention): the sum. Its gradient decays every weight by the same
      amount whatever the layer's width (`2 * l2 * w` for L2): a fixed coefficient does not
      penalise a bigger layer more per weight, although the total grows with width.
    - `"mean"`: the sum divided by `size(x)`, the number of weights. Each weight's decay is
      divided by that number (3.2 million for a 784x4096 kernel), so on a large layer it is
      next to no regularization. It is not a width-fair control.
    - `"units"`: the sum divided by `x.shape[-1]`, the number of units the tensor feeds
      (output units of a Dense kernel `(in, out)`, filters of a Conv2D kernel
      `(kh, kw, c_in, c_out)`). For the hidden kernel of a 784-H-10 network the coefficient
      becomes `l2 / H`: the width-fair arm that weakens the decay as the layer widens (with
      `l2 = 0.0256` it equals `l2 = 1e-4` summed at H = 256).
    """

    def __init__(self, scale: str = "sum") -> None:
        self.scale = check_choice("scale", scale, SCALES)

    def penalty(self, x: Tensor) -> Tensor:
        """The summed penalty of the weights `x`, a scalar tensor."""
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        value = self.penalty(x)
        if self.scale == "mean":  # ops.size: an activity's batch dimension is unknown here
            value = value / ops.cast(ops.size(x), value.dtype)
        elif self.scale == "units":
            value = value / x.shape[-1]
        return value

    def get_config(self) -> dict:
        return {"scale": self.scale}


@keras.saving.register_keras_serializable(package="regularizers")
class L1(Penalty):
    """L1 penalty (lasso): `loss = l1 * sum(abs(x))`.

    Pushes weights towards zero at a constant rate; under plain gradient descent they hover
    around zero rather than reaching it (use `ProximalL1` for exact zeros).
    Numerically identical to `keras.regularizers.L1(l1)`.

    Args:
        l1: non-negative float, default 0.01.
        scale: "sum" (Keras' convention), "mean" or "units": see `Penalty`.

    >>> layer = keras.layers.Dense(64, kernel_regularizer=L1(1e-4))
    """

    def __init__(self, l1: float = 0.01, scale: str = "sum") -> None:
        super().__init__(scale)
        self.l1 = check_float("l1", l1)

    def penalty(self, x: Tensor) -> Tensor:
        return self.l1 * ops.sum(ops.abs(x))

    def get_config(self) -> dict:
        return {"l1": self.l1, **super().get_config()}


@keras.saving.register_keras_serializable(package="regularizers")
class L2(Penalty):
    """L2 penalty (ridge, "weight decay"): `loss = l2 * sum(x ** 2)`.

    The squared Frobenius norm of a matrix, with no factor 1/2: the same convention as
    `keras.regularizers.L2(l2)`, to which it is numerically identical. Under plain SGD with
    learning rate `lr` it equals decoupled weight decay of `2 * l2` per unit learning rate.

    Args:
        l2: non-negative float, default 0.01.
        scale: "sum", "mean" or "units": see `Penalty`.

    >>> layer = keras.layers.Dense(64, kernel_regularizer=L2(1e-4))
    """

    def __init__(self, l2: float = 0.01, scale: str = "sum") -> None:
        super().__init__(scale)
        self.l2 = check_float("l2", l2)

    def penalty(self, x: Tensor) -> Tensor:
        return self.l2 * ops.sum(ops.square(x))

    def get_config(self) -> dict:
        return {"l2": self.l2, **super().get_config()}


@keras.saving.register_keras_serializable(package="regularizers")
class ElasticNet(Penalty):
    """Naive elastic net: `loss = strength * (l1_ratio * sum(abs(x)) + (1 - l1_ratio) * sum(x**2))`.

    Conventions: this is `keras.regularizers.L1L2(l1=strength * l1_ratio,
    l2=strength * (1 - l1_ratio))`, and scikit-learn's `l1_ratio` without its 1/2 on the
    squared term. In Zou & Hastie (2005), lambda1 = strength * l1_ratio and
    lambda2 = strength * (1 - l1_ratio), and their alpha = lambda2 / (lambda1 + lambda2)
    equals `1 - l1_ratio`. `l1_ratio=1` is `L1(strength)`, `l1_ratio=0` is `L2(strength)`.
    Zou & Hastie's corrected estimate rescales the fitted weights by (1 + lambda2): see
    `regularizers.elastic_net_correction`.

    Args:
        strength: non-negative float, default 0.01.
        l1_ratio: float in [0, 1], default 0.5.
        scale: "sum", "mean" or "units": see `Penalty`.

    >>> layer = keras.layers.Dense(64, kernel_regularizer=ElasticNet(1e-4, l1_ratio=0.5))
    """

    def __init__(self, strength: float = 0.01, l1_ratio: float = 0.5, scale: str = "sum") -> None:
        super().__init__(scale)
        self.strength = check_float("strength", strength)
        self.l1_ratio = check_float("l1_ratio", l1_ratio, maximum=1.0)

    @property
    def l1(self) -> float:
        """lambda1, the coefficient of `sum(abs(x))`."""
        return self.strength * self.l1_ratio

    @property
    def l2(self) -> float:
        """lambda2, the coefficient of `sum(x**2)`."""
        return self.strength * (1.0 - self.l1_ratio)

    def penalty(self, x: Tensor) -> Tensor:
        return self.l1 * ops.sum(ops.abs(x)) + self.l2 * ops.sum(ops.square(x))

    def get_config(self) -> dict:
        return {"strength": self.strength, "l1_ratio": self.l1_ratio, **super().get_config()}


def group_norms(x: Tensor, groups: str) -> Tensor:
    """Euclidean norm of each group of `x`: shape `(n_groups,)`, `sqrt(sum(x_g**2) + 1e-12)`."""
    return ops.sqrt(ops.sum(ops.square(x), axis=reduce_axes(len(x.shape), groups)) + EPSILON)


@keras.saving.register_keras_serializable(package="regularizers")
class GroupLasso(Penalty):
    """Group lasso: `loss = strength * sum_g sqrt(|g|) * norm2(x_g)`.

    Drives whole groups of weights towards zero together (Yuan & Lin 2006; Scardapane et
    al. 2017 for networks). `|g|` is the number of weights in a group; the norm carries a
    1e-12 inside its square root so the gradient is finite when a group is all zeros.

    Args:
        strength: non-negative float, default 0.01.
        groups: "units" (default): one group per output unit, a Dense kernel `(in, out)`'s
            columns or a Conv2D kernel `(kh, kw, c_in, c_out)`'s output filters: prunes
            neurons. "inputs": one group per row of a Dense kernel (or input channel of a
            Conv2D kernel): selects features.
        scale: "sum", "mean" or "units": see `Penalty`.

    >>> layer = keras.layers.Dense(64, kernel_regularizer=GroupLasso(1e-3, groups="units"))
    """

    def __init__(self, strength: float = 0.01, groups: str = "units", scale: str = "sum") -> None:
        super().__init__(scale)
        self.strength = check_float("strength", strength)
        self.groups = check_choice("groups", groups, GROUPINGS)

    def penalty(self, x: Tensor) -> Tensor:
        if None not in tuple(x.shape):
            weight = math.sqrt(group_size(tuple(x.shape), self.groups))
        else:  # an activity: the batch dimension is known only when the tensor is
            kept = ops.shape(x)[-1 if self.groups == "units" else -2]
            weight = ops.sqrt(ops.cast(ops.size(x) // kept, x.dtype))
        return self.strength * weight * ops.sum(group_norms(x, self.groups))

    def get_config(self) -> dict:
        return {"strength": self.strength, "groups": self.groups, **super().get_config()}


@keras.saving.register_keras_serializable(package="regularizers")
class SparseGroupLasso(GroupLasso):
    """Sparse group lasso: `loss = strength * sum_g sqrt(|g|) * norm2(x_g) + l1 * sum(abs(x))`.

    Group lasso removes whole groups; the added L1 term also sparsifies inside the groups
    that survive (Simon et al. 2013; Scardapane et al. 2017).

    Args:
        strength: non-negative float, the group term's coefficient, default 0.01.
        l1: non-negative float, the L1 term's coefficient, default 0.01.
        groups: "units" or "inputs", as in `GroupLasso`.
        scale: "sum", "mean" or "units": see `Penalty`.

    >>> reg = SparseGroupLasso(strength=1e-3, l1=1e-5)
    """

    def __init__(
        self, strength: float = 0.01, l1: float = 0.01, groups: str = "units", scale: str = "sum"
    ) -> None:
        super().__init__(strength, groups, scale)
        self.l1 = check_float("l1", l1)

    def penalty(self, x: Tensor) -> Tensor:
        return super().penalty(x) + self.l1 * ops.sum(ops.abs(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1}
