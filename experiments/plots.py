"""Figures from already-summarised DataFrames: each takes an optional `ax` and returns it.

Nothing here loads files, trains or saves: the CLI and notebooks do that.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes


def palette(groups: list[str]) -> dict[str, tuple]:
    """A colour-blind-safe colour per group, stable for a given sorted list of groups."""
    colours = sns.color_palette("colorblind", n_colors=max(len(groups), 1))
    return dict(zip(sorted(groups), colours, strict=True))


def metric_vs_hidden_units(
    summary: pd.DataFrame,
    ax: Axes | None = None,
    *,
    group: str = "regularization",
    ylabel: str = "test error (%)",
    title: str | None = None,
) -> Axes:
    """Lines of `mean` against `hidden_units` (log2 axis), one per `group`, with CI bands.

    `summary` is `analysis.summarise(...)` output: columns `hidden_units`, `group`, `mean`,
    `ci_low`, `ci_high`, `n`. Bands appear where a point has more than one run.
    """
    ax = ax or plt.gca()
    colours = palette(list(summary[group].astype(str).unique()))
    for name, part in summary.groupby(group, sort=True):
        part = part.sort_values("hidden_units")
        colour = colours[str(name)]
        ax.plot(part["hidden_units"], part["mean"], marker="o", color=colour, label=str(name))
        if (part["n"] > 1).any():
            ax.fill_between(
                part["hidden_units"], part["ci_low"], part["ci_high"], color=colour, alpha=0.2
            )
    ax.set_xscale("log", base=2)
    sizes = sorted(summary["hidden_units"].unique())
    ax.set_xticks(sizes, [str(int(size)) for size in sizes])
    ax.minorticks_off()
    ax.set_xlabel("hidden units")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title=group)
    return ax
