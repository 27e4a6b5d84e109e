"""Smooth-kernel regularization of convolution filters (Feinman & Lake 2019)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from regularizers._config import Tensor
from regularizers._validation import check_choice, check_float
from regularizers.penalties import Penalty

MODES = ("channel", "filter")


def _check_covariance(covariance: object) -> np.ndarray:
    """Return `covariance` as a float64 array after checking it is symmetric positive definite."""
    matrix = np.asarray(covariance, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(
            "Invalid value for argument `covariance`: expected a square (n, n) matrix. "
            f"Received: covariance with shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)) or not np.allclose(matrix, matrix.T, atol=1e-8):
        raise ValueError(
            "Invalid value for argument `covariance`: expected a finite symmetric matrix."
        )
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise ValueError(
            "Invalid value for argument `covariance`: expected a positive definite matrix "
            "(add a ridge term, e.g. `fit_covariance(..., ridge=1e-3)`)."
        ) from None
    return matrix


def kernel_vectors(kernel: Tensor, mode: str) -> Tensor:
    """The vectors a smooth-kernel penalty acts on, as the columns of a 2-D tensor.

    `mode="channel"`: one vector per (c_in, c_out) pair, over the kh*kw positions:
    `(kh, kw, c_in, c_out) -> (kh*kw, c_in*c_out)`.
    `mode="filter"`: one vector per output filter, over positions and input channels:
    `(kh, kw, c_in, c_out) -> (kh*kw*c_in, c_out)`, row index `(i*kw + j)*c_in + c`.
    """
    if len(kernel.shape) != 4:
        raise ValueError(
            "SmoothKernel applies to Conv2D kernels of shape (kh, kw, c_in, c_out); "
            f"received shape {tuple(kernel.shape)}."
        )
    kh, kw, c_in, _ = kernel.shape
    rows = kh * kw if mode == "channel" else kh * kw * c_in
    return ops.reshape(kernel, (rows, -1))


def squared_exponential_covariance(
    kh: int, kw: int, length_scale: float, c_in: int = 1
) -> np.ndarray:
    """Squared-exponential covariance over kernel positions, `S_pq = exp(-d_pq**2 / (2 l**2))`.

    `d_pq` is the Euclidean distance between positions p and q on the kh x kw grid. With
    `c_in > 1` (mode "filter") the channels are independent: `kron(S_spatial, I_c_in)`.
    Returns a `(kh*kw*c_in, kh*kw*c_in)` float64 matrix.
    """
    rows, cols = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    positions = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    squared = np.sum((positions[:, None, :] - positions[None, :, :]) ** 2, axis=-1)
    spatial = np.exp(-squared / (2.0 * length_scale**2))
    return np.kron(spatial, np.eye(c_in))


def fit_covariance(
    kernels: Tensor | list[Tensor], mode: str = "channel", ridge: float = 1e-3
) -> np.ndarray:
    """Fit S from trained Conv2D kernels: the empirical covariance of their vectors + ridge*I.

    `kernels`: one `(kh, kw, c_in, c_out)` array or a sequence of them (same kh, kw and, for
    mode "filter", c_in). The ridge keeps S positive definite when there are few vectors.
    """
    check_choice("mode", mode, MODES)
    ridge = check_float("ridge", ridge)
    stack = [np.asarray(kernels)] if hasattr(kernels, "shape") else [np.asarray(k) for k in kernels]
    vectors = np.concatenate(
        [ops.convert_to_numpy(kernel_vectors(k, mode)) for k in stack], axis=1
    )  # (n, m): one vector per column
    if vectors.shape[1] < 2:
        raise ValueError("fit_covariance needs at least two kernel vectors.")
    covariance = np.cov(vectors, rowvar=True) + ridge * np.eye(vectors.shape[0])
    return _check_covariance(covariance)


@keras.saving.register_keras_serializable(package="regularizers")
class SmoothKernel(Penalty):
    """Smooth-kernel penalty for Conv2D kernels: `loss = strength * sum_v v^T S^-1 v`.

    Each vector `v` is a filter's weights over kernel positions (see `kernel_vectors` for
    the two `mode`s); `S` is a covariance over those positions, normalised to determinant 1
    so `strength` keeps its meaning across choices of S. Penalising `v^T S^-1 v` is the
    negative log-density of a Gaussian prior N(0, S): a smooth S favours smooth filters
    (Feinman & Lake 2019, "Learning a smooth kernel regularizer for convolutional neural
    networks"). With `S = I` it is exactly `L2(strength)`.

    Args:
        strength: non-negative float, default 0.01.
        covariance: a symmetric positive definite `(n, n)` matrix, n = kh*kw (mode
            "channel") or kh*kw*c_in (mode "filter"); e.g. from `fit_covariance`.
        length_scale: positive float: use `squared_exponential_covariance` with this length
            scale, in units of kernel positions. Give exactly one of `covariance` and
            `length_scale`.
        mode: "channel" (default, one vector per 2-D slice) or "filter".
        scale: "sum", "mean" or "units": see `Penalty`.

    >>> conv = keras.layers.Conv2D(16, 5, kernel_regularizer=SmoothKernel(1e-3, length_scale=1.5))
    """

    def __init__(
        self,
        strength: float = 0.01,
        covariance=None,
        length_scale: float | None = None,
        mode: str = "channel",
        scale: str = "sum",
    ) -> None:
        super().__init__(scale)
        self.strength = check_float("strength", strength)
        self.mode = check_choice("mode", mode, MODES)
        if (covariance is None) == (length_scale is None):
            raise ValueError(
                "SmoothKernel needs exactly one of `covariance` and `length_scale`. Received: "
                f"covariance={'None' if covariance is None else 'a matrix'}, "
                f"length_scale={length_scale!r}"
            )
        self.length_scale = (
            None
            if length_scale is None
            else check_float("length_scale", length_scale, positive=True)
        )
        self.covariance = None if covariance is None else _check_covariance(covariance)
        self._precisions: dict[tuple[int, ...], np.ndarray] = {}

    def precision(self, shape: tuple[int, ...]) -> np.ndarray:
        """`S^-1` for a kernel of this shape, with S normalised to determinant 1, float32."""
        if shape not in self._precisions:
            kh, kw, c_in, _ = shape
            n = kh * kw if self.mode == "channel" else kh * kw * c_in
            if self.covariance is not None:
                covariance = self.covariance
                if covariance.shape[0] != n:
                    raise ValueError(
                        f"SmoothKernel covariance is {covariance.shape[0]}x{covariance.shape[0]} "
                        f"but a kernel of shape {shape} in mode '{self.mode}' has vectors of "
                        f"length {n}."
                    )
            else:
                channels = 1 if self.mode == "channel" else c_in
                covariance = _check_covariance(
                    squared_exponential_covariance(kh, kw, self.length_scale, channels)
                )
            _, logdet = np.linalg.slogdet(covariance)
            normalised = covariance * np.exp(-logdet / n)  # det(normalised) == 1
            self._precisions[shape] = np.linalg.inv(normalised).astype(np.float32)
        return self._precisions[shape]

    def penalty(self, x: Tensor) -> Tensor:
        vectors = kernel_vectors(x, self.mode)  # (n, m), one vector per column
        precision = ops.convert_to_tensor(self.precision(tuple(x.shape)), dtype=x.dtype)
        return self.strength * ops.sum(vectors * ops.matmul(precision, vectors))

    def get_config(self) -> dict:
        return {
            "strength": self.strength,
            "covariance": None if self.covariance is None else self.covariance.tolist(),
            "length_scale": self.length_scale,
            "mode": self.mode,
            **super().get_config(),
        }
