"""Where runs train: in this process, in local worker processes, or as Ray tasks.

Each executor takes the runs still to do, in units (one run for the single-run engine, a
batch of runs for the batched engine, see `experiments.batched`), and yields `(row,
history)` for every run as its unit finishes, in completion order. Only the caller writes
to the results store, so every executor has the same resume and whole-row guarantees.
Workers load MNIST once per process and keep it.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from experiments.config import RunConfig
from experiments.data import MNIST, load_dataset

Result = tuple[dict, pd.DataFrame]
# Set when the user asks the grid to stop (Ctrl-C): training in this process ends at the next
# step (`runner` checks it), and the grid records nothing more.
STOP = threading.Event()
EXECUTORS = ("local", "ray")
ENGINES = ("batched", "single")
Unit = list[RunConfig]
PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


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


def train_unit(
    unit: Unit, data: MNIST, engine: str, verbose: int = 0, tensorboard: Path | None = None
) -> list[Result]:
    """Train one unit: its runs as one stacked model (`batched`) or one by one (`single`)."""
    from experiments import batched, runner  # Keras: only to train

    if engine == "batched":
        return batched.train_batch(unit, data)
    return [runner.train_run(run, data, verbose=verbose, tensorboard=tensorboard) for run in unit]


def in_process(
    units: list[Unit],
    data: MNIST,
    engine: str,
    verbose: int = 0,
    tensorboard: Path | None = None,
) -> Iterator[Result]:
    """Train the units one after the other in this process (TensorFlow uses every core)."""
    from experiments.runner import enable_determinism

    enable_determinism()
    for unit in units:
        yield from train_unit(unit, data, engine, verbose=verbose, tensorboard=tensorboard)


_WORKER: dict[str, object] = {}  # per worker process: its prepared state and its data


def _train_configs(
    configs: list[dict], mnist: MNIST, engine: str, tensorboard: str | None, threads: int
) -> list[Result]:
    """Worker side of every executor: set the process up once, then train one unit."""
    from experiments.runner import enable_determinism

    if "threads" not in _WORKER:
        limit_threads(threads)
        enable_determinism()
        _WORKER["threads"] = threads
    board = Path(tensorboard) if tensorboard else None
    unit = [RunConfig(**config) for config in configs]
    return train_unit(unit, mnist, engine, tensorboard=board)


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the process that started it dies (even by kill -9),
    so no worker trains on for a grid nobody records. Elsewhere: nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the request was in place
        os._exit(1)


def _load_worker_data(data_path: str | None, dataset: str) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER["mnist"] = load_dataset(dataset, data_path)


def _train_in_worker(
    configs: list[dict], engine: str, tensorboard: str | None, threads: int
) -> list[Result]:
    return _train_configs(configs, _WORKER["mnist"], engine, tensorboard, threads)


def _dump(unit: Unit) -> list[dict]:
    return [run.model_dump() for run in unit]


def in_processes(
    units: list[Unit],
    engine: str,
    jobs: int,
    data_path: str | None = None,
    dataset: str = "mnist",
    tensorboard: Path | None = None,
) -> Iterator[Result]:
    """Train the units in `jobs` worker processes, each with `cores // jobs` threads, on the
    data set `dataset` (read from `data_path` if given)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked TF state
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_load_worker_data, initargs=(data_path, dataset)
    ) as pool:
        board = str(tensorboard) if tensorboard else None
        futures = [
            pool.submit(_train_in_worker, _dump(unit), engine, board, threads) for unit in units
        ]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield from future.result()
        finally:
            for future in futures:
                future.cancel()
            if STOP.is_set():  # runs in flight are not wanted: do not wait for them
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a Ray `HOST:PORT` that accepts no connection (Ray itself retries for
    minutes, holding the results folder meanwhile)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError):
        raise ConnectionError(
            f"No Ray cluster answers at {address}: start one there (`ray start --head "
            f"--port={port or 6379}`) or leave out --address to start a local one."
        ) from None


def on_ray(
    units: list[Unit],
    data: MNIST,
    engine: str,
    address: str | None = None,
    threads: int = 1,
    tensorboard: Path | None = None,
) -> Iterator[Result]:
    """Train each unit as a Ray task on the cluster at `address` (None: start a local one).

    The data go to Ray's object store once and every task reads them from there; the
    package `experiments` must be importable on every node (install it there).
    """
    import ray

    if address:
        check_reachable(address)
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    train_task = ray.remote(num_cpus=threads)(_train_configs)
    shared = ray.put(data)  # tasks receive the arrays, not the reference
    board = str(tensorboard) if tensorboard else None
    pending = [train_task.remote(_dump(unit), shared, engine, board, threads) for unit in units]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
