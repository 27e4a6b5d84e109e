"""The 784-H-10 network, its optimizer, and autoencoder pretraining of its hidden layer."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import scipy.special

import regularizers
from experiments.config import RunConfig
from experiments.executors import STOP

N_INPUTS, N_CLASSES = 784, 10
SIDE, POOL = 28, 2  # images are SIDE x SIDE; the CNN max-pools POOL x POOL windows
STEPS_PER_EXECUTION = 32  # amortises Keras' per-step overhead: measured 1.5-5x faster on CPU
# Every model here outputs logits and its loss takes them (`from_logits=True`). On a softmax
# or sigmoid output, Keras' JAX backend computes the cross-entropy of probabilities clipped to
# [1e-7, 1 - 1e-7], whose gradient is zero once an output saturates, so a run that overshoots
# never recovers (measured: a pretrained 2048-unit sigmoid network at learning rate 1.0 stuck
# at 21% accuracy for 20 epochs), while TensorFlow quietly takes the logits from the softmax.
# With logits both backends compute the same loss.
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _build(spec: dict | None, kind: str):
    return None if spec is None else regularizers.from_spec(spec, kind)


def build_model(run: RunConfig) -> keras.Sequential:
    """The run's network: [input dropout] -> hidden layer -> [dropout] -> 10 output logits.

    The hidden layer (named `hidden`) is Dense(H, activation) for `model: mlp` (784-H-10),
    or for `model: cnn` a Conv2D of H `kernel_size` x `kernel_size` filters ('valid', on
    the 28 x 28 image) followed by 2 x 2 max-pooling and flattening. Each kernel gets its
    layer's regularizer and constraint (a max-norm projection or a proximal step, applied
    after every update) from the run. Weights are drawn from the Keras global seed, so set
    it (`keras.utils.set_random_seed`) before calling this.

    The output layer (named `output`) gives logits: `keras.ops.softmax` of them are the
    class probabilities, and the loss (`LOSS`) applies the softmax itself.
    """
    layers: list = [keras.Input(shape=(N_INPUTS,), name="pixels")]
    if run.input_dropout:
        layers.append(keras.layers.Dropout(run.input_dropout, name="input_dropout"))
    hidden = {
        "activation": run.activation,
        "kernel_regularizer": _build(run.hidden_regularizer, "penalty"),
        "kernel_constraint": _build(run.hidden_constraint, "constraint"),
        "name": "hidden",
    }
    if run.model == "cnn":
        layers += [
            keras.layers.Reshape((SIDE, SIDE, 1), name="image"),
            keras.layers.Conv2D(run.hidden_units, run.kernel_size, **hidden),
            keras.layers.MaxPooling2D(POOL, name="pool"),
            keras.layers.Flatten(name="features"),
        ]
    else:
        layers.append(keras.layers.Dense(run.hidden_units, **hidden))
    if run.dropout:
        layers.append(keras.layers.Dropout(run.dropout, name="dropout"))
    layers.append(
        keras.layers.Dense(
            N_CLASSES,
            kernel_regularizer=_build(run.output_regularizer, "penalty"),
            kernel_constraint=_build(run.output_constraint, "constraint"),
            name="output",
        )
    )
    return keras.Sequential(layers, name=f"{run.model}_{run.hidden_units}")


def make_optimizer(run: RunConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The run's optimizer. `weight_decay` is Keras' decoupled decay on the kernels only:
    before each update, `w <- w - learning_rate * weight_decay * w` (the current rate of a
    schedule); biases are not decayed, as an L2 penalty on the kernels does not touch them.
    Under plain SGD this is the update of `L2(weight_decay / 2)` on both kernels (Keras' L2
    has no 1/2: its gradient is `2 * l2 * w`); with momentum or Adam it is not."""
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = run.learning_rate
    if run.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            run.learning_rate, decay_steps=run.epochs * steps_per_epoch
        )
    decay = run.weight_decay or None
    if run.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=run.momentum, weight_decay=decay)
    elif run.optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate, weight_decay=decay)
    else:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=run.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


def jit_compile() -> bool | str:
    """XLA off on TensorFlow, Keras' choice elsewhere (JAX always compiles).

    On this CPU, TensorFlow with XLA was 9-12x slower with dropout (measured) and no faster
    without it (0.42-0.71 s vs 0.42-0.45 s per epoch at H=64, slower at H=512 and 2048).
    """
    return False if keras.backend.backend() == "tensorflow" else "auto"


def compile_model(model: keras.Model, run: RunConfig, steps_per_epoch: int) -> keras.Model:
    """Compile for classification: sparse categorical cross-entropy and accuracy."""
    model.compile(
        optimizer=make_optimizer(run, steps_per_epoch),
        loss=LOSS,
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=jit_compile(),
    )
    return model


PRETRAINING_FIELDS = frozenset(
    {"dataset", "n_train", "seed", "hidden_units", "activation", "pretrain_epochs",
     "pretrain_reduction", "pretrain_optimizer", "pretrain_learning_rate",
     "pretrain_batch_size", "pretrain_noise", "tied_weights", "optimizer", "learning_rate",
     "momentum", "weight_decay", "schedule", "batch_size"}
)  # fmt: skip
RECONSTRUCTION_IMAGES = 10_000  # enough for the per-pixel BCE to 3 decimals, and quick


