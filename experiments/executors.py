"""Where runs train: in this process, in local worker processes, or as Ray tasks.

Each executor takes the runs still to do and yields `(row, history)` as runs finish, in
completion order. Only the caller writes to the results store, so every executor has the
same resume and whole-row guarantees. Workers load MNIST once per process and keep it.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from experiments.config import RunConfig
from experiments.data import MNIST, load_mnist

Result = tuple[dict, pd.DataFrame]
EXECUTORS = ("local", "ray")


def limit_threads(threads: int) -> None:
    """Give this process `threads` compute threads (TensorFlow; other backends via OMP)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime already started in this process: keep its pools
            pass


def in_process(
    runs: list[RunConfig], data: MNIST, verbose: int = 0, tensorboard: Path | None = None
) -> Iterator[Result]:
    """Train the runs one after the other in this process (TensorFlow uses every core)."""
    from experiments.runner import enable_determinism, train_run  # Keras: only to train

    enable_determinism()
    for run in runs:
        yield train_run(run, data, verbose=verbose, tensorboard=tensorboard)


_WORKER: dict[str, object] = {}  # per worker process: its prepared state and its data


def _train_config(config: dict, mnist: MNIST, tensorboard: str | None, threads: int) -> Result:
    """Worker side of every executor: set the process up once, then train one run."""
    from experiments.runner import enable_determinism, train_run

    if "threads" not in _WORKER:
        limit_threads(threads)
        enable_determinism()
        _WORKER["threads"] = threads
    board = Path(tensorboard) if tensorboard else None
    return train_run(RunConfig(**config), mnist, tensorboard=board)


def _load_worker_data(data_path: str | None) -> None:
    _WORKER["mnist"] = load_mnist(data_path)


def _train_in_worker(config: dict, tensorboard: str | None, threads: int) -> Result:
    return _train_config(config, _WORKER["mnist"], tensorboard, threads)


def in_processes(
    runs: list[RunConfig],
    jobs: int,
    data_path: str | None = None,
    tensorboard: Path | None = None,
) -> Iterator[Result]:
    """Train the runs in `jobs` worker processes, each with `cores // jobs` threads."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked TF state
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_load_worker_data, initargs=(data_path,)
    ) as pool:
        board = str(tensorboard) if tensorboard else None
        futures = [pool.submit(_train_in_worker, run.model_dump(), board, threads) for run in runs]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def on_ray(
    runs: list[RunConfig],
    data: MNIST,
    address: str | None = None,
    threads: int = 1,
    tensorboard: Path | None = None,
) -> Iterator[Result]:
    """Train each run as a Ray task on the cluster at `address` (None: start a local one).

    The data go to Ray's object store once and every task reads them from there; the
    package `experiments` must be importable on every node (install it there).
    """
    import ray

    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    train_task = ray.remote(num_cpus=threads)(_train_config)
    shared = ray.put(data)  # tasks receive the arrays, not the reference
    board = str(tensorboard) if tensorboard else None
    pending = [train_task.remote(run.model_dump(), shared, board, threads) for run in runs]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
