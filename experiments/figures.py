"""A results folder's figures and tables, drawn from a `StudyResult`: the glue between
`study` (numbers) and `plots` (Axes). Everything lands in `<folder>/figures/`."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from experiments import metrics, plots
from experiments.priors import COVARIANCE, trained_filters
from experiments.priors import FIGURE as PRIOR_FIGURE  # its stem, named where the report's text is
from experiments.store import GRID_FILE, RunStore, read_grid_file
from experiments.study import StudyResult

FIGURES = "figures"
FORMATS = ("png", "svg")


def load_results(directory: str | Path) -> tuple[pd.DataFrame, dict, list[str]]:
    """A results folder's current `runs.csv` rows, its `grid.yaml` and notes on what reading
    found (a torn tail, duplicate rows); empty when nothing ran yet."""
    directory = Path(directory)
    store = RunStore(directory)
    runs = store.read() if store.runs_path.is_file() else pd.DataFrame()
    meta = read_grid_file(directory) if (directory / GRID_FILE).is_file() else {"runs": []}
    return runs, meta, list(store.notes)


def recorded(table: pd.DataFrame, column: str) -> bool:
    """True when every row of `table` has `column` (rows written before a column existed
    lack it: a figure from it would leave them out)."""
    return column in table and bool(table[column].notna().all())


def _panels(result: StudyResult) -> list:
    column = result.study.panels
    return sorted(result.runs[column].unique()) if column else [None]


def _seeds_note(n: pd.Series) -> str:
    if n.nunique() == 1:
        return f"mean and 95% t-interval over {int(n.iloc[0])} seeds" if n.iloc[0] > 1 else "1 seed"
    return "mean and 95% t-interval over seeds (n per point)"


def metric_figure(result: StudyResult, metric: str, hue: str = "label") -> plt.Figure:
    """`metric` against the study's x, one line per `hue`, one panel per `panels` value; where
    x has a single value, one row per `hue` value instead (`plots.metric_points`)."""
    study, panels = result.study, _panels(result)
    summary = result.summary[result.summary["metric"] == metric]
    single = summary[study.x].nunique() == 1
    size = (8, 1.4 + 0.45 * summary[hue].nunique()) if single else (6, 4.6)
    figure, axes = plt.subplots(
        1, len(panels), figsize=(size[0] * len(panels), size[1]), sharey=not single, squeeze=False
    )
    for ax, value in zip(axes[0], panels, strict=True):
        part = summary if value is None else summary[summary[study.panels] == value]
        title = None if value is None else f"{study.panels} = {value}"
        if single:
            plots.metric_points(part, ax, hue=hue, xlabel=metrics.label(metric), title=title)
        else:
            plots.metric_lines(
                part, ax, x=study.x, hue=hue, ylabel=metrics.label(metric), title=title
            )
    name = result.name or "results"
    only = summary[study.x].iloc[0]
    only = f"{only:g}" if pd.api.types.is_number(only) else only
    at = f", {study.x} = {only}" if single else ""
    figure.suptitle(
        f"{name}: {metrics.label(metric)} ({_seeds_note(summary['n'])}{at})", fontsize=11
    )
    figure.tight_layout()
    return figure


# history column -> (curves drawn from it, axis label, log scale): errors from accuracies
CURVES = {
    "error": ((("train", "train_accuracy"), ("validation", "val_accuracy")), "error (%)", True),
    "hidden_kernel_l2": ((("end of epoch", "hidden_kernel_l2"),), "hidden kernel L2 norm", False),
}


def versus_figure(result: StudyResult, metric: str) -> plt.Figure:
    """`metric` against the study's `versus` metric, run by run (`plots.metric_scatter`),
    one panel per `panels` value."""
    study, panels = result.study, _panels(result)
    figure, axes = plt.subplots(
        1, len(panels), figsize=(7.5 * len(panels), 5), sharey=True, squeeze=False
    )
    for ax, value in zip(axes[0], panels, strict=True):
        part = result.runs if value is None else result.runs[result.runs[study.panels] == value]
        plots.metric_scatter(
            part, ax, x=study.versus, y=metric, cell=result.cell,
            xlabel=metrics.label(study.versus), ylabel=metrics.label(metric),
            title=None if value is None else f"{study.panels} = {value}",
        )  # fmt: skip
    name = result.name or "results"
    figure.suptitle(
        f"{name}: {metrics.label(metric)} against {metrics.label(study.versus)}\n"
        "small points: runs; large: cell means",
        fontsize=11,
    )
    figure.tight_layout()
    return figure


def curves_table(result: StudyResult, histories: pd.DataFrame, kind: str = "error") -> pd.DataFrame:
    """Per-epoch curves of a `CURVES` kind, mean over the seeds of each used cell.

    `histories` is `RunStore.histories_of` output. Returns `epoch`, `split`, `value` (error in
    % for `error`: training and validation; the column itself otherwise), `label` and the
    study's x and panels columns. An epoch's mean is over the seeds that reached it.
    """
    study = result.study
    keys = [c for c in (study.x, study.panels) if c] + ["label"]
    joined = histories.merge(result.runs[["run_id", *keys]], on="run_id")
    parts = []
    for split, column in CURVES[kind][0]:
        values = joined[column]
        parts.append(
            joined.assign(split=split, value=100 * (1 - values) if kind == "error" else values)
        )
    long = pd.concat(parts)
    return long.groupby([*keys, "split", "epoch"], as_index=False)["value"].mean()


def _grid_figure(
    result: StudyResult, table: pd.DataFrame, draw: Callable[[pd.DataFrame, Axes, str], None]
) -> tuple[plt.Figure, int]:
    """One panel per x value (columns) and `panels` value (rows), each drawn by
    `draw(part of table, ax, title)`, with one legend below; returns the figure and the
    legend's rows (for the caller's `tight_layout`)."""
    study, panels = result.study, _panels(result)
    xs = sorted(table[study.x].unique())
    figure, axes = plt.subplots(
        len(panels), len(xs), figsize=(3.2 * len(xs), 2.8 * len(panels) + 0.6),
        sharey=True, squeeze=False,
    )  # fmt: skip
    for row, value in enumerate(panels):
        for col, x in enumerate(xs):
            part = table[table[study.x] == x]
            if value is not None:
                part = part[part[study.panels] == value]
            title = f"{study.x}={x:g}" if isinstance(x, int | float | np.number) else f"{x}"
            title += f", {study.panels}={value}" if value is not None else ""
            draw(part, axes[row][col], title)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # as many legend columns as fit the width (about 0.07 inch a character at size 8)
    widest = 0.07 * max(map(len, labels)) + 0.6
    columns = max(1, min(len(labels), int(figure.get_figwidth() // widest)))
    rows = -(-len(labels) // columns)
    figure.set_figheight(figure.get_figheight() + 0.22 * rows)
    figure.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8)
    return figure, rows


def _finish(figure: plt.Figure, legend_rows: int, title: str) -> plt.Figure:
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0.25 * legend_rows / figure.get_figheight(), 1, 1))
    return figure


def learning_curve_figure(
    result: StudyResult, curves: pd.DataFrame, kind: str = "error"
) -> plt.Figure:
    """`curves_table` output as `plots.learning_curves`, one panel per x and panels value."""
    _, ylabel, log = CURVES[kind]

    def draw(part: pd.DataFrame, ax: Axes, title: str) -> None:
        plots.learning_curves(part, ax, title=title, ylabel=ylabel, log=log)

    figure, rows = _grid_figure(result, curves, draw)
    what = "training (dashed) and validation (solid) error" if kind == "error" else ylabel
    return _finish(figure, rows, f"{result.name}: {what} against epochs")


def abs_counts_table(result: StudyResult) -> pd.DataFrame:
    """Per used cell and bin of `metrics.ABS_EDGES`, the mean over seeds of how many hidden
    weights fall in the bin (`bin` 0: exactly zero; `runner.abs_counts`). Columns: the
    study's x and panels, `label`, `bin`, `count`."""
    study = result.study
    keys = [c for c in (study.x, study.panels) if c] + ["label"]
    counts = result.runs["hidden_abs_counts"].map(json.loads)
    long = result.runs[keys].assign(count=counts).explode("count")
    long["bin"] = long.groupby(level=0).cumcount()
    long["count"] = long["count"].astype(float)
    return long.groupby([*keys, "bin"], as_index=False)["count"].mean()


