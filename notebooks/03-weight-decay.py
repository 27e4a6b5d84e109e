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
# # Weight decay and L2: when are they the same thing?
#
# "Weight decay" and "an L2 penalty" are often used as synonyms. They are the same update
# only under plain SGD. This notebook shows it with the suite's own training runs on a small
# MNIST subset (about a minute on a laptop CPU), then reads the two committed studies that
# ask the same question with 10,000 images and 5 seeds.
#
# **The two updates.** Keras' `L2(l2)` adds `l2 * sum(w**2)` to the loss (no 1/2), so its
# gradient is `2 * l2 * w`. The optimizers' `weight_decay` argument shrinks each weight
# *outside* the gradient, before the step (here: kernels only, biases are not decayed):
#
# | | one step with learning rate `lr`, gradient `g` of the data loss |
# |---|---|
# | SGD + `L2(l2)` | `w <- w - lr * (g + 2 * l2 * w)` |
# | SGD + `weight_decay=wd` | `w <- w - lr * wd * w - lr * g` |
# | SGD with momentum `m` + `L2(l2)` | `v <- m * v + g + 2 * l2 * w`, `w <- w - lr * v` |
# | SGD with momentum + `weight_decay` | `v <- m * v + g`, `w <- w - lr * wd * w - lr * v` |
# | Adam + `L2(l2)` | the penalty's gradient is divided by the running RMS of `g + 2 * l2 * w` |
# | AdamW (Adam + `weight_decay`) | `w <- w - lr * wd * w`, then the Adam step on `g` |
#
# With plain SGD the first two are equal when `wd = 2 * l2`. Momentum sums past
# gradients, the penalty's included: at steady state it decays about `1 / (1 - m)` times
# more (10x at 0.9). Adam rescales every gradient to about `lr` per step, so the penalty's
# pull no longer scales with `l2` the way it does under SGD.

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from experiments import figures, plots, report
from experiments.config import RunConfig
from experiments.data import load_mnist
from experiments.runner import train_run
from experiments.study import analyse

sns.set_theme(style="whitegrid", palette="colorblind")

# %% tags=["parameters"]
N_TRAIN = 2000  # training images
EPOCHS = 5  # epochs of each run (2,000 images in batches of 32: 63 steps an epoch)
L2 = 1e-3  # the penalty's coefficient; the decay is 2 * L2

# %% [markdown]
# ## 1. Three optimizers, each with no regularization, `L2(l2)` and `weight_decay = 2 l2`
# Nine runs of a 784-64-10 ReLU network from the same initial weights and the same data
# order per optimizer. The penalty is on both kernels; the decay too (never the biases).

# %%
mnist = load_mnist()
OPTIMIZERS = {
    "plain SGD (lr 0.1)": {"optimizer": "sgd", "momentum": 0.0, "learning_rate": 0.1},
    "SGD, momentum 0.9 (lr 0.01)": {"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.01},
    "Adam (lr 1e-3)": {"optimizer": "adam", "learning_rate": 1e-3},
}
ARMS = {
    "none": {},
    f"L2({L2:g})": {"hidden_regularizer": {"name": "l2", "l2": L2},
                    "output_regularizer": {"name": "l2", "l2": L2}},
    f"weight_decay={2 * L2:g}": {"weight_decay": 2 * L2},
}  # fmt: skip
settings = {"n_train": N_TRAIN, "hidden_units": 64, "epochs": EPOCHS, "batch_size": 32, "seed": 3}
rows, curves = [], []
for optimizer, chosen in OPTIMIZERS.items():
    for arm, regularization in ARMS.items():
        row, history = train_run(RunConfig(**settings, **chosen, **regularization), mnist)
        assert row["status"] == "ok", row["error"]
        rows.append({**row, "setup": optimizer, "arm": arm})
        curves.append(history.assign(setup=optimizer, label=arm))
runs = pd.DataFrame(rows)
norms = pd.concat(curves).assign(split="end of epoch", value=lambda t: t["hidden_kernel_l2"])
runs.pivot(index="setup", columns="arm", values="hidden_kernel_l2").round(4)

# %% [markdown]
# ## 2. The hidden kernel's norm during training
# Under plain SGD the L2 and the weight-decay lines lie on top of each other. With momentum
# the penalty shrinks the weights more than the same decay does; under Adam the penalty
# shrinks them far more, because the decoupled decay per step is only
# `lr * wd` = 2e-6 of each weight at these settings.

# %%
figure, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
for ax, optimizer in zip(axes, OPTIMIZERS, strict=True):
    part = norms[norms["setup"] == optimizer]
    plots.learning_curves(part, ax, title=optimizer, ylabel="hidden kernel L2 norm", log=False)
axes[0].legend(fontsize=8)
figure.suptitle(f"Hidden kernel norm per epoch ({N_TRAIN} images, seed 3)")
figure.tight_layout()
plt.show()

# %% [markdown]
# The same numbers as a check (this cell fails if the claims above stop holding): equal to
# float tolerance under plain SGD, apart with momentum and with Adam.

# %%
norm = runs.set_index(["setup", "arm"])["hidden_kernel_l2"]
penalty, decay = f"L2({L2:g})", f"weight_decay={2 * L2:g}"
sgd, momentum, adam = OPTIMIZERS
assert abs(norm[sgd, penalty] / norm[sgd, decay] - 1) < 1e-4
assert norm[momentum, penalty] < 0.99 * norm[momentum, decay]
assert norm[adam, penalty] < 0.9 * norm[adam, decay]
for optimizer in OPTIMIZERS:
    ratio = norm[optimizer, penalty] / norm[optimizer, decay]
    print(f"{optimizer}: L2 norm / weight-decay norm = {ratio:.5f}")

# %% [markdown]
# ## 3. The studies: 10,000 images, 20 epochs, 5 seeds
# `configs/weight_decay.yaml` repeats the comparison under SGD with momentum 0, 0.5 and
# 0.9, and `configs/weight_decay_adam.yaml` under Adam at three learning rates. Their
# reports are generated from the committed results (`make studies`); below, the same
# analysis: the figures, then each paired contrast with its verdict.

# %%
for name in ("weight_decay", "weight_decay_adam"):
    table, meta, _ = figures.load_results(f"../results/{name}")
    if table.empty:
        print(f"results/{name}: no runs yet; train them with `make studies-run`.")
        continue
    result = analyse(table, meta)
    for metric in ("test_error", "hidden_kernel_l2"):
        figures.metric_figure(result, metric)
        plt.show()
    display(Markdown("\n\n".join(report.contrast_sections(result)[:1])))

# %% [markdown]
# **What to take away.** Under plain SGD, `L2(l2)` and `weight_decay = 2 * l2` are one
# method. With momentum or Adam they are two, and a coefficient tuned for one does not carry
# over to the other: AdamW's decay needs a far larger coefficient than Adam's L2 penalty to
# pull the weights in as much.
