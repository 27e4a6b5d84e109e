"""Train one run and measure it: a `RunConfig` and the data in, one results row out."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import platform
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import scipy.special

import regularizers
from experiments.config import RunConfig
from experiments.data import MNIST
from experiments.metrics import ABS_EDGES, METRICS
from experiments.models import (
    POOL,
    PRETRAINING_FIELDS,
    SIDE,
    Pretrained,
    StopWhenAsked,
    build_model,
    compile_model,
    pretrain_autoencoder,
)
from experiments.store import WEIGHTS

SMALL_WEIGHT = 1e-3  # |w| below this counts as "small" in `hidden_small_fraction`
EVAL_BATCH = 2048
CONV_EVAL_BATCH = 256  # image patches take k*k times the images' memory
VALIDATION_BATCH = 1024  # Keras validates in batches of `batch_size` unless told: 10-100x the steps


@functools.cache
def environment() -> dict[str, str]:
    """Library versions, backend, host and git commit (with `-dirty` if the tree has changes)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    if commit != "unknown" and git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    backend = keras.backend.backend()
    backend_version = "unknown"
    if backend in ("tensorflow", "jax", "torch"):
        backend_version = __import__(backend).__version__
    return {
        "keras_version": keras.__version__,
        "backend": backend,
        "backend_version": backend_version,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "git_commit": commit,
    }


