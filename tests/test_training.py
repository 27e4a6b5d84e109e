"""Regularizers in real training: zeros from L1 and proximal steps, pruning, the corrected
elastic net on least squares, and autoencoder initialization. Small MNIST subsets."""

import json

import keras
import numpy as np
import pytest

import regularizers
from experiments import runner
from experiments.config import RunConfig
from experiments.metrics import ABS_EDGES
from experiments.models import build_model, compile_model, pretrain_autoencoder
from experiments.runner import train_run

SMALL = {"n_train": 2000, "hidden_units": 64, "epochs": 4, "learning_rate": 0.05}
PLAIN = SMALL | {"momentum": 0.0, "learning_rate": 0.2}  # plain SGD: what proximal steps need


def soft_threshold(b, t):
    return np.sign(b) * np.maximum(np.abs(b) - t, 0.0)


def test_corrected_elastic_net_is_the_lasso_on_an_orthogonal_design():
    """Zou & Hastie (2005) sec. 3.2: with X^T X = I the naive elastic net is
    soft(b, lambda1/2) / (1 + lambda2), b = X^T y, and (1 + lambda2) times it is the lasso."""
    rng = np.random.default_rng(0)
    n, p = 200, 8
    x, _ = np.linalg.qr(rng.normal(size=(n, p)))  # orthonormal columns: X^T X = I
    beta = np.array([3.0, -2.0, 1.5, 0.3, -0.2, 0.0, 0.0, 0.1])
    y = x @ beta + 0.01 * rng.normal(size=n)
    b = x.T @ y
    # Keras minimises mean((y - Xw)^2) + s*(r*|w|_1 + (1-r)*|w|^2); times n it is Zou &
    # Hastie's |y - Xw|^2 + lambda1 |w|_1 + lambda2 |w|^2 with lambda_k = n * coefficient.
    lambda1, lambda2 = 1.0, 1.0
    reg = regularizers.ElasticNet(strength=(lambda1 + lambda2) / n, l1_ratio=0.5)
    naive = soft_threshold(b, lambda1 / 2) / (1 + lambda2)
    lasso = soft_threshold(b, lambda1 / 2)
    assert np.abs(lasso - naive).max() > 0.5  # the correction matters here

    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(1, use_bias=False, kernel_regularizer=reg)
    model = keras.Sequential([keras.Input((p,)), layer])
    steps = 400
    schedule = keras.optimizers.schedules.CosineDecay(40.0, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse", steps_per_execution=50)
    xs = np.tile(x.astype(np.float32), (steps, 1))  # one full batch per step
    ys = np.tile(y.astype(np.float32), steps)
    model.fit(xs, ys, batch_size=n, epochs=1, shuffle=False, verbose=0)
    fitted = keras.ops.convert_to_numpy(layer.kernel)[:, 0]
    np.testing.assert_allclose(fitted, naive, atol=5e-3)

    factor = regularizers.apply_elastic_net_correction(layer, x)
    assert factor == pytest.approx(np.full(p, 1 + lambda2))  # unit-norm columns: 1 + N s (1 - r)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel)[:, 0], lasso, atol=1e-2)


def test_a_proximal_l1_step_after_sgd_is_ista():
    """Keras' SGD then ProximalL1(lr * l1) on a linear least-squares model equals NumPy's
    proximal gradient (ISTA) on `mean((Xw - y)**2) + l1 * sum(abs(w))`, step for step."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 8)).astype("float32")
    y = x @ np.array([2.0, -1.0, 0, 0, 0.5, 0, 0, 0]) + 0.1 * rng.standard_normal(64)
    lr, l1 = 0.05, 0.3
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(
        1, use_bias=False, kernel_constraint=regularizers.ProximalL1(lr * l1)
    )
    model = keras.Sequential([keras.Input((8,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    w = keras.ops.convert_to_numpy(layer.kernel)[:, 0].astype("float64")
    model.fit(x, y.astype("float32"), batch_size=64, epochs=30, shuffle=False, verbose=0)
    for _ in range(30):
        gradient = 2.0 / len(x) * x.T @ (x @ w - y)
        w = soft_threshold(w - lr * gradient, lr * l1)
    fitted = keras.ops.convert_to_numpy(layer.kernel)[:, 0]
    np.testing.assert_allclose(fitted, w, atol=1e-5)
    assert (fitted == 0).sum() >= 3  # exact zeros, as the lasso gives


@pytest.mark.parametrize(
    "recipe", [{"momentum": 0.9}, {"optimizer": "adam"}, {"momentum": 0.0, "schedule": "cosine"}]
)
def test_proximal_steps_are_refused_where_a_fixed_threshold_is_not_the_l1_step(recipe):
    from experiments.config import ConfigError, expand

    document = {"fixed": recipe, "grid": {"hidden_constraint": {"name": "proximal_l1"}}}
    with pytest.raises(ConfigError, match="proximal step of plain SGD"):
        expand(document, "bad.yaml")
    plain = {"fixed": {"momentum": 0.0}, "grid": document["grid"]}
    assert expand(plain)[0].hidden_constraint["name"] == "proximal_l1"


@pytest.mark.parametrize("scale", ["unit norm", "variance 1"])
def test_the_correction_factor_is_the_closed_form_ratio_for_the_inputs_scale(scale):
    """Orthogonal columns scaled to unit norm or to mean square 1 (standardised features):
    Keras' naive elastic-net minimiser times the factor is its lasso minimiser."""
    rng = np.random.default_rng(1)
    n, p = 500, 6
    q, _ = np.linalg.qr(rng.normal(size=(n, p)))
    x = q if scale == "unit norm" else q * np.sqrt(n)  # X^T X = c I, c = 1 or N
    y = x @ rng.normal(size=p) + 0.1 * rng.normal(size=n)
    strength, ratio = 0.3, 0.4
    c = x[:, 0] @ x[:, 0]
    # minimise (1/N)|y - Xw|^2 + s (r |w|_1 + (1 - r)|w|^2): with X^T X = c I it separates into
    # (c/N) w^2 - (2/N) b w + s (1 - r) w^2 + s r |w|, b = X^T y
    b = x.T @ y
    naive = soft_threshold(b, n * strength * ratio / 2) / (c + n * strength * (1 - ratio))
    lasso = soft_threshold(b, n * strength * ratio / 2) / c
    factor = regularizers.elastic_net_correction(regularizers.ElasticNet(strength, ratio), x)
    np.testing.assert_allclose(factor * naive, lasso, rtol=1e-10)
    expected = 1 + (n if scale == "unit norm" else 1) * strength * (1 - ratio)
    assert factor == pytest.approx(np.full(p, expected))


def test_elastic_net_correction_needs_an_elastic_net_and_the_inputs():
    with pytest.raises(TypeError, match="Expected an ElasticNet"):
        regularizers.elastic_net_correction(regularizers.L2(0.1), np.ones((4, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        regularizers.elastic_net_correction(regularizers.ElasticNet(0.1), np.ones(4))


@pytest.mark.slow
def test_proximal_l1_ends_with_far_more_exact_zeros_than_l2(mnist):
    l2 = RunConfig(**SMALL, hidden_regularizer={"name": "l2", "l2": 1e-4, "scale": "sum"})
    l1 = RunConfig(**PLAIN, hidden_constraint={"name": "proximal_l1", "threshold": 1e-3})
    row_l2, _ = train_run(l2, mnist)
    row_l1, _ = train_run(l1, mnist)
    assert row_l2["status"] == row_l1["status"] == "ok"
    assert row_l2["hidden_zero_fraction"] == 0.0
    assert row_l1["hidden_zero_fraction"] > 0.3
    counts = json.loads(row_l1["hidden_abs_counts"])  # the histogram's first bin: exact zeros
    assert counts[0] == round(row_l1["hidden_zero_fraction"] * 784 * 64) and sum(counts) == 784 * 64
    assert row_l1["test_accuracy"] > 0.8  # sparse, and still a working classifier


@pytest.mark.slow
def test_proximal_group_lasso_removes_units_and_the_pruned_model_agrees(mnist, tmp_path):
    run = RunConfig(
        **PLAIN | {"epochs": 8},
        hidden_constraint={"name": "proximal_group_lasso", "threshold": 5e-4, "groups": "units"},
    )
    data = mnist.subset(run.n_train)
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(run), run, steps_per_epoch=16)
    model.fit(data.x_train, data.y_train, batch_size=128, epochs=run.epochs, verbose=0)
    removed = regularizers.count_zero_units(model.get_layer("hidden").kernel)
    assert 0 < removed < run.hidden_units
    pruned = regularizers.prune_units(model)
    assert pruned.get_layer("hidden").units == run.hidden_units - removed
    x = data.x_test[:1000]
    np.testing.assert_allclose(
        pruned.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )
    accuracy = np.mean(pruned.predict(x, verbose=0).argmax(1) == data.y_test[:1000])
    assert accuracy > 0.7  # 8 epochs of plain SGD on 2,000 images, units gone
    pruned.save(tmp_path / "pruned.keras")  # saved, reloaded: still the same predictions
    loaded = keras.saving.load_model(tmp_path / "pruned.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)  # fmt: skip


@pytest.mark.slow
def test_the_autoencoder_learns_far_below_the_mean_image_baseline(mnist):
    x = mnist.x_train[:5000]
    run = RunConfig(init="autoencoder", hidden_units=64, pretrain_epochs=15)
    pretrained = pretrain_autoencoder(run, x)
    assert pretrained.baseline == pytest.approx(0.262, abs=0.005)  # the mean image, per pixel
    assert pretrained.reconstruction < 0.6 * pretrained.baseline
    assert pretrained.losses[-1] < 0.6 * pretrained.losses[0]
    # the earlier recipe (pixel-averaged BCE, the fine-tuning optimizer) barely moves
    legacy = run.model_copy(update={"pretrain_reduction": "mean", "pretrain_optimizer": "finetune"})
    assert pretrain_autoencoder(legacy, x).reconstruction > 0.9 * pretrained.baseline


@pytest.mark.slow
@pytest.mark.parametrize("variant", [{"tied_weights": True}, {"pretrain_noise": 0.25}])
def test_tied_and_denoising_autoencoders_learn_too(mnist, variant):
    x = mnist.x_train[:2000]
    run = RunConfig(init="autoencoder", hidden_units=32, pretrain_epochs=5, **variant)
    pretrained = pretrain_autoencoder(run, x)
    assert pretrained.reconstruction < 0.8 * pretrained.baseline
    assert [w.shape for w in pretrained.weights] == [(784, 32), (32,)]


@pytest.mark.slow
def test_autoencoder_init_changes_the_starting_weights_and_is_cached(mnist):
    random = RunConfig(**SMALL | {"epochs": 2})
    pretrained = random.model_copy(update={"init": "autoencoder", "pretrain_epochs": 3})
    data = mnist.subset(random.n_train)
    keras.utils.set_random_seed(0)
    before = keras.ops.convert_to_numpy(build_model(pretrained).get_layer("hidden").kernel)
    after = pretrain_autoencoder(pretrained, data.x_train).weights[0]
    assert after.shape == before.shape and not np.allclose(before, after)
    row_random, _ = train_run(random, mnist)
    runner._ENCODERS.clear()
    row_pretrained, _ = train_run(pretrained, mnist)
    row_cached, _ = train_run(pretrained, mnist)  # the encoder comes from the cache now
    assert len(runner._ENCODERS) == 1
    for column in ("pretrain_loss", "initial_val_loss", "train_loss", "test_accuracy"):
        assert row_cached[column] == row_pretrained[column]
    assert row_pretrained["pretrain_loss"] < row_pretrained["pretrain_baseline_loss"]
    # same seed, same output layer: only the hidden layer's start differs
    assert row_pretrained["initial_val_loss"] != pytest.approx(row_random["initial_val_loss"])
    assert row_pretrained["test_accuracy"] > 0.8


def test_abs_counts_bin_every_weight_once():
    weights = np.array([0.0, -0.0, 5e-9, -1e-8, 2e-4, 0.5, -3.0, 12.0, np.float32(1e-3)])
    counts = runner.abs_counts(weights)
    assert len(counts) == len(ABS_EDGES) + 2 and sum(counts) == weights.size
    assert counts[0] == 2 and counts[1] == 1  # exact zeros; 0 < |w| < 1e-8
    assert counts[2] == 1  # 1e-8 opens the first half-decade bin
    assert counts[-1] == 1  # 12 >= 10
    edges = np.array(ABS_EDGES)
    for value in (2e-4, 0.5, 3.0):
        assert counts[2 + np.searchsorted(edges, value, side="right") - 1] >= 1
