"""Shared fixtures: the real MNIST, and small MNIST-layout files the tests write themselves."""

from pathlib import Path

import numpy as np
import pytest

from experiments.data import load_mnist, sha256_of


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


def write_small_npz(path: Path, n_train: int = 120, n_test: int = 30, seed: int = 0) -> str:
    """A Keras-layout mnist.npz with random images; returns its sha256."""
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, size=n_train).astype(np.uint8),
        x_test=rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, size=n_test).astype(np.uint8),
    )
    return sha256_of(path)


@pytest.fixture
def npz_writer():
    return write_small_npz


@pytest.fixture
def small_npz(tmp_path):
    path = tmp_path / "mnist.npz"
    return path, write_small_npz(path)


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from Keras seed 0. Once a grid has enabled TensorFlow's op
    determinism in this process, an unseeded random op raises: without this a test would
    pass or fail depending on which tests ran before it."""
    import keras

    keras.utils.set_random_seed(0)
