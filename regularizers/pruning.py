"""Count and remove hidden units whose incoming weights are all zero."""

from __future__ import annotations

import keras
import numpy as np

from regularizers._config import Tensor


def zero_units(kernel: Tensor, atol: float = 0.0) -> np.ndarray:
    """Boolean mask, shape `(out,)`: True where a unit's incoming weights all have `abs(w) <= atol`.

    `kernel`: a Dense kernel `(in, out)` or Conv2D kernel `(kh, kw, c_in, c_out)`; a unit is
    an output column or filter.
    """
    weights = np.asarray(keras.ops.convert_to_numpy(kernel))
    return np.all(np.abs(weights.reshape(-1, weights.shape[-1])) <= atol, axis=0)


def count_zero_units(kernel: Tensor, atol: float = 0.0) -> int:
    """Number of units whose incoming weights are all zero (within `atol`)."""
    return int(zero_units(kernel, atol).sum())


def _chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` in order, if each feeds the next (a Sequential, or a functional
    model without branches); TypeError otherwise."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TypeError("prune_units expects one input and one output.")
    previous = model.inputs[0]
    for layer in layers:
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:
            raise TypeError(
                f"prune_units expects a chain of layers; layer '{layer.name}' does not take the "
                "previous layer's output (branches and shared layers are not supported)."
            )
        previous = layer.output
    if previous is not model.outputs[0]:
        raise TypeError("prune_units expects the last layer's output to be the model's output.")
    return layers


def _clone(layer: keras.layers.Layer, config: dict | None = None) -> keras.layers.Layer:
    return type(layer).from_config(config or layer.get_config())


def prune_units(model: keras.Model, atol: float = 0.0) -> keras.Sequential:
    """A smaller model that predicts the same: hidden units with all-zero incoming weights removed.

    `model` is a chain of layers: a `keras.Sequential` or a functional model without branches
    (the 784-H-10 networks of this suite, or a CNN with a dense head). Layers before the first
    `Dense` (convolutions, pooling, `Flatten`) are copied with their weights; from the first
    `Dense` on only `Dense` and `Dropout` layers may follow, and the hidden `Dense` layers
    lose their all-zero units. A removed unit still outputs the constant `activation(bias)`;
    that constant times its outgoing weights is folded into the next Dense layer's bias, so
    predictions are unchanged (up to float rounding). The last Dense layer keeps all its
    units. Regularizers and constraints are carried over; the new model is not compiled.

    Raises TypeError for another kind of model and ValueError when every unit of a hidden
    layer would go (the output would no longer depend on the input).
    """
    layers = _chain(model)
    dense = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise TypeError("prune_units found no Dense layer to prune.")
    for layer in layers[dense[0] :]:
        if not isinstance(layer, keras.layers.Dense | keras.layers.Dropout):
            raise TypeError(
                "prune_units handles Dense and Dropout layers after the first Dense; "
                f"received layer '{layer.name}' of type {type(layer).__name__}."
            )
    weights = {i: [np.array(w) for w in layers[i].get_weights()] for i in dense}
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]))
    x, copies = inputs, []
    for layer in layers[: dense[0]]:
        copy = _clone(layer)
        x = copy(x)
        copies.append((copy, layer.get_weights()))
    keep_inputs = np.ones(layers[dense[0]].get_weights()[0].shape[0], dtype=bool)
    clones = []
    for i, layer in enumerate(layers[dense[0] :], start=dense[0]):
        if isinstance(layer, keras.layers.Dropout):
            x = _clone(layer)(x)
            continue
        kernel, *bias = weights[i]
        kernel = kernel[keep_inputs]
        is_last = i == dense[-1]
        keep = np.ones(kernel.shape[1], dtype=bool) if is_last else ~zero_units(kernel, atol)
        if not is_last:
            following = dense[dense.index(i) + 1]
            next_kernel, *next_bias = weights[following]
            removed_bias = bias[0][~keep] if bias else np.zeros(int((~keep).sum()), np.float32)
            constant = np.asarray(keras.ops.convert_to_numpy(layer.activation(removed_bias)))
            if next_bias:
                next_bias[0] = next_bias[0] + constant @ next_kernel[~keep]
            else:  # nowhere to fold the constant: keep the units whose output is not zero
                keep[np.flatnonzero(~keep)[constant != 0]] = True
            weights[following] = [next_kernel, *next_bias]
        if not keep.any():
            raise ValueError(
                f"Every unit of layer '{layer.name}' has all-zero incoming weights: the model's "
                "output no longer depends on its input, so there is no smaller equivalent "
                "network. Use a weaker group-lasso strength."
            )
        clone = _clone(layer, layer.get_config() | {"units": int(keep.sum())})
        x = clone(x)
        clones.append(clone)
        weights[i] = [kernel[:, keep], *(b[keep] for b in bias)]
        keep_inputs = keep
    pruned = keras.Model(inputs, x, name=f"{model.name}_pruned")
    for copy, values in copies:
        copy.set_weights(values)
    for i, clone in zip(dense, clones, strict=True):
        clone.set_weights(weights[i])
    return pruned