class StopWhenAsked(keras.callbacks.Callback):
    """Ends training at the next step once `executors.STOP` is set (the user pressed Ctrl-C)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if STOP.is_set():
            self.model.stop_training = True


class MaskingNoise(keras.layers.Layer):
    """Zero each input with probability `rate` while training (Vincent et al. 2010's
    denoising corruption); unlike Dropout, nothing is rescaled."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = rate
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training: bool = False):
        if not training or self.rate == 0:
            return inputs
        keep = keras.random.uniform(keras.ops.shape(inputs), seed=self.generator) >= self.rate
        return inputs * keras.ops.cast(keep, inputs.dtype)


class TiedDecoder(keras.layers.Layer):
    """`h @ W.T + b`: the decoder of a tied autoencoder (logits of the pixels), `W` the
    encoder's kernel."""

    def __init__(self, encoder: keras.layers.Dense, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder

    def build(self, input_shape) -> None:
        self.bias = self.add_weight(shape=(N_INPUTS,), initializer="zeros", name="bias")

    def call(self, inputs):
        return keras.ops.matmul(inputs, keras.ops.transpose(self.encoder.kernel)) + self.bias


def summed_binary_crossentropy(y_true, logits):
    """Reconstruction loss per image: binary cross-entropy summed over its 784 pixels."""
    return keras.ops.sum(keras.ops.binary_crossentropy(y_true, logits, from_logits=True), axis=-1)


def pixel_bce(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean binary cross-entropy per pixel of `reconstruction` against images `x` (n, 784)."""
    p = np.clip(reconstruction, 1e-7, 1 - 1e-7)
    return float(-np.mean(x * np.log(p) + (1 - x) * np.log(1 - p)))


@dataclass(frozen=True)
class Pretrained:
    """A pretrained encoder: its weights `[kernel (784, H), bias (H,)]`, the training loss per
    epoch (as optimised: summed or averaged over pixels), and the per-pixel BCE of the
    reconstruction of clean training images against that of predicting the mean image."""

    weights: list[np.ndarray]
    losses: list[float]
    reconstruction: float
    baseline: float


def pretrain_autoencoder(run: RunConfig, x: np.ndarray) -> Pretrained:
    """Train a 784-H-784 autoencoder on images `x` (n, 784) in [0, 1]; return its encoder.

    The encoder is Dense(H, activation); the decoder gives the pixels' logits (their sigmoid
    is the reconstruction), with its own kernel or,
    with `tied_weights`, the encoder's kernel transposed. Inputs are corrupted by masking
    noise (`pretrain_noise`, a denoising autoencoder) and the clean image is the target.
    The loss is binary cross-entropy summed over the 784 pixels of an image and averaged
    over the batch (`pretrain_reduction: sum`, the loss of 2016-era code) or averaged over
    the pixels too (`mean`, Keras' `binary_crossentropy`: 784x smaller gradients). It trains
    for `pretrain_epochs` with plain SGD at `pretrain_learning_rate` and batch
    `pretrain_batch_size` (`pretrain_optimizer: sgd`), or with the fine-tuning optimizer,
    learning rate, schedule and batch size (`finetune`); no regularization (that acts in the
    fine-tuning). The result depends only on `PRETRAINING_FIELDS`: it seeds itself with
    `run.seed`, so the runs of one seed and size that differ only in regularization start
    from the same features.
    """
    keras.utils.set_random_seed(run.seed)
    pixels = keras.Input(shape=(N_INPUTS,))
    encoder = keras.layers.Dense(run.hidden_units, activation=run.activation, name="encoder")
    corrupted = MaskingNoise(run.pretrain_noise, seed=run.seed)(pixels)
    code = encoder(corrupted)
    if run.tied_weights:
        output = TiedDecoder(encoder, name="decoder")(code)
    else:
        output = keras.layers.Dense(N_INPUTS, name="decoder")(code)
    autoencoder = keras.Model(pixels, output)
    if run.pretrain_optimizer == "sgd":
        optimizer = keras.optimizers.SGD(run.pretrain_learning_rate)
        batch = run.pretrain_batch_size
    else:
        batch = run.batch_size
        steps = int(np.ceil(len(x) / batch))
        optimizer = make_optimizer(run.model_copy(update={"epochs": run.pretrain_epochs}), steps)
    loss = (
        summed_binary_crossentropy
        if run.pretrain_reduction == "sum"
        else keras.losses.BinaryCrossentropy(from_logits=True)
    )
    autoencoder.compile(
        optimizer=optimizer,
        loss=loss,
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=jit_compile(),
    )
    history = autoencoder.fit(
        x, x, batch_size=batch, epochs=run.pretrain_epochs, shuffle=True, verbose=0,
        callbacks=[StopWhenAsked()],
    )  # fmt: skip
    sample = x[:RECONSTRUCTION_IMAGES]
    mean_image = np.broadcast_to(x.mean(axis=0), sample.shape)
    return Pretrained(
        weights=encoder.get_weights(),
        losses=[float(v) for v in history.history["loss"]],
        reconstruction=pixel_bce(
            sample, scipy.special.expit(autoencoder.predict(sample, batch_size=2048, verbose=0))
        ),
        baseline=pixel_bce(sample, mean_image),
    )