def abs_histogram_figure(result: StudyResult, table: pd.DataFrame) -> plt.Figure:
    """`abs_counts_table` output as `plots.abs_histogram`, one panel per x and panels value."""

    def draw(part: pd.DataFrame, ax: Axes, title: str) -> None:
        plots.abs_histogram(part, ax, title=title)

    figure, rows = _grid_figure(result, table, draw)
    title = f"{result.name}: hidden weights by size (mean count over seeds)"
    return _finish(figure, rows, title)


def prior_figure(directory: str | Path) -> plt.Figure:
    """A fitted smooth-kernel prior (`priors.fit_prior`): the filters of the folder's first
    run, the covariance over the k*k kernel positions, and each position's correlation
    with the centre one, laid out on the kernel grid."""
    covariance = np.load(Path(directory) / COVARIANCE)
    kernels = trained_filters(directory)
    first = kernels[0]  # (k, k, c_in, H): its 2-D slices
    k = first.shape[0]
    filters = first.reshape(k, k, -1).transpose(2, 0, 1)
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), gridspec_kw={"width_ratios": [1.6, 1.1, 1]})
    plots.filter_mosaic(filters, axes[0], title=f"filters of the first run ({len(kernels)} runs)")
    plots.matrix_image(covariance, axes[1], title=f"fitted covariance ({k * k} positions)")
    centre = (k * k) // 2
    scale = np.sqrt(np.diag(covariance))
    correlation = covariance[centre] / (scale[centre] * scale)
    plots.matrix_image(
        correlation.reshape(k, k), axes[2], title="correlation with the centre position",
        label="correlation",
    )  # fmt: skip
    return _finish(figure, 0, "Smooth-kernel prior fitted from trained filters")


