"""The batched engine: runs that share a network shape and training schedule train together.

K runs ("members") of one batch become one stacked model: hidden kernel `(784, K, H)`,
output kernel `(H, K, 10)`, each member's slice `[:, k]` its own network. Members share the
seed, hence the data order, so the hidden layer is one wide `(B, 784) @ (784, K * H)`
product per step. The loss is the sum of
the members' losses (each the batch mean of its cross-entropy plus its penalties), so every
member gets exactly the gradient it would get alone; the optimizers used here (SGD with or
without momentum, Adam, AdamW) act element by element, so every member also gets its own
update. Constraints (max-norm, proximal steps) are applied to each member's slice.

What is the same as the single-run engine (`runner.train_run`): the initial weights (each
member's network is built from its own seed, and pretrained, exactly as there), the
optimizer, loss, penalties, constraints, early stopping (per member, on its validation loss
with its penalty, best weights restored) and every metric of the row (computed by the same
code on a single network holding the member's final weights). What differs: the random
streams. A member's data order is the permutation `numpy.random.default_rng([seed,
epoch])` of its training images each epoch (the runs of one seed share it, as they do in
the single-run engine, where Keras draws the order instead), and dropout masks come from
one stream for the whole batch. In the history, `train_loss` is the
epoch's mean cross-entropy (dropout on) plus the penalty at the epoch's end, where Keras
averages the penalty over the epoch's steps.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import ops

from experiments.config import RunConfig
from experiments.data import MNIST
from experiments.metrics import METRICS
from experiments.models import (
    N_CLASSES,
    N_INPUTS,
    STEPS_PER_EXECUTION,
    StopWhenAsked,
    _build,
    jit_compile,
    make_optimizer,
)
from experiments.runner import environment, evaluate, finish_row, initial_model

# What runs of one batch must share: the stacked model's shape and the optimizer's schedule.
SHARED_FIELDS = (
    "seed", "dataset", "classes", "n_train", "n_val", "model", "kernel_size", "hidden_units",
    "activation", "optimizer", "learning_rate", "momentum", "weight_decay", "schedule",
    "epochs", "batch_size",
)  # fmt: skip
# A batch holds at most this many hidden units in all (K * H) and this many members. Measured
# on a 2-core CPU (TensorFlow): stacking pays while K * H stays near 1024 (`make bench`: 4x
# per run at H=64 with K=16, 1.7x at H=256 with K=4) and costs beyond (probes: H=256 slower
# at K=16 than at K=4; H=1024 at K=8 half the single-run throughput), where per-step memory
# traffic (the optimizer's update, penalties on K slices) dominates.
MAX_UNITS = 1024
MAX_MEMBERS = 64
# the history columns, in the order the single-run engine writes them (Keras' sorted keys)
HISTORY_COLUMNS = [
    "epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss", "hidden_kernel_l2",
]  # fmt: skip


def batch_key(run: RunConfig) -> tuple:
    """Runs with equal keys can train in one batch."""
    return tuple(getattr(run, name) for name in SHARED_FIELDS)


def plan_batches(
    runs: Iterable[RunConfig], max_units: int = MAX_UNITS, max_members: int = MAX_MEMBERS
) -> list[list[RunConfig]]:
    """Split `runs` into batches of equal `batch_key`, each at most `max_members` runs and
    `max_units` hidden units in all (always at least one run), a group too large for one
    batch split evenly. Batches come in the order of their first run, and members keep
    their order (a grid sorted by seed stays so)."""
    runs = list(runs)
    groups: dict[tuple, list[RunConfig]] = {}
    for run in runs:
        groups.setdefault(batch_key(run), []).append(run)
    batches = []
    for members in groups.values():
        most = max(1, min(max_members, max_units // members[0].hidden_units))
        parts = math.ceil(len(members) / most)
        batches += [list(part) for part in np.array_split(np.array(members, object), parts)]
    order = {id(run): i for i, run in enumerate(runs)}
    return sorted(batches, key=lambda batch: order[id(batch[0])])


class MemberPenalty(keras.regularizers.Regularizer):
    """`sum_k penalty_k(kernel[:, k])` over a stacked kernel `(in, K, out)`; None adds 0."""

    def __init__(self, penalties: list[Any]) -> None:
        self.penalties = penalties

    def __call__(self, kernel):
        # one unstack, not K slices: a slice's gradient is a kernel-sized tensor, K of them
        # cost K times the kernel per step
        slices = ops.unstack(ops.convert_to_tensor(kernel), axis=1)  # a variable under JAX
        return ops.sum(ops.stack([p(w) for p, w in zip(self.penalties, slices, strict=True)
                                  if p is not None]))  # fmt: skip


class MemberConstraint(keras.constraints.Constraint):
    """Each member's constraint applied to its own slice of a stacked kernel `(in, K, out)`."""

    def __init__(self, constraints: list[Any]) -> None:
        self.constraints = constraints

    def __call__(self, kernel):
        slices = ops.unstack(ops.convert_to_tensor(kernel), axis=1)  # a variable under JAX
        pairs = zip(self.constraints, slices, strict=True)
        return ops.stack([w if c is None else c(w) for c, w in pairs], axis=1)


