"""Results tables in, summary tables out: pure functions on DataFrames.

The vocabulary: a *cell* is one combination of every setting that varies in a grid except
the seed (`varying_columns`); its runs differ only by seed, so they are replicates and their
mean gets a t-interval (`summarise`). Settings listed as *tuned* are not cells of their own:
per cell, the value with the best mean validation accuracy is kept (`select_on_validation`).
A *contrast* compares two values `a` and `b` of one column, run by run on the seeds they share
(`paired_contrasts`), with Holm's correction across the x values of one family.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS = ("a better", "b better", "equivalent", "inconclusive")
MIN_PAIRS = 3  # seeds a contrast needs for a verdict (see `paired_contrasts`)


ERRORS = {
    "train_error": "train_accuracy",
    "val_error": "val_accuracy",
    "test_error": "test_accuracy",
    "test_error_at_best": "test_accuracy_at_best",
}


def with_errors(runs: pd.DataFrame) -> pd.DataFrame:
    """Add the `ERRORS` columns in percent: `100 * (1 - accuracy)` where the accuracy is."""
    out = runs.copy()
    for error, accuracy in ERRORS.items():
        if accuracy in out:
            out[error] = 100.0 * (1.0 - out[accuracy])
    return out


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """Only the runs whose status is `ok` (diverged and failed runs have no metrics)."""
    if runs.empty:
        return runs
    return runs[runs["status"] == "ok"].reset_index(drop=True)


def generalization_gap(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `gap_points`: train minus test accuracy, in percentage points."""
    out = runs.copy()
    out["gap_points"] = 100.0 * (out["train_accuracy"] - out["test_accuracy"])
    return out


def with_derived(runs: pd.DataFrame) -> pd.DataFrame:
    """Every `metrics.DERIVED` column: the errors, `gap_points`, and `units_kept` (hidden
    units with a nonzero incoming weight: `hidden_units - zero_units`) where recorded."""
    out = generalization_gap(with_errors(runs))
    if "zero_units" in out and "hidden_units" in out:
        out["units_kept"] = out["hidden_units"] - out["zero_units"]
    return out


def late_gain(histories: pd.DataFrame) -> pd.DataFrame:
    """Per run, `late_gain_points`: its best validation accuracy over all epochs minus its best
    over the first half of them (epochs 1 to floor(n / 2)), in points.

    `histories` is `RunStore.histories_of` output (`run_id`, `epoch`, `val_accuracy`).
    Near 0, the second half of the budget added nothing: a best epoch near the end is then the
    maximum of a flat curve, not a sign the budget was short. NaN for a run of one epoch.
    """

    def gain(history: pd.DataFrame) -> float:
        accuracy = history.sort_values("epoch")["val_accuracy"]  # Series.max skips blanks
        half = len(accuracy) // 2
        return 100.0 * (accuracy.max() - accuracy.iloc[:half].max()) if half else np.nan

    gains = histories.groupby("run_id", sort=False)[["epoch", "val_accuracy"]].apply(gain)
    return gains.rename("late_gain_points").reset_index()


def text_of(value: object) -> str:
    """A value as comparable text: a number without a trailing `.0`, a blank as `"nan"`, a
    matrix (JSON `[[...]]`, e.g. a covariance) as `matrix:` and 8 hex digits of its sha256."""
    if isinstance(value, float | np.floating) and np.isfinite(value):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, str) and value.startswith("[["):
        return "matrix:" + hashlib.sha256(value.encode()).hexdigest()[:8]
    return str(value)


def as_text(series: pd.Series) -> pd.Series:
    """`text_of` each value."""
    return series.map(text_of)


def varying_columns(runs: pd.DataFrame, candidates: Sequence[str]) -> list[str]:
    """The `candidates` (config columns) other than `seed` with more than one value in `runs`.

    A blank counts as a value: a column set for some runs and not others varies.
    """
    return [
        column
        for column in candidates
        if column in runs and column != "seed" and as_text(runs[column]).nunique() > 1
    ]


