"""Penalties against NumPy written out here, against Keras' own, and through serialization.

Backend-agnostic: `make test-jax` runs this file with KERAS_BACKEND=jax.
"""

import json
import os

import keras
import numpy as np
import pytest

import regularizers
from regularizers import L1, L2, ElasticNet, GroupLasso, SmoothKernel, SparseGroupLasso

DENSE, CONV = (20, 7), (3, 3, 4, 5)
RTOL = 1e-5  # float32 sums of a few hundred terms


def weights(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def value(regularizer, x) -> float:
    return float(keras.ops.convert_to_numpy(regularizer(keras.ops.convert_to_tensor(x))))


def np_group_norms(x, groups):
    if groups == "units":
        return np.sqrt((x.reshape(-1, x.shape[-1]) ** 2).sum(axis=0))
    moved = np.moveaxis(x, -2, 0)  # input channels first
    return np.sqrt((moved.reshape(moved.shape[0], -1) ** 2).sum(axis=1))


@pytest.mark.parametrize("shape", [DENSE, CONV])
def test_l1_l2_match_numpy_and_keras(shape):
    x = weights(shape)
    assert value(L1(0.3), x) == pytest.approx(0.3 * np.abs(x).sum(), rel=RTOL)
    assert value(L2(0.3), x) == pytest.approx(0.3 * (x**2).sum(), rel=RTOL)
    assert value(L1(0.3), x) == pytest.approx(value(keras.regularizers.L1(0.3), x), rel=RTOL)
    assert value(L2(0.3), x) == pytest.approx(value(keras.regularizers.L2(0.3), x), rel=RTOL)


@pytest.mark.parametrize("shape", [DENSE, CONV])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.25, 1.0])
def test_elastic_net_matches_numpy_and_keras_l1l2(shape, l1_ratio):
    x = weights(shape, seed=1)
    s = 0.02
    expected = s * (l1_ratio * np.abs(x).sum() + (1 - l1_ratio) * (x**2).sum())
    assert value(ElasticNet(s, l1_ratio), x) == pytest.approx(expected, rel=RTOL)
    keras_own = keras.regularizers.L1L2(l1=s * l1_ratio, l2=s * (1 - l1_ratio))
    assert value(ElasticNet(s, l1_ratio), x) == pytest.approx(value(keras_own, x), rel=RTOL)


def test_elastic_net_reduces_to_l1_and_l2():
    x = weights(DENSE, seed=2)
    assert value(ElasticNet(0.1, l1_ratio=1.0), x) == pytest.approx(value(L1(0.1), x), rel=RTOL)
    assert value(ElasticNet(0.1, l1_ratio=0.0), x) == pytest.approx(value(L2(0.1), x), rel=RTOL)
    net = ElasticNet(0.1, l1_ratio=0.3)
    assert (net.l1, net.l2) == pytest.approx((0.03, 0.07))


@pytest.mark.parametrize("shape", [DENSE, CONV])
@pytest.mark.parametrize("groups", ["units", "inputs"])
def test_group_lasso_matches_numpy(shape, groups):
    x = weights(shape, seed=3)
    norms = np_group_norms(x, groups)
    size = x.size // len(norms)
    expected = 0.05 * np.sqrt(size) * norms.sum()
    assert value(GroupLasso(0.05, groups=groups), x) == pytest.approx(expected, rel=RTOL)
    sparse = SparseGroupLasso(0.05, l1=0.01, groups=groups)
    assert value(sparse, x) == pytest.approx(expected + 0.01 * np.abs(x).sum(), rel=RTOL)


def test_group_lasso_groups_are_dense_columns_and_rows():
    x = np.zeros((4, 3), np.float32)
    x[:, 1] = 2.0  # one unit (column) of norm 4, group size 4
    assert value(GroupLasso(1.0, groups="units"), x) == pytest.approx(2.0 * 4.0, rel=1e-5)
    # by rows: four groups of size 3, each with norm 2
    assert value(GroupLasso(1.0, groups="inputs"), x) == pytest.approx(4 * np.sqrt(3) * 2.0)