def _save(figure: plt.Figure, out: Path, stem: str, formats=FORMATS) -> list[Path]:
    paths = []
    for extension in formats:
        path = out / f"{stem}.{extension}"
        figure.savefig(path, dpi=110, metadata={"Date": None} if extension == "svg" else None)
        paths.append(path)
    plt.close(figure)
    return paths


def figure_stem(metric: str, x: str, hue: str | None = None) -> str:
    """`test_error_vs_hidden_units` (or `..._by_<hue>` for a quick look with another hue)."""
    return f"{metric}_vs_{x}" + (f"_by_{hue}" if hue else "")


Plan = list[tuple[str, tuple[str, ...], Callable[[], plt.Figure]]]


def planned_figures(
    result: StudyResult, histories: pd.DataFrame | None = None, directory: Path | None = None
) -> Plan:
    """What `draw_figures` draws, in order: `(file stem, formats, draw)` per figure. One
    figure per study metric (and against `versus`); given `histories`, the learning curves
    and, where recorded, the kernel-norm curves; the weight histogram where recorded; given
    the results `directory`, the fitted smooth-kernel prior where it has one."""
    study, plan = result.study, []
    for metric in dict.fromkeys(study.metrics):
        plan.append((figure_stem(metric, study.x), FORMATS, partial(metric_figure, result, metric)))
        if study.versus and metric != study.versus:
            stem = figure_stem(metric, study.versus)
            plan.append((stem, FORMATS, partial(versus_figure, result, metric)))
    if histories is not None and not histories.empty:
        errors = curves_table(result, histories)
        plan.append(("learning_curves", ("png",), partial(learning_curve_figure, result, errors)))
        if recorded(histories, "hidden_kernel_l2"):
            kind = "hidden_kernel_l2"
            curves = curves_table(result, histories, kind)
            draw = partial(learning_curve_figure, result, curves, kind)
            plan.append((f"{kind}_curves", ("png",), draw))
    if recorded(result.runs, "hidden_abs_counts"):
        draw = partial(abs_histogram_figure, result, abs_counts_table(result))
        plan.append(("hidden_weight_histogram", ("png",), draw))
    if directory is not None and (Path(directory) / COVARIANCE).is_file():
        plan.append((PRIOR_FIGURE, ("png",), partial(prior_figure, directory)))
    return plan


def draw_figures(
    directory: str | Path, result: StudyResult, histories: pd.DataFrame | None = None
) -> list[Path]:
    """Draw `planned_figures` into `<directory>/figures/`; returns the paths written."""
    plt.switch_backend("Agg")  # files only: no display on servers or in CI
    plt.rcParams["svg.hashsalt"] = "regularization-lab"  # the same SVG bytes on every redraw
    out = Path(directory) / FIGURES
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, formats, draw in planned_figures(result, histories, Path(directory)):
        written += _save(draw(), out, stem, formats)
    return written


def write_tables(directory: str | Path, result: StudyResult) -> list[Path]:
    """`summary.csv`, `contrasts.csv`, `crossover.csv` and `edges.csv` (where not empty)."""
    out = Path(directory) / FIGURES
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {
        "summary.csv": result.summary,
        "contrasts.csv": result.contrasts,
        "crossover.csv": result.crossovers,
        "edges.csv": result.edges,
    }
    for name, table in tables.items():
        path = out / name
        if table.empty:
            path.unlink(missing_ok=True)  # a table of an earlier analysis must not linger
            continue
        table.to_csv(path, index=False, float_format="%.6g")
        written.append(path)
    return written
