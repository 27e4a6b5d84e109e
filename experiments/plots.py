"""Figures from already-summarised DataFrames: each takes an optional `ax` and returns it.

Nothing here loads files, trains or saves: the CLI and notebooks do that. Lines are told
apart by colour (a colour-blind palette), marker and line style together.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter

from experiments.analysis import label_key, short_setting
from experiments.metrics import ABS_EDGES

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", "-.", ":")


def styles(groups: list[str]) -> dict[str, dict]:
    """Colour, marker and line style per group, stable for a given set of groups."""
    ordered = sorted(groups, key=label_key)
    colours = sns.color_palette("colorblind", n_colors=max(len(ordered), 1))
    return {
        group: {
            "color": colours[i],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
        }
        for i, group in enumerate(ordered)
    }


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values)


def set_x_axis(ax: Axes, values: list, label: str) -> None:
    """Ticks at the values themselves; a log2 axis when they are positive and span 8x."""
    if values and min(values) > 0 and max(values) / min(values) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)


def set_y_axis(ax: Axes, low: float, high: float, label: str) -> None:
    """A log axis with plain numbers when the values span more than 3x (errors often do:
    the smallest network's error must not squash the differences between the others)."""
    if low > 0 and high / low > 3:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        # label the minor ticks only over a short range: over decades they would overlap
        ax.yaxis.set_minor_formatter(plain if high / low < 30 else NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_ylabel(label)


def metric_lines(
    summary: pd.DataFrame,
    ax: Axes | None = None,
    *,
    x: str,
    hue: str = "label",
    ylabel: str = "",
    title: str | None = None,
    annotate: str | None = "setting",
) -> Axes:
    """Mean against `x`, one line per `hue` value, with its 95% interval as a band.

    `summary` is `analysis.summarise` output (`mean`, `ci_low`, `ci_high`, `n`) with the `x`
    and `hue` columns. Each point is annotated with its `annotate` column (the setting
    chosen on validation) where set, and with its `n` when points have different counts. A
    non-numeric `x` is drawn at evenly spaced positions.
    """
    ax = ax or plt.gca()
    summary = summary.copy()
    numeric = _numeric(summary[x])
    order = sorted(summary[x].unique()) if numeric else list(dict.fromkeys(summary[x]))
    summary["_x"] = summary[x] if numeric else summary[x].map(order.index)
    look = styles([str(g) for g in summary[hue].unique()])
    uneven = summary["n"].nunique() > 1
    groups = dict(list(summary.groupby(hue)))
    for name in sorted(groups, key=label_key):
        part = groups[name].sort_values("_x")
        style = look[str(name)]
        ax.plot(part["_x"], part["mean"], label=str(name), markersize=6, **style)
        if (part["n"] > 1).any():
            ax.fill_between(
                part["_x"], part["ci_low"], part["ci_high"], color=style["color"], alpha=0.15
            )
        for _, point in part.iterrows():
            text = short_setting(point[annotate]) if annotate and point.get(annotate) else ""
            text += f" n={point['n']}" if uneven else ""
            if text.strip():
                ax.annotate(
                    text.strip(), (point["_x"], point["mean"]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7, color=style["color"],
                )  # fmt: skip
    if numeric:
        set_x_axis(ax, order, x)
    else:
        ax.set_xticks(range(len(order)), [str(v) for v in order], rotation=30, ha="right")
        ax.set_xlabel(x)
    low = np.nanmin(summary[["mean", "ci_low"]].to_numpy())
    high = np.nanmax(summary[["mean", "ci_high"]].to_numpy())
    set_y_axis(ax, low, high, ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title=hue if hue != "label" else None, fontsize=8)
    return ax


def metric_points(
    summary: pd.DataFrame,
    ax: Axes | None = None,
    *,
    hue: str = "label",
    xlabel: str = "",
    title: str | None = None,
    annotate: str | None = "setting",
) -> Axes:
    """One row per `hue` value, the best (lowest) mean on top: the mean as a point and its 95%
    interval as a bar. The picture of a study whose x axis has a single value, where lines
    against x would be points on top of each other.

    `summary` is `analysis.summarise` output (`mean`, `ci_low`, `ci_high`, `n`) with the `hue`
    column; each point is annotated with its `annotate` column (the setting chosen on
    validation) where set, and with its `n` when points have different counts.
    """
    ax = ax or plt.gca()
    ordered = summary.sort_values("mean", kind="stable").reset_index(drop=True)
    look = styles([str(g) for g in ordered[hue].unique()])
    uneven = ordered["n"].nunique() > 1
    for row, point in ordered.iterrows():
        style = look[str(point[hue])]
        spread = [[point["mean"] - point["ci_low"]], [point["ci_high"] - point["mean"]]]
        ax.errorbar(
            point["mean"], row, xerr=None if pd.isna(point["ci_low"]) else spread,
            fmt=style["marker"], color=style["color"], capsize=3, markersize=6,
        )  # fmt: skip
        text = short_setting(point[annotate]) if annotate and point.get(annotate) else ""
        text += f" n={point['n']}" if uneven else ""
        if text.strip():
            ax.annotate(
                text.strip(), (point["mean"], row), textcoords="offset points",
                xytext=(0, 7), ha="center", fontsize=7, color=style["color"],
            )  # fmt: skip
    names = [textwrap.fill(str(v), 34, break_on_hyphens=False) for v in ordered[hue]]
    ax.set_yticks(range(len(ordered)), names, fontsize=8)
    ax.set_ylim(len(ordered) - 0.5, -0.7)  # the first row on top, room for its annotation
    ax.margins(x=0.1)  # room for the annotations of the extreme points
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    return ax


def metric_scatter(
    runs: pd.DataFrame,
    ax: Axes | None = None,
    *,
    x: str,
    y: str,
    cell: list[str],
    hue: str = "label",
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
) -> Axes:
    """One metric against another: every run a small point, every `cell` the mean of both
    (a large marker), the means of one `hue` joined in order of `x`."""
    ax = ax or plt.gca()
    look = styles([str(g) for g in runs[hue].unique()])
    means = runs.groupby([*dict.fromkeys([*cell, hue])], dropna=False, as_index=False)[[x, y]]
    means = means.mean()
    groups = dict(list(runs.groupby(hue)))
    for name in sorted(groups, key=label_key):
        part, style = groups[name], look[str(name)]
        ax.scatter(part[x], part[y], s=10, alpha=0.35, color=style["color"], marker=style["marker"])
        mean = means[means[hue] == name].sort_values(x)
        ax.plot(mean[x], mean[y], label=str(name), markersize=7, **style)
    values = sorted(v for v in runs[x].unique() if np.isfinite(v))
    if values and min(values) > 0 and max(values) / min(values) >= 8:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(xlabel or x)
    set_y_axis(ax, runs[y].min(), runs[y].max(), ylabel or y)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def learning_curves(
    curves: pd.DataFrame,
    ax: Axes | None = None,
    *,
    hue: str = "label",
    title: str | None = None,
    ylabel: str = "error (%)",
    log: bool = True,
) -> Axes:
    """Per-epoch curves, one colour per `hue`: training dashed, anything else solid; `log`:
    a log axis where the values span more than 3x.

    `curves` has `epoch`, `split` (`train`, `validation`, ...), `value` (e.g. error in %, the
    mean over seeds at that epoch) and the `hue` column.
    """
    ax = ax or plt.gca()
    look = styles([str(g) for g in curves[hue].unique()])
    single = curves["split"].nunique() == 1
    groups = dict(list(curves.groupby([hue, "split"])))
    for name, split in sorted(groups, key=lambda key: (label_key(key[0]), key[1])):
        part = groups[name, split]
        style = look[str(name)]
        ax.plot(
            part["epoch"], part["value"], color=style["color"],
            linestyle="--" if split == "train" else "-", marker=style["marker"], markevery=0.2,
            markersize=3, label=str(name) if single else f"{name} ({split})", linewidth=1.2,
        )  # fmt: skip
    if log and not curves.empty:  # a log axis where the values span more than 3x
        set_y_axis(ax, curves["value"].min(), curves["value"].max(), ylabel)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def abs_histogram(
    table: pd.DataFrame, ax: Axes | None = None, *, hue: str = "label", title: str | None = None
) -> Axes:
    """How many weights have each size: `count` per `bin` of `metrics.ABS_EDGES` (bin 0:
    exactly zero, drawn apart at the left; bin 1: below 1e-8), one line per `hue`, counts on
    a symmetric-log axis so that bins with 0 weights still show."""
    ax = ax or plt.gca()
    exponents = np.log10(ABS_EDGES)
    step = exponents[1] - exponents[0]
    # bin centres on the log10 |w| axis: zero, (0, 1e-8), the half decades, >= 10
    centres = np.array(
        [exponents[0] - 2.5 * step, exponents[0] - step / 2,
         *(exponents[:-1] + step / 2), exponents[-1] + step / 2]
    )  # fmt: skip
    look = styles([str(g) for g in table[hue].unique()])
    groups = dict(list(table.groupby(hue)))
    for name in sorted(groups, key=label_key):
        style = look[str(name)]
        part = groups[name].sort_values("bin")
        x = centres[part["bin"].to_numpy()]
        ax.step(x[1:], part["count"].iloc[1:], where="mid", color=style["color"], linewidth=1.2,
                linestyle=style["linestyle"], label=str(name))  # fmt: skip
        ax.plot(x[:1], part["count"].iloc[:1], marker=style["marker"], color=style["color"],
                linestyle="none")  # fmt: skip
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xticks([centres[0], *exponents[::4]])
    ax.set_xticklabels(["0", *(f"1e{e:g}" for e in exponents[::4])], fontsize=7)
    ax.axvline(exponents[0] - 1.5 * step, color="grey", linewidth=0.6)
    ax.set_xlabel("|w| (exact zeros at the left)")
    ax.set_ylabel("hidden weights")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def decision_boundary(
    grid: np.ndarray,
    probability: np.ndarray,
    points: np.ndarray,
    labels: np.ndarray,
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Axes:
    """A 2-D classifier's probability of class 1 over `grid` `(m, 2)` (a square grid, as
    `toy.grid_over` makes), its 0.5 contour, and the labelled `points` `(n, 2)` on top."""
    ax = ax or plt.gca()
    side = math.isqrt(len(grid))
    xs, ys = grid[:, 0].reshape(side, side), grid[:, 1].reshape(side, side)
    surface = probability.reshape(side, side)
    ax.contourf(xs, ys, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(xs, ys, surface, levels=[0.5], colors="black", linewidths=1.2)
    colours = sns.color_palette("colorblind", 2)
    for label, marker in ((0, "o"), (1, "s")):
        chosen = points[labels == label]
        ax.scatter(
            chosen[:, 0], chosen[:, 1], s=12, marker=marker, color=colours[label],
            edgecolor="white", linewidth=0.4, label=f"class {label}",
        )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def filter_mosaic(
    filters: np.ndarray, ax: Axes | None = None, *, columns: int = 8, title: str | None = None
) -> Axes:
    """Convolution filters `(n, k, k)` tiled `columns` to a row with a blank line between
    them, as one `matrix_image` (without a colour bar)."""
    n, k, _ = filters.shape
    rows = math.ceil(n / columns)
    mosaic = np.full((rows * (k + 1) - 1, columns * (k + 1) - 1), np.nan)
    for i, kernel in enumerate(filters):
        top, left = (i // columns) * (k + 1), (i % columns) * (k + 1)
        mosaic[top : top + k, left : left + k] = kernel
    return matrix_image(mosaic, ax, title=title, colorbar=False)


def matrix_image(
    matrix: np.ndarray,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    label: str = "",
    colorbar: bool = True,
) -> Axes:
    """A matrix (e.g. a covariance, or one of its rows laid out on the kernel grid) as an
    image without ticks on a diverging colour scale centred at 0 (blue negative, red
    positive; NaN blank), with a colour bar labelled `label`."""
    ax = ax or plt.gca()
    limit = float(np.nanmax(np.abs(matrix))) or 1.0
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label=label)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax
