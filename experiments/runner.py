"""Train one run and measure it: a `RunConfig` and the data in, one results row out."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

import regularizers
from experiments.config import RunConfig
from experiments.data import MNIST
from experiments.metrics import METRICS
from experiments.models import (
    PRETRAINING_FIELDS,
    Pretrained,
    StopWhenAsked,
    build_model,
    compile_model,
    pretrain_autoencoder,
)

SMALL_WEIGHT = 1e-3  # |w| below this counts as "small" in `hidden_small_fraction`
EVAL_BATCH = 2048


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


def _evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) in inference mode; the loss includes no penalty term."""
    probabilities = model.predict(x, batch_size=EVAL_BATCH, verbose=0)
    picked = np.clip(probabilities[np.arange(len(y)), y], 1e-12, 1.0)
    return float(-np.mean(np.log(picked))), float(np.mean(probabilities.argmax(axis=1) == y))


def weight_statistics(model: keras.Model, x_val: np.ndarray) -> dict[str, float | int]:
    """Norms and sparsity of the kernels, and how many hidden units do nothing.

    `dead_units`: hidden units whose activation is the same for every validation image (for
    ReLU: never active). `zero_units`: hidden units whose incoming weights are all exactly 0.
    """
    hidden, output = model.get_layer("hidden"), model.get_layer("output")
    stats: dict[str, float | int] = {}
    for name, layer in (("output", output), ("hidden", hidden)):
        kernel = keras.ops.convert_to_numpy(layer.kernel)  # the hidden kernel is kept below
        stats[f"{name}_kernel_l1"] = float(np.abs(kernel).sum())
        stats[f"{name}_kernel_l2"] = float(np.sqrt(np.square(kernel).sum()))
    stats["hidden_small_fraction"] = float(np.mean(np.abs(kernel) < SMALL_WEIGHT))
    stats["hidden_zero_fraction"] = float(np.mean(kernel == 0))
    activations = keras.ops.convert_to_numpy(hidden(x_val))  # (n_val, H)
    stats["dead_units"] = int(np.sum(np.ptp(activations, axis=0) == 0))
    stats["zero_units"] = regularizers.count_zero_units(kernel)
    stats["n_params"] = int(model.count_params())
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
        data = data.subset(run.n_train)
        keras.utils.set_random_seed(run.seed)
        model = build_model(run)
        steps = math.ceil(len(data.x_train) / run.batch_size)
        compile_model(model, run, steps)
        if run.init == "autoencoder":
            pretrained = pretrained_encoder(run, data.x_train)
            model.get_layer("hidden").set_weights(pretrained.weights)
            row["pretrain_loss"] = pretrained.reconstruction
            row["pretrain_baseline_loss"] = pretrained.baseline
        row["initial_val_loss"], _ = _evaluate(model, data.x_val, data.y_val)
        keras.utils.set_random_seed(run.seed)  # fine-tuning draws the same with or without cache
        best = _BestEpoch()
        callbacks: list[keras.callbacks.Callback] = [
            keras.callbacks.TerminateOnNaN(), best, StopWhenAsked(),
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
            shuffle=True,
            callbacks=callbacks,
            verbose=verbose,
        )
        # Keras' `loss` is the training objective: cross-entropy plus penalties, dropout on.
        history = pd.DataFrame(fit.history).rename(
            columns={"loss": "train_loss", "accuracy": "train_accuracy"}
        )
        history.insert(0, "epoch", np.arange(1, len(history) + 1))
        row["epochs_run"] = len(history)
        if not np.all(np.isfinite(history["train_loss"])):
            last = history["train_loss"].iloc[-1]
            row["status"] = "diverged"
            row["error"] = f"training loss became {last} at epoch {len(history)}"
        else:
            for split in ("train", "val", "test"):
                x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
                row[f"{split}_loss"], row[f"{split}_accuracy"] = _evaluate(model, x, y)
            row["generalization_gap"] = row["train_accuracy"] - row["test_accuracy"]
            row["best_epoch"] = best.best_epoch
            row["best_val_accuracy"] = best.best_accuracy
            if best.best_epoch == len(history) and not run.early_stopping:
                row["test_accuracy_at_best"] = row["test_accuracy"]  # the same weights
            else:
                final_weights = model.get_weights()
                model.set_weights(best.weights)
                _, row["test_accuracy_at_best"] = _evaluate(model, data.x_test, data.y_test)
                model.set_weights(final_weights)
            row.update(weight_statistics(model, data.x_val))
    except Exception as error:  # a failed run is recorded and the grid goes on
        row["status"] = "failed"
        row["error"] = f"{type(error).__name__}: {error}"
    row["wall_time_s"] = round(time.perf_counter() - clock, 3)
    row["started_at"] = started.isoformat(timespec="seconds")
    row["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    row.update(environment())
    return row, history