def test_single_element_groups_are_l1():
    x = weights((9, 1), seed=4)  # "inputs": each row is a group of one weight
    assert value(GroupLasso(0.2, groups="inputs"), x) == pytest.approx(value(L1(0.2), x), rel=1e-4)


@pytest.mark.parametrize("mode", ["channel", "filter"])
def test_smooth_kernel_with_identity_is_l2(mode):
    x = weights(CONV, seed=5)
    n = 9 if mode == "channel" else 9 * CONV[2]
    reg = SmoothKernel(0.1, covariance=np.eye(n), mode=mode)
    assert value(reg, x) == pytest.approx(value(L2(0.1), x), rel=RTOL)


def test_smooth_kernel_matches_numpy_with_normalised_covariance():
    x = weights(CONV, seed=6)
    rng = np.random.default_rng(7)
    a = rng.normal(size=(9, 9))
    covariance = a @ a.T + 9 * np.eye(9)
    normalised = covariance / np.linalg.det(covariance) ** (1 / 9)
    precision = np.linalg.inv(normalised)
    vectors = x.reshape(9, -1)  # (kh*kw, c_in*c_out)
    expected = 0.3 * np.einsum("pv,pq,qv->", vectors, precision, vectors)
    reg = SmoothKernel(0.3, covariance=covariance)
    assert value(reg, x) == pytest.approx(expected, rel=1e-4)
    # scaling S leaves the penalty unchanged: S is normalised to determinant 1
    assert value(SmoothKernel(0.3, covariance=5 * covariance), x) == pytest.approx(
        expected, rel=1e-4
    )


def test_smooth_kernel_prefers_smooth_filters():
    smooth = np.ones((3, 3, 1, 1), np.float32)
    rough = np.array([1, -1, 1, -1, 1, -1, 1, -1, 1], np.float32).reshape(3, 3, 1, 1)
    reg = SmoothKernel(1.0, length_scale=1.0)
    assert value(reg, smooth) < value(reg, rough)
    assert value(L2(1.0), smooth) == value(L2(1.0), rough)  # L2 cannot tell them apart


def test_fit_covariance_and_squared_exponential():
    se = regularizers.squared_exponential_covariance(3, 3, 1.0)
    assert se.shape == (9, 9)
    assert se[0, 1] == pytest.approx(np.exp(-0.5))  # neighbours at distance 1
    assert se[0, 8] == pytest.approx(np.exp(-8 / 2))  # opposite corners, distance^2 = 8
    kernels = weights((3, 3, 8, 16), seed=8)
    fitted = regularizers.fit_covariance(kernels, ridge=1e-3)
    vectors = kernels.reshape(9, -1)
    assert np.allclose(fitted, np.cov(vectors) + 1e-3 * np.eye(9))
    assert value(SmoothKernel(0.1, covariance=fitted), kernels) > 0


@pytest.mark.parametrize("scale_of", [DENSE, CONV])
def test_mean_scale_divides_by_the_number_of_weights(scale_of):
    x = weights(scale_of, seed=9)
    for reg_class, kwargs in [(L1, {"l1": 0.1}), (L2, {"l2": 0.1}), (GroupLasso, {})]:
        total = value(reg_class(**kwargs), x)
        mean = value(reg_class(**kwargs, scale="mean"), x)
        assert mean == pytest.approx(total / x.size, rel=RTOL)
        units = value(reg_class(**kwargs, scale="units"), x)
        assert units == pytest.approx(total / x.shape[-1], rel=RTOL)


def test_l2_per_unit_at_0_0256_is_l2_1e_4_summed_at_256_units():
    x = weights((784, 256), seed=3)
    assert value(L2(0.0256, scale="units"), x) == pytest.approx(value(L2(1e-4), x), rel=RTOL)


@pytest.mark.parametrize("scale", ["mean", "units"])
def test_scaled_penalties_work_as_activity_regularizers(scale):
    # the batch dimension is unknown when Keras builds the activity penalty
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activity_regularizer=L2(0.1, scale=scale))]
    )
    _check_activity_penalty(model, lambda out: 0.1 * np.sum(out**2) / (
        out.size if scale == "mean" else out.shape[-1]))  # fmt: skip


