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


def prune_units(model: keras.Sequential, atol: float = 0.0) -> keras.Sequential:
    """A smaller model that predicts the same: hidden units with all-zero incoming weights removed.

    Works on a `keras.Sequential` of `Dense` layers with optional `Dropout` between them (the
    784-H-10 networks of this suite). A removed unit still outputs the constant
    `activation(bias)`; that constant times its outgoing weights is folded into the next
    Dense layer's bias, so predictions are unchanged (up to float rounding). The last Dense
    layer keeps all its units. Regularizers and constraints are carried over; the new model
    is not compiled.
    """
    if not isinstance(model, keras.Sequential):
        raise TypeError(f"prune_units expects a keras.Sequential model; received {type(model)}.")
    layers = list(model.layers)
    for layer in layers:
        if not isinstance(layer, keras.layers.Dense | keras.layers.Dropout):
            raise TypeError(
                "prune_units handles Dense and Dropout layers only; "
                f"received layer '{layer.name}' of type {type(layer).__name__}."
            )
    dense = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Dense)]
    weights = {i: [np.array(w) for w in layers[i].get_weights()] for i in dense}
    keep_inputs = np.ones(model.inputs[0].shape[-1], dtype=bool)
    new_layers: list[keras.layers.Layer] = [keras.Input(shape=(int(keep_inputs.sum()),))]
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.Dropout):
            new_layers.append(keras.layers.Dropout.from_config(layer.get_config()))
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
        config = layer.get_config() | {"units": int(keep.sum())}
        clone = keras.layers.Dense.from_config(config)
        new_layers.append(clone)
        weights[i] = [kernel[:, keep], *(b[keep] for b in bias)]
        keep_inputs = keep
    pruned = keras.Sequential(new_layers, name=f"{model.name}_pruned")
    clones = [lay for lay in pruned.layers if isinstance(lay, keras.layers.Dense)]
    for i, clone in zip(dense, clones, strict=True):
        clone.set_weights(weights[i])
    return pruned
