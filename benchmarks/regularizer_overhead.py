"""Per-epoch training time with each regularizer, as a ratio to no regularization.

Measured in one process on one machine, interleaved (every round trains each setting for
two epochs, timed one by one) so that drift in the machine's speed hits all settings alike.
The ratio uses the fastest epoch of each setting: noise from other processes only ever adds
time, so the minimum is the steadiest estimate; the median is shown beside it.

Not a test: numbers depend on the machine. Targets: every penalty on 784-1024-10
at most 1.05x, SmoothKernel on a small CNN at most 1.2x.

    [KERAS_BACKEND=jax] python benchmarks/regularizer_overhead.py [--rounds 5] [--n-train 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import keras

import regularizers
from experiments.data import load_mnist
from experiments.models import STEPS_PER_EXECUTION, jit_compile

DENSE_SETTINGS = {
    "none": {},
    "l1": {"kernel_regularizer": regularizers.L1(1e-5)},
    "l2": {"kernel_regularizer": regularizers.L2(1e-4)},
    "keras L2 (reference)": {"kernel_regularizer": keras.regularizers.L2(1e-4)},
    "elastic_net": {"kernel_regularizer": regularizers.ElasticNet(1e-4, 0.5)},
    "group_lasso": {"kernel_regularizer": regularizers.GroupLasso(1e-4)},
    "sparse_group_lasso": {"kernel_regularizer": regularizers.SparseGroupLasso(1e-4, 1e-5)},
    "max_norm": {"kernel_constraint": regularizers.MaxNorm(3.0)},
    "keras MaxNorm (reference)": {"kernel_constraint": keras.constraints.MaxNorm(3.0)},
    "proximal_l1": {"kernel_constraint": regularizers.ProximalL1(1e-6)},
    "proximal_group_lasso": {"kernel_constraint": regularizers.ProximalGroupLasso(1e-6)},
}
CNN_SETTINGS = {
    "none": None,
    "l2": regularizers.L2(1e-4),
    "smooth_kernel": regularizers.SmoothKernel(1e-4, length_scale=1.5),
}


def dense_model(hidden_kwargs: dict) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(1024, activation="relu", **hidden_kwargs),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cnn_model(regularizer) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 5, activation="relu", kernel_regularizer=regularizer),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(32, 5, activation="relu", kernel_regularizer=regularizer),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, measured inside `fit` (its set-up is not counted)."""

    def __init__(self, times: list[float]) -> None:
        super().__init__()
        self.times = times

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter() - self.start)


def timed_epochs(models: dict[str, keras.Model], x, y, rounds: int) -> dict[str, list[float]]:
    """Compile and warm each model, then time two epochs of each per round."""
    for model in models.values():
        model.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            steps_per_execution=STEPS_PER_EXECUTION,
            jit_compile=jit_compile(),
        )
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # tracing and compilation
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            timer = EpochTimer(times[name])
            model.fit(x, y, batch_size=128, epochs=2, verbose=0, callbacks=[timer])
    return times


def table(title: str, times: dict[str, list[float]], target: float) -> str:
    base = min(times["none"])
    lines = [
        f"**{title}**",
        "",
        "| setting | fastest s/epoch | median s/epoch | ratio to none (fastest) | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, values in times.items():
        ratio = min(values) / base
        verdict = "" if name == "none" else ("met" if ratio <= target else "missed")
        lines.append(
            f"| {name} | {min(values):.3f} | {statistics.median(values):.3f} | {ratio:.3f} | "
            f"{'' if name == 'none' else f'<= {target} {verdict}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument(
        "--out", help="markdown file (default: benchmarks/regularizer_overhead_<backend>.md)"
    )
    args = parser.parse_args()
    data = load_mnist(n_train=args.n_train)
    keras.utils.set_random_seed(0)
    dense = timed_epochs(
        {name: dense_model(kwargs) for name, kwargs in DENSE_SETTINGS.items()},
        data.x_train, data.y_train, args.rounds,
    )  # fmt: skip
    images = data.x_train.reshape(-1, 28, 28, 1)
    cnn = timed_epochs(
        {name: cnn_model(reg) for name, reg in CNN_SETTINGS.items()},
        images[: args.n_train // 4], data.y_train[: args.n_train // 4], args.rounds,
    )  # fmt: skip
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()} ({os.cpu_count()} cores), "
        f"Keras {keras.__version__}, backend {keras.backend.backend()}, {args.rounds} rounds "
        f"of 2 epochs per setting.\n"
    )
    text = "\n\n".join(
        [
            header,
            table(f"784-1024-10 MLP, {args.n_train} images per epoch", dense, 1.05),
            table(f"small CNN (16 and 32 5x5 filters), {args.n_train // 4} images", cnn, 1.2),
        ]
    )
    print(text)
    out = args.out or f"benchmarks/regularizer_overhead_{keras.backend.backend()}.md"
    Path(out).write_text(text + "\n")


if __name__ == "__main__":
    main()