def enable_determinism() -> None:
    """Make TensorFlow ops deterministic (same run id, same machine -> same numbers)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


class _BestEpoch(keras.callbacks.Callback):
    """Keeps a copy of the weights at the epoch of highest validation accuracy."""

    def __init__(self) -> None:
        super().__init__()
        self.best_accuracy, self.best_epoch, self.weights = -math.inf, 0, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = (logs or {}).get("val_accuracy", -math.inf)
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = accuracy, epoch + 1
            self.weights = self.model.get_weights()


class _KernelNorm(keras.callbacks.Callback):
    """Records the hidden kernel's L2 norm `sqrt(sum(W**2))` at each epoch's end."""

    def __init__(self) -> None:
        super().__init__()
        self.norms: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        kernel = self.model.get_layer("hidden").kernel
        self.norms.append(float(np.sqrt(np.square(keras.ops.convert_to_numpy(kernel)).sum())))


ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "sigmoid": scipy.special.expit, "tanh": np.tanh}
Weights = list[np.ndarray]  # [hidden kernel, hidden bias, output kernel, output bias]


def _as_stack(weights: Weights) -> Weights:
    """One network's weights `(784, H), (H,), (H, 10), (10,)` as a stack of K = 1; stacked
    weights `(784, K, H), (K, H), (H, K, 10), (K, 10)` as they are."""
    if weights[0].ndim == 3:
        return weights
    kernel, bias, out_kernel, out_bias = weights
    return [kernel[:, None], bias[None], out_kernel[:, None], out_bias[None]]


def _conv_outputs(
    weights: Weights, activation: str, x: np.ndarray
) -> Iterator[tuple[np.ndarray, ...]]:
    """`_outputs` of one CNN (`models.build_model` with `model: cnn`): weights `(k, k, 1,
    H), (H,), (P*P*H, 10), (10,)`. The hidden activations are each filter's largest over
    the image, `(b, 1, H)` (a filter that is never active stays 0). The convolution is one
    product of the image patches `(b * S * S, k*k)` with the filters `(k*k, H)`."""
    kernel, bias, out_kernel, out_bias = weights
    size, units = kernel.shape[0], kernel.shape[-1]
    filters = kernel.reshape(size * size, units)
    for start in range(0, len(x), CONV_EVAL_BATCH):
        images = x[start : start + CONV_EVAL_BATCH].reshape(-1, SIDE, SIDE)
        patches = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
        side = patches.shape[1]
        maps = ACTIVATIONS[activation](patches.reshape(-1, size * size) @ filters + bias).reshape(
            -1, side, side, units
        )
        cut = side // POOL * POOL  # Keras' 'valid' pooling drops an odd last row and column
        pooled = (
            maps[:, :cut, :cut]
            .reshape(len(images), cut // POOL, POOL, cut // POOL, POOL, units)
            .max(axis=(2, 4))
        )
        logits = pooled.reshape(len(images), -1) @ out_kernel + out_bias  # Flatten: (i, j, h)
        yield maps.max(axis=(1, 2))[:, None], scipy.special.softmax(logits, axis=-1)[:, None]


def _outputs(weights: Weights, activation: str, x: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """`(hidden activations (b, K, H), softmax outputs (b, K, 10))` of every network in
    `weights` for the images `x` `(n, 784)`, `EVAL_BATCH` images at a time (inference: no
    dropout). The hidden layer of all K networks is one product. A CNN (a 4-D hidden
    kernel): `_conv_outputs`."""
    if weights[0].ndim == 4:
        yield from _conv_outputs(weights, activation, x)
        return
    kernel, bias, out_kernel, out_bias = _as_stack(weights)
    inputs, members, units = kernel.shape
    wide = kernel.reshape(inputs, members * units)
    for start in range(0, len(x), EVAL_BATCH):
        z = (x[start : start + EVAL_BATCH] @ wide).reshape(-1, members, units) + bias
        hidden = ACTIVATIONS[activation](z)
        logits = (hidden.transpose(1, 0, 2) @ out_kernel.transpose(1, 0, 2)).transpose(1, 0, 2)
        yield hidden, scipy.special.softmax(logits + out_bias, axis=-1)


def evaluate(
    weights: Weights, activation: str, x: np.ndarray, y: np.ndarray, floor: float = 1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """(cross-entropy, accuracy) of each network on `(x, y)`, arrays `(K,)` (`(1,)` for one
    network); the loss has no penalty term, probabilities are floored at `floor`."""
    probabilities = np.concatenate([p for _, p in _outputs(weights, activation, x)])
    picked = np.clip(np.take_along_axis(probabilities, y[:, None, None], axis=2)[..., 0], floor, 1)
    return -np.log(picked).mean(axis=0), (probabilities.argmax(axis=-1) == y[:, None]).mean(axis=0)


def _evaluate(
    weights: Weights, activation: str, x: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """(loss, accuracy) of one network."""
    loss, accuracy = evaluate(weights, activation, x, y)
    return float(loss[0]), float(accuracy[0])


def abs_counts(weights: np.ndarray) -> list[int]:
    """How many of `weights` have |w| in each bin of `metrics.ABS_EDGES`: exactly zero, below
    the first edge, between consecutive edges, at or above the last (len(ABS_EDGES) + 2)."""
    size = np.abs(weights[weights != 0]).astype(np.float64)
    counts, _ = np.histogram(size, bins=[0.0, *ABS_EDGES, np.inf])
    return [int(np.sum(weights == 0)), *map(int, counts)]


def weight_statistics(
    weights: Weights, activation: str, x_val: np.ndarray
) -> dict[str, float | int]:
    """Norms and sparsity of one network's kernels, and how many hidden units do nothing.

    `dead_units`: hidden units whose activation is the same for every validation image (for
    ReLU: never active). `zero_units`: hidden units whose incoming weights are all exactly 0.
    """
    kernel, _, out_kernel, _ = weights
    stats: dict[str, float | int] = {}
    for name, values in (("output", out_kernel), ("hidden", kernel)):
        stats[f"{name}_kernel_l1"] = float(np.abs(values).sum())
        stats[f"{name}_kernel_l2"] = float(np.sqrt(np.square(values).sum()))
    stats["hidden_small_fraction"] = float(np.mean(np.abs(kernel) < SMALL_WEIGHT))
    stats["hidden_zero_fraction"] = float(np.mean(kernel == 0))
    stats["hidden_abs_counts"] = json.dumps(abs_counts(kernel))
    ranges = [(h.max(axis=0), h.min(axis=0)) for h, _ in _outputs(weights, activation, x_val)]
    spread = np.max([top for top, _ in ranges], axis=0) - np.min([low for _, low in ranges], axis=0)
    stats["dead_units"] = int(np.sum(spread == 0))
    stats["zero_units"] = regularizers.count_zero_units(kernel)
    stats["n_params"] = int(sum(w.size for w in weights))
    return stats


_ENCODERS: dict[str, Pretrained] = {}


def pretrained_encoder(run: RunConfig, x: np.ndarray) -> Pretrained:
    """`models.pretrain_autoencoder`, remembered per process for the fields it depends on.

    The L2, dropout and unregularized runs of one seed and size share one pretraining: this
    saves two thirds of the autoencoder cost of a paper grid and gives exactly the same
    weights as training it again (it seeds itself).
    """
    key = json.dumps(run.model_dump(include=set(PRETRAINING_FIELDS)), sort_keys=True)
    if key not in _ENCODERS:
        if len(_ENCODERS) >= 16:  # bounded: a 784x4096 encoder is 13 MB
            _ENCODERS.pop(next(iter(_ENCODERS)))
        _ENCODERS[key] = pretrain_autoencoder(run, x)
    return _ENCODERS[key]


def initial_model(run: RunConfig, data: MNIST, row: dict[str, Any]) -> keras.Sequential:
    """The run's network before training: drawn from `run.seed`, its hidden layer pretrained
    when `init` is `autoencoder`. Records `initial_val_loss` (and the pretraining's
    reconstruction loss and baseline) in `row`. `data` is already subset to `n_train`."""
    keras.utils.set_random_seed(run.seed)
    model = build_model(run)
    if run.init == "autoencoder":
        pretrained = pretrained_encoder(run, data.x_train)
        model.get_layer("hidden").set_weights(pretrained.weights)
        row["pretrain_loss"] = pretrained.reconstruction
        row["pretrain_baseline_loss"] = pretrained.baseline
    row["initial_val_loss"], _ = _evaluate(
        model.get_weights(), run.activation, data.x_val, data.y_val
    )
    return model


def tensorboard_name(run: RunConfig) -> str:
    """A readable TensorBoard run name: the id, then every setting off its default,
    e.g. `3f2a9c1d0b7e hidden_units=64 l2=0.0001 seed=2`."""
    parts = [run.run_id]
    for key, value in run.identity().items():
        if key == "id_schema":
            continue
        if isinstance(value, dict):  # a spec: its name and arguments
            parts += [value["name"]] + [f"{k}={v:g}" for k, v in value.items()
                                        if k != "name" and isinstance(v, int | float)]  # fmt: skip
        else:
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts).replace("/", "_")


def log_hparams(run: RunConfig, log_dir: Path) -> None:
    """Record the run's settings for TensorBoard's HParams dashboard (TensorFlow backend;
    elsewhere the readable run name is all there is)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams

    values = {
        key: value
        for key, value in run.columns().items()
        if isinstance(value, bool | int | float | str) and value is not None
    }
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hparams.hparams(values, trial_id=run.run_id)