def summarise(
    runs: pd.DataFrame, by: list[str], metric: str, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean of `metric` per group with a Student-t confidence interval over the rows (seeds).

    Returns one row per group with the `by` columns, `mean`, `std` (ddof=1), `n`,
    `ci_low` and `ci_high`: `mean -/+ t_{(1+confidence)/2, n-1} * std / sqrt(n)`. A group of
    one row has no interval: `std`, `ci_low` and `ci_high` are NaN. Blank keys are groups.
    """
    grouped = runs.groupby(by, sort=True, dropna=False)[metric]
    table = grouped.agg(mean="mean", std="std", n="count").reset_index()
    quantile = stats.t.ppf((1.0 + confidence) / 2.0, np.maximum(table["n"] - 1, 1))
    half = np.where(table["n"] > 1, quantile * table["std"] / np.sqrt(table["n"]), np.nan)
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    return table


def validation_column(metric: str) -> str:
    """The validation accuracy that goes with `metric`: at the best epoch for
    `test_error_at_best` (the weights it is measured on), else at the end of training."""
    return "best_val_accuracy" if metric == "test_error_at_best" else "val_accuracy"


def select_on_validation(
    runs: pd.DataFrame, settings: list[str], cell: list[str], by: str = "val_accuracy"
) -> pd.DataFrame:
    """Keep, in each cell, only the runs of the setting with the best mean validation accuracy
    (the column `by`, see `validation_column`).

    A cell is a combination of the `cell` columns; a setting is a combination of the
    `settings` columns (e.g. `hidden_regularizer.l2`, `dropout`) within it. Means are over the
    setting's runs (seeds); ties go to the setting listed first. Test accuracy is never looked
    at: this is model selection on validation.
    """
    settings = [column for column in settings if column in runs]
    if not settings or runs.empty:
        return runs.reset_index(drop=True)
    keys = cell + settings
    if not cell:
        means = runs.groupby(settings, sort=False, dropna=False)[by].mean()
        best = means.reset_index().loc[[means.to_numpy().argmax()], settings]
    else:
        # dropna=False: a blank setting (no L2 coefficient in a dropout run) is a value too
        means = runs.groupby(keys, sort=False, dropna=False)[by].mean().reset_index()
        best = means.loc[means.groupby(cell, sort=False, dropna=False)[by].idxmax()]
        best = best[keys]
    return runs.merge(best, on=keys, how="inner")  # pandas matches blank keys to blank keys


def chosen_setting(runs: pd.DataFrame, settings: list[str]) -> pd.Series:
    """Per row, the tuned values as text: `"hidden_regularizer.l2=0.0001"`, `"dropout=0.5"`.

    Only `settings` columns with a value that is set and non-zero appear (a dropout run has no
    L2 coefficient and an L2 run has dropout 0); an untuned row gives `""`.
    """
    settings = [column for column in settings if column in runs]

    def describe(row: pd.Series) -> str:
        def shown(value: object) -> str:
            return f"{value:g}" if isinstance(value, float | int) else str(value)

        return " ".join(
            f"{c}={shown(row[c])}" for c in settings if pd.notna(row[c]) and row[c] != 0
        )

    if not settings or runs.empty:
        return pd.Series("", index=runs.index, dtype=object)
    return runs.apply(describe, axis=1).astype(object)


def edge_flags(runs: pd.DataFrame, chosen: pd.DataFrame, settings: list[str], cell: list[str]):
    """Tuned values chosen at the edge of the range searched in their cell.

    `runs` are all finished runs, `chosen` what `select_on_validation` kept. For each cell and
    each numeric `settings` column with at least two searched values there, a chosen value
    equal to the smallest or largest searched one is flagged: the optimum may lie outside.
    Returns one row per flag: the `cell` columns, `setting`, `chosen`, `searched` (text),
    `edge` (`low` or `high`).
    """
    columns = [*cell, "setting", "chosen", "searched", "edge"]
    flags = []
    settings = [column for column in settings if column in runs]
    groups = runs.groupby(cell, sort=True, dropna=False) if cell else [((), runs)]
    picked = chosen.groupby(cell, sort=True, dropna=False) if cell else [((), chosen)]

    def lookup(key: object) -> tuple:  # NaN != NaN: a blank cell column must still match
        return tuple(
            "nan" if pd.isna(k) else k for k in (key if isinstance(key, tuple) else (key,))
        )

    picked = {lookup(key): part for key, part in picked}
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        if lookup(key) not in picked:
            continue
        for column in settings:
            searched = sorted(pd.to_numeric(part[column], errors="coerce").dropna().unique())
            value = pd.to_numeric(picked[lookup(key)][column], errors="coerce").dropna().unique()
            if len(searched) < 2 or len(value) != 1:
                continue
            edge = "low" if value[0] == searched[0] else "high" if value[0] == searched[-1] else ""
            if edge:
                shown = ", ".join(f"{v:g}" for v in searched)
                flags.append([*key, column, value[0], shown, edge])
    return pd.DataFrame(flags, columns=columns)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted).

    `p_holm_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))` over the m non-NaN p-values
    sorted ascending.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def short_setting(setting: str) -> str:
    """`"hidden_regularizer.l2=0.0001 dropout=0.5"` -> `"l2=1e-04 dropout=0.5"`: each
    `column=value` by its last name, small numbers in exponent form."""
    parts = []
    for part in str(setting).split():
        name, equals, value = part.partition("=")
        if not equals:
            parts.append(part)
            continue
        try:
            number = float(value)
            value = f"{number:.0e}" if 0 < abs(number) < 1e-2 else f"{number:g}"
        except ValueError:
            pass
        parts.append(f"{name.rsplit('.', 1)[-1]}={value}")
    return " ".join(parts)


def label_key(label: str) -> tuple:
    """Sort key of a label: word by word, a `name=number` by its number (so `t=2e-05` comes
    before `t=1e-04`)."""
    key = []
    for part in str(label).split():
        name, equals, value = part.partition("=")
        name, value = (name, value) if equals else ("", part)  # a bare word: its own value
        try:
            key.append((name, 0, float(value), ""))
        except ValueError:
            key.append((name, 1, 0.0, value))
    return tuple(key)


def setting_labels(runs: pd.DataFrame, columns: list[str], start: str | None = None) -> pd.Series:
    """Per row, `start`'s value then `name=value` for each of `columns` the row has set (in
    `short_setting` form): the text that tells cells apart, e.g. `"l2 l2=1e-04"`."""
    label = as_text(runs[start]) if start else pd.Series("", index=runs.index, dtype=object)
    for column in columns:
        part = (" " + column + "=" + as_text(runs[column])).map(short_setting)
        label = label + (" " + part).where(runs[column].notna(), "")
    return label.str.strip().astype(object)


def follows(table: pd.DataFrame, column: str, x: str) -> bool:
    """True when `column` has one value per value of `x` (it is set by x, e.g. the epochs a
    grid gives each training-set size) and varies with it."""
    if x not in table or column == x:
        return False
    text = as_text(table[column])
    return text.nunique() > 1 and text.groupby(table[x], dropna=False).nunique().max() <= 1


def paired_contrasts(
    runs: pd.DataFrame,
    factor: str,
    a: object,
    b: object,
    cell: list[str],
    metric: str,
    *,
    x: str,
    margin: float,
    lower_is_better: bool = True,
    alpha: float = 0.05,
    pair_on: str = "seed",
    setting: str = "setting",
) -> pd.DataFrame:
    """`metric` of runs with `factor == a` minus those with `factor == b`, paired by seed.

    `runs` hold one run per (cell, seed), tuned settings already chosen (their text in the
    `setting` column). The arms are paired on the `cell` columns whose values the two arms
    share (e.g. `hidden_units`, `init`) and on `pair_on`; the other cell columns belong to
    one arm (e.g. `hidden_regularizer` is `l2` in one and `none` in the other) and, where
    they vary within an arm, label its cells (`label_a`, `label_b`). A tuned arm is taken at
    the setting chosen in each cell (`setting_a`, `setting_b`), which may differ by `x`.

    Per row: `n` pairs, `mean_a`, `mean_b`, `mean` difference, its `std`, the 95% paired
    t-interval `ci_low`, `ci_high`, the two-sided t-test `p`, and Holm's correction across the
    rows that differ only in `x` (a family): `p_holm`, and `ci_low_adj`, `ci_high_adj`, the
    t-interval at level `1 - alpha * p / p_holm`, which excludes zero exactly when
    `p_holm < alpha`. The `verdict`: `a better` or `b better` when the adjusted interval
    excludes zero (better is lower when `lower_is_better`), else `equivalent` when it lies
    inside `[-margin, margin]`, else `inconclusive`. Fewer than `MIN_PAIRS` pairs: no test
    and `inconclusive` (with 2 the spread is one number, and test errors come in steps of
    1/test images, so two equal differences, spread 0, are common and would pass any test);
    under 2, no interval either.
    """
    value_text = as_text(runs[factor])
    arms = {"a": runs[value_text == str(a)], "b": runs[value_text == str(b)]}
    for side, arm in arms.items():
        if arm.empty:
            raise ValueError(f"No runs with {factor} = {(a, b)[side == 'b']} to compare.")
    others = [column for column in cell if column != factor]
    # pair on the columns whose set values the arms share; a blank shared by both (an
    # argument neither arm's regularizer has) is no common setting
    keys = [
        column
        for column in others
        if set(as_text(arms["a"][column].dropna())) & set(as_text(arms["b"][column].dropna()))
        or (arms["a"][column].isna().all() and arms["b"][column].isna().all())
    ]
    own = [column for column in others if column not in keys]
    sides = []
    for side, arm in arms.items():
        within = [c for c in own if as_text(arm[c]).nunique() > 1]
        part = arm[[*keys, pair_on, metric]].rename(columns={metric: f"value_{side}"})
        part[f"label_{side}"] = setting_labels(arm, within)
        part[f"setting_{side}"] = arm.get(setting, "")
        sides.append(part)
    pairs = sides[0].merge(sides[1], on=[*keys, pair_on], how="inner")
    pairs["difference"] = pairs["value_a"] - pairs["value_b"]
    group = [*keys, "label_a", "label_b"]
    table = summarise(pairs, group, "difference")
    extra = pairs.groupby(group, sort=True, dropna=False).agg(
        mean_a=("value_a", "mean"),
        mean_b=("value_b", "mean"),
        setting_a=("setting_a", "first"),
        setting_b=("setting_b", "first"),
    )
    table = table.merge(extra.reset_index(), on=group)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = table["mean"] / (table["std"] / np.sqrt(table["n"]))
        p = 2.0 * stats.t.sf(np.abs(t_stat), np.maximum(table["n"] - 1, 1))
    enough = table["n"] >= MIN_PAIRS
    p = np.where(enough & (table["std"] > 0), p, np.nan)
    # zero spread over enough pairs and a nonzero mean: as certain as a t-test can be
    p = np.where(enough & (table["std"] == 0), np.where(table["mean"] != 0, 0, 1), p)
    table["p"] = p
    # a family: the rows that differ only in x (settings that follow x, like a budget set
    # per data size, do not split it)
    family = [c for c in group if c != x and not (c in keys and follows(table, c, x))]
    table["p_holm"] = np.nan
    for _, rows in table.groupby(family, sort=False, dropna=False) if family else [(0, table)]:
        table.loc[rows.index, "p_holm"] = holm(rows["p"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(table["p_holm"] > 0, alpha * table["p"] / table["p_holm"], alpha)
        quantile = stats.t.ppf(1.0 - level / 2.0, np.maximum(table["n"] - 1, 1))
        half = quantile * table["std"] / np.sqrt(table["n"])
    half = np.where(table["n"] > 1, half, np.nan)
    table["ci_low_adj"] = table["mean"] - half
    table["ci_high_adj"] = table["mean"] + half
    below, above = table["ci_high_adj"] < 0, table["ci_low_adj"] > 0
    better_a, better_b = (below, above) if lower_is_better else (above, below)
    inside = (table["ci_low_adj"] >= -margin) & (table["ci_high_adj"] <= margin)
    table["verdict"] = np.select(
        [enough & better_a, enough & better_b, enough & inside],
        ["a better", "b better", "equivalent"],
        "inconclusive",
    )
    table.insert(0, "b", str(b))
    table.insert(0, "a", str(a))
    table.insert(0, "factor", factor)
    table["metric"] = metric
    table["margin"] = margin
    return table


def crossover(contrast: pd.DataFrame, x: str) -> tuple[object, bool]:
    """Where `b better` gives way to `a better` along `x` in one family of a contrast.

    The crossover is the smallest `x` whose verdict is `a better` while some smaller `x` is
    `b better` and no `x` at or above it is `b better`. Returns `(x, persists)`, `persists`
    true when every larger `x` is `a better` too; `(None, False)` when there is none.
    """
    ordered = contrast.sort_values(x)
    values, verdicts = ordered[x].tolist(), ordered["verdict"].tolist()
    for index, verdict in enumerate(verdicts):
        if verdict != "a better" or "b better" not in verdicts[:index]:
            continue
        if "b better" in verdicts[index:]:
            continue
        return values[index], all(v == "a better" for v in verdicts[index:])
    return None, False


def format_interval(mean: float, low: float, high: float, digits: int = 2) -> str:
    """`"1.23 [1.00, 1.47]"`, or the mean alone where there is no interval (one run)."""
    if pd.isna(low) or pd.isna(high):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def cell_table(
    summary: pd.DataFrame, rows: list[str], columns: str, digits: int = 2
) -> pd.DataFrame:
    """`summarise`-style output as text: `rows` as the index, one column per `columns` value.

    Each entry is `format_interval`, followed by `(setting)` where the summary has a
    non-blank `setting` (the value chosen on validation) and by `n=k` when cells of the
    table have different numbers of runs.
    """
    settings = summary["setting"] if "setting" in summary else pd.Series("", index=summary.index)
    uneven = summary["n"].nunique() > 1
    cells = []
    for mean, n, low, high, setting in zip(
        summary["mean"],
        summary["n"],
        summary["ci_low"],
        summary["ci_high"],
        settings.fillna(""),
        strict=True,
    ):
        cell = format_interval(mean, low, high, digits)
        cell += f" ({setting})" if setting else ""
        cells.append(cell + (f" n={n}" if uneven else ""))
    table = summary.assign(cell=cells)
    pivot = table.pivot_table(index=rows, columns=columns, values="cell", aggfunc="first")
    return pivot[sorted(pivot.columns, key=label_key)]
