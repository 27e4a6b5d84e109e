"""The batched engine computes what one Keras model per run computes.

Members with no randomness beyond their initial weights and data order are compared with a
plain Keras model per run, trained on the same data order (early stopping by Keras' rule):
equal to float tolerance, on TensorFlow and on JAX (`make test-jax`). Dropout members draw other
masks, so they are compared with the single-run engine over seeds, paired.
"""

import keras
import numpy as np
import pytest
from scipy import stats

from experiments import batched, runner
from experiments.batched import MemberConstraint, MemberPenalty, plan_batches
from experiments.config import RunConfig
from experiments.models import build_model, compile_model, summed_binary_crossentropy
from regularizers import registry

# SmoothKernel acts on Conv2D kernels only; the engine's networks are dense.
DENSE_PENALTIES = [name for name in registry.PENALTIES if name != "smooth_kernel"]


def two_strengths(name: str) -> list:
    """Two instances of the registered class `name` with different coefficients."""
    first = registry.arguments(name)[0]
    value = registry.defaults(name)[first]
    return [registry.get(name, **{first: value}), registry.get(name, **{first: value * 7})]


@pytest.mark.parametrize("name", DENSE_PENALTIES)
def test_each_member_pays_its_own_penalty(name):
    kernels = np.random.default_rng(0).standard_normal((2, 30, 8)).astype("float32")
    penalties = two_strengths(name)
    stacked = keras.ops.convert_to_tensor(np.stack(kernels, axis=1))  # (in, K, out)
    expected = sum(
        float(p(keras.ops.convert_to_tensor(w))) for p, w in zip(penalties, kernels, strict=True)
    )
    assert float(MemberPenalty(penalties)(stacked)) == pytest.approx(expected, rel=1e-5)
    alone = float(MemberPenalty([penalties[0], None])(stacked))
    assert alone == pytest.approx(float(penalties[0](keras.ops.convert_to_tensor(kernels[0]))))


@pytest.mark.parametrize("name", list(registry.CONSTRAINTS))
def test_each_member_gets_its_own_constraint(name):
    kernels = np.random.default_rng(1).standard_normal((2, 30, 8)).astype("float32")
    kernels[:, :, :3] *= 1e-4  # small units, so the proximal steps zero some
    constraints = two_strengths(name)
    stacked = keras.ops.convert_to_tensor(np.stack(kernels, axis=1))
    out = keras.ops.convert_to_numpy(MemberConstraint([constraints[0], None])(stacked))
    one = keras.ops.convert_to_numpy(constraints[0](keras.ops.convert_to_tensor(kernels[0])))
    np.testing.assert_allclose(out[:, 0], one, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 1], kernels[1])  # no constraint: untouched
    assert not np.allclose(one, kernels[0])  # the constraint did something


@pytest.mark.parametrize("stacked", [False, True])
def test_a_saturated_wrong_output_still_gets_its_gradient(stacked):
    """Logit 60 on the wrong class: the loss is 60 and one SGD step moves the right class's
    output bias by the learning rate. A loss on probabilities clipped to 1e-7 (Keras' JAX
    backend on a softmax output) would read 16.1 and not move it: the run would be stuck."""
    run = RunConfig(hidden_units=4, learning_rate=0.1)
    model = batched.build_stack([run], seed=0) if stacked else build_model(run)
    if stacked:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=batched.member_crossentropy)
    else:
        compile_model(model, run, steps_per_epoch=1)
    output = model.get_layer("output")
    kernel, bias = (np.zeros(w.shape, "float32") for w in output.get_weights())
    bias[..., 0] = 60.0
    output.set_weights([kernel, bias])
    labels = np.ones((1, 1) if stacked else (1,), "int32")
    loss = model.train_on_batch(np.zeros((1, 784), "float32"), labels)
    loss = loss[0] if isinstance(loss, list) else loss
    assert float(loss) == pytest.approx(60.0, rel=1e-4)
    moved = output.get_weights()[1].reshape(-1)[1]
    assert moved == pytest.approx(0.1, rel=1e-4)
    pixels = summed_binary_crossentropy(
        np.ones((1, 784), "float32"), np.full((1, 784), -60.0, "float32")
    )
    assert float(pixels[0]) == pytest.approx(60.0 * 784, rel=1e-4)


def test_batches_share_shape_schedule_and_seed_and_respect_the_limits():
    grid = [(e, s, h, d) for e in (1, 2) for s in (0, 1) for h in (16, 512) for d in (0, 0.2, 0.5)]
    runs = [RunConfig(epochs=e, seed=s, hidden_units=h, dropout=d) for e, s, h, d in grid]
    batches = plan_batches(runs, max_units=1024, max_members=2)
    assert sorted(id(r) for b in batches for r in b) == sorted(id(r) for r in runs)
    for batch in batches:
        assert len({batched.batch_key(run) for run in batch}) == 1
        assert len(batch) <= 2 and (len(batch) == 1 or len(batch) * batch[0].hidden_units <= 1024)
    assert [len(b) for b in batches if b[0].hidden_units == 16] == [2, 1] * 4  # 3 split 2 + 1
    firsts = [runs.index(b[0]) for b in batches]
    assert firsts == sorted(firsts)


