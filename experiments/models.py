"""The 784-H-10 network, its optimizer, and autoencoder pretraining of its hidden layer."""

from __future__ import annotations

import keras
import numpy as np

import regularizers
from experiments.config import RunConfig

N_INPUTS, N_CLASSES = 784, 10
STEPS_PER_EXECUTION = 32  # DESIGN.md: amortises Keras' per-step overhead, 1.5-5x faster on CPU


def _build(spec: dict | None, kind: str):
    return None if spec is None else regularizers.from_spec(spec, kind)


def build_model(run: RunConfig) -> keras.Sequential:
    """784-`hidden_units`-10: [input dropout] -> Dense(H, activation) -> [dropout] -> softmax.

    Each Dense kernel gets its layer's regularizer and constraint (a max-norm projection or a
    proximal step, applied after every update) from the run. Weights are drawn from the
    Keras global seed, so set it (`keras.utils.set_random_seed`) before calling this.
    """
    layers: list = [keras.Input(shape=(N_INPUTS,), name="pixels")]
    if run.input_dropout:
        layers.append(keras.layers.Dropout(run.input_dropout, name="input_dropout"))
    layers.append(
        keras.layers.Dense(
            run.hidden_units,
            activation=run.activation,
            kernel_regularizer=_build(run.hidden_regularizer, "penalty"),
            kernel_constraint=_build(run.hidden_constraint, "constraint"),
            name="hidden",
        )
    )
    if run.dropout:
        layers.append(keras.layers.Dropout(run.dropout, name="dropout"))
    layers.append(
        keras.layers.Dense(
            N_CLASSES,
            activation="softmax",
            kernel_regularizer=_build(run.output_regularizer, "penalty"),
            kernel_constraint=_build(run.output_constraint, "constraint"),
            name="output",
        )
    )
    return keras.Sequential(layers, name=f"mlp_{run.hidden_units}")


def make_optimizer(run: RunConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The run's optimizer; `weight_decay` is the optimizer's own decoupled decay."""
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = run.learning_rate
    if run.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            run.learning_rate, decay_steps=run.epochs * steps_per_epoch
        )
    decay = run.weight_decay or None
    if run.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=run.momentum, weight_decay=decay)
    if run.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=decay)
    return keras.optimizers.AdamW(learning_rate, weight_decay=run.weight_decay)


def jit_compile() -> bool | str:
    """XLA off on TensorFlow, Keras' choice elsewhere (JAX always compiles).

    On this CPU, TensorFlow with XLA was 9-12x slower with dropout (DESIGN.md) and no faster
    without it (0.42-0.71 s vs 0.42-0.45 s per epoch at H=64, slower at H=512 and 2048).
    """
    return False if keras.backend.backend() == "tensorflow" else "auto"


def compile_model(model: keras.Model, run: RunConfig, steps_per_epoch: int) -> keras.Model:
    """Compile for classification: sparse categorical cross-entropy and accuracy."""
    model.compile(
        optimizer=make_optimizer(run, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=jit_compile(),
    )
    return model


PRETRAINING_FIELDS = frozenset(
    {"dataset", "n_train", "seed", "hidden_units", "activation", "pretrain_epochs", "optimizer",
     "learning_rate", "momentum", "weight_decay", "schedule", "batch_size"}
)  # fmt: skip


def pretrain_autoencoder(run: RunConfig, x: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
    """Train a 784-H-784 autoencoder on `x`; return its encoder weights and per-epoch losses.

    The encoder is Dense(H, activation), the decoder Dense(784, sigmoid) with a binary
    cross-entropy reconstruction loss (pixels are in [0, 1]), trained for
    `run.pretrain_epochs` with the run's optimizer settings and no regularization (that
    acts in the fine-tuning). The result depends only on `PRETRAINING_FIELDS`: it seeds
    itself with `run.seed`, so L2, dropout and unregularized runs of one seed start from the
    same features.
    """
    keras.utils.set_random_seed(run.seed)
    encoder = keras.layers.Dense(run.hidden_units, activation=run.activation, name="encoder")
    autoencoder = keras.Sequential(
        [
            keras.Input(shape=(N_INPUTS,)),
            encoder,
            keras.layers.Dense(N_INPUTS, activation="sigmoid", name="decoder"),
        ]
    )
    steps = int(np.ceil(len(x) / run.batch_size))
    autoencoder.compile(
        optimizer=make_optimizer(run.model_copy(update={"epochs": run.pretrain_epochs}), steps),
        loss="binary_crossentropy",
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=jit_compile(),
    )
    history = autoencoder.fit(
        x, x, batch_size=run.batch_size, epochs=run.pretrain_epochs, shuffle=True, verbose=0
    )
    return encoder.get_weights(), [float(v) for v in history.history["loss"]]
