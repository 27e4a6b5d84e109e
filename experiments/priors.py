"""A smooth-kernel prior fitted from trained filters (Feinman & Lake 2019, phase 1).

Networks trained on some classes save their weights (`save_weights: true`); the covariance
of their first-layer filters over kernel positions (`regularizers.fit_covariance`) becomes
the `covariance` of a `smooth_kernel` penalty for networks trained on other classes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.store import RunStore, atomic_write_bytes

COVARIANCE = "covariance.npy"
FIGURE = "smooth_kernel_prior"  # the report's figure of a fitted prior (figures.prior_figure)
DIGITS = 6  # significant digits kept: the matrix travels inside every run's config and id


def label(covariance: np.ndarray) -> str:
    """How reports name this matrix when a run's spec holds it (`analysis.as_text` of the
    text `runs.csv` holds): `matrix:` and 8 hex digits of a hash."""
    from experiments.analysis import as_text

    return str(as_text(pd.Series([json.dumps(covariance.tolist())])).iloc[0])


def prior_section(directory: str | Path) -> list[str]:
    """The report's lines on a fitted prior in `directory` (none without one)."""
    path = Path(directory) / COVARIANCE
    if not path.is_file():
        return []
    covariance = np.load(path)
    runs = len(trained_filters(directory))
    return [
        "## Fitted smooth-kernel prior",
        f"`{COVARIANCE}`: the covariance ({covariance.shape[0]} x {covariance.shape[0]}) of "
        f"the hidden filters of {runs} runs over their kernel positions, plus a ridge on the "
        f"diagonal, written by `python -m experiments covariance {directory}`. A "
        f"`smooth_kernel` penalty that names this file is labelled `{label(covariance)}` in "
        f"reports. The figure `{FIGURE}.png` shows it.",
    ]


def trained_filters(directory: str | Path) -> list[np.ndarray]:
    """The hidden kernels `(k, k, c_in, H)` of a results folder's finished CNN runs that
    saved their weights, in `runs.csv` order. ValueError when there are none."""
    store = RunStore(directory)
    runs = store.read()
    finished = runs[(runs["status"] == "ok") & (runs.get("model") == "cnn")] if len(runs) else runs
    kernels = [
        store.weights_of(run_id)["hidden_kernel"]
        for run_id in finished.get("run_id", [])
        if (store.weights / f"{run_id}.npz").is_file()
    ]
    if not kernels:
        raise ValueError(
            f"{directory}: no finished CNN run with saved weights (model: cnn and "
            "save_weights: true); train such a grid first"
        )
    return kernels


def fit_prior(
    directory: str | Path, mode: str = "channel", ridge: float = 1e-3
) -> tuple[np.ndarray, Path, list[np.ndarray]]:
    """Fit the covariance of the folder's trained filters and write it to
    `<directory>/covariance.npy` (rounded to `DIGITS` significant digits, still symmetric
    positive definite). Returns the matrix `(n, n)`, n = k*k in mode "channel", the path,
    and the kernels it was fitted on (`trained_filters`)."""
    import regularizers  # Keras: only when fitting

    kernels = trained_filters(directory)
    covariance = regularizers.fit_covariance(kernels, mode=mode, ridge=ridge)
    rounded = np.array([[float(f"{v:.{DIGITS}g}") for v in row] for row in covariance])
    regularizers.SmoothKernel(covariance=rounded, mode=mode)  # still a valid covariance
    buffer = io.BytesIO()
    np.save(buffer, rounded, allow_pickle=False)
    path = Path(directory) / COVARIANCE
    atomic_write_bytes(path, buffer.getvalue())
    return rounded, path, kernels
