"""A finished grid analysed as its study block asks: cells, tuned settings, contrasts.

`analyse` is the one place where `analysis`' pure functions are put together; the CLI,
figures, the report and the notebooks all read its `StudyResult`, so they show the same
numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from experiments import analysis, metrics
from experiments.config import (
    PRETRAINING_ONLY,
    RunConfig,
    Study,
    is_config_column,
    study_from_meta,
    with_defaults,
)


class NoFinishedRunsError(ValueError):
    """A results folder has no run with status `ok` to analyse."""


@dataclass
class StudyResult:
    """Everything a report shows, as DataFrames.

    `runs`: the finished runs used, one setting per cell (`setting`: the tuned values chosen,
    `label`: the line each belongs to). `cell`: the columns that define a cell. `summary`:
    per cell and metric, `summarise` output. `contrasts`: `analysis.paired_contrasts` of every
    contrast. `crossovers`: one row per contrast family. `edges`: `analysis.edge_flags`.
    `counts`: runs in the grid by status, and rows of `runs.csv` outside the grid.
    """

    name: str
    description: str
    study: Study
    runs: pd.DataFrame
    cell: list[str]
    summary: pd.DataFrame
    contrasts: pd.DataFrame
    crossovers: pd.DataFrame
    edges: pd.DataFrame
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def with_metric(self, values: pd.DataFrame) -> StudyResult:
        """A copy with `values` (`run_id` and one metric column, e.g. computed from the
        histories) joined to the runs and summarised per cell like the study's metrics."""
        metric = next(c for c in values.columns if c != "run_id")
        runs = self.runs.drop(columns=metric, errors="ignore").merge(
            values, on="run_id", how="left"
        )
        summary = pd.concat(
            [
                self.summary[self.summary["metric"] != metric],
                cell_summary(runs, self.cell, [metric]),
            ],
            ignore_index=True,
        )
        return dataclasses.replace(self, runs=runs, summary=summary)

    def fixed(self) -> dict[str, object]:
        """The settings every run used (config columns with one value), leaving out those
        that act on no run (pretraining without a pretrained run, a CNN's kernel size, SGD's
        momentum)."""
        columns = [c for c in self.runs.columns if is_config_column(c) and c not in self.cell]

        def used(column: str, value: str) -> bool:  # some run has column == value
            default = RunConfig.model_fields[column].default  # a row from before the column
            return (self.runs[column] == value).any() if column in self.runs else default == value

        unused = set()  # settings that do nothing in any of these runs
        if not used("init", "autoencoder"):
            unused |= PRETRAINING_ONLY
        if not used("model", "cnn"):
            unused.add("kernel_size")
        if not used("optimizer", "sgd"):
            unused.add("momentum")
        columns = [c for c in columns if c not in unused]
        out = {}
        for column in columns:
            values = self.runs[column].dropna().unique()
            if len(values) == 1 and column not in ("seed", *self.study.tune):
                out[column] = values[0]
        return out

    def where(self, **values: object) -> StudyResult:
        """Only the runs (and summary rows) whose columns have these values, e.g.
        `result.where(hidden_units=512, label="dropout")`: one cell's learning curves."""
        runs, summary = self.runs, self.summary
        for column, value in values.items():
            if column not in runs:
                raise ValueError(f"'{column}' is not a column of these runs.")
            wanted = analysis.as_text(pd.Series([value])).iloc[0]
            runs = runs[analysis.as_text(runs[column]) == wanted]
            if column in summary:
                summary = summary[analysis.as_text(summary[column]) == wanted]
        if runs.empty:
            raise ValueError(f"no run has {values}")
        return dataclasses.replace(self, runs=runs, summary=summary)

    def seeds(self) -> list[int]:
        """The seeds of the runs used."""
        return sorted(int(s) for s in self.runs["seed"].unique())


