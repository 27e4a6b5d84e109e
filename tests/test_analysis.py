"""Analysis on tiny hand-made tables with exact answers; the study, figures and report on top."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments import analysis, figures, plots, report
from experiments.config import Contrast, Study
from experiments.metrics import ABS_EDGES
from experiments.study import analyse, contrasts_by_kind

T2 = 4.302652729911275  # t_{0.975, 2}


def cell_runs(rows, **extra):
    """rows: (init, hidden_units, regularization, [test errors in %, one per seed])."""
    records = []
    for init, size, regularization, errors in rows:
        for seed, error in enumerate(errors):
            records.append(
                {
                    "run_id": f"{init}-{size}-{regularization}-{seed}", "status": "ok",
                    "init": init, "hidden_units": size, "seed": seed,
                    "regularization": regularization, "test_accuracy": 1 - error / 100,
                    "train_accuracy": 1.0, "val_accuracy": 1 - error / 100,
                    "hidden_kernel_l2": float(size), **extra,
                }
            )  # fmt: skip
    return analysis.generalization_gap(analysis.with_errors(pd.DataFrame(records)))


def test_summarise_mean_and_t_interval():
    runs = cell_runs([("random", 16, "l2", [1.0, 2.0, 3.0])])
    row = analysis.summarise(runs, ["regularization", "hidden_units"], "test_error").iloc[0]
    assert row["mean"] == pytest.approx(2.0) and row["std"] == pytest.approx(1.0)
    half = T2 / np.sqrt(3)  # t_{0.975, 2} * std / sqrt(n)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2.0 - half, 2.0 + half))
    assert row["n"] == 3


def test_a_mean_over_one_run_has_no_interval():
    runs = cell_runs([("random", 16, "l2", [1.5])])
    row = analysis.summarise(runs, ["hidden_units"], "test_error").iloc[0]
    assert row["mean"] == pytest.approx(1.5)
    assert np.isnan(row["std"]) and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    assert analysis.format_interval(1.5, row["ci_low"], row["ci_high"]) == "1.50"


def test_errors_and_gap_are_in_percent():
    runs = cell_runs([("random", 16, "none", [2.5])])
    assert runs.loc[0, "test_error"] == pytest.approx(2.5)
    assert runs.loc[0, "gap_points"] == pytest.approx(2.5)


def test_varying_columns_count_blanks_and_leave_out_the_seed():
    runs = pd.DataFrame(
        {
            "seed": [0, 1, 0, 1],
            "hidden_units": [16, 16, 16, 16],
            "dropout": [0.0, 0.0, 0.5, 0.5],
            "hidden_regularizer.l2": [1e-4, 1e-4, np.nan, np.nan],
            "learning_rate": [0.1, 0.1, 0.1, 0.1],
        }
    )
    assert analysis.varying_columns(runs, list(runs.columns)) == [
        "dropout", "hidden_regularizer.l2",
    ]  # fmt: skip


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
    cell = ["init", "hidden_units", "regularization"]
    chosen = analysis.select_on_validation(runs, ["hidden_regularizer.l2", "dropout"], cell)
    l2 = chosen[chosen["regularization"] == "l2"]
    assert set(l2["hidden_regularizer.l2"]) == {1e-3} and len(l2) == 2
    assert len(chosen[chosen["regularization"] == "none"]) == 2
    assert list(chosen.columns) == list(runs.columns)
    settings = analysis.chosen_setting(chosen, ["hidden_regularizer.l2", "dropout"])
    assert settings.tolist() == ["hidden_regularizer.l2=0.001"] * 2 + [""] * 2
    # judged at each run's best epoch, 1e-4 wins: the accuracy that goes with test_error_at_best
    runs["best_val_accuracy"] = [0.97, 0.97, 0.95, 0.96, 0.9, 0.9]
    by = analysis.validation_column("test_error_at_best")
    assert by == "best_val_accuracy" and analysis.validation_column("test_error") == "val_accuracy"
    chosen = analysis.select_on_validation(runs, ["hidden_regularizer.l2"], cell, by)
    assert set(chosen[chosen["regularization"] == "l2"]["hidden_regularizer.l2"]) == {1e-4}


def test_holm_adjusts_step_down_and_keeps_nan():
    adjusted = analysis.holm([0.01, 0.04, np.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 over m = 3: 0.03, max(0.03, 0.06), max(0.06, 0.04)
    assert adjusted[[0, 3, 1]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(adjusted[2])


def contrast_of(rows, margin=0.1):
    runs = cell_runs(rows).assign(setting="")
    return analysis.paired_contrasts(
        runs, "regularization", "dropout", "l2", ["hidden_units", "regularization"],
        "test_error", x="hidden_units", margin=margin,
    ).set_index("hidden_units")  # fmt: skip


def test_paired_contrast_by_seed_with_holm_across_sizes():
    table = contrast_of(
        [
            ("random", 16, "l2", [2.0, 3.0, 4.0]),
            ("random", 16, "dropout", [1.5, 2.0, 4.5]),  # differences -0.5, -1.0, +0.5
            ("random", 64, "l2", [2.0, 2.0, 2.0]),
            ("random", 64, "dropout", [1.0, 0.9, 1.1]),  # differences -1.0, -1.1, -0.9
        ]
    )
    small, large = table.loc[16], table.loc[64]
    assert small["n"] == 3 and small["mean"] == pytest.approx(-1 / 3)
    sd = np.std([-0.5, -1.0, 0.5], ddof=1)
    assert small["ci_high"] == pytest.approx(-1 / 3 + T2 * sd / np.sqrt(3))
    assert large["mean"] == pytest.approx(-1.0) and large["std"] == pytest.approx(0.1)
    p_large = 2 * stats.t.sf(1.0 / (0.1 / np.sqrt(3)), 2)
    p_small = 2 * stats.t.sf((1 / 3) / (sd / np.sqrt(3)), 2)
    assert large["p"] == pytest.approx(p_large) and small["p"] == pytest.approx(p_small)
    assert large["p_holm"] == pytest.approx(2 * p_large)  # the smaller p, times m = 2
    assert small["p_holm"] == pytest.approx(max(2 * p_large, p_small))
    # the adjusted interval excludes zero exactly when the Holm test rejects at 0.05
    assert large["ci_high_adj"] < 0 and large["verdict"] == "a better"
    assert small["ci_low_adj"] < 0 < small["ci_high_adj"] and small["verdict"] == "inconclusive"
    assert (small["mean_a"], small["mean_b"]) == pytest.approx((8 / 3, 3.0))


def test_a_tie_needs_the_interval_inside_the_margin():
    rows = [
        ("random", 16, "l2", [2.0] * 5),
        ("random", 16, "dropout", [2.01, 1.99, 2.0, 2.02, 1.98]),
    ]
    assert contrast_of(rows, margin=0.1).loc[16, "verdict"] == "equivalent"
    assert contrast_of(rows, margin=0.01).loc[16, "verdict"] == "inconclusive"
    single = contrast_of([("r", 16, "l2", [2.0]), ("r", 16, "dropout", [1.0])])
    assert single.loc[16, "verdict"] == "inconclusive" and single.loc[16, "n"] == 1


def test_a_verdict_needs_three_seeds_even_when_two_differences_are_equal():
    # test errors come in steps of 0.01 points: two seeds often give equal differences,
    # whose zero spread would pass any test
    two = contrast_of([("r", 16, "l2", [2.15, 2.15]), ("r", 16, "dropout", [2.30, 2.30])])
    assert two.loc[16, "n"] == 2 and two.loc[16, "std"] == 0
    assert np.isnan(two.loc[16, "p"]) and two.loc[16, "verdict"] == "inconclusive"
    three = contrast_of([("r", 16, "l2", [2.15] * 3), ("r", 16, "dropout", [2.30] * 3)])
    assert three.loc[16, "p"] == 0 and three.loc[16, "verdict"] == "b better"


def verdicts(sequence):
    return pd.DataFrame({"hidden_units": [16, 64, 256, 1024], "verdict": sequence})


def test_crossover_from_verdicts():
    b, a, tie, unsure = "b better", "a better", "equivalent", "inconclusive"
    assert analysis.crossover(verdicts([b, unsure, a, a]), "hidden_units") == (256, True)
    assert analysis.crossover(verdicts([b, a, unsure, a]), "hidden_units") == (64, False)
    assert analysis.crossover(verdicts([b, a, b, a]), "hidden_units") == (1024, True)
    assert analysis.crossover(verdicts([b, tie, tie, tie]), "hidden_units") == (None, False)
    assert analysis.crossover(verdicts([unsure, a, a, a]), "hidden_units") == (None, False)


def test_edge_flags_name_the_cell_and_the_side():
    runs = pd.DataFrame(
        {
            "hidden_units": [16, 16, 16, 64, 64, 64],
            "hidden_regularizer.l2": [1e-5, 1e-4, 1e-3] * 2,
            "val_accuracy": [0.9, 0.8, 0.7, 0.7, 0.9, 0.8],
            "seed": [0] * 6,
        }
    )
    chosen = analysis.select_on_validation(runs, ["hidden_regularizer.l2"], ["hidden_units"])
    flags = analysis.edge_flags(runs, chosen, ["hidden_regularizer.l2"], ["hidden_units"])
    assert flags[["hidden_units", "chosen", "edge"]].values.tolist() == [[16, 1e-5, "low"]]
    assert flags.loc[0, "searched"] == "1e-05, 0.0001, 0.001"
    # a cell column that is blank for these runs (an argument of another arm's regularizer)
    blank = runs.assign(**{"hidden_regularizer.l1_ratio": np.nan})
    cell = ["hidden_units", "hidden_regularizer.l1_ratio"]
    chosen = analysis.select_on_validation(blank, ["hidden_regularizer.l2"], cell)
    flags = analysis.edge_flags(blank, chosen, ["hidden_regularizer.l2"], cell)
    assert flags[["hidden_units", "chosen", "edge"]].values.tolist() == [[16, 1e-5, "low"]]


def meta_of(runs, **study):
    return {"name": "toy", "runs": [{"run_id": r} for r in runs["run_id"]], "study": study}


def test_cells_are_every_varying_setting_so_a_strength_sweep_is_never_pooled():
    runs = pd.concat(
        [
            cell_runs([("random", 64, "l1", [3.0 + strength, 3.1 + strength])]).assign(
                **{"hidden_regularizer.l1": strength},
                run_id=lambda t, s=strength: t["run_id"] + f"-{s}",
            )
            for strength in (1e-5, 1e-4, 1e-3)
        ]
        + [cell_runs([("random", 64, "none", [3.5, 3.6])])]
    )
    result = analyse(runs, meta_of(runs))
    assert "hidden_regularizer.l1" in result.cell and "seed" not in result.cell
    errors = result.summary[result.summary["metric"] == "test_error"]
    l1 = errors[errors["regularization"] == "l1"]
    assert len(l1) == 3 and set(l1["n"]) == {2}  # one row per strength, n = seeds
    assert sorted(l1["label"], key=analysis.label_key) == [
        "l1 l1=1e-05",
        "l1 l1=1e-04",
        "l1 l1=1e-03",
    ]
    table = analysis.cell_table(errors, ["hidden_units"], "label")
    assert list(table.columns) == ["l1 l1=1e-05", "l1 l1=1e-04", "l1 l1=1e-03", "none"]
    assert sorted(["0.001", "1e-05", "none", "0.0001"], key=analysis.label_key) == [
        "1e-05", "0.0001", "0.001", "none",
    ]  # fmt: skip


def tuned_runs():
    """Two sizes; L2 at two strengths (tuned), dropout, 3 seeds; L2 1e-3 wins at 16 only."""
    rows = []
    for size, errors in ((16, (2.0, 4.0, 3.0)), (64, (1.0, 3.0, 2.0))):
        l2_weak, l2_strong, dropout = errors
        for seed in range(3):
            for regularization, l2, error, val in (
                ("l2", 1e-4, l2_weak + 0.1 * seed, 0.9 if size == 64 else 0.8),
                ("l2", 1e-3, l2_strong + 0.1 * seed, 0.8 if size == 64 else 0.9),
                ("dropout", np.nan, dropout + 0.1 * seed - (0.5 if size == 64 else 0), 0.85),
            ):
                rows.append(
                    {
                        "run_id": f"{size}-{regularization}-{l2}-{seed}", "status": "ok",
                        "hidden_units": size, "seed": seed, "regularization": regularization,
                        "hidden_regularizer.l2": l2, "test_accuracy": 1 - error / 100,
                        "val_accuracy": val, "train_accuracy": 1.0, "hidden_kernel_l2": 1.0,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_tuned_contrast_pairs_each_arm_at_its_chosen_setting():
    runs = tuned_runs()
    result = analyse(
        runs,
        meta_of(
            runs,
            tune=["hidden_regularizer.l2"],
            contrasts=[{"a": "dropout", "b": "l2"}],
            metrics=["test_error"],
        ),
    )
    contrast = result.contrasts.set_index("hidden_units")
    assert contrast.loc[16, "setting_b"] == "hidden_regularizer.l2=0.001"
    assert contrast.loc[64, "setting_b"] == "hidden_regularizer.l2=0.0001"
    # 16 units: dropout (3.0..3.2) minus L2 1e-3 (4.0..4.2): -1.0 every seed; 64: 0.5
    assert contrast.loc[16, "mean"] == pytest.approx(-1.0)
    assert contrast.loc[64, "mean"] == pytest.approx(0.5)
    assert contrast.loc[16, "verdict"] == "a better" and contrast.loc[64, "verdict"] == "b better"
    assert result.crossovers["crossover_hidden_units"].tolist() == ["none"]
    assert result.edges["edge"].tolist() == ["high", "low"]  # each size picks an end
    assert "hidden_regularizer.l2" not in result.cell


def test_figures_and_report_from_a_study(tmp_path):
    runs = cell_runs(
        [
            (init, size, regularization, [s + size / 1000 + d for s in (1.0, 1.2, 1.1)])
            for init in ("random", "autoencoder")
            for size in (16, 64)
            for regularization, d in (("l2", 0.0), ("dropout", 0.5))
        ]
    )
    study = Study(panels="init", contrasts=[Contrast(a="dropout", b="l2")])
    result = analyse(runs, meta_of(runs), study)
    ax = plots.metric_lines(
        result.summary[(result.summary["metric"] == "test_error") & (runs["init"] == "random")],
        x="hidden_units", ylabel="test error (%)",
    )  # fmt: skip
    assert ax.get_xlabel() == "hidden_units" and ax.get_ylabel() == "test error (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dropout", "l2"]
    markers = {line.get_marker() for line in ax.get_lines()}
    assert len(markers) == 2  # told apart by marker as well as colour
    plt.close("all")
    figure = figures.metric_figure(result, "gap_points")
    assert [a.get_title() for a in figure.axes] == ["init = autoencoder", "init = random"]
    plt.close(figure)
    paths = figures.draw_figures(tmp_path, result)
    names = {p.name for p in paths}
    assert {"test_error_vs_hidden_units.png", "test_error_vs_hidden_units.svg"} <= names
    written = {p.name for p in figures.write_tables(tmp_path, result)}
    assert {"summary.csv", "contrasts.csv", "crossover.csv"} <= written
    summary = pd.read_csv(tmp_path / "figures" / "summary.csv")
    cell = summary.query(
        "init == 'random' and hidden_units == 64 and regularization == 'l2'"
        " and metric == 'test_error'"
    )
    assert cell["mean"].item() == pytest.approx(1.164) and cell["n"].item() == 3
    text = report.render(result, "toy", paths)
    assert "### dropout − l2 (regularization), init = random" in text
    assert "| 64 | 3 | 1.66 | 1.16 | 0.50 [0.50, 0.50]" in text  # dropout 0.5 worse, every seed
    assert "**l2 better**" in text and "Crossover: none." in text
    assert "![test_error_vs_hidden_units](figures/test_error_vs_hidden_units.png)" in text


def test_a_study_at_one_x_value_is_a_row_per_arm_named_only_as_far_as_needed(tmp_path):
    """One hidden size; max-norm + dropout at two learning rates (its second cell, a recipe
    that also bounds the output layer), the other arms at one: only the arm with two cells is
    labelled, by learning rate and output constraint but not by that constraint's arguments,
    the report's table has a row per arm and the figure a row per arm, the lowest mean on
    top."""
    runs = cell_runs(
        [
            ("random", 1024, "l2", [1.6, 1.7, 1.65]),
            ("random", 1024, "max_norm+dropout", [1.3, 1.35, 1.4]),
            ("random", 1024, "none", [1.9, 2.0, 1.95]),
        ]
    ).assign(learning_rate=0.05, output_constraint="none")
    recipe = cell_runs([("random", 1024, "max_norm+dropout", [1.0, 1.1, 1.05])]).assign(
        learning_rate=0.2, run_id=lambda t: t["run_id"] + "-recipe",
        output_constraint="max_norm", **{"output_constraint.max_value": 3.0},
    )  # fmt: skip
    runs = pd.concat([runs, recipe], ignore_index=True)
    result = analyse(runs, meta_of(runs), Study(metrics=["test_error"]))
    assert sorted(set(result.runs["label"]), key=analysis.label_key) == [
        "l2",
        "max_norm+dropout learning_rate=0.05 output_constraint=none",
        "max_norm+dropout learning_rate=0.2 output_constraint=max_norm",
        "none",
    ]
    text = report.render(result, "toy", [])
    assert "| regularization | hidden_units = 1024 |" in text
    recipe_label = "max_norm+dropout learning_rate=0.2 output_constraint=max_norm"
    assert f"| {recipe_label} | 1.05 [0.93, 1.17] |" in text
    figure = figures.metric_figure(result, "test_error")
    (ax,) = figure.axes
    rows = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
    assert rows == [
        "max_norm+dropout learning_rate=0.2 output_constraint=max_norm",
        "max_norm+dropout learning_rate=0.05 output_constraint=none",
        "l2",
        "none",
    ]  # best (lowest error) on top: the y axis runs downwards
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    assert ax.get_xlabel() == "test error (%)"
    assert "hidden_units = 1024" in figure.texts[0].get_text()
    plt.close(figure)


def test_curves_average_history_columns_over_seeds_and_draw_the_norm_trajectories(tmp_path):
    runs = cell_runs(
        [(init, 16, reg, [1.0, 2.0]) for init in ("random",) for reg in ("l2", "none")]
    )
    result = analyse(runs, meta_of(runs))
    histories = pd.concat(
        pd.DataFrame({
            "run_id": run_id, "epoch": [1, 2], "train_accuracy": [0.9, 0.95],
            "val_accuracy": [0.8, 0.9], "hidden_kernel_l2": [k + 1.0, k + 3.0],
        })
        for k, run_id in enumerate(runs["run_id"])
    )  # fmt: skip
    norms = figures.curves_table(result, histories, "hidden_kernel_l2")
    assert set(norms["split"]) == {"end of epoch"}
    l2 = norms[norms["label"] == "l2"].set_index("epoch")["value"]  # runs 0 and 1: k = 0, 1
    assert l2.to_dict() == {1: pytest.approx(1.5), 2: pytest.approx(3.5)}
    errors = figures.curves_table(result, histories)
    assert set(errors["split"]) == {"train", "validation"}
    assert (
        errors.query("split == 'validation' and epoch == 1")["value"].tolist()
        == [pytest.approx(20.0)] * 2
    )
    names = {p.name for p in figures.draw_figures(tmp_path, result, histories)}
    assert {"learning_curves.png", "hidden_kernel_l2_curves.png"} <= names
    assert "hidden_weight_histogram.png" not in names  # these runs have no histogram
    older = histories.drop(columns="hidden_kernel_l2")  # histories written before the column
    names = {p.name for p in figures.draw_figures(tmp_path / "old", result, older)}
    assert "learning_curves.png" in names and "hidden_kernel_l2_curves.png" not in names


def test_the_late_gain_is_what_the_second_half_of_training_added(tmp_path):
    histories = pd.DataFrame({
        "run_id": ["flat"] * 4 + ["rising"] * 5 + ["short"],
        "epoch": [4, 3, 2, 1, 1, 2, 3, 4, 5, 1],  # order on disk does not matter
        "val_accuracy": [0.92, 0.91, 0.92, 0.90, 0.80, 0.85, 0.90, 0.92, 0.95, 0.5],
    })  # fmt: skip
    gains = analysis.late_gain(histories).set_index("run_id")["late_gain_points"]
    assert gains["flat"] == pytest.approx(0.0)  # epoch 2 already reached the best
    assert gains["rising"] == pytest.approx(10.0)  # 95% against 85% by epoch 2 of 5
    assert np.isnan(gains["short"])
    runs = cell_runs([("random", 16, reg, [1.0, 2.0, 1.5]) for reg in ("l2", "none")])
    rising = [0.80, 0.85, 0.90, 0.95]
    histories = pd.concat(
        pd.DataFrame({
            "run_id": run_id, "epoch": [1, 2, 3, 4],
            "val_accuracy": rising if run_id.startswith("random-16-l2") else [0.9] * 4,
        })
        for run_id in runs["run_id"]
    )  # fmt: skip
    result = analyse(runs, meta_of(runs)).with_metric(analysis.late_gain(histories))
    assert result.runs.groupby("regularization")["late_gain_points"].mean().to_dict() == {
        "l2": pytest.approx(10.0), "none": pytest.approx(0.0)
    }  # fmt: skip
    text = report.render(result, "toy", [])
    section = text.split("## Training budget")[1].split("## Contrasts")[0]
    assert "| l2 | 10.00 [10.00, 10.00] |\n| none | 0.00 [0.00, 0.00] |" in section
    written = pd.read_csv(figures.write_tables(tmp_path, result)[0])
    assert "late_gain_points" in set(written["metric"])
    assert "## Training budget" not in report.render(analyse(runs, meta_of(runs)), "toy", [])


def test_a_contrast_whose_arm_has_not_run_yet_is_left_out_with_a_note():
    runs = cell_runs([("random", 16, reg, [1.0, 2.0]) for reg in ("l2", "none")])
    study = Study(contrasts=[Contrast(a="l2", b="none"), Contrast(a="dropout", b="none")])
    result = analyse(runs, meta_of(runs), study)
    assert set(result.contrasts["a"]) == {"l2"}
    assert result.notes == [
        "Contrast dropout − none (regularization) left out: no finished run with "
        "regularization = dropout yet."
    ]
    assert result.notes[0] in report.render(result, "toy", [])
    assert "Keras backends" not in report.render(result, "toy", [])  # only when they differ


def test_a_report_says_which_seeds_each_backend_trained():
    runs = cell_runs([("random", 16, reg, [1.0, 2.0, 3.0]) for reg in ("l2", "none")])
    runs["backend"] = ["tensorflow" if seed == 0 else "jax" for seed in runs["seed"]]
    text = report.render(analyse(runs, meta_of(runs)), "toy", [])
    assert "- Keras backends: jax: 4 runs, seeds 1, 2; tensorflow: 2 runs, seeds 0." in text


def test_units_kept_and_a_metric_drawn_against_another(tmp_path):
    runs = cell_runs([("random", size, "none", [1.0, 2.0]) for size in (16, 64)])
    pruned = cell_runs([("random", 64, "proximal_group_lasso", [1.5, 2.5])])
    runs = pd.concat([runs, pruned], ignore_index=True)
    runs["zero_units"] = [0, 0, 0, 0, 40, 50]
    derived = analysis.with_derived(runs)
    assert derived["units_kept"].tolist() == [16, 16, 64, 64, 24, 14]
    study = Study(metrics=["test_error"], versus="units_kept")
    result = analyse(runs, meta_of(runs), study)
    ax = plots.metric_scatter(
        result.runs, x="units_kept", y="test_error", cell=result.cell, xlabel="kept"
    )
    means = {line.get_label(): line.get_xydata() for line in ax.get_lines()}
    np.testing.assert_allclose(means["proximal_group_lasso"], [[19.0, 2.0]])  # one cell's means
    np.testing.assert_allclose(means["none"], [[16.0, 1.5], [64.0, 1.5]])
    plt.close("all")
    names = {p.name for p in figures.draw_figures(tmp_path, result)}
    assert "test_error_vs_units_kept.png" in names


def test_the_report_sets_the_pretraining_against_the_mean_image():
    runs = cell_runs([(init, 16, reg, [1.0, 2.0]) for init in ("random", "autoencoder")
                      for reg in ("l2", "none")])  # fmt: skip
    pretrained = runs["init"] == "autoencoder"
    runs["pretrain_loss"] = np.where(pretrained, 0.1 + 0.02 * runs["seed"], np.nan)
    runs["pretrain_baseline_loss"] = np.where(pretrained, 0.26, np.nan)
    lines = report.pretraining_section(analyse(runs, meta_of(runs)))
    assert lines[0] == "## Autoencoder pretraining"
    assert "| 16 | 2 | 0.110 | 0.260 | 0.42 |" in lines[-1]  # seeds 0, 1: mean 0.11
    plain = runs.drop(columns=["pretrain_loss", "pretrain_baseline_loss"])
    assert report.pretraining_section(analyse(plain, meta_of(plain))) == []


def test_a_setting_that_follows_x_does_not_split_the_holm_family():
    """A data-size grid gives each size its own epochs: the contrasts across sizes are still
    one family, corrected together, with one crossover line."""
    arms = (("none", [1.0, 1.3, 1.1]), ("dropout", [0.6, 0.7, 0.5]))
    rows = [("random", size, reg, errors) for size in (100, 1000, 10000) for reg, errors in arms]
    runs = cell_runs(rows)
    runs["epochs"] = runs["hidden_units"].map({100: 300, 1000: 150, 10000: 50})
    assert analysis.follows(runs, "epochs", "hidden_units")
    assert not analysis.follows(runs, "regularization", "hidden_units")
    study = Study(contrasts=[Contrast(a="dropout", b="none")])
    result = analyse(runs, meta_of(runs), study)
    contrast = result.contrasts
    assert len(contrast) == 3 and contrast["p_holm"].nunique() == 1  # one family of three
    assert (contrast["p_holm"] > contrast["p"]).all()
    assert len(result.crossovers) == 1
    ((_, columns),) = list(contrasts_by_kind(result))
    assert "epochs" not in columns


def test_a_contrast_of_another_factor_names_the_arm_it_is_paired_within():
    """Pretraining compared inside the one L2 arm: the title says which arm, although it is
    the only value of `regularization` in the contrast."""
    runs = cell_runs(
        [
            ("random", 16, "l2", [1.0, 1.2, 1.1]),
            ("autoencoder", 16, "l2", [0.8, 1.0, 0.9]),
            ("random", 16, "none", [1.5, 1.6, 1.7]),
        ]
    )
    study = Study(contrasts=[Contrast(factor="init", a="autoencoder", b="random")])
    result = analyse(runs, meta_of(runs), study)
    assert result.contrasts["mean"].item() == pytest.approx(-0.2)  # paired with l2 only
    ((_, columns),) = list(contrasts_by_kind(result))
    assert columns[0] == "regularization"
    text = report.render(result, "toy", [])
    assert "### autoencoder − random (init), regularization = l2" in text


def test_where_keeps_one_cell_of_a_result():
    runs = cell_runs(
        [("random", size, reg, [1.0, 2.0]) for size in (16, 64) for reg in ("l2", "none")]
    )
    result = analyse(runs, meta_of(runs))
    one = result.where(hidden_units=64, label="l2")
    assert set(one.runs["run_id"]) == {"random-64-l2-0", "random-64-l2-1"}
    assert set(one.summary["hidden_units"]) == {64} and len(result.runs) == 8
    with pytest.raises(ValueError, match="not a column"):
        result.where(width=64)
    with pytest.raises(ValueError, match="no run has"):
        result.where(hidden_units=128)


def test_weight_histograms_average_over_seeds_and_are_drawn(tmp_path):
    bins = len(ABS_EDGES) + 2
    runs = cell_runs([("random", 16, reg, [1.0, 2.0]) for reg in ("l2", "proximal_l1")])
    runs["hidden_abs_counts"] = [
        json.dumps([seed * 10 if reg == "proximal_l1" else 0, *[seed] * (bins - 1)])
        for reg, seed in zip(runs["regularization"], runs["seed"], strict=True)
    ]
    result = analyse(runs, meta_of(runs))
    table = figures.abs_counts_table(result)
    assert len(table) == 2 * bins and set(table["bin"]) == set(range(bins))
    zeros = table[table["bin"] == 0].set_index("label")["count"]
    assert zeros.to_dict() == {"l2": 0.0, "proximal_l1": 5.0}  # seeds 0 and 1: 0 and 10
    assert table[table["bin"] == 3]["count"].tolist() == [0.5, 0.5]
    ax = plots.abs_histogram(table)
    assert ax.get_xticklabels()[0].get_text() == "0"
    plt.close("all")
    names = {p.name for p in figures.draw_figures(tmp_path, result)}
    assert "hidden_weight_histogram.png" in names


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.parent.name for p in Path("results").glob("*/REPORT.md")))
def test_committed_reports_are_what_the_code_generates(name, tmp_path):
    """The report and tables, regenerated from the committed runs, are the committed ones,
    and every figure the report plans is committed (drawing is tested elsewhere)."""
    source = Path("results") / name
    result, histories = report.analysed(source)
    plan = figures.planned_figures(result, histories, source)
    paths = [
        source / figures.FIGURES / f"{stem}.{ext}" for stem, formats, _ in plan for ext in formats
    ]
    assert [p for p in paths if not p.is_file()] == []
    assert report.render(result, str(source), paths) == (source / report.REPORT).read_text()
    written = {path.name for path in figures.write_tables(tmp_path, result)}
    assert written == {path.name for path in (source / "figures").glob("*.csv")}
    for table in written:
        assert (tmp_path / "figures" / table).read_text() == (
            source / "figures" / table
        ).read_text()
    assert "learning_curves" in [stem for stem, _, _ in plan]