def _stacked(specs: list[dict | None], kind: str, wrapper: type) -> Any:
    built = [_build(spec, kind) for spec in specs]
    return wrapper(built) if any(b is not None for b in built) else None


class StackedDense(keras.layers.Layer):
    """K dense layers side by side: `(B, in)` (shared by all members: one wide product) or
    `(B, K, in)` -> `(B, K, units)`; member k has kernel `[:, k]` `(in, units)` of the
    kernel `(in, K, units)`, and bias `[k]` of the bias `(K, units)`."""

    def __init__(self, members, units, activation, kernel_regularizer=None,
                 kernel_constraint=None, **kwargs) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.members, self.units = members, units
        self.activation = keras.activations.get(activation)
        self.kernel_regularizer, self.kernel_constraint = kernel_regularizer, kernel_constraint

    def build(self, input_shape) -> None:
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.members, self.units), initializer="zeros",
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint, name="kernel",
        )  # fmt: skip
        self.bias = self.add_weight(
            shape=(self.members, self.units), initializer="zeros", name="bias"
        )

    def call(self, inputs):
        if len(inputs.shape) == 2:
            wide = ops.reshape(self.kernel, (-1, self.members * self.units))  # no copy
            outputs = ops.reshape(ops.matmul(inputs, wide), (-1, self.members, self.units))
        else:
            outputs = ops.einsum("bki,iko->bko", inputs, self.kernel)
        return self.activation(outputs + self.bias)


class MemberDropout(keras.layers.Layer):
    """Dropout on `(B, K, d)` with member k's rate `rates[k]` (kept values scaled by
    `1 / (1 - rate)`, as Keras' Dropout); the identity at inference."""

    def __init__(self, rates: list[float], seed: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rates = np.asarray(rates, dtype="float32")[None, :, None]
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training: bool = False):
        if not training:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.generator) >= self.rates
        return ops.where(keep, inputs / (1.0 - self.rates), 0.0)


class PerMember(keras.layers.Layer):
    """`(B, d)` -> `(B, K, d)`: a copy of the input for each member (for input dropout,
    whose masks differ between members)."""

    def __init__(self, members: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.members = members

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.members, axis=1)


def member_crossentropy(y_true, y_pred):
    """Per image, the sum over members of their cross-entropies: labels `(B, K)`, logits
    `(B, K, 10)` -> `(B,)`; its batch mean is the sum of the members' losses."""
    return ops.sum(
        keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True), axis=-1
    )


