"""Results tables in, summary tables out: pure functions on DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def with_errors(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `train_error`, `val_error` and `test_error` in percent: `100 * (1 - accuracy)`."""
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


def paired_difference(
    runs: pd.DataFrame,
    column: str,
    treated: str,
    baseline: str,
    by: list[str],
    metric: str,
    pair_on: str = "seed",
) -> pd.DataFrame:
    """`metric` of `treated` minus `baseline` (two values of `column`), paired on `pair_on`.

    E.g. autoencoder minus random initialization, seed by seed, per regularization and size.
    Pairs missing either side are dropped. Returns `summarise` of the differences per `by`
    (`mean`, `std`, `n`, `ci_low`, `ci_high`): a paired t-interval, narrower than comparing
    two unpaired intervals when the seed moves both runs alike.
    """
    missing = {treated, baseline} - set(runs[column])
    if missing:
        raise ValueError(f"No runs with {column} = {sorted(missing)} to pair.")
    wide = runs.pivot_table(index=[*by, pair_on], columns=column, values=metric)
    difference = (wide[treated] - wide[baseline]).dropna().rename("difference").reset_index()
    return summarise(difference, by, "difference")


def generalization_gap(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `gap_points`: train minus test accuracy, in percentage points."""
    out = runs.copy()
    out["gap_points"] = 100.0 * (out["train_accuracy"] - out["test_accuracy"])
    return out


def select_on_validation(
    runs: pd.DataFrame, settings: list[str], cell: list[str] | None = None
) -> pd.DataFrame:
    """Keep, in each cell, only the runs of the setting with the best mean validation accuracy.

    A cell is a combination of `cell` columns (default: init, hidden_units, regularization);
    a setting is a combination of the `settings` columns (e.g. `hidden_regularizer.l2`,
    `dropout`) within it. Means are over the setting's runs (seeds); ties go to the setting
    listed first. Test accuracy is never looked at: this is model selection on validation.
    """
    cell = cell or ["init", "hidden_units", "regularization"]
    settings = [column for column in settings if column in runs]
    if not settings:
        return runs.reset_index(drop=True)
    keys = cell + settings
    # dropna=False: a blank setting (e.g. no L2 coefficient in a dropout run) is a value too
    means = runs.groupby(keys, sort=False, dropna=False)["val_accuracy"].mean().reset_index()
    best = means.loc[means.groupby(cell, sort=False)["val_accuracy"].idxmax(), keys]
    return runs.merge(best, on=keys, how="inner")  # pandas matches blank keys to blank keys


def chosen_setting(runs: pd.DataFrame, settings: list[str]) -> pd.Series:
    """Per row, the tuned values as text: `"hidden_regularizer.l2=0.0001"`, `"dropout=0.5"`.

    Only `settings` columns with a value that is set and non-zero appear (a dropout run has no
    L2 coefficient and an L2 run has dropout 0); an untuned row gives `""`.
    """
    settings = [column for column in settings if column in runs]

    def describe(row: pd.Series) -> str:
        return " ".join(f"{c}={row[c]:g}" for c in settings if pd.notna(row[c]) and row[c] != 0)

    return runs.apply(describe, axis=1) if settings else pd.Series("", index=runs.index)


def interval_table(summary: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """`summarise` output (with `init`, `hidden_units`, `regularization`) as text for a report.

    One row per (init, hidden_units), one column per regularization, each cell
    `"mean [ci_low, ci_high]"` rounded to `digits` (the mean alone for a single run), followed
    by `(setting)` where the summary has a non-blank `setting` (the value chosen on validation).
    """
    settings = summary["setting"] if "setting" in summary else pd.Series("", index=summary.index)
    cells = []
    for mean, n, low, high, setting in zip(
        summary["mean"],
        summary["n"],
        summary["ci_low"],
        summary["ci_high"],
        settings.fillna(""),
        strict=True,
    ):
        cell = f"{mean:.{digits}f}" + (f" [{low:.{digits}f}, {high:.{digits}f}]" if n > 1 else "")
        cells.append(f"{cell} ({setting})" if setting else cell)
    table = summary.assign(cell=cells)
    return table.pivot(index=["init", "hidden_units"], columns="regularization", values="cell")


def crossover(
    summary: pd.DataFrame, below: str = "dropout", above: str = "l2", group: str = "regularization"
) -> int | None:
    """The smallest hidden size at which `below`'s interval lies entirely under `above`'s.

    `summary` is `summarise(...)` output for one initialization (columns `group`,
    `hidden_units`, `mean`, `ci_low`, `ci_high`). "Entirely under" means
    `below.ci_high < above.ci_low`: non-overlapping 95% intervals, so a tie or an overlap is
    not a crossover, and a point of a single run (no interval) never counts. Returns None
    when no size qualifies.
    """
    lower = summary[summary[group] == below].set_index("hidden_units")
    upper = summary[summary[group] == above].set_index("hidden_units")
    for size in sorted(set(lower.index) & set(upper.index)):
        replicated = lower.loc[size, "n"] > 1 and upper.loc[size, "n"] > 1
        if replicated and lower.loc[size, "ci_high"] < upper.loc[size, "ci_low"]:
            return int(size)
    return None