def keras_reference(run: RunConfig, data) -> dict:
    """One Keras model trained as the single-run engine trains it, on the batched order: one
    `fit` per epoch on the permuted images, then Keras' early-stopping rule (stop once the
    validation loss has not fallen for `patience` epochs, restore the best weights)."""
    data = data.subset(run.n_train)
    row: dict = {}
    model = runner.initial_model(run, data, row)
    compile_model(model, run, int(np.ceil(run.n_train / run.batch_size)))
    val_losses, best, best_weights, wait = [], np.inf, None, 0
    for epoch in range(run.epochs):
        order = batched.data_order(run.seed, epoch, run.n_train)
        fit = model.fit(
            data.x_train[order], data.y_train[order], batch_size=run.batch_size,
            validation_data=(data.x_val, data.y_val), shuffle=False, verbose=0,
        )  # fmt: skip
        val_losses.append(fit.history["val_loss"][0])
        if not np.isfinite(fit.history["loss"][0]):
            break
        wait += 1
        if val_losses[-1] < best:
            best, best_weights, wait = val_losses[-1], model.get_weights(), 0
        elif run.early_stopping and wait >= run.early_stopping and epoch > 0:
            break
    if run.early_stopping:
        model.set_weights(best_weights)
    weights = model.get_weights()
    row["epochs_run"] = len(val_losses)
    row["val_loss_history"] = val_losses
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        row[f"{split}_loss"], row[f"{split}_accuracy"] = runner._evaluate(
            weights, run.activation, x, y
        )
    row.update(runner.weight_statistics(weights, run.activation, data.x_val))
    return row


SMALL = {"n_train": 600, "epochs": 3, "batch_size": 50, "learning_rate": 0.05}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixed", "members"),
    [
        ({"hidden_units": 24, "seed": 3}, [
            {},
            {"hidden_regularizer": {"name": "l2", "l2": 1e-3}},
            {"hidden_regularizer": {"name": "l2", "l2": 1e-2}},
            {"hidden_regularizer": {"name": "elastic_net", "strength": 1e-3},
             "output_regularizer": {"name": "l1", "l1": 1e-3}},
            {"hidden_regularizer": {"name": "group_lasso", "strength": 1e-3},
             "hidden_constraint": {"name": "max_norm", "max_value": 0.5}},
            {"early_stopping": 1, "output_constraint": {"name": "max_norm", "max_value": 1.0}},
            {"hidden_regularizer": {"name": "l2", "l2": 1e9}},  # diverges, alone
        ]),
        ({"hidden_units": 16, "seed": 0, "momentum": 0.0, "activation": "sigmoid",
          "init": "autoencoder", "pretrain_epochs": 1}, [
            {"hidden_constraint": {"name": "proximal_l1", "threshold": 1e-3}},
            {"hidden_constraint": {"name": "proximal_group_lasso", "threshold": 1e-2}},
            {"hidden_regularizer": {"name": "sparse_group_lasso", "strength": 1e-3}},
        ]),
    ],
    ids=["penalties-constraints-early-stopping-divergence", "proximal-autoencoder"],
)  # fmt: skip
def test_members_equal_one_keras_model_each_on_the_same_data_order(mnist, fixed, members):
    runs = [RunConfig(**SMALL, **fixed, **member) for member in members]
    results = batched.train_batch(runs, mnist)
    for run, (row, history) in zip(runs, results, strict=True):
        reference = keras_reference(run, mnist)
        assert row["engine"] == "batched" and row["batch_members"] == len(runs)
        if run.hidden_regularizer and run.hidden_regularizer.get("l2") == 1e9:
            assert row["status"] == "diverged", row["error"]
            continue
        assert row["status"] == "ok", row["error"]
        assert row["epochs_run"] == reference["epochs_run"] == len(history)
        np.testing.assert_allclose(history["val_loss"], reference["val_loss_history"], rtol=1e-4)
        for metric in ("test_loss", "train_loss", "hidden_kernel_l2", "output_kernel_l2"):
            assert row[metric] == pytest.approx(reference[metric], rel=1e-4, abs=1e-6), metric
        assert row["test_accuracy"] == pytest.approx(reference["test_accuracy"], abs=2e-4)
        assert row["zero_units"] == reference["zero_units"]
        if not run.early_stopping:  # the last epoch's norm is the final weights'
            assert history["hidden_kernel_l2"].iloc[-1] == pytest.approx(row["hidden_kernel_l2"])
    if any(r.hidden_constraint and r.hidden_constraint["name"].startswith("prox") for r in runs):
        assert results[0][0]["hidden_zero_fraction"] > 0.1  # the proximal step acted


@pytest.mark.slow
def test_dropout_members_match_the_single_run_engine_over_seeds(mnist):
    """Different masks and data orders, the same distribution: paired over 6 seeds, the
    difference in test accuracy is not significant and small."""
    config = {"n_train": 2000, "epochs": 2, "hidden_units": 64, "dropout": 0.5}
    runs = [RunConfig(**config, seed=seed) for seed in range(6)]
    single = [runner.train_run(run, mnist)[0]["test_accuracy"] for run in runs]
    stacked = [batched.train_batch([run], mnist)[0][0]["test_accuracy"] for run in runs]
    difference = np.subtract(stacked, single)
    assert stats.ttest_rel(stacked, single).pvalue > 0.01, difference
    assert abs(difference.mean()) < 0.01, difference


def test_a_batch_of_mixed_shapes_is_refused_by_every_member(mnist):
    runs = [RunConfig(hidden_units=8, n_train=100, epochs=1),
            RunConfig(hidden_units=9, n_train=100, epochs=1)]  # fmt: skip
    rows = [row for row, _ in batched.train_batch(runs, mnist)]
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert "must share" in rows[0]["error"]
