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
# # The penalties themselves: why L1 gives zeros and L2 does not
#
# Each penalty of `regularizers/` as a formula, the class that implements it and a check that
# the class computes the formula; then the geometry (where a penalized optimum lands), the
# step that actually produces zeros, and group lasso removing whole units. No training: NumPy
# and the classes, in seconds.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

import regularizers

sns.set_theme(style="whitegrid", palette="colorblind")
rng = np.random.default_rng(0)
W = rng.standard_normal((6, 4)).astype("float32")  # a small Dense kernel (in=6, out=4)


def value(penalty, w):
    return float(keras.ops.convert_to_numpy(penalty(w)))


# %% [markdown]
# ## 1. The formulas, and the classes that compute them
#
# | class | penalty |
# |---|---|
# | `L1(l1)` | `l1 * sum(abs(W))` |
# | `L2(l2)` | `l2 * sum(W**2)` (Keras' convention: no 1/2) |
# | `ElasticNet(s, r)` | `s * (r * sum(abs(W)) + (1 - r) * sum(W**2))` |
# | `GroupLasso(s, groups="units")` | `s * sum_g sqrt(size_g) * norm2(W_g)`, a group per column |
#
# Each line below computes the formula with NumPy and asserts that the class agrees.

# %%
checks = {
    "L1(0.1)": (regularizers.L1(0.1), 0.1 * np.abs(W).sum()),
    "L2(0.1)": (regularizers.L2(0.1), 0.1 * (W**2).sum()),
    "ElasticNet(0.1, 0.3)": (
        regularizers.ElasticNet(0.1, 0.3),
        0.1 * (0.3 * np.abs(W).sum() + 0.7 * (W**2).sum()),
    ),
    "GroupLasso(0.1)": (
        regularizers.GroupLasso(0.1),
        0.1 * np.sqrt(W.shape[0]) * np.linalg.norm(W, axis=0).sum(),
    ),
}
for name, (penalty, formula) in checks.items():
    assert np.isclose(value(penalty, W), formula, rtol=1e-5), name
    print(f"{name:22s} class {value(penalty, W):9.5f}   formula {formula:9.5f}")

# %% [markdown]
# ## 2. Where the penalized optimum lands
# Two weights, a squared loss whose unpenalized optimum is at `(1.6, 0.5)` (the ellipses),
# and each penalty at a strength that matters. The penalized optimum is where a loss
# contour first touches a penalty contour. The L1 ball has corners on the axes, so the
# optimum often sits on one: one weight exactly zero. The L2 ball is round: both weights
# shrink, neither reaches zero. The elastic net is in between.

# %%
optimum = np.array([1.6, 0.5])
curvature = np.array([[1.0, 0.4], [0.4, 0.6]])
axis = np.linspace(-0.5, 2.0, 501)
w1, w2 = np.meshgrid(axis, axis)
points = np.stack([w1.ravel(), w2.ravel()], axis=1)
offset = points - optimum
loss = np.einsum("ni,ij,nj->n", offset, curvature, offset)
penalties = {
    "L1, l1=0.8": 0.8 * np.abs(points).sum(axis=1),
    "L2, l2=0.8": 0.8 * (points**2).sum(axis=1),
    "elastic net, 0.8, l1_ratio=0.5": 0.8
    * (0.5 * np.abs(points).sum(axis=1) + 0.5 * (points**2).sum(axis=1)),
}
solutions = {}
figure, axes = plt.subplots(1, 3, figsize=(14, 4.6), sharey=True)
for ax, (name, penalty) in zip(axes, penalties.items(), strict=True):
    total = loss + penalty
    best = points[total.argmin()]
    solutions[name] = best
    ax.contour(w1, w2, loss.reshape(w1.shape), levels=10, cmap="Greys", linewidths=0.8)
    ax.contour(w1, w2, penalty.reshape(w1.shape), levels=8, cmap="Blues", linewidths=0.8)
    ax.plot(*optimum, "k*", markersize=12, label="loss optimum")
    ax.plot(*best, "o", color="tab:red", markersize=8, label=f"penalized optimum {best.round(2)}")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_title(name)
    ax.set_xlabel("w1")
    ax.legend(fontsize=8, loc="upper left")