class MemberMeans(keras.metrics.Metric):
    """Each member's running mean over the epoch's images: cross-entropy (`what="loss"`) or
    accuracy (`"accuracy"`), as a vector `(K,)`."""

    def __init__(self, members: int, what: str, **kwargs) -> None:
        super().__init__(name=f"member_{what}", **kwargs)
        self.what = what
        self.total = self.add_variable(shape=(members,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        if self.what == "loss":
            values = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        else:
            values = ops.cast(ops.equal(ops.argmax(y_pred, axis=-1), y_true), "float32")
        self.total.assign_add(ops.sum(values, axis=0))
        self.count.assign_add(ops.cast(ops.shape(y_true)[0], "float32"))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self) -> None:
        self.total.assign(ops.zeros(self.total.shape))
        self.count.assign(0.0)


def data_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which the batched runs of seed `seed` see their `n` training images in
    `epoch` (counted from 0)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


@dataclass
class _Member:
    """One run's bookkeeping during the batch: history, best-epoch and early-stopping state."""

    run: RunConfig
    rows: list[dict] = field(default_factory=list)
    best_accuracy: float = -math.inf
    best_epoch: int = 0
    best_weights: list[np.ndarray] | None = None
    stop_best: float = math.inf  # early stopping: the lowest validation loss so far
    stop_weights: list[np.ndarray] | None = None
    wait: int = 0
    final_weights: list[np.ndarray] | None = None  # set once the member stops

    @property
    def stopped(self) -> bool:
        return self.final_weights is not None


def layer_weights(stack: keras.Model) -> list[np.ndarray]:
    """`[hidden kernel (784, K, H), hidden bias (K, H), output kernel (H, K, 10), output
    bias (K, 10)]` of a stacked model."""
    return [*stack.get_layer("hidden").get_weights(), *stack.get_layer("output").get_weights()]


def _slices(weights: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Member k's `[hidden kernel, hidden bias, output kernel, output bias]`."""
    return [w[:, k].copy() if w.ndim == 3 else w[k].copy() for w in weights]


def _stack(singles: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The inverse of `_slices`: K members' weights -> the stacked model's."""
    return [np.stack([w[i] for w in singles], axis=1 if singles[0][i].ndim == 2 else 0)
            for i in range(len(singles[0]))]  # fmt: skip


class _Tracker(keras.callbacks.Callback):
    """Per member at each epoch's end: validation loss (with penalty) and accuracy, the
    history row, the best-accuracy weights, early stopping and divergence. Stops the fit
    when every member has stopped."""

    def __init__(self, members: list[_Member], data: MNIST, penalties: list[list]) -> None:
        super().__init__()
        self.members, self.data, self.penalties = members, data, penalties

    def penalty(self, weights: list[np.ndarray], k: int) -> float:
        total = 0.0
        for penalty, kernel in zip(self.penalties[k], (weights[0], weights[2]), strict=True):
            if penalty is not None:
                total += float(ops.convert_to_numpy(penalty(kernel[:, k])))
        return total

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        weights = layer_weights(self.model)
        activation = self.members[0].run.activation
        val_ce, val_accuracy = evaluate(  # floored as Keras' loss floors its probabilities
            weights, activation, self.data.x_val, self.data.y_val, keras.config.epsilon()
        )
        train_ce, train_accuracy = np.asarray(logs["member_loss"]), logs["member_accuracy"]
        for k, member in enumerate(self.members):
            if member.stopped:
                continue
            penalty = self.penalty(weights, k)
            row = {
                "epoch": epoch + 1,
                "train_loss": float(train_ce[k]) + penalty,
                "train_accuracy": float(np.asarray(train_accuracy)[k]),
                "val_loss": float(val_ce[k]) + penalty,
                "val_accuracy": float(val_accuracy[k]),
                "hidden_kernel_l2": float(np.sqrt(np.square(weights[0][:, k]).sum())),
            }
            member.rows.append(row)
            if not (np.isfinite(row["train_loss"]) and np.isfinite(row["val_loss"])):
                member.final_weights = _slices(weights, k)  # diverged: stop here
                continue
            if row["val_accuracy"] > member.best_accuracy:
                member.best_accuracy, member.best_epoch = row["val_accuracy"], epoch + 1
                member.best_weights = _slices(weights, k)
            patience = member.run.early_stopping
            if patience:  # keras.callbacks.EarlyStopping(monitor="val_loss", patience, restore)
                member.wait += 1
                if row["val_loss"] < member.stop_best:
                    member.stop_best, member.wait = row["val_loss"], 0
                    member.stop_weights = _slices(weights, k)
                elif member.wait >= patience and epoch > 0:
                    member.final_weights = member.stop_weights
        if all(member.stopped for member in self.members):
            self.model.stop_training = True


def build_stack(runs: list[RunConfig], seed: int) -> keras.Model:
    """The stacked model: images `(B, 784)` -> logits `(B, K, 10)` (see `models.LOSS`)."""
    members, units = len(runs), runs[0].hidden_units
    pixels = keras.Input(shape=(N_INPUTS,), name="pixels")
    x = pixels
    if any(run.input_dropout for run in runs):
        x = PerMember(members, name="per_member")(x)
        x = MemberDropout([run.input_dropout for run in runs], seed, name="input_dropout")(x)
    x = StackedDense(
        members, units, runs[0].activation,
        kernel_regularizer=_stacked([r.hidden_regularizer for r in runs], "penalty", MemberPenalty),
        kernel_constraint=_stacked([r.hidden_constraint for r in runs], "constraint",
                                   MemberConstraint),
        name="hidden",
    )(x)  # fmt: skip
    if any(run.dropout for run in runs):
        x = MemberDropout([run.dropout for run in runs], seed + 1, name="dropout")(x)
    outputs = StackedDense(
        members, N_CLASSES, None,
        kernel_regularizer=_stacked([r.output_regularizer for r in runs], "penalty", MemberPenalty),
        kernel_constraint=_stacked([r.output_constraint for r in runs], "constraint",
                                   MemberConstraint),
        name="output",
    )(x)  # fmt: skip
    return keras.Model(pixels, outputs, name=f"stack_{members}x{units}")


def train_batch(runs: list[RunConfig], data: MNIST) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Train `runs` (equal `batch_key`) as one stacked model; one `(row, history)` per run,
    in order, with the columns `runner.train_run` gives. Never raises for a training
    problem: a member whose loss becomes non-finite is `diverged`; an exception fails every
    member of the batch, each with a row."""
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    rows = [{"run_id": run.run_id, "status": "ok", "error": "", **run.columns(),
             **dict.fromkeys(METRICS)} for run in runs]  # fmt: skip
    histories = [pd.DataFrame() for _ in runs]
    try:
        if len({batch_key(run) for run in runs}) != 1:
            raise ValueError(f"runs of one batch must share {', '.join(SHARED_FIELDS)}")
        first = runs[0]
        data = data.select(first.digits).subset(first.n_train, first.n_val)
        singles = [initial_model(run, data, row).get_weights()
                   for run, row in zip(runs, rows, strict=True)]  # fmt: skip
        keras.utils.set_random_seed(first.seed)
        stack = build_stack(runs, seed=first.seed)
        initial = _stack(singles)
        stack.get_layer("hidden").set_weights(initial[:2])
        stack.get_layer("output").set_weights(initial[2:])
        n, steps = len(data.x_train), math.ceil(len(data.x_train) / first.batch_size)
        stack.compile(
            optimizer=make_optimizer(first, steps),
            loss=member_crossentropy,
            metrics=[MemberMeans(len(runs), "loss"), MemberMeans(len(runs), "accuracy")],
            steps_per_execution=STEPS_PER_EXECUTION,
            jit_compile=jit_compile(),
        )
        members = [_Member(run) for run in runs]
        penalties = [[_build(r.hidden_regularizer, "penalty"), _build(r.output_regularizer,
                      "penalty")] for r in runs]  # fmt: skip
        tracker = _Tracker(members, data, penalties)
        for epoch in range(first.epochs):
            order = data_order(first.seed, epoch, n)
            labels = np.repeat(data.y_train[order][:, None], len(runs), axis=1)  # (n, K)
            stack.fit(
                data.x_train[order], labels, batch_size=first.batch_size, epochs=epoch + 1,
                initial_epoch=epoch, shuffle=False, verbose=0,
                callbacks=[tracker, StopWhenAsked()],
            )  # fmt: skip
            if stack.stop_training:
                break
        weights = layer_weights(stack)
        for k, (member, row) in enumerate(zip(members, rows, strict=True)):
            final = member.final_weights or _slices(weights, k)
            if member.run.early_stopping and member.stop_weights is not None:
                final = member.stop_weights  # restored at the end, as Keras' EarlyStopping
            history = pd.DataFrame(member.rows, columns=HISTORY_COLUMNS)
            histories[k] = history
            at_end = member.best_epoch == len(history) and not member.run.early_stopping
            best = None if at_end else member.best_weights
            finish_row(row, member.run, data, history, final, member.best_epoch,
                       member.best_accuracy, best)  # fmt: skip
    except Exception as error:  # a failed batch is recorded and the grid goes on
        for row in rows:
            row["status"] = "failed"
            row["error"] = f"{type(error).__name__}: {error}"
    share = round((time.perf_counter() - clock) / len(runs), 3)
    finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for row in rows:
        row["wall_time_s"] = share  # the batch's time, shared evenly by its members
        row["started_at"] = started.isoformat(timespec="seconds")
        row["finished_at"] = finished
        row.update(environment())
        row.update(engine="batched", batch_members=len(runs))
    return list(zip(rows, histories, strict=True))