def test_group_lasso_works_as_an_activity_regularizer():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activity_regularizer=GroupLasso(0.1))]
    )
    # groups "units": one group per unit, its 8 activations over the batch
    _check_activity_penalty(
        model, lambda out: 0.1 * np.sqrt(8) * np.sum(np.sqrt(np.sum(out**2, axis=0)))
    )


def _check_activity_penalty(model, expected_of):
    model.compile(loss="mse", optimizer="sgd")
    history = model.fit(np.ones((8, 4)), np.zeros((8, 3)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    layer = model.layers[0]
    outputs = keras.ops.convert_to_numpy(layer(np.ones((8, 4), dtype="float32")))
    expected = expected_of(outputs) / len(outputs)  # Keras: per example of a batch
    assert float(keras.ops.convert_to_numpy(layer.losses[-1])) == pytest.approx(expected, rel=1e-5)


def every_penalty():
    return [
        L1(1e-3),
        L2(1e-3),
        ElasticNet(1e-3, 0.3, scale="mean"),
        GroupLasso(1e-3, groups="inputs"),
        SparseGroupLasso(1e-3, 1e-4),
        SmoothKernel(1e-3, length_scale=1.5, mode="filter"),
        SmoothKernel(1e-3, covariance=np.eye(9).tolist()),
    ]


@pytest.mark.parametrize("reg", every_penalty(), ids=repr)
def test_gradient_is_finite_at_zero(reg):
    shape = CONV if isinstance(reg, SmoothKernel) else DENSE
    x = keras.Variable(np.zeros(shape, np.float32))
    grad = gradient(lambda w: reg(w), x)
    assert np.all(np.isfinite(grad))
    assert value(reg, np.zeros(shape, np.float32)) == pytest.approx(0.0, abs=1e-5)


def gradient(fn, variable):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda w: fn(w))(variable.value))
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = fn(variable.value)
        return tape.gradient(out, variable.value).numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parametrize("reg", every_penalty(), ids=repr)
def test_config_round_trip_through_json(reg):
    config = json.loads(json.dumps(keras.regularizers.serialize(reg)))
    rebuilt = keras.regularizers.deserialize(config)
    assert type(rebuilt) is type(reg)
    assert rebuilt.get_config() == reg.get_config()
    shape = CONV if isinstance(reg, SmoothKernel) else DENSE
    x = weights(shape, seed=10)
    assert value(rebuilt, x) == pytest.approx(value(reg, x), rel=RTOL)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: L2(-1), "Received: l2=-1"),
        (lambda: L1(float("nan")), "expected a non-negative float"),
        (lambda: L1(float("inf")), "l1=inf"),
        (lambda: ElasticNet(0.1, l1_ratio=1.5), "expected a float in [0, 1]"),
        (lambda: GroupLasso(0.1, groups="rows"), "expected one of 'units', 'inputs'"),
        (lambda: L2(0.1, scale="median"), "`scale`"),
        (lambda: SmoothKernel(0.1), "exactly one of `covariance` and `length_scale`"),
        (lambda: SmoothKernel(0.1, length_scale=0), "expected a positive float"),
        (lambda: SmoothKernel(0.1, covariance=[[1, 2], [2, 1]]), "positive definite"),
        (lambda: SmoothKernel(0.1, covariance=[[1, 0.5], [0, 1]]), "symmetric"),
    ],
)
def test_invalid_arguments_are_rejected_with_one_message_shape(build, message):
    with pytest.raises(ValueError, match=r"Invalid value for argument|exactly one") as error:
        build()
    assert message in str(error.value)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match=r"Received: l2='0\.1'"):
        L2("0.1")
    with pytest.raises(TypeError, match="l1=True"):
        L1(True)


