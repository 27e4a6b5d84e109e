"""The CNN path and the smooth-kernel study's pieces: the model and its NumPy evaluation,
class subsets, saved weights, the fitted covariance and configs that name its file."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import analysis, cli, figures, models, priors, runner
from experiments.config import ConfigError, RunConfig, load_config
from experiments.grid import run_grid
from experiments.priors import COVARIANCE
from experiments.store import RunStore

CNN = {"model": "cnn", "hidden_units": 4, "kernel_size": 5, "optimizer": "adam",
       "learning_rate": 1e-3, "batch_size": 50, "epochs": 1}  # fmt: skip


@pytest.mark.parametrize("kernel_size", [5, 4])  # 24 and 25 positions: pooling drops one
def test_numpy_evaluation_of_a_cnn_is_keras_prediction(mnist, kernel_size):
    run = RunConfig(**{**CNN, "kernel_size": kernel_size, "hidden_units": 6})
    keras.utils.set_random_seed(0)
    model = models.build_model(run)
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    x, y = mnist.x_test[:300], mnist.y_test[:300]
    logits = model.predict(x, verbose=0)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    found = np.concatenate([p for _, p in runner._outputs(weights, "relu", x)])[:, 0]
    np.testing.assert_allclose(found, expected, atol=1e-5)
    loss, accuracy = runner.evaluate(weights, "relu", x, y)
    keras_loss = float(keras.ops.mean(models.LOSS(y, logits)))
    assert accuracy[0] == pytest.approx(np.mean(expected.argmax(1) == y))
    assert loss[0] == pytest.approx(keras_loss, rel=1e-4)


def test_class_subsets_keep_only_those_digits_in_every_split(mnist):
    run = RunConfig(classes="5-7,9")
    assert run.digits == [5, 6, 7, 9]
    kept = mnist.select(run.digits).subset(300, n_val=100)
    assert len(kept.x_train) == 300 and len(kept.x_val) == 100
    for labels in (kept.y_train, kept.y_val, kept.y_test):
        assert set(np.unique(labels)) == {5, 6, 7, 9}
    assert len(kept.x_test) == int(np.isin(mnist.y_test, [5, 6, 7, 9]).sum())
    assert mnist.select(list(range(10))) is mnist
    with pytest.raises(ValueError, match="n_train must be between 1 and"):
        mnist.select([0]).subset(10_000)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hidden_regularizer": {"name": "smooth_kernel", "length_scale": 1.0}}, "Conv2D"),
        ({**CNN, "output_regularizer": {"name": "smooth_kernel", "length_scale": 1.0}}, "Conv2D"),
        ({"kernel_size": 3}, "kernel_size applies to model: cnn"),
        ({**CNN, "init": "autoencoder"}, "pretraining is for model: mlp"),
        ({"classes": "9-5"}, "range 9-5 is empty"),
        ({"classes": "five"}, "pattern"),
    ],
)
def test_settings_that_do_not_fit_the_model_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**settings)


def test_a_smooth_kernel_on_the_cnn_penalises_its_filters(mnist):
    spec = {"name": "smooth_kernel", "strength": 0.1, "length_scale": 1.0}
    run = RunConfig(**CNN, hidden_regularizer=spec)
    keras.utils.set_random_seed(0)
    model = models.build_model(run)
    kernel = model.get_layer("hidden").kernel
    penalty = model.get_layer("hidden").kernel_regularizer(kernel)
    assert float(penalty) > 0 and len(model.losses) == 1


def cnn_config(path, grid, **fixed):
    path.write_text(yaml.safe_dump({"fixed": {**CNN, "n_train": 500, **fixed}, "grid": grid}))
    return path


def test_saved_filters_give_a_covariance_that_a_config_can_name(mnist, tmp_path, capsys):
    """Phase 1 -> covariance -> phase 2, as the study runs them, on tiny data."""
    prior = tmp_path / "prior"
    config = cnn_config(tmp_path / "prior.yaml", {"seed": [0, 1]}, classes="0-4",
                        save_weights=True, hidden_units=8)  # fmt: skip
    summary = run_grid(load_config(config).runs, prior, quiet=True)  # batched: falls back
    assert summary.ok == 2
    rows = RunStore(prior).read()
    assert set(rows["engine"]) == {"single"} and set(rows["classes"]) == {"0-4"}
    saved = RunStore(prior).weights_of(rows["run_id"].iloc[0])
    assert saved["hidden_kernel"].shape == (5, 5, 1, 8) and saved["output_kernel"].shape[1] == 10

    assert cli.main(["covariance", str(prior)]) == 0
    assert "16 filter vectors of 2 runs" in capsys.readouterr().out
    covariance = np.load(prior / COVARIANCE)
    assert covariance.shape == (25, 25)
    np.testing.assert_array_equal(covariance, covariance.T)
    assert np.linalg.eigvalsh(covariance).min() > 0
    from regularizers import SmoothKernel

    precision = SmoothKernel(covariance=covariance).precision((5, 5, 1, 8))
    assert np.linalg.det(np.linalg.inv(precision.astype(np.float64))) == pytest.approx(1, rel=1e-4)

    spec = {"name": "smooth_kernel", "strength": 0.01, "covariance": "prior/covariance.npy"}
    phase2 = cnn_config(tmp_path / "phase2.yaml", {"seed": 0, "hidden_regularizer": spec},
                        classes="5-9")  # fmt: skip
    (run,) = load_config(phase2).runs
    np.testing.assert_array_equal(run.hidden_regularizer["covariance"], covariance)
    text = run.columns()["hidden_regularizer.covariance"]
    label = analysis.as_text(pd.Series([text]))[0]
    assert label.startswith("matrix:") and len(label) == len("matrix:") + 8
    assert f"labelled `{label}`" in "\n".join(priors.prior_section(prior))
    figure = figures.prior_figure(prior)
    assert len(figure.axes) == 5  # filters, covariance, centre correlation, 2 colour bars
    plt.close(figure)

    missing = cnn_config(tmp_path / "missing.yaml", {"hidden_regularizer": {**spec,
                         "covariance": "nowhere.npy"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"hidden_regularizer\.covariance.*nowhere\.npy"):
        load_config(missing)


def test_covariance_needs_runs_that_saved_their_filters(tmp_path, capsys):
    (tmp_path / "runs.csv").write_text("run_id,status,model\nabc,ok,cnn\n")
    assert cli.main(["covariance", str(tmp_path)]) == 1
    assert "save_weights: true" in capsys.readouterr().err
    assert not (tmp_path / COVARIANCE).exists()


def test_contrasts_pair_arms_on_shared_settings_not_on_shared_blanks():
    """l2 against two smooth-kernel priors (one with a length scale, one with a matrix):
    each prior is its own row of the contrast, paired with l2 by seed."""
    rows = []
    for seed in range(4):
        rows.append({"regularization": "l2", "length": np.nan, "seed": seed, "err": 10.0})
        rows.append({"regularization": "sk", "length": 1.0, "seed": seed, "err": 9.0 + seed % 2})
        rows.append({"regularization": "sk", "length": np.nan, "seed": seed, "err": 12.0})
    table = pd.DataFrame(rows).assign(n_train=100)
    contrast = analysis.paired_contrasts(
        table, "regularization", "sk", "l2", ["n_train", "regularization", "length"], "err",
        x="n_train", margin=0.1,
    )  # fmt: skip
    assert sorted(contrast["label_a"]) == ["", "length=1"]
    by_label = contrast.set_index("label_a")
    assert by_label.loc["length=1", "mean"] == pytest.approx(-0.5)
    assert by_label.loc["", "mean"] == pytest.approx(2.0) and set(contrast["n"]) == {4}
    assert by_label.loc["", "verdict"] == "b better"  # the same 2 points on every seed
    assert by_label.loc["length=1", "verdict"] == "inconclusive"
