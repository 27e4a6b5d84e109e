"""Command line: `python -m experiments run|report|figures|status|migrate|covariance`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.config import ConfigError, Grid, load_config
from experiments.data import DataError
from experiments.executors import ENGINES, EXECUTORS
from experiments.grid import GridMismatchError
from experiments.store import (
    CorruptResultsError,
    ResultsLockedError,
    RunStore,
    read_grid_file,
)
from experiments.study import NoFinishedRunsError

EXIT_CONFIG = 2  # bad command line or config: nothing was trained or written


def _run(args: argparse.Namespace) -> int:
    from experiments.grid import interrupt_guard

    if args.executor == "ray" and args.jobs != 1:
        raise ConfigError(
            "--jobs", "", "applies to the local executor; Ray places tasks on its own cores"
        )
    # from here on Ctrl-C only asks to stop: reading the config starts Keras, and an
    # interrupt inside an import can surface as an unrelated error
    with interrupt_guard(lambda text: print(text, file=sys.stderr)) as stop:
        grid = load_config(args.config)
        check_class_sizes(args.config, grid, args.data)
        if stop.is_set():
            raise KeyboardInterrupt
        return _train(args, grid)


def check_class_sizes(source: str, grid: Grid, data_path: str | None) -> None:
    """Raise ConfigError, before anything is written, for a run keeping some `classes` that
    asks for more training (`n_train`) or validation (`n_val`) images than those classes
    have in their split. Loads the data only for such grids."""
    subsets = {
        (r.dataset, r.classes, r.n_train, r.n_val): r for r in grid.runs if r.classes != "0-9"
    }
    if not subsets:
        return
    from experiments.data import load_dataset

    for run in subsets.values():
        data = load_dataset(run.dataset, data_path).select(run.digits)
        for field, split, wanted in (
            ("n_train", "train", run.n_train),
            ("n_val", "val", run.n_val),
        ):
            available = len(getattr(data, f"x_{split}"))
            if wanted is not None and wanted > available:
                raise ConfigError(
                    source, field, f"at most {available} with classes {run.classes} (their "
                    f"{split} images in {run.dataset}); received {wanted}",
                )  # fmt: skip


def _train(args: argparse.Namespace, grid: Grid) -> int:
    from experiments.grid import run_grid

    directory = Path(args.results or Path("results") / Path(args.config).stem)
    summary = run_grid(
        grid.runs,
        directory,
        command=[sys.executable, "-m", "experiments", *sys.argv[1:]],
        meta=grid.meta(),
        data_path=args.data,
        executor=args.executor,
        jobs=args.jobs,
        address=args.address,
        quiet=args.quiet,
        verbose=args.verbose,
        tensorboard=args.tensorboard,
        redefine=args.redefine,
        allow_mixed_backends=args.allow_mixed_backends,
        engine=args.engine,
    )
    print(
        f"{directory}: {summary.total} runs, {summary.skipped} were done already, trained "
        f"{summary.ok} ok, {summary.diverged} diverged, {summary.failed} failed."
    )
    if not args.no_figures:
        _report(directory)
    return 1 if summary.failed else 0


def _print_result(written) -> None:
    """The paths written, the cell table of the first metric and every contrast's verdicts."""
    from experiments import analysis, metrics, report
    from experiments.study import contrasts_by_kind

    result = written.result
    for path in written.paths:
        print(f"wrote: {path}")
    for note in result.notes:
        print(f"note: {note}")
    study = result.study
    summary = result.summary[result.summary["metric"] == study.metrics[0]]
    rows = [c for c in (study.panels, study.x) if c]
    print(f"{metrics.label(study.metrics[0])}, mean [95% t-interval] over seeds:")
    print(analysis.cell_table(summary, rows, "label").to_string())
    for part, columns in contrasts_by_kind(result):
        keys = [c for c in columns if part[c].astype(bool).any()]  # blank arm labels: none
        a, b, factor = part.iloc[0][["a", "b", "factor"]]
        shown = part[[*keys, study.x]].copy()
        shown["a - b (Holm-corrected)"] = [
            analysis.format_interval(m, lo, hi)
            for m, lo, hi in zip(part["mean"], part["ci_low_adj"], part["ci_high_adj"], strict=True)
        ]
        shown["verdict"] = part.apply(report.verdict_text, axis=1).str.replace("*", "")
        print(f"{a} - {b} ({factor}), paired by seed:")
        print(shown.sort_values([*keys, study.x]).to_string(index=False))


def _report(directory: Path) -> None:
    from experiments.report import write_report

    _print_result(write_report(directory))


def _figures(args: argparse.Namespace) -> int:
    from experiments.config import study_from_meta
    from experiments.report import write_report
    from experiments.store import read_grid_file

    recorded = study_from_meta(read_grid_file(Path(args.results)))
    study = recorded.with_axes(x=args.x, compare=args.hue, metrics=args.metric)
    if study is recorded:
        _report(Path(args.results))
        return 0
    for path in write_report(Path(args.results), study).paths:
        print(f"wrote: {path}")
    return 0


def _report_command(args: argparse.Namespace) -> int:
    _report(Path(args.results))
    return 0


