"""Draw a results folder's figures into `<folder>/figures/`: the glue between analysis and plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from experiments import analysis, plots

FIGURES = "figures"
# file stem -> (metric column, y-axis label)
PANELS = {
    "test_error_vs_hidden_units": ("test_error", "test error (%)"),
}


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


def draw_figures(directory: str | Path, runs: pd.DataFrame, title: str = "") -> list[Path]:
    """Write every figure of `PANELS` for the finished runs; return the paths written."""
    runs = analysis.with_errors(analysis.finished(runs))
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
    return written