def train_run(
    run: RunConfig, data: MNIST, verbose: int = 0, tensorboard: Path | None = None
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train and evaluate one run; return its results row and per-epoch history.

    Never raises for a training problem: a NaN or infinite loss gives `status="diverged"`,
    any exception `status="failed"` with the message in `error`; both still return a row.
    """
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    row: dict[str, Any] = {"run_id": run.run_id, "status": "ok", "error": ""}
    row.update(run.columns())
    row.update(dict.fromkeys(METRICS))
    history = pd.DataFrame()
    try:
        data = data.select(run.digits).subset(run.n_train, run.n_val)
        model = initial_model(run, data, row)
        compile_model(model, run, math.ceil(len(data.x_train) / run.batch_size))
        keras.utils.set_random_seed(run.seed)  # fine-tuning draws the same with or without cache
        best, norm = _BestEpoch(), _KernelNorm()
        callbacks: list[keras.callbacks.Callback] = [
            keras.callbacks.TerminateOnNaN(), best, norm, StopWhenAsked(),
        ]  # fmt: skip
        if run.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=run.early_stopping, restore_best_weights=True
                )
            )
        if tensorboard is not None:
            log_dir = tensorboard / tensorboard_name(run)
            log_hparams(run, log_dir)
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
        fit = model.fit(
            data.x_train,
            data.y_train,
            batch_size=run.batch_size,
            epochs=run.epochs,
            validation_data=(data.x_val, data.y_val),
            validation_batch_size=VALIDATION_BATCH,
            shuffle=True,
            callbacks=callbacks,
            verbose=verbose,
        )
        # Keras' `loss` is the training objective: cross-entropy plus penalties, dropout on.
        history = pd.DataFrame(fit.history).rename(
            columns={"loss": "train_loss", "accuracy": "train_accuracy"}
        )
        history.insert(0, "epoch", np.arange(1, len(history) + 1))
        history["hidden_kernel_l2"] = norm.norms[: len(history)]
        best_weights = (
            None if best.best_epoch == len(history) and not run.early_stopping else best.weights
        )
        weights = model.get_weights()
        finish_row(
            row, run, data, history, weights, best.best_epoch, best.best_accuracy, best_weights
        )
    except Exception as error:  # a failed run is recorded and the grid goes on
        row["status"] = "failed"
        row["error"] = f"{type(error).__name__}: {error}"
    row["wall_time_s"] = round(time.perf_counter() - clock, 3)
    row["started_at"] = started.isoformat(timespec="seconds")
    row["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    row.update(environment())
    row.update(engine="single", batch_members=1)
    return row, history


def finish_row(
    row: dict[str, Any],
    run: RunConfig,
    data: MNIST,
    history: pd.DataFrame,
    weights: Weights,
    best_epoch: int,
    best_accuracy: float,
    best_weights: Weights | None,
) -> None:
    """Fill `row` with the metrics of a trained network (its final `weights`) and history.

    `history` has one row per epoch trained (`train_loss` the training objective); a
    non-finite training loss marks the run `diverged`. `best_weights` are the weights at
    `best_epoch` (highest validation accuracy), None when they are the final ones. Both
    engines compute every metric here, from the weights alone.
    """
    row["epochs_run"] = len(history)
    if not np.all(np.isfinite(history["train_loss"])):
        last = history["train_loss"].iloc[-1]
        row["status"] = "diverged"
        row["error"] = f"training loss became {last} at epoch {len(history)}"
        return
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        row[f"{split}_loss"], row[f"{split}_accuracy"] = _evaluate(weights, run.activation, x, y)
    row["generalization_gap"] = row["train_accuracy"] - row["test_accuracy"]
    row["best_epoch"] = best_epoch
    row["best_val_accuracy"] = best_accuracy
    if best_weights is None:
        row["test_accuracy_at_best"] = row["test_accuracy"]  # the same weights
    else:
        x, y = data.x_test, data.y_test
        _, row["test_accuracy_at_best"] = _evaluate(best_weights, run.activation, x, y)
    row.update(weight_statistics(weights, run.activation, data.x_val))
    if run.save_weights:
        row[WEIGHTS] = weights  # the store writes them beside the row