def test_registry_builds_by_name_and_suggests():
    assert regularizers.get("group_lasso", strength=1e-3) == GroupLasso(1e-3)
    assert regularizers.from_spec({"name": "l2", "l2": 0.5}) == L2(0.5)
    assert regularizers.to_spec(ElasticNet(0.1, 0.2)) == {
        "name": "elastic_net",
        "strength": 0.1,
        "l1_ratio": 0.2,
        "scale": "sum",
    }
    with pytest.raises(ValueError, match="Did you mean 'group_lasso'"):
        regularizers.get("grop_lasso")
    with pytest.raises(TypeError, match=r"no argument `strenght`\. Did you mean 'strength'"):
        regularizers.get("group_lasso", strenght=1)
    with pytest.raises(ValueError, match="Unknown constraint 'l2'"):
        regularizers.get("l2", kind="constraint", l2=1.0)


def test_smooth_kernel_rejects_dense_kernels_and_wrong_sizes():
    with pytest.raises(ValueError, match="Conv2D kernels"):
        SmoothKernel(0.1, length_scale=1.0)(weights(DENSE))
    with pytest.raises(ValueError, match="vectors of length 9"):
        SmoothKernel(0.1, covariance=np.eye(4))(weights(CONV))


def test_model_with_every_class_saves_and_loads_identically(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(
        3,
        3,
        kernel_regularizer=SmoothKernel(1e-3, length_scale=1.0),
        kernel_constraint=regularizers.MaxNorm(2.0, axis=[0, 1, 2]),
    )(inputs)
    x = keras.layers.Conv2D(
        3, 3, kernel_regularizer=SmoothKernel(1e-3, covariance=np.eye(9), mode="channel")
    )(x)
    x = keras.layers.Flatten()(x)
    layers = [
        (L1(1e-4), regularizers.ProximalL1(1e-5)),
        (L2(1e-4), regularizers.ProximalGroupLasso(1e-5)),
        (ElasticNet(1e-4, 0.5), regularizers.MaxNorm(3.0)),
        (GroupLasso(1e-4), None),
        (SparseGroupLasso(1e-4, 1e-5, groups="inputs"), None),
    ]
    for reg, constraint in layers:
        x = keras.layers.Dense(6, kernel_regularizer=reg, kernel_constraint=constraint)(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.compile(optimizer="sgd", loss="mse")
    data = np.random.default_rng(0).normal(size=(16, 8, 8, 2)).astype(np.float32)
    model.fit(data, np.zeros((16, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(model.predict(data, verbose=0), loaded.predict(data, verbose=0))

    def attached(m):
        kernels = [lay for lay in m.layers if hasattr(lay, "kernel_regularizer")]
        return [(lay.kernel_regularizer, lay.kernel_constraint) for lay in kernels]

    assert attached(model) == attached(loaded)
    assert len([pair for pair in attached(loaded) if pair[0] is not None]) == 7
    assert float(sum(loaded.losses)) == pytest.approx(float(sum(model.losses)), rel=1e-5)


def test_get_takes_the_coefficient_positionally_like_the_class():
    assert regularizers.get("l2", 1e-4) == L2(1e-4)
    assert regularizers.get("group_lasso", 1e-3, groups="inputs") == GroupLasso(1e-3, "inputs")
    with pytest.raises(TypeError, match="takes at most 2 arguments"):
        regularizers.get("l2", 1e-4, "sum", 3)
    with pytest.raises(ValueError, match="Unknown constraint"):
        regularizers.get("l2", 1e-4, kind="constraint")


def test_a_saved_model_loads_in_a_fresh_process_once_regularizers_is_imported(tmp_path):
    import subprocess
    import sys

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, kernel_regularizer=GroupLasso(1e-3))]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    load = f"import keras; keras.saving.load_model({str(path)!r}); print('loaded')"
    without = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True)
    assert without.returncode != 0  # Keras cannot know the class without the import
    loaded = subprocess.run(
        [sys.executable, "-c", "import regularizers; " + load], capture_output=True, text=True
    )
    assert loaded.returncode == 0 and "loaded" in loaded.stdout, loaded.stderr


def test_regularizers_import_without_tensorflow_on_another_backend():
    import subprocess
    import sys

    probe = "import sys, regularizers; print('tensorflow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
