"""Decoupled weight decay against an L2 penalty, through the grid's own engines.

Keras' `L2(l2)` adds `l2 * sum(W**2)` (no 1/2), whose gradient is `2 * l2 * W`; the
optimizers' `weight_decay` shrinks each kernel by `learning_rate * weight_decay * W` before
the step. Under plain SGD the two are one update when `weight_decay = 2 * l2`; momentum
accumulates the penalty's gradient (about `1 / (1 - momentum)` times more decay) and Adam
divides it by the gradient's running scale, so there they part: notebooks/03-weight-decay
asserts that on real training (`make test` executes it).
"""

import numpy as np
import pytest

from experiments import batched, runner
from experiments.config import RunConfig
from experiments.models import compile_model

L2 = 1e-3
# 2,000 images in batches of 32 for 5 epochs: 315 steps
SETTINGS = {"n_train": 2000, "hidden_units": 32, "epochs": 5, "batch_size": 32, "seed": 3}
PENALTY = {"name": "l2", "l2": L2}


def pair(**optimizer) -> tuple[RunConfig, RunConfig]:
    """(L2 on both kernels, decoupled decay 2 * L2) with the same optimizer settings."""
    as_penalty = RunConfig(
        **SETTINGS, **optimizer, hidden_regularizer=PENALTY, output_regularizer=PENALTY
    )
    return as_penalty, RunConfig(**SETTINGS, **optimizer, weight_decay=2 * L2)


def train(run: RunConfig, mnist, engine: str):
    if engine == "single":
        return runner.train_run(run, mnist)
    return batched.train_batch([run], mnist)[0]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["single", "batched"])
def test_under_plain_sgd_weight_decay_is_l2_of_half_the_coefficient(mnist, engine):
    penalty, decay = pair(optimizer="sgd", momentum=0.0, learning_rate=0.1)
    (row_p, history_p), (row_d, history_d) = (train(r, mnist, engine) for r in (penalty, decay))
    assert row_p["status"] == row_d["status"] == "ok"
    assert len(history_p) == len(history_d) == 5
    # (the losses differ by the penalty term, which only the L2 run adds to them)
    for column in ("train_accuracy", "val_accuracy", "hidden_kernel_l2"):
        np.testing.assert_allclose(history_p[column], history_d[column], rtol=1e-4)
    for metric in ("test_loss", "hidden_kernel_l2", "output_kernel_l2", "hidden_kernel_l1"):
        assert row_p[metric] == pytest.approx(row_d[metric], rel=1e-4), metric
    # and the decay acted: without it the kernels end larger
    plain, _ = train(RunConfig(**SETTINGS, optimizer="sgd", momentum=0.0, learning_rate=0.1),
                     mnist, engine)  # fmt: skip
    assert plain["hidden_kernel_l2"] > 1.02 * row_d["hidden_kernel_l2"]


def test_one_step_decays_the_kernels_and_not_the_biases(mnist):
    """From the same weights, one step with decay is the step without it minus
    `learning_rate * weight_decay * W` on each kernel, and the same step on each bias."""
    data = mnist.subset(100)
    after = {}
    for decay in (0.0, 0.4):
        run = RunConfig(
            n_train=100, hidden_units=4, epochs=1, batch_size=100, seed=0,
            optimizer="sgd", momentum=0.0, learning_rate=0.5, weight_decay=decay,
        )  # fmt: skip
        model = runner.initial_model(run, data, {})
        before = model.get_weights()
        compile_model(model, run, steps_per_epoch=1)
        model.train_on_batch(data.x_train, data.y_train)
        after[decay] = model.get_weights()
    for index, (plain, decayed, start) in enumerate(
        zip(after[0.0], after[0.4], before, strict=True)
    ):
        expected = plain - 0.5 * 0.4 * start if start.ndim == 2 else plain  # kernels: 2-D
        np.testing.assert_allclose(decayed, expected, rtol=1e-5, atol=1e-7, err_msg=str(index))
