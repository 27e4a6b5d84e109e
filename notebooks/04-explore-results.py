# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explore any results folder
#
# What did a grid find? Point `RESULTS` (the next cell) at any folder written by
# `python -m experiments run` and run all cells: the runs' status, the cell table, the
# figures along the study's axes or any others, the paired contrasts, the learning curves
# of one cell, the weights' statistics, and every run sorted by a column. Nothing here
# trains; the numbers are the ones `python -m experiments report` writes. With papermill:
# `papermill 04-explore-results.ipynb out.ipynb -p RESULTS ../results/paper_tuned`.

# %%
import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Markdown, display

from experiments import analysis, figures, metrics, report
from experiments.config import is_config_column, study_from_meta
from experiments.store import RunStore
from experiments.study import analyse

sns.set_theme(style="whitegrid", palette="colorblind")

# %% tags=["parameters"]
RESULTS = "../results/default"  # a results folder
X = None  # the figures' x axis; None: the study's (e.g. "hidden_units", "seed", "dropout")
HUE = None  # one line per value of this column; None: the study's `compare`
METRIC = "test_error"  # the cell table's metric: test_error, val_error, gap_points, ...
CELL = None  # learning curves of one cell, e.g. {"hidden_units": 512}; None: the first x
SORT_BY = "test_error"  # the runs table's order (ascending)

# %% [markdown]
# ## The runs and the design
# How many of the grid's runs finished, and what the study block says: the axes, what is
# tuned on validation, the contrasts.

# %%
table, meta, notes = figures.load_results(RESULTS)
declared = study_from_meta(meta)
shown_metrics = list(dict.fromkeys([METRIC, *declared.metrics]))
weight_metrics = ["hidden_kernel_l2", "hidden_zero_fraction", "dead_units"]
study = declared.with_axes(
    x=X, compare=HUE, metrics=list(dict.fromkeys([*shown_metrics, *weight_metrics]))
)
result = analyse(table, meta, study)
print(f"{result.name}: {result.description}")
print("runs:", result.counts)
print(f"x = {study.x}, lines = {study.compare}, panels = {study.panels}, tuned = {study.tune}")
print("fixed:", ", ".join(f"{key}={value}" for key, value in result.fixed().items()))
for note in notes:
    print("note:", note)

# %% [markdown]
# ## The cell table
# Mean over seeds with its 95% t-interval; `(setting)` is the value chosen on validation
# where the study tunes one.

# %%
summary = result.summary[result.summary["metric"] == METRIC]
rows = [c for c in (study.panels, study.x) if c]
print(metrics.label(METRIC))
analysis.cell_table(summary, rows, "label")

# %% [markdown]
# ## Figures along the study's axes
# One figure per metric: points are means over seeds, bands 95% t-intervals.

# %%
for metric in shown_metrics:
    figures.metric_figure(result, metric)
    plt.show()

# %% [markdown]
# ## The paired contrasts
# Each declared contrast, seed by seed, Holm-corrected across the x values (only along the
# recorded axes: a quick look along others has none).

# %%
sections = report.contrast_sections(result)
display(Markdown("\n\n".join(sections) if sections else "No contrasts for these axes."))

# %% [markdown]
# ## Learning curves of one cell
# Training (dashed) and validation (solid) error per epoch, mean over seeds, for the runs
# matching `CELL`; and the hidden kernel's norm per epoch where the histories record it.

# %%
cell = CELL or {study.x: sorted(result.runs[study.x].unique())[0]}
chosen = result.where(**cell)
histories, missing = RunStore(RESULTS).histories_of(list(chosen.runs["run_id"]))
if missing:
    print(f"{len(missing)} runs have no history file")
if not histories.empty:
    figures.learning_curve_figure(chosen, figures.curves_table(chosen, histories))
    plt.show()
    if figures.recorded(histories, "hidden_kernel_l2"):
        norms = figures.curves_table(chosen, histories, "hidden_kernel_l2")
        figures.learning_curve_figure(chosen, norms, "hidden_kernel_l2")
        plt.show()

# %% [markdown]
# ## The weights
# Norms, sparsity and dead units per cell; where the runs recorded it, the histogram of the
# hidden weights' sizes (exact zeros at the left).

# %%
for metric in ("hidden_kernel_l2", "hidden_zero_fraction", "dead_units"):
    if metric not in shown_metrics:
        figures.metric_figure(result, metric)
        plt.show()
if figures.recorded(result.runs, "hidden_abs_counts"):
    figures.abs_histogram_figure(result, figures.abs_counts_table(result))
    plt.show()

# %% [markdown]
# ## Every run, sorted
# The settings that vary and the main metrics, one row per run used (sorted by `SORT_BY`).

# %%
varying = analysis.varying_columns(result.runs, [c for c in result.runs if is_config_column(c)])
shown = [*varying, "setting", "test_error", "val_error", "train_error", "epochs_run"]
result.runs[list(dict.fromkeys(shown))].sort_values(SORT_BY).reset_index(drop=True)
