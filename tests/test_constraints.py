"""Constraints against NumPy and Keras, pruning to an equivalent smaller model.

Backend-agnostic: `make test-jax` runs this file with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

import regularizers
from regularizers import MaxNorm, ProximalGroupLasso, ProximalL1


def weights(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def apply(constraint, x):
    return keras.ops.convert_to_numpy(constraint(keras.ops.convert_to_tensor(x)))


@pytest.mark.parametrize(("shape", "axis"), [((30, 8), 0), ((3, 3, 4, 6), [0, 1, 2])])
@pytest.mark.parametrize("max_value", [0.5, 2.0, 100.0])
def test_max_norm_matches_keras_and_numpy(shape, axis, max_value):
    x = weights(shape, seed=1)
    ours = apply(MaxNorm(max_value, axis=axis), x)
    theirs = apply(keras.constraints.MaxNorm(max_value, axis=axis), x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    norms = np.sqrt((x**2).sum(axis=tuple(np.atleast_1d(axis)), keepdims=True))
    expected = x * np.minimum(norms, max_value) / (norms + 1e-7)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
    projected = np.sqrt((ours**2).sum(axis=tuple(np.atleast_1d(axis))))
    assert np.all(projected <= max_value * (1 + 1e-5))


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_max_norm_rejects_non_positive(bad):
    with pytest.raises(
        ValueError, match="Invalid value for argument `max_value`: expected a positive"
    ):
        MaxNorm(bad)


def test_proximal_l1_soft_thresholds():
    x = np.array([[-0.3, -0.05, 0.0], [0.05, 0.2, 1.0]], np.float32)
    expected = np.sign(x) * np.maximum(np.abs(x) - 0.1, 0)
    np.testing.assert_allclose(apply(ProximalL1(0.1), x), expected, atol=1e-7)
    assert np.sum(apply(ProximalL1(0.1), x) == 0) == 3
    np.testing.assert_array_equal(apply(ProximalL1(0.0), x), x)


@pytest.mark.parametrize("groups", ["units", "inputs"])
def test_proximal_group_lasso_block_soft_thresholds(groups):
    x = weights((6, 4), seed=2)
    x[:, 1] *= 0.01  # a weak unit
    axis = 0 if groups == "units" else 1
    size = x.shape[axis]
    norms = np.sqrt((x**2).sum(axis=axis, keepdims=True))
    t = 0.05
    expected = x * np.maximum(0, 1 - t * np.sqrt(size) / norms)
    np.testing.assert_allclose(apply(ProximalGroupLasso(t, groups), x), expected, atol=1e-6)
    if groups == "units":
        out = apply(ProximalGroupLasso(t, "units"), x)
        assert np.all(out[:, 1] == 0)  # the weak unit is removed exactly
        assert regularizers.count_zero_units(out) == 1


def test_proximal_group_lasso_zero_group_stays_finite():
    out = apply(ProximalGroupLasso(0.1), np.zeros((5, 3), np.float32))
    assert np.all(out == 0)


@pytest.mark.parametrize(
    "constraint",
    [
        MaxNorm(3.0),
        MaxNorm(2.0, axis=[0, 1, 2]),
        ProximalL1(1e-3),
        ProximalGroupLasso(1e-3, "inputs"),
    ],
    ids=repr,
)
def test_constraint_config_round_trip(constraint):
    rebuilt = keras.constraints.deserialize(keras.constraints.serialize(constraint))
    assert rebuilt == constraint
    assert rebuilt.get_config() == constraint.get_config()


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_prune_units_gives_a_smaller_equivalent_model(activation, use_bias):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(
                8,
                activation=activation,
                use_bias=use_bias,
                kernel_regularizer=regularizers.L2(1e-3),
            ),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    kernel, *rest = model.layers[0].get_weights()
    kernel[:, [1, 4, 6]] = 0.0
    if rest:
        rest[0][:] = np.linspace(-1, 1, 8)  # removed units still emit activation(bias)
    model.layers[0].set_weights([kernel, *rest])
    pruned = regularizers.prune_units(model)
    hidden = dense_layers(pruned)[0]
    assert hidden.units == 5 and hidden.kernel_regularizer == regularizers.L2(1e-3)
    x = weights((32, 12), seed=4)
    np.testing.assert_allclose(
        pruned.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def zero_columns(layer, columns):
    kernel, *rest = layer.get_weights()
    kernel[:, columns] = 0.0
    layer.set_weights([kernel, *rest])


def test_prune_units_on_a_functional_cnn_with_a_dense_head():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(10, activation="relu", name="head")(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    zero_columns(model.get_layer("head"), [0, 2, 3, 9])
    pruned = regularizers.prune_units(model)
    assert [layer.units for layer in dense_layers(pruned)] == [6, 4]
    x = weights((16, 6, 6, 1), seed=6)
    np.testing.assert_allclose(
        pruned.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_prune_units_refuses_what_it_cannot_prune():
    with pytest.raises(TypeError, match="after the first Dense"):
        regularizers.prune_units(
            keras.Sequential(
                [keras.Input((4,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2))]
            )
        )
    inputs = keras.Input((4,))
    branches = keras.layers.Add()([keras.layers.Dense(3)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(TypeError, match="chain of layers"):
        regularizers.prune_units(keras.Model(inputs, keras.layers.Dense(2)(branches)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    zero_columns(model.layers[0], [0, 1, 2])
    model.layers[0].set_weights([model.layers[0].get_weights()[0], np.zeros(3, "float32")])
    with pytest.raises(ValueError, match="Every unit of layer"):
        regularizers.prune_units(model)
