"""Draw a results folder's figures into `<folder>/figures/`: the glue between analysis and plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from experiments import analysis, plots
from experiments.store import GRID_FILE, RunStore, read_grid_file

FIGURES = "figures"
# file stem -> (column, y-axis label): Figures 1-3 of the paper reproduction
PANELS = {
    "test_error_vs_hidden_units": ("test_error", "test error (%)"),
    "generalization_gap_vs_hidden_units": ("gap_points", "train - test accuracy (points)"),
    "hidden_kernel_l2_vs_hidden_units": ("hidden_kernel_l2", "hidden kernel L2 norm"),
}


def load_results(directory: str | Path) -> tuple[pd.DataFrame, dict]:
    """A results folder's `runs.csv` and `grid.yaml` settings (empty if nothing ran yet)."""
    directory = Path(directory)
    store = RunStore(directory)
    runs = store.read() if store.runs_path.is_file() else pd.DataFrame()
    meta = read_grid_file(directory) if (directory / GRID_FILE).is_file() else {"runs": []}
    return runs, meta


def prepare(runs: pd.DataFrame, select_on_validation: list[str] | None = None) -> pd.DataFrame:
    """Finished runs with error and gap columns; tuned settings reduced to the validation pick."""
    runs = analysis.generalization_gap(analysis.with_errors(analysis.finished(runs)))
    return analysis.select_on_validation(runs, select_on_validation or [])


CELL = ["init", "regularization", "hidden_units"]


def summary_table(
    runs: pd.DataFrame, select_on_validation: list[str] | None = None
) -> pd.DataFrame:
    """Every `PANELS` metric per cell of `prepare`d runs: the numbers behind the figures.

    Long form, one row per (init, regularization, hidden_units, metric), with `setting` (the
    value chosen on validation, `analysis.chosen_setting`; blank when nothing was tuned) and
    `summarise`'s `mean`, `std`, `n`, `ci_low`, `ci_high`.
    """
    runs = runs.assign(setting=analysis.chosen_setting(runs, select_on_validation or []))
    parts = [
        analysis.summarise(runs, [*CELL, "setting"], metric).assign(metric=metric)
        for metric, _ in PANELS.values()
    ]
    table = pd.concat(parts, ignore_index=True)
    return table[[*CELL, "setting", "metric", "mean", "std", "n", "ci_low", "ci_high"]]


def pretraining_effect(runs: pd.DataFrame) -> pd.DataFrame:
    """Autoencoder minus random initialization, test error in points, paired by seed.

    One row per (regularization, hidden_units): `analysis.paired_difference`; negative means
    pretraining lowered the error.
    """
    return analysis.paired_difference(
        runs, "init", "autoencoder", "random", ["regularization", "hidden_units"], "test_error"
    )


UNREPLICATED = "n/a: needs 2+ seeds per point"


def crossovers(runs: pd.DataFrame) -> dict[str, int | str | None]:
    """Per initialization, the hidden size from which dropout beats L2 (`analysis.crossover`).

    None when no size qualifies; `UNREPLICATED` when some L2 or dropout point has a single
    run, so that no interval can be drawn.
    """
    found: dict[str, int | str | None] = {}
    for init, part in runs.groupby("init", sort=True):
        summary = analysis.summarise(part, ["regularization", "hidden_units"], "test_error")
        compared = summary[summary["regularization"].isin(["l2", "dropout"])]
        if compared["regularization"].nunique() < 2:
            continue
        replicated = (compared["n"] > 1).all()
        found[str(init)] = analysis.crossover(summary) if replicated else UNREPLICATED
    return found


def metric_figure(runs: pd.DataFrame, metric: str, ylabel: str, title: str = "") -> plt.Figure:
    """One panel per initialization (`init`), lines per regularization, mean and 95% t-CI."""
    inits = sorted(runs["init"].unique())
    figure, axes = plt.subplots(
        1, len(inits), figsize=(6 * len(inits), 4.5), sharey=True, squeeze=False
    )
    for ax, init in zip(axes[0], inits, strict=True):
        summary = analysis.summarise(
            runs[runs["init"] == init], ["regularization", "hidden_units"], metric
        )
        panel_title = f"{init} initialization" if len(inits) > 1 else None
        plots.metric_vs_hidden_units(summary, ax, ylabel=ylabel, title=panel_title)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def draw_figures(
    directory: str | Path,
    runs: pd.DataFrame,
    select_on_validation: list[str] | None = None,
    title: str = "",
) -> tuple[list[Path], pd.DataFrame, dict[str, int | str | None]]:
    """Write the `PANELS` figures and the tables behind them.

    Returns the paths written, the `summary_table` and the crossover per initialization.

    Tables: `summary.csv` (`summary_table`), `crossover.csv` (`crossovers`) and, where both
    initializations ran, `pretraining.csv` (`pretraining_effect`).
    """
    runs = prepare(runs, select_on_validation)
    if runs.empty:
        raise ValueError(f"{directory} has no finished (status ok) runs to draw.")
    plt.switch_backend("Agg")  # files only: no display on servers or in CI
    out = Path(directory) / FIGURES
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (metric, ylabel) in PANELS.items():
        figure = metric_figure(runs, metric, ylabel, title)
        path = out / f"{stem}.png"
        figure.savefig(path, dpi=120)
        plt.close(figure)
        written.append(path)
    summary = summary_table(runs, select_on_validation)
    summary.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    written.append(out / "summary.csv")
    if {"autoencoder", "random"} <= set(runs["init"]):
        pretraining_effect(runs).to_csv(out / "pretraining.csv", index=False, float_format="%.6g")
        written.append(out / "pretraining.csv")
    found = crossovers(runs)
    if found:
        table = pd.DataFrame(
            {"init": list(found), "crossover_hidden_units": [v or "none" for v in found.values()]}
        )
        table.to_csv(out / "crossover.csv", index=False)
        written.append(out / "crossover.csv")
    return written, summary, found
