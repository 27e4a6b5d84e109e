"""Small problems that show what regularization does in seconds: a noisy curve to fit with
polynomials, and two interleaved half-moons to separate with a small network.

Used by the overfitting notebook; every function is deterministic given its `seed`.
"""

from __future__ import annotations

import numpy as np


def noisy_curve(n: int, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` points `(x, y)` with x uniform in [-1, 1] and `y = sin(pi x) + noise * N(0, 1)`."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, n))
    return x, np.sin(np.pi * x) + noise * rng.standard_normal(n)


def polynomial_fit(x: np.ndarray, y: np.ndarray, degree: int, l2: float = 0.0) -> np.ndarray:
    """Coefficients `w` (lowest power first) of the degree-`degree` polynomial minimising
    `sum((X w - y)**2) + l2 * sum(w[1:]**2)`: ridge regression, the intercept unpenalised.

    Closed form: `w = (X^T X + l2 * D)^-1 X^T y`, `X` the Vandermonde matrix `(n, degree+1)`,
    `D` the identity with its first diagonal entry 0.
    """
    design = np.vander(x, degree + 1, increasing=True)
    penalty = l2 * np.eye(degree + 1)
    penalty[0, 0] = 0.0
    return np.linalg.solve(design.T @ design + penalty, design.T @ y)


def polynomial(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The polynomial with coefficients `w` (lowest power first) at `x`."""
    return np.vander(x, len(w), increasing=True) @ w


def mean_squared_error(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the polynomial `w` on the points `(x, y)`."""
    return float(np.mean((polynomial(w, x) - y) ** 2))


def moons(n: int, noise: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half-circles: points `(n, 2)` float32 and labels `(n,)` in {0, 1}.

    Class 0 lies on the upper half of the unit circle, class 1 on a lower half shifted by
    (1, 0.5); Gaussian noise of standard deviation `noise` is added to both coordinates.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower)
    points = points + noise * rng.standard_normal(points.shape)
    return points.astype("float32"), labels


def grid_over(points: np.ndarray, steps: int = 150, margin: float = 0.5) -> np.ndarray:
    """A `(steps**2, 2)` grid covering `points` `(n, 2)` with `margin` around them."""
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    xs, ys = np.meshgrid(np.linspace(low[0], high[0], steps), np.linspace(low[1], high[1], steps))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype("float32")


def moons_classifier(
    hidden: int,
    penalty: object | None = None,
    constraint: object | None = None,
    dropout: float = 0.0,
    seed: int = 0,
):
    """A compiled 2-`hidden`-`hidden`-1 ReLU network for `moons`: `penalty` and
    `constraint` on both hidden kernels, `dropout` after each hidden layer, sigmoid output,
    Adam at 0.01. The same initial weights for every variant of one `seed`. One compiled call
    runs ten full-batch steps (train on the points tiled 10 times with `batch_size=len`)."""
    import keras  # only the network needs Keras; the curve fits are NumPy

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((2,))]
    for index in range(2):
        layers.append(
            keras.layers.Dense(
                hidden, activation="relu", kernel_regularizer=penalty, kernel_constraint=constraint
            )
        )
        if dropout:  # its own seed: a seedless Dropout would shift the weights' random draws
            layers.append(keras.layers.Dropout(dropout, seed=seed + 1 + index))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"], steps_per_execution=10)  # fmt: skip
    return model
