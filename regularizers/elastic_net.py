"""Zou & Hastie's corrected elastic net: rescale the naive estimate by (1 + lambda2)."""

from __future__ import annotations

import keras
import numpy as np

from regularizers._validation import check_int
from regularizers.penalties import ElasticNet


def elastic_net_correction(regularizer: ElasticNet, n_samples: int) -> float:
    """The factor `1 + lambda2` of Zou & Hastie (2005, sec. 3.2), in their units.

    Zou & Hastie minimise the summed loss `|y - X b|^2 + lambda2 |b|^2 + lambda1 |b|_1`.
    Keras minimises the mean batch loss `(1/N) |y - X b|^2 + penalty(b)`; multiplying by the
    number of training examples N gives theirs, so `lambda2 = N * strength * (1 - l1_ratio)`
    and `lambda1 = N * strength * l1_ratio`. Their derivation assumes standardised inputs
    (each column of X has unit norm).
    """
    if not isinstance(regularizer, ElasticNet):
        raise TypeError(f"Expected an ElasticNet regularizer; received {regularizer!r}.")
    n_samples = check_int("n_samples", n_samples)
    if n_samples < 1:
        raise ValueError(
            f"Invalid value for argument `n_samples`: expected >= 1. Received: {n_samples}"
        )
    return 1.0 + n_samples * regularizer.l2


def apply_elastic_net_correction(layer: keras.layers.Layer, n_samples: int) -> float:
    """Multiply a trained layer's kernel by `1 + lambda2`, in place; return the factor.

    `layer` must carry an `ElasticNet` kernel regularizer; `n_samples` is the number of
    training examples the mean loss was taken over. For a linear least-squares model with an
    orthogonal design this turns the naive elastic-net solution into the lasso solution
    exactly (Zou & Hastie 2005, sec. 3.2). For a network it is a heuristic: the weights are
    not a linear model's coefficients and nothing guarantees the rescaled network is better;
    compare validation error before keeping it.
    """
    factor = elastic_net_correction(layer.kernel_regularizer, n_samples)
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
    layer.kernel.assign(kernel * np.float32(factor))
    return factor
