"""The toy problems behind the overfitting notebook: exact fits and the overfitting itself."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from experiments import plots, toy


def test_polynomial_fit_without_penalty_is_least_squares():
    x, y = toy.noisy_curve(20, seed=1)
    w = toy.polynomial_fit(x, y, 3)
    assert w == pytest.approx(np.polyfit(x, y, 3)[::-1], rel=1e-6)


def test_ridge_fit_sets_the_penalised_gradient_to_zero():
    x, y = toy.noisy_curve(15, seed=2)
    w = toy.polynomial_fit(x, y, 10, l2=0.1)
    design = np.vander(x, 11, increasing=True)
    gradient = 2 * design.T @ (design @ w - y) + 2 * 0.1 * np.r_[0.0, w[1:]]
    assert np.abs(gradient).max() < 1e-8
    assert np.sum(w[1:] ** 2) < np.sum(toy.polynomial_fit(x, y, 10)[1:] ** 2)


def test_degree_10_overfits_12_points_and_ridge_reins_it_in():
    x, y = toy.noisy_curve(12, seed=0)
    x_new, y_new = toy.noisy_curve(200, seed=1)
    errors = {
        (degree, l2): (
            toy.mean_squared_error(w := toy.polynomial_fit(x, y, degree, l2), x, y),
            toy.mean_squared_error(w, x_new, y_new),
        )
        for degree, l2 in ((3, 0.0), (10, 0.0), (10, 1e-3))
    }
    (train3, held3), (train10, held10), (_, held10_ridge) = errors.values()
    assert train10 < train3 and held10 > held3  # fits the noise, misses the curve
    assert held10_ridge < held10


def test_moons_and_the_grid_over_them():
    points, labels = toy.moons(300, seed=0)
    assert points.shape == (300, 2) and points.dtype == np.float32
    assert set(labels) == {0, 1} and 100 < labels.sum() < 200
    grid = toy.grid_over(points, steps=20)
    assert grid.shape == (400, 2)
    assert (grid.min(axis=0) < points.min(axis=0)).all()
    ax = plots.decision_boundary(grid, grid[:, 0] > 0, points, labels, title="toy")
    assert ax.get_title() == "toy" and len(ax.collections) >= 3
    plt.close("all")


def test_moons_classifiers_share_their_start_and_carry_their_regularizer():
    import regularizers

    plain = toy.moons_classifier(8)
    constrained = toy.moons_classifier(
        8, penalty=regularizers.L2(1e-3), constraint=regularizers.MaxNorm(1.0), dropout=0.5
    )
    for a, b in zip(plain.get_weights(), constrained.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the same initial weights for every variant
    dense = [layer for layer in constrained.layers if layer.name.startswith("dense")]
    assert [type(layer.kernel_regularizer).__name__ for layer in dense[:2]] == ["L2", "L2"]
    assert isinstance(dense[0].kernel_constraint, regularizers.MaxNorm)
    assert sum(layer.name.startswith("dropout") for layer in constrained.layers) == 2
    assert plain.output_shape == (None, 1) and plain.optimizer is not None