def analyse(table: pd.DataFrame, meta: dict, study: Study | None = None) -> StudyResult:
    """Analyse `runs.csv` rows (`RunStore.read()`) of the grid recorded in `meta` (`grid.yaml`).

    Only rows of the grid's runs count; the cell is every config column that varies among
    them except `seed` and the tuned columns (plus the study's axes). `study` overrides the
    recorded one (quick looks with other axes). Raises ValueError when no run finished.
    """
    ids = [entry["run_id"] for entry in meta.get("runs", [])]
    mine = table[table["run_id"].isin(ids)] if not table.empty else table
    statuses = mine["status"].value_counts() if not mine.empty else pd.Series(dtype=int)
    counts = {
        "grid": len(ids),
        **{s: int(statuses.get(s, 0)) for s in ("ok", "diverged", "failed")},
        "missing": len(set(ids) - set(mine["run_id"] if not mine.empty else [])),
        "outside": len(table) - len(mine),
    }
    runs = analysis.with_derived(analysis.finished(with_defaults(mine)))
    if runs.empty:
        raise NoFinishedRunsError(
            f"the grid '{meta.get('name', '?')}' has no finished (status ok) run to analyse "
            f"({counts['failed']} failed, {counts['diverged']} diverged, {counts['missing']} "
            "not yet run): see `python -m experiments status DIR` for the errors."
        )
    values = {c: set(analysis.as_text(runs[c])) for c in runs.columns if is_config_column(c)}
    study = study or study_from_meta(meta, values)
    axes = [c for c in (study.x, study.panels, study.compare) if c]
    for column in axes:
        if column not in runs:
            raise ValueError(f"'{column}' is not a column of these runs.")
    candidates = [c for c in runs.columns if is_config_column(c)]
    varying = analysis.varying_columns(runs, candidates)
    cell = list(dict.fromkeys([*axes, *(c for c in varying if c not in study.tune)]))
    by = analysis.validation_column(study.metric)
    chosen = analysis.select_on_validation(runs, study.tune, cell, by)
    chosen["setting"] = analysis.chosen_setting(chosen, study.tune)
    chosen["label"] = arm_labels(chosen, cell, axes, study.compare)
    summary = cell_summary(chosen, cell, list(dict.fromkeys([*study.metrics, study.metric])))
    contrasts, notes = [], []
    for contrast in study.contrasts:
        factor = study.factor(contrast)
        present = set(analysis.as_text(chosen[factor]))
        absent = [str(side) for side in (contrast.a, contrast.b) if str(side) not in present]
        if absent:  # a grid in progress: that arm has no finished run yet
            notes.append(
                f"Contrast {contrast.a} − {contrast.b} ({factor}) left out: no finished run "
                f"with {factor} = {' or '.join(absent)} yet."
            )
            continue
        contrasts.append(
            analysis.paired_contrasts(
                chosen,
                factor,
                contrast.a,
                contrast.b,
                cell,
                study.metric,
                x=study.x,
                margin=study.equivalence_margin,
                lower_is_better=metrics.lower_is_better(study.metric),
            )
        )
    contrast_table = pd.concat(contrasts, ignore_index=True) if contrasts else pd.DataFrame()
    return StudyResult(
        name=str(meta.get("name", "")),
        description=str(meta.get("description", "")),
        study=study,
        runs=chosen,
        cell=cell,
        summary=summary,
        contrasts=contrast_table,
        crossovers=crossovers(contrasts, study.x),
        edges=analysis.edge_flags(runs, chosen, study.tune, cell),
        counts=counts,
        notes=notes,
    )


