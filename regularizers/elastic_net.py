"""Zou & Hastie's corrected elastic net: rescale the naive estimate by `1 + lambda2`, with
`lambda2` in the units of the loss Keras minimises and of the layer's inputs."""

from __future__ import annotations

import keras
import numpy as np

from regularizers.penalties import ElasticNet


def elastic_net_correction(regularizer: ElasticNet, x: np.ndarray) -> np.ndarray:
    """Per input feature `j`, the factor `1 + strength * (1 - l1_ratio) / mean(x[:, j]**2)`.

    Zou & Hastie (2005, sec. 3.2) minimise `|y - X b|^2 + lambda2 |b|^2 + lambda1 |b|_1` with
    unit-norm columns (`sum(x_j**2) = 1`) and rescale the naive solution by `1 + lambda2`.
    Keras minimises the mean batch loss plus the penalty once,
    `(1/N) |y - X b|^2 + strength * (l1_ratio |b|_1 + (1 - l1_ratio) |b|^2)`; times `N` this
    is theirs with `lambda2 = N * strength * (1 - l1_ratio)`, and dividing column `j` by its
    norm `sqrt(N * mean(x_j**2))` gives the factor above. So for unit-norm columns it is
    `1 + N * strength * (1 - l1_ratio)`, for standardised (variance-1) features
    `1 + strength * (1 - l1_ratio)`: the inputs' scale decides, not only the coefficient.

    Args:
        regularizer: the `ElasticNet` the layer was trained with.
        x: the layer's training inputs, `(N, n_features)` (for a hidden layer, the previous
            layer's outputs).

    Returns: the factors, shape `(n_features,)`.
    """
    if not isinstance(regularizer, ElasticNet):
        raise TypeError(f"Expected an ElasticNet regularizer; received {regularizer!r}.")
    x = np.asarray(x, dtype="float64")
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(
            f"Expected the layer's inputs as a non-empty (N, n_features) array; received shape "
            f"{x.shape}."
        )
    power = np.mean(np.square(x), axis=0)
    # a feature that is always 0 has no weight to correct: its factor stays 1
    return 1.0 + regularizer.l2 * np.divide(1.0, power, out=np.zeros_like(power), where=power > 0)


def apply_elastic_net_correction(layer: keras.layers.Layer, x: np.ndarray) -> np.ndarray:
    """Multiply each row of a trained Dense kernel by its feature's factor, in place.

    `layer` must carry an `ElasticNet` kernel regularizer and a kernel `(n_features, units)`;
    `x` are its training inputs (see `elastic_net_correction`). Returns the factors. For a
    linear least-squares model with an orthogonal design this turns the naive elastic-net
    solution into the lasso solution exactly (Zou & Hastie 2005, sec. 3.2). For a network
    it is a heuristic: the weights are not a linear model's coefficients and nothing
    guarantees the rescaled network is better; compare validation error before keeping it.
    """
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
    if kernel.ndim != 2:
        raise TypeError(f"Expected a Dense kernel (n_features, units); received {kernel.shape}.")
    factor = elastic_net_correction(layer.kernel_regularizer, x)
    if len(factor) != kernel.shape[0]:
        raise ValueError(
            f"x has {len(factor)} features; the kernel expects {kernel.shape[0]} inputs."
        )
    layer.kernel.assign((kernel * factor[:, None]).astype(kernel.dtype))
    return factor