axes[0].set_ylabel("w2")
figure.suptitle("Loss contours (grey), penalty contours (blue) and where their sum is smallest")
figure.tight_layout()
plt.show()

# %%
assert solutions["L1, l1=0.8"][1] == 0.0  # L1 puts w2 exactly on the axis
assert solutions["L2, l2=0.8"][1] > 0.05  # L2 only shrinks it
print({name: best.round(3).tolist() for name, best in solutions.items()})

# %% [markdown]
# ## 3. Why L1 by gradient descent never reaches zero, and the proximal step does
# Gradient descent on `l1 * |w|` moves `w` by `lr * l1 * sign(w)` each step: near zero it
# jumps across and back, and `w` hovers at a distance of up to `lr * l1` without ever being
# exactly 0 (the standing complaint about L1 in Keras). The proximal step (ISTA) takes the
# loss step, then soft-thresholds: `w <- sign(w) * max(abs(w) - lr * l1, 0)`
# (`regularizers.ProximalL1(threshold=lr * l1)`), which lands on 0 and stays there. Here the
# loss is `(w - 0.05)**2`, whose pull is weaker than the penalty's.

# %%
lr, l1, steps = 0.1, 0.5, 60
prox = regularizers.ProximalL1(threshold=lr * l1)
by_gradient, by_prox = [1.0], [1.0]
for _ in range(steps):
    w = by_gradient[-1]
    by_gradient.append(w - lr * (2 * (w - 0.05) + l1 * np.sign(w)))
    w = by_prox[-1] - lr * 2 * (by_prox[-1] - 0.05)
    by_prox.append(float(keras.ops.convert_to_numpy(prox(np.array([w], "float32")))[0]))
figure, ax = plt.subplots(figsize=(7, 4))
ax.plot(np.abs(by_gradient), label="gradient step on L1 (subgradient)")
ax.plot(np.abs(by_prox), label="proximal step (ProximalL1)", linestyle="--")
ax.set_yscale("symlog", linthresh=1e-4)
ax.set_xlabel("step")
ax.set_ylabel("|w|")
ax.set_title("One weight under L1: hovering near zero vs exactly zero")
ax.legend()
plt.show()
assert by_prox[-1] == 0.0 and min(np.abs(by_gradient[1:])) > 0
print(f"last 4 by gradient: {np.round(by_gradient[-4:], 4)}; by prox: {by_prox[-4:]}")

# %% [markdown]
# ## 4. Group lasso removes whole units
# The proximal group-lasso step shrinks each column (a unit's incoming weights) towards zero
# as a block: `w_g <- w_g * max(0, 1 - threshold * sqrt(size_g) / norm2(w_g))`. Columns with
# a small norm become exactly zero together, which `regularizers.count_zero_units` counts and
# `regularizers.prune_units` removes from a model.

# %%
group_step = regularizers.ProximalGroupLasso(threshold=0.15)
kernel = W * np.array([1.0, 0.2, 1.5, 0.3], dtype="float32")  # two weak units
after = kernel
for _ in range(3):
    after = keras.ops.convert_to_numpy(group_step(after))
figure, axes = plt.subplots(1, 2, figsize=(8, 3.6), sharey=True)
for ax, (name, matrix) in zip(
    axes, {"before": kernel, "after 3 steps": after}.items(), strict=True
):
    sns.heatmap(matrix, ax=ax, center=0, cmap="vlag", cbar=False, annot=True, fmt=".2f",
                annot_kws={"fontsize": 7})  # fmt: skip
    ax.set_title(f"{name}: {regularizers.count_zero_units(matrix)} units at zero")
    ax.set_xlabel("unit (column)")
axes[0].set_ylabel("input (row)")
figure.tight_layout()
plt.show()
assert regularizers.count_zero_units(after) == 2  # the two weak units, as whole columns
