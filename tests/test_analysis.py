"""Analysis on tiny hand-made tables with exact answers, and the figures drawn from them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from experiments import analysis, figures, plots


def cell_runs(rows):
    """rows: (init, hidden_units, regularization, [test errors in %])."""
    records = []
    for init, size, regularization, errors in rows:
        for seed, error in enumerate(errors):
            records.append(
                {
                    "status": "ok", "init": init, "hidden_units": size, "seed": seed,
                    "regularization": regularization, "test_accuracy": 1 - error / 100,
                    "train_accuracy": 1.0, "val_accuracy": 1 - error / 100,
                    "hidden_kernel_l2": float(size),
                }
            )  # fmt: skip
    return analysis.generalization_gap(analysis.with_errors(pd.DataFrame(records)))


def test_summarise_mean_and_t_interval():
    runs = cell_runs([("random", 16, "l2", [1.0, 2.0, 3.0])])
    row = analysis.summarise(runs, ["regularization", "hidden_units"], "test_error").iloc[0]
    assert row["mean"] == pytest.approx(2.0) and row["std"] == pytest.approx(1.0)
    half = 4.302652729911275 / np.sqrt(3)  # t_{0.975, 2} * std / sqrt(n)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2.0 - half, 2.0 + half))
    assert row["n"] == 3


def test_summarise_single_run_has_no_spread():
    runs = cell_runs([("random", 16, "l2", [1.5])])
    row = analysis.summarise(runs, ["hidden_units"], "test_error").iloc[0]
    assert row["ci_low"] == row["ci_high"] == pytest.approx(1.5) and np.isnan(row["std"])


def test_errors_and_gap_are_in_percent():
    runs = cell_runs([("random", 16, "none", [2.5])])
    assert runs.loc[0, "test_error"] == pytest.approx(2.5)
    assert runs.loc[0, "gap_points"] == pytest.approx(2.5)


def summary_of(rows):
    return analysis.summarise(cell_runs(rows), ["regularization", "hidden_units"], "test_error")


def test_crossover_is_the_first_size_with_separate_intervals():
    summary = summary_of(
        [
            ("random", 16, "l2", [2.0, 2.1, 2.2]),
            ("random", 16, "dropout", [3.0, 3.1, 3.2]),
            ("random", 64, "l2", [2.0, 2.2, 2.4]),
            ("random", 64, "dropout", [1.9, 2.1, 2.3]),  # lower mean, intervals overlap
            ("random", 256, "l2", [2.0, 2.1, 2.2]),
            ("random", 256, "dropout", [1.0, 1.1, 1.2]),
            ("random", 1024, "l2", [2.0, 2.1, 2.2]),
            ("random", 1024, "dropout", [0.9, 1.0, 1.1]),
        ]
    )
    assert analysis.crossover(summary) == 256


def test_no_crossover_ties_and_single_runs():
    tie = summary_of([("r", 16, "l2", [2.0, 2.0]), ("r", 16, "dropout", [2.0, 2.0])])
    assert analysis.crossover(tie) is None
    never = summary_of([("r", 16, "l2", [1.0, 1.1]), ("r", 16, "dropout", [2.0, 2.1])])
    assert analysis.crossover(never) is None
    single = summary_of([("r", 16, "l2", [2.0]), ("r", 16, "dropout", [1.0])])
    assert analysis.crossover(single) is None  # one run per point: no interval to separate


def test_select_on_validation_keeps_the_best_setting_per_cell():
    runs = pd.DataFrame(
        {
            "init": ["random"] * 6,
            "hidden_units": [16] * 6,
            "regularization": ["l2"] * 4 + ["none"] * 2,
            "hidden_regularizer.l2": [1e-4, 1e-4, 1e-3, 1e-3, np.nan, np.nan],
            "seed": [0, 1, 0, 1, 0, 1],
            "val_accuracy": [0.90, 0.92, 0.95, 0.93, 0.80, 0.81],
            "test_accuracy": [0.99, 0.99, 0.10, 0.10, 0.5, 0.5],  # never used to choose
        }
    )
    chosen = analysis.select_on_validation(runs, ["hidden_regularizer.l2", "dropout"])
    l2 = chosen[chosen["regularization"] == "l2"]
    assert set(l2["hidden_regularizer.l2"]) == {1e-3} and len(l2) == 2
    assert len(chosen[chosen["regularization"] == "none"]) == 2
    assert list(chosen.columns) == list(runs.columns)
    settings = analysis.chosen_setting(chosen, ["hidden_regularizer.l2", "dropout"])
    assert settings.tolist() == ["hidden_regularizer.l2=0.001"] * 2 + [""] * 2


def test_paired_difference_pairs_by_seed():
    runs = cell_runs(
        [
            ("random", 16, "l2", [2.0, 3.0, 4.0]),
            ("autoencoder", 16, "l2", [1.5, 2.0, 4.5]),  # differences -0.5, -1.0, +0.5
            ("random", 64, "l2", [1.0, 1.0]),  # no autoencoder partner: dropped
        ]
    )
    table = analysis.paired_difference(
        runs, "init", "autoencoder", "random", ["regularization", "hidden_units"], "test_error"
    )
    assert table["hidden_units"].tolist() == [16] and table["n"].item() == 3
    assert table["mean"].item() == pytest.approx(-1 / 3)
    half = 4.302653 * np.std([-0.5, -1.0, 0.5], ddof=1) / np.sqrt(3)  # t_{0.975, 2}
    assert table["ci_high"].item() == pytest.approx(-1 / 3 + half, rel=1e-5)
    assert figures.pretraining_effect(runs)["mean"].item() == pytest.approx(-1 / 3)
    with pytest.raises(ValueError, match="autoencoder"):
        analysis.paired_difference(
            runs[runs["init"] == "random"], "init", "autoencoder", "random", ["hidden_units"],
            "test_error",
        )  # fmt: skip


def test_interval_table_formats_mean_interval_and_setting():
    summary = pd.DataFrame(
        {
            "init": ["random", "random"], "hidden_units": [16, 16],
            "regularization": ["l2", "none"], "mean": [1.234, 2.0], "ci_low": [1.0, 1.5],
            "ci_high": [1.4686, 2.5], "setting": ["hidden_regularizer.l2=0.001", np.nan],
            "n": [5, 3],
        }
    )  # fmt: skip
    table = analysis.interval_table(summary)
    assert table.loc[("random", 16), "l2"] == "1.23 [1.00, 1.47] (hidden_regularizer.l2=0.001)"
    assert table.loc[("random", 16), "none"] == "2.00 [1.50, 2.50]"
    single = analysis.interval_table(summary.assign(n=1, setting=""))
    assert single.loc[("random", 16), "l2"] == "1.23"  # one run: no interval to show


def test_figure_functions_draw_and_label(tmp_path):
    runs = cell_runs(
        [
            (init, size, regularization, [1.0 + size / 1000, 1.2 + size / 1000])
            for init in ("random", "autoencoder")
            for size in (16, 64)
            for regularization in ("l2", "dropout")
        ]
    )
    summary = analysis.summarise(runs, ["regularization", "hidden_units"], "test_error")
    ax = plots.metric_vs_hidden_units(summary, ylabel="test error (%)")
    assert ax.get_xlabel() == "hidden units" and ax.get_ylabel() == "test error (%)"
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dropout", "l2"]
    plt.close("all")
    figure = figures.metric_figure(runs, "gap_points", "gap")
    assert len(figure.axes) == 2 and figure.axes[0].get_title() == "autoencoder initialization"
    plt.close(figure)
    paths, summary, found = figures.draw_figures(tmp_path, runs)
    assert {p.name for p in paths} >= {f"{stem}.png" for stem in figures.PANELS}
    assert {"summary.csv", "pretraining.csv", "crossover.csv"} <= {p.name for p in paths}
    written = pd.read_csv(tmp_path / "figures" / "summary.csv")
    assert len(written) == 2 * 2 * 2 * len(figures.PANELS)  # inits x sizes x regs x metrics
    cell = written.query(
        "init == 'random' and hidden_units == 64 and regularization == 'l2'"
        " and metric == 'test_error'"
    )
    assert cell["mean"].item() == pytest.approx(1.164) and cell["n"].item() == 2
    assert len(summary) == len(written)
    assert found == {"autoencoder": None, "random": None}
    single = runs[runs["seed"] == 0]
    assert figures.crossovers(single) == dict.fromkeys(
        ["autoencoder", "random"], figures.UNREPLICATED
    )
    assert pd.read_csv(tmp_path / "figures" / "crossover.csv")["init"].tolist() == [
        "autoencoder", "random",
    ]  # fmt: skip
