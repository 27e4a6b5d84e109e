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
# # The studies around the paper, one after another
#
# What do weight decay, L1, elastic net, the proximal steps and group-lasso pruning do,
# how does the benefit of regularization change with the amount of data, and does a
# smooth prior on convolution filters beat L2 with little data? Each study
# in `configs/` has its results committed in `results/<name>/`; this notebook walks through
# all of them with the same analysis as their generated `REPORT.md` (`make studies`): the
# question (the config's description), the figures, the paired contrasts. Nothing is
# trained and no number is typed by hand. For one study in depth, open
# `04-explore-results.ipynb` on its folder.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Markdown, display

from experiments import figures, report
from experiments.priors import COVARIANCE
from experiments.study import analyse

sns.set_theme(style="whitegrid", palette="colorblind")
plt.rcParams["figure.dpi"] = 72  # many figures: keep the committed notebook small
RESULTS = Path("../results")
# the default grid and the paper's protocols (01-paper-figures.ipynb and the README)
PAPER = (
    "default",
    "paper",
    "paper_tuned",
    "paper_recipe",
    "paper_corrected",
    "paper_tuned_corrected",
)
studies = sorted(
    p for p in RESULTS.iterdir() if (p / "REPORT.md").is_file() and p.name not in PAPER
)
print("studies with committed results:", ", ".join(p.name for p in studies))


# %% [markdown]
# For each study: its description and how many of its runs finished, its first two
# metrics (means over seeds, 95% t-intervals; the report has them all), where the study
# draws one metric against another
# (`versus`) that figure too, the histogram of hidden-weight sizes where the runs recorded
# it, the fitted prior where the study fitted one (filters, covariance), then its contrasts
# with their verdicts.


# %%
for folder in studies:
    table, meta, _ = figures.load_results(folder)
    result = analyse(table, meta)
    display(Markdown(f"## {result.name}\n\n{result.description}\n\nRuns: {result.counts}"))
    for metric in result.study.metrics[:2]:
        figures.metric_figure(result, metric)
        plt.show()
        if result.study.versus and metric != result.study.versus:
            figures.versus_figure(result, metric)
            plt.show()
    if figures.recorded(result.runs, "hidden_abs_counts"):
        figures.abs_histogram_figure(result, figures.abs_counts_table(result))
        plt.show()
    if (folder / COVARIANCE).is_file():
        figures.prior_figure(folder)
        plt.show()
    display(Markdown("\n\n".join(report.contrast_sections(result))))
