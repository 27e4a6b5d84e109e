# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Overfitting, and what regularization does about it
#
# What does a model that overfits look like, and what do L2, L1, dropout and max-norm
# change? Two small problems that train in seconds: a curve fitted with polynomials, and
# two interleaved half-moons separated by a small Keras network.

# %%
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

import regularizers
from experiments import plots, toy

sns.set_theme(style="whitegrid", palette="colorblind")

# %% tags=["parameters"]
EPOCHS = 400  # training epochs of each moons network (full batch)
HIDDEN = 128  # units in each of the two hidden layers

# %% [markdown]
# ## 1. A degree-10 polynomial through 12 noisy points
# The truth is `sin(pi x)`; we observe 12 points with noise. A degree-3 polynomial has 4
# coefficients, a degree-10 one has 11: almost one per point, enough to pass through the
# noise. Ridge regression adds `l2 * sum(w**2)` (intercept excluded) to the squared error,
# the same L2 penalty as `regularizers.L2` puts on a layer's weights.

# %%
x, y = toy.noisy_curve(12, seed=0)
x_new, y_new = toy.noisy_curve(200, seed=1)  # held out: the same curve, fresh noise
fits = {
    "degree 3": toy.polynomial_fit(x, y, 3),
    "degree 10": toy.polynomial_fit(x, y, 10),
    "degree 10, ridge l2=0.001": toy.polynomial_fit(x, y, 10, l2=1e-3),
}
grid = np.linspace(-1, 1, 400)
figure, ax = plt.subplots(figsize=(7, 4.5))
ax.plot(grid, np.sin(np.pi * grid), color="black", linewidth=2, label="truth: sin(pi x)")
for (name, w), style in zip(fits.items(), ["-", "--", "-."], strict=True):
    train = toy.mean_squared_error(w, x, y)
    held = toy.mean_squared_error(w, x_new, y_new)
    ax.plot(
        grid,
        toy.polynomial(w, grid),
        style,
        label=f"{name}: train {train:.3f}, held out {held:.3f}",
    )
ax.scatter(x, y, color="black", zorder=3, label="the 12 training points")
ax.set_ylim(-2, 2)
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("Polynomial fits: mean squared error on training and held-out points")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The degree-10 fit has the lowest training error and the highest held-out error: it
# learned the noise. The ridge penalty keeps the 11 coefficients small, and the curve
# follows the truth again. The cell below checks exactly that, so the notebook fails if it
# ever stops being true.

# %%
error = {name: (toy.mean_squared_error(w, x, y), toy.mean_squared_error(w, x_new, y_new))
         for name, w in fits.items()}  # fmt: skip
assert error["degree 10"][0] < error["degree 3"][0]  # fits the training points better
assert error["degree 10"][1] > error["degree 3"][1]  # and new points worse
assert error["degree 10, ridge l2=0.001"][1] < error["degree 10"][1]
print({name: tuple(round(e, 4) for e in pair) for name, pair in error.items()})

# %% [markdown]
# ## 2. A network on two half-moons
# 300 noisy training points, a 2-128-128-1 ReLU network, Adam, full-batch training for
# `EPOCHS` epochs: enough for the unregularized network to carve out pockets around single
# noisy points. The same network with each regularizer from `regularizers` (and Keras'
# dropout): the penalties on every kernel, the constraint applied after every update.

# %%
points, labels = toy.moons(300, noise=0.3, seed=0)
test_points, test_labels = toy.moons(2000, noise=0.3, seed=1)
surface = toy.grid_over(points)


variants = {
    "none": toy.moons_classifier(HIDDEN),
    "L2 (l2=1e-3)": toy.moons_classifier(HIDDEN, penalty=regularizers.L2(1e-3)),
    "L1 (l1=1e-4)": toy.moons_classifier(HIDDEN, penalty=regularizers.L1(1e-4)),
    "dropout 0.5": toy.moons_classifier(HIDDEN, dropout=0.5),
    "max-norm 1": toy.moons_classifier(HIDDEN, constraint=regularizers.MaxNorm(1.0)),
}
accuracy = {}
for name, model in variants.items():
    repeated = (np.tile(points, (10, 1)), np.tile(labels, 10))  # 10 full batches per "epoch"
    model.fit(*repeated, batch_size=len(points), epochs=EPOCHS // 10, shuffle=False, verbose=0)
    accuracy[name] = (
        model.evaluate(points, labels, verbose=0)[1],
        model.evaluate(test_points, test_labels, verbose=0)[1],
    )

figure, axes = plt.subplots(1, len(variants), figsize=(3.4 * len(variants), 3.6))
for ax, (name, model) in zip(axes, variants.items(), strict=True):
    probability = model.predict(surface, batch_size=4096, verbose=0)[:, 0]
    train, test = accuracy[name]
    plots.decision_boundary(surface, probability, points, labels, ax,
                            title=f"{name}\ntrain {train:.1%}, test {test:.1%}")  # fmt: skip
figure.suptitle("The same network, five ways: probability of class 1 and the 0.5 boundary")
figure.tight_layout()
plt.show()

# %% [markdown]
# Without regularization the boundary bends around individual training points, and training
# accuracy runs ahead of test accuracy. Each regularizer smooths the boundary in its own way:
# L2 shrinks every weight a little; L1 drives many to (almost) zero; dropout trains an
# ensemble of thinned networks; max-norm caps the size of each unit's incoming weights. Which
# one helps most, and by how much, is what the grids of this suite measure on MNIST with
# seeds and paired contrasts, rather than on one drawing.

# %%
gap = {name: train - test for name, (train, test) in accuracy.items()}
print({name: f"train {a[0]:.3f} test {a[1]:.3f}" for name, a in accuracy.items()})
assert gap["none"] > 0  # the unregularized network does better on the points it saw