def _status(args: argparse.Namespace) -> int:
    grid = read_grid_file(Path(args.results))
    store = RunStore(args.results)
    runs = store.read()
    ids = {entry["run_id"] for entry in grid["runs"]}
    recorded = runs[runs["run_id"].isin(ids)] if not runs.empty else runs
    counts = recorded["status"].value_counts() if not recorded.empty else {}
    print(f"{args.results}: {len(ids)} runs in the grid '{grid.get('name', '?')}'")
    for status in ("ok", "diverged", "failed"):
        print(f"  {status:<9} {int(counts.get(status, 0))}")
    finished = int(counts.get("ok", 0)) + int(counts.get("diverged", 0))
    print(f"  remaining {len(ids) - finished} (failed runs are trained again by `run`)")
    outside = len(runs) - len(recorded)
    if outside:
        print(f"  {outside} rows of runs.csv are not runs of this grid (kept, not analysed)")
    for _, row in recorded[recorded["status"] != "ok"].iterrows() if len(recorded) else []:
        print(f"  {row['status']}: {row['run_id']} {str(row.get('error', ''))[:160]}")
    for note in store.notes:
        print(f"  note: {note}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from experiments.grid import migrate

    mapping = migrate(args.results)
    changed = sum(old != new for old, new in mapping.items())
    print(f"{args.results}: {changed} of {len(mapping)} run ids renamed; every row kept.")
    return 0


def _covariance(args: argparse.Namespace) -> int:
    from experiments.priors import fit_prior

    try:
        covariance, path, filters = fit_prior(args.results, mode=args.mode, ridge=args.ridge)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    vectors = sum(k.shape[-1] * (k.shape[2] if args.mode == "channel" else 1) for k in filters)
    print(
        f"wrote: {path} ({covariance.shape[0]}x{covariance.shape[0]}, fitted on {vectors} "
        f"filter vectors of {len(filters)} runs, ridge {args.ridge:g})"
    )
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m experiments`."""
    top = argparse.ArgumentParser(
        prog="python -m experiments", description="Run MNIST regularization grids and draw them."
    )
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train every run of a YAML grid not already recorded")
    run.add_argument("config", help="YAML grid, e.g. configs/default.yaml")
    run.add_argument("--results", help="results folder (default: results/<config name>)")
    run.add_argument("--data", help="MNIST file (.npz or .pkl.gz); default: see experiments.data")
    run.add_argument(
        "--jobs", type=_positive, default=1, help="local worker processes (default 1: see README)"
    )
    run.add_argument("--executor", choices=EXECUTORS, default="local", help="local or ray")
    run.add_argument(
        "--engine",
        choices=ENGINES,
        help="batched: the runs of a seed sharing a network shape and schedule train as one "
        "stacked model; single: each run its own Keras model (default: the engine of the "
        "folder's runs, batched for a new folder)",
    )
    run.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    run.add_argument("--verbose", action="store_true", help="per-epoch progress of each run")
    run.add_argument("--tensorboard", action="store_true", help="TensorBoard logs per run")
    run.add_argument("--no-figures", action="store_true", help="no report or figures at the end")
    run.add_argument(
        "--redefine", action="store_true",
        help="let this config replace the folder's grid even if it drops recorded runs",
    )  # fmt: skip
    run.add_argument(
        "--allow-mixed-backends", action="store_true",
        help="add runs of this backend to a folder holding another backend's runs",
    )  # fmt: skip
    run.set_defaults(handler=_run)
    report = commands.add_parser(
        "report", help="write DIR/REPORT.md, the tables and figures of a results folder"
    )
    report.add_argument("results", help="results folder holding runs.csv")
    report.set_defaults(handler=_report_command)
    figures = commands.add_parser(
        "figures", help="the report's figures; with --x/--hue/--metric, a quick look"
    )
    figures.add_argument("results", help="results folder holding runs.csv")
    figures.add_argument("--x", help="column on the x axis (default: the study's x)")
    figures.add_argument("--hue", help="column with one line per value (default: compare)")
    figures.add_argument("--metric", action="append", help="metric to draw (repeatable)")
    figures.set_defaults(handler=_figures)
    status = commands.add_parser("status", help="count done, failed and remaining runs")
    status.add_argument("results", help="results folder made by `run`")
    status.set_defaults(handler=_status)
    migrate = commands.add_parser(
        "migrate", help="give a results folder's runs the current run ids (keeps every row)"
    )
    migrate.add_argument("results", help="results folder made by an older version")
    migrate.set_defaults(handler=_migrate)
    covariance = commands.add_parser(
        "covariance",
        help="fit a smooth-kernel covariance from the filters of a folder's CNN runs "
        "(save_weights: true) into DIR/covariance.npy",
    )
    covariance.add_argument("results", help="results folder of CNN runs that saved weights")
    covariance.add_argument("--mode", choices=["channel", "filter"], default="channel")
    covariance.add_argument(
        "--ridge", type=float, default=1e-3, help="added to the diagonal (default 1e-3)"
    )
    covariance.set_defaults(handler=_covariance)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad config, 1 for other errors)."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print(
            "interrupted: the run in flight was not recorded; run the same command again to "
            "go on from there.",
            file=sys.stderr,
        )
        return 130
    except (
        DataError, CorruptResultsError, ResultsLockedError, GridMismatchError,
        NoFinishedRunsError, OSError,  # a full disk, a results path that is a file, no Ray
    ) as error:  # fmt: skip
        print(f"error: {error}", file=sys.stderr)
        return 1
