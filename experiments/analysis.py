"""Results tables in, summary tables out: pure functions on DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def with_errors(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `test_error` and `train_error` in percent: `100 * (1 - accuracy)`."""
    out = runs.copy()
    for split in ("train", "val", "test"):
        if f"{split}_accuracy" in out:
            out[f"{split}_error"] = 100.0 * (1.0 - out[f"{split}_accuracy"])
    return out


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """Only the runs whose status is `ok` (diverged and failed runs have no metrics)."""
    if runs.empty:
        return runs
    return runs[runs["status"] == "ok"].reset_index(drop=True)


def summarise(
    runs: pd.DataFrame, by: list[str], metric: str, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean of `metric` per group with a Student-t confidence interval over the rows (seeds).

    Returns one row per group with the `by` columns, `mean`, `std` (ddof=1), `n`,
    `ci_low` and `ci_high`: `mean -/+ t_{(1+confidence)/2, n-1} * std / sqrt(n)`. A group of
    one row has no spread to estimate: its interval is the mean itself and `std` is NaN.
    """
    grouped = runs.groupby(by, sort=True)[metric]
    table = grouped.agg(mean="mean", std="std", n="count").reset_index()
    quantile = stats.t.ppf((1.0 + confidence) / 2.0, np.maximum(table["n"] - 1, 1))
    half = np.where(table["n"] > 1, quantile * table["std"] / np.sqrt(table["n"]), 0.0)
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    return table