def arm_labels(chosen: pd.DataFrame, cell: list[str], axes: list[str], compare: str) -> pd.Series:
    """Each row's label: its `compare` value, then `name=value` for the cell settings that
    vary among the cells sharing that value at one point of the other `axes`. An arm that is
    one cell at every point is named by its value alone, and an arm's label names the same
    settings at every x (one line per label in the figures). A spec's arguments
    (`output_constraint.max_value`) are left out where the spec itself is named."""
    labels = pd.Series("", index=chosen.index, dtype=object)
    for _, arm in chosen.groupby(compare, dropna=False):
        within = arm.groupby(axes, dropna=False)
        extras = [
            c
            for c in cell
            if c not in axes and (within[c].agg(lambda s: analysis.as_text(s).nunique()) > 1).any()
        ]
        extras = [c for c in extras if "." not in c or c.split(".")[0] not in extras]
        labels[arm.index] = analysis.setting_labels(arm, extras, start=compare)
    return labels


def cell_summary(chosen: pd.DataFrame, cell: list[str], names: list[str]) -> pd.DataFrame:
    """`analysis.summarise` of each metric in `names` per cell (and its label and setting),
    stacked with a `metric` column."""
    return pd.concat(
        [
            analysis.summarise(chosen, [*cell, "label", "setting"], m).assign(metric=m)
            for m in names
        ],
        ignore_index=True,
    )


STATS = (
    "n", "mean_a", "mean_b", "mean", "std", "ci_low", "ci_high", "p", "p_holm",
    "ci_low_adj", "ci_high_adj", "verdict", "metric", "margin", "setting_a", "setting_b",
)  # fmt: skip


def family_columns(contrast: pd.DataFrame, x: str, prefer: Sequence[str] = ()) -> list[str]:
    """The columns that split one contrast's table into families: the settings (other than
    `x`) that vary in it, `prefer`red ones first, less those the ones before them determine
    (`hidden_regularizer` adds nothing to `regularization`), and the arm labels."""
    fixed = (x, "factor", "a", "b", "label_a", "label_b", *STATS)
    varying = [
        c
        for c in contrast.columns
        if c not in fixed
        and analysis.as_text(contrast[c]).nunique() > 1
        and not analysis.follows(contrast, c, x)
    ]
    varying.sort(key=lambda c: c not in prefer)  # stable: otherwise in table order
    kept: list[str] = []
    for column in varying:
        text = analysis.as_text(contrast[column])
        if kept and text.groupby([contrast[k] for k in kept], dropna=False).nunique().max() <= 1:
            continue
        kept.append(column)
    return [*kept, "label_a", "label_b"]


def contrasts_by_kind(result: StudyResult) -> Iterator[tuple[pd.DataFrame, list[str]]]:
    """Each declared contrast's rows (without the setting columns of the other contrasts)
    and the columns that split it into families (`family_columns`). A contrast of another
    factor than `compare` always names the `compare` value it is paired within, even where
    it has one (`100 − 50 (epochs), regularization = max_norm+dropout`)."""
    study = result.study
    prefer = [c for c in (study.compare, study.panels, study.x) if c]
    if result.contrasts.empty:  # a grid that declares no contrast (or none has runs yet)
        return
    for _, contrast in result.contrasts.groupby(["factor", "a", "b"], sort=False):
        blank = [c for c in contrast if c not in STATS and contrast[c].isna().all()]
        contrast = contrast.drop(columns=blank)
        columns = family_columns(contrast, study.x, prefer)
        if study.compare in contrast and study.compare not in columns:
            columns = [study.compare, *columns]
        yield contrast, columns


def crossovers(contrasts: list[pd.DataFrame], x: str) -> pd.DataFrame:
    """`analysis.crossover` for every family (all but `x`) of every contrast table."""
    rows = []
    for table in contrasts:
        family = [
            c for c in table.columns if c not in (x, *STATS) and not analysis.follows(table, c, x)
        ]
        for key, part in table.groupby(family, sort=True, dropna=False):
            where, persists = analysis.crossover(part, x)
            rows.append(
                {
                    **dict(zip(family, key, strict=True)),
                    f"crossover_{x}": "none" if where is None else where,
                    "persists": bool(persists),
                }
            )
    return pd.DataFrame(rows)
