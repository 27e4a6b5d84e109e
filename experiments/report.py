"""`REPORT.md` for a results folder: the study's design, cell table, contrasts and verdicts,
edge flags and figures, generated from `runs.csv` (never typed by hand)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import analysis, figures, metrics
from experiments.config import Study
from experiments.priors import prior_section
from experiments.store import RunStore, atomic_write_text
from experiments.study import StudyResult, analyse, contrasts_by_kind

REPORT = "REPORT.md"


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (index dropped; blanks for NaN)."""

    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return str(value).replace("|", "\\|")

    lines = [
        "| " + " | ".join(str(c) for c in table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.to_numpy()]
    return "\n".join(lines)


def verdict_text(row: pd.Series) -> str:
    """`**dropout better**`, `**l2 better**`, `equivalent (+-0.1)` or `inconclusive`."""
    verdict = row["verdict"]
    if verdict == "a better":
        return f"**{row['a']} better**"
    if verdict == "b better":
        return f"**{row['b']} better**"
    if verdict == "equivalent":
        return f"equivalent (±{row['margin']:g})"
    return "inconclusive"


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _family_title(family: dict, contrast: pd.Series) -> str:
    where = ", ".join(f"{k} = {_shown(v)}" for k, v in family.items() if pd.notna(v) and v != "")
    title = f"{contrast['a']} − {contrast['b']} ({contrast['factor']})"
    return title + (f", {where}" if where else "")


def contrast_sections(result: StudyResult) -> list[str]:
    """One Markdown table per contrast family, with its crossover line."""
    if result.contrasts.empty:
        return ["No contrasts are declared (`study.contrasts` in the config)."]
    x = result.study.x
    out = []
    for contrast, columns in contrasts_by_kind(result):
        for key, part in contrast.groupby(columns, sort=True, dropna=False):
            family = dict(zip(columns, key, strict=True))
            first = part.iloc[0]
            out.append(f"### {_family_title(family, first)}")
            rows = pd.DataFrame(
                {
                    x: part[x].map(_shown),
                    "n": part["n"],
                    f"{first['a']}": [
                        f"{m:.2f}" + (f" ({analysis.short_setting(s)})" if s else "")
                        for m, s in zip(part["mean_a"], part["setting_a"].fillna(""), strict=True)
                    ],
                    f"{first['b']}": [
                        f"{m:.2f}" + (f" ({analysis.short_setting(s)})" if s else "")
                        for m, s in zip(part["mean_b"], part["setting_b"].fillna(""), strict=True)
                    ],
                    "a − b [95% CI]": [
                        analysis.format_interval(m, lo, hi)
                        for m, lo, hi in zip(
                            part["mean"], part["ci_low"], part["ci_high"], strict=True
                        )
                    ],
                    "Holm-corrected interval": [
                        analysis.format_interval(m, lo, hi)
                        for m, lo, hi in zip(
                            part["mean"], part["ci_low_adj"], part["ci_high_adj"], strict=True
                        )
                    ],
                    "p (Holm)": part["p_holm"].map(lambda p: "" if pd.isna(p) else f"{p:.3g}"),
                    "verdict": part.apply(verdict_text, axis=1),
                }
            )
            out.append(markdown_table(rows.sort_values(x, key=lambda s: part[x])))
            out.append(crossover_line(result, family, first))
    return out


def crossover_line(result: StudyResult, family: dict, contrast: pd.Series) -> str:
    """The crossover of one family, in words, from `result.crossovers`."""
    x = result.study.x
    table = result.crossovers
    if table.empty:
        return ""
    match = (table["factor"] == contrast["factor"]) & (table["a"] == contrast["a"])
    match &= table["b"] == contrast["b"]
    for column, value in family.items():
        if column in table:
            text = analysis.as_text(table[column])
            match &= text == analysis.as_text(pd.Series([value])).iloc[0]
    found = table[match]
    if found.empty:
        return ""
    row = found.iloc[0]
    where = row[f"crossover_{x}"]
    if where == "none":
        return "Crossover: none."
    tail = "and at every larger one" if row["persists"] else "but not at every larger one"
    return (
        f"Crossover: **{x} = {_shown(where)}**: {contrast['b']} better below, "
        f"{contrast['a']} better there {tail}."
    )


def decimals(metric: str, values: pd.Series) -> int:
    """Decimals to show `metric`: 2 for errors and gaps (points of %), else 3 significant
    digits of the largest value."""
    if metric.endswith("_error") or metric == "gap_points":
        return 2
    largest = np.nanmax(np.abs(values.to_numpy(dtype=float))) if len(values) else 0.0
    return (
        2
        if not largest or not np.isfinite(largest)
        else max(0, 2 - math.floor(math.log10(largest)))
    )


def cell_tables(result: StudyResult, metric: str, digits: int | None = None) -> list[str]:
    """`metric`'s cell table from `result.summary`, one per panel (`### panel = value` above
    each where the study has panels): a row per x value and a column per compared arm, or,
    where x has a single value, a row per arm."""
    study = result.study
    summary = result.summary[result.summary["metric"] == metric]
    digits = decimals(metric, summary["mean"]) if digits is None else digits
    panels = sorted(summary[study.panels].unique()) if study.panels else [None]
    single = summary[study.x].nunique() == 1
    out = []
    for value in panels:
        part = summary if value is None else summary[summary[study.panels] == value]
        if single:
            table = analysis.cell_table(part, ["label"], study.x, digits)
            table = table.loc[sorted(table.index, key=analysis.label_key)].reset_index()
            table = table.rename(columns={"label": study.compare})
            table.columns = [
                *table.columns[:1],
                *(f"{study.x} = {_shown(v)}" for v in table.columns[1:]),
            ]
        else:
            table = analysis.cell_table(part, [study.x], "label", digits).reset_index()
            table[study.x] = table[study.x].map(_shown)
        if value is not None:
            out.append(f"### {study.panels} = {_shown(value)}")
        out.append(markdown_table(table))
    return out


def cell_sections(result: StudyResult) -> list[str]:
    """The cell table of each study metric, one table per panel."""
    study = result.study
    out = []
    for metric in dict.fromkeys(study.metrics):
        out.append(f"## {metrics.label(metric)}: mean [95% t-interval] over seeds")
        if metric == study.metrics[0]:
            out.append(
                "Each entry is one cell (its runs differ only by seed); in brackets the 95% "
                "t-interval of the mean, then the setting chosen on validation where one was "
                "tuned."
            )
        out += cell_tables(result, metric)
    return out


def budget_section(result: StudyResult) -> list[str]:
    """Whether the training budget was long enough: the late gain per cell (see
    `analysis.late_gain`). Empty when the runs have no histories."""
    if "late_gain_points" not in set(result.summary["metric"]):
        return []
    return [
        "## Training budget: late gain in validation accuracy (points), mean [95% t-interval]",
        "Per run, the best validation accuracy over all its epochs minus the best over the "
        "first half of them: never negative, and slightly positive from epoch-to-epoch noise "
        "alone. Near 0, the second half of the budget added nothing, and a best epoch near "
        "the end is the maximum of a flat curve; a gain well above the seed-to-seed spread "
        "and the differences between arms says the budget cut that arm short.",
        *cell_tables(result, "late_gain_points", digits=2),
    ]


def pretraining_section(result: StudyResult) -> list[str]:
    """Where runs were pretrained: per x value, the autoencoder's reconstruction error
    against that of predicting the mean image (both per-pixel BCE on clean training
    images), mean over seeds. Empty when no run was pretrained."""
    runs = result.runs
    if "pretrain_loss" not in runs or runs["pretrain_loss"].isna().all():
        return []
    x = result.study.x
    # one row per pretraining: the arms of a seed and size share their autoencoder
    pretrained = runs[runs["pretrain_loss"].notna()].drop_duplicates([x, "seed", "pretrain_loss"])
    baseline = pretrained.get("pretrain_baseline_loss", pd.Series(np.nan, index=pretrained.index))
    table = (
        pretrained.assign(baseline=baseline)
        .groupby(x, sort=True)
        .agg(seeds=("seed", "nunique"), loss=("pretrain_loss", "mean"), base=("baseline", "mean"))
        .reset_index()
    )
    shown = pd.DataFrame({
        x: table[x].map(_shown),
        "seeds": table["seeds"],
        "reconstruction (BCE per pixel)": table["loss"].map(lambda v: f"{v:.3f}"),
        "mean image": table["base"].map(lambda v: "not recorded" if pd.isna(v) else f"{v:.3f}"),
        "ratio": (table["loss"] / table["base"]).map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
    })  # fmt: skip
    return [
        "## Autoencoder pretraining",
        "Reconstruction error of clean training images after pretraining (`pretrain_loss`: "
        "binary cross-entropy per pixel) against that of predicting the mean training image "
        "(`pretrain_baseline_loss`), mean over seeds. A ratio near 1 means the encoder learnt "
        "next to nothing.",
        markdown_table(shown),
    ]


def render(result: StudyResult, directory: str, figure_paths: list[Path]) -> str:
    """The whole `REPORT.md` text."""
    study, counts = result.study, result.counts
    seeds = result.seeds()
    lines = [f"# {result.name}", ""]
    if result.description:
        lines += [result.description, ""]
    lines += [
        f"Generated by `python -m experiments report {directory}` from `runs.csv` and "
        "`grid.yaml`; the tables are `figures/summary.csv`, `figures/contrasts.csv`, "
        "`figures/crossover.csv` and `figures/edges.csv`. Do not edit: regenerate.",
        "",
        "## Runs",
        markdown_table(
            pd.DataFrame(
                [
                    {
                        "runs in the grid": counts["grid"],
                        "ok": counts["ok"],
                        "diverged": counts["diverged"],
                        "failed": counts["failed"],
                        "not yet run": counts["missing"],
                    }
                ]
            )
        ),
        "",
    ]
    if counts["outside"]:
        lines += [f"{counts['outside']} rows of `runs.csv` belong to no run of this grid.", ""]
    lines += [f"- {note}" for note in result.notes] + ([""] if result.notes else [])
    fixed = ", ".join(f"`{k}={_shown(v)}`" for k, v in result.fixed().items())
    tuned = ", ".join(f"`{c}`" for c in study.tune) or "nothing"
    by_best = analysis.validation_column(study.metric) == "best_val_accuracy"
    at_best = (
        "at each run's best epoch, the weights the test error is measured on, " if by_best else ""
    )
    lines += [
        "## Design",
        f"- Cells: every setting that varies except the seed: "
        f"{', '.join(f'`{c}`' for c in result.cell)}.",
        f"- Figures: `{study.x}` on the x axis, one line per `{study.compare}`"
        + (f", one panel per `{study.panels}`." if study.panels else "."),
        f"- Tuned on validation (per cell, the value with the best mean validation accuracy "
        f"{at_best}over seeds; test accuracy is not looked at): {tuned}.",
        f"- Seeds: {', '.join(map(str, seeds))} ({len(seeds)}); every cell's runs share them, "
        "so contrasts are paired by seed.",
        *backends_line(result.runs),
        f"- Fixed: {fixed}." if fixed else "- Fixed: nothing.",
        "",
    ]
    prior = prior_section(directory)
    for block in [
        *cell_sections(result),
        *budget_section(result),
        *pretraining_section(result),
        *prior,
    ]:
        lines += [block, ""]
    lines += [
        "## Contrasts",
        f"`a − b` is the mean over seeds of the paired difference in {metrics.label(study.metric)}"
        f" ({'lower' if metrics.lower_is_better(study.metric) else 'higher'} is better). The "
        "Holm-corrected interval is the t-interval at level 1 − 0.05·p/p_Holm, corrected "
        f"across the `{study.x}` values of each table; it excludes zero exactly when the Holm "
        "test rejects. Verdict: one side better when it excludes zero; *equivalent* when it "
        f"lies inside ±{study.equivalence_margin:g}; otherwise *inconclusive*. The crossover is "
        f"the smallest `{study.x}` where `a` is better while `b` is better at some smaller one "
        "and at none from there up.",
        "",
    ]
    for block in contrast_sections(result):
        lines += [block, ""]
    lines += ["## Tuned settings at the edge of the searched range"]
    if result.edges.empty:
        lines += ["None: every tuned value was chosen inside its range (or nothing was tuned).", ""]
    else:
        edges = result.edges.copy()
        edges["chosen"] = edges["chosen"].map(_shown)
        keep = [c for c in edges.columns if c in (*study_axes(study), "setting", "chosen")]
        lines += [
            "A value chosen at the edge may have its optimum outside the range searched.",
            "",
            markdown_table(edges[[*keep, "searched", "edge"]]),
            "",
        ]
    lines += ["## Figures", ""]
    for path in figure_paths:
        if path.suffix == ".png":
            lines += [f"![{path.stem}]({figures.FIGURES}/{path.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def backends_line(runs: pd.DataFrame) -> list[str]:
    """Where the runs used differ in Keras backend, a line saying which seeds each trained
    (their numbers differ in float round-off and random streams); else nothing."""
    if "backend" not in runs or runs["backend"].nunique() < 2:
        return []
    parts = [
        f"{backend}: {len(group)} runs, seeds {', '.join(map(str, sorted(group['seed'].unique())))}"
        for backend, group in runs.groupby("backend")
    ]
    return [
        f"- Keras backends: {'; '.join(parts)}. A seed's runs on different backends are still "
        "paired: each starts from its seed, but not from the same random numbers."
    ]


def study_axes(study: Study) -> list[str]:
    """x, panels and compare: the columns every table of the report is laid out by."""
    return [c for c in (study.panels, study.x, study.compare) if c]


@dataclass
class Written:
    """What `write_report` produced: the analysis and every file written."""

    result: StudyResult
    paths: list[Path]


def analysed(directory: Path, study: Study | None = None) -> tuple[StudyResult, pd.DataFrame]:
    """A results folder's analysis (notes on what reading found included) and the histories
    of the runs it uses. Raises FileNotFoundError without `runs.csv`."""
    if not RunStore(directory).runs_path.is_file():
        raise FileNotFoundError(f"No runs.csv in {directory}: run a grid into it first.")
    table, meta, notes = figures.load_results(directory)
    result = analyse(table, meta, study)
    histories, missing = RunStore(directory).histories_of(result.runs["run_id"].tolist())
    if missing:
        example = missing[0]
        notes.append(
            f"{len(missing)} runs used here have no history file in histories/ (e.g. {example})."
        )
    result.notes = notes + result.notes  # what reading found, then what the analysis left out
    if "val_accuracy" in histories:
        result = result.with_metric(analysis.late_gain(histories))
    return result, histories


def write_report(directory: str | Path, study: Study | None = None) -> Written:
    """Analyse a results folder; write its tables, figures and `REPORT.md`.

    `study` overrides the recorded study (and then no `REPORT.md` is written: a quick look
    must not replace the report). Raises FileNotFoundError without `runs.csv`, ValueError
    without a finished run.
    """
    directory = Path(directory)
    result, histories = analysed(directory, study)
    paths = figures.draw_figures(directory, result, histories)
    if study is not None:
        return Written(result, paths)
    paths = figures.write_tables(directory, result) + paths
    report = directory / REPORT
    atomic_write_text(report, render(result, str(directory), paths))
    return Written(result, [report, *paths])
