"""Command line: `python -m experiments run|figures|status`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.config import ConfigError, load_config
from experiments.data import DataError
from experiments.executors import EXECUTORS
from experiments.store import CorruptResultsError, ResultsLockedError, RunStore, read_grid_file

EXIT_CONFIG = 2  # bad command line or config: nothing was trained or written


def _run(args: argparse.Namespace) -> int:
    from experiments.grid import run_grid

    grid = load_config(args.config)
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
    )
    print(
        f"{directory}: {summary.total} runs, {summary.skipped} were done already, trained "
        f"{summary.ok} ok, {summary.diverged} diverged, {summary.failed} failed."
    )
    if not args.no_figures:
        _draw(directory)
    return 1 if summary.failed else 0


def _draw(directory: Path) -> None:
    """Draw a results folder's figures and print them and the crossover per initialization."""
    from experiments.analysis import interval_table
    from experiments.figures import draw_figures, load_results

    if not RunStore(directory).runs_path.is_file():
        raise FileNotFoundError(f"No runs.csv in {directory}: run a grid into it first.")
    runs, meta = load_results(directory)
    paths, summary, crossovers = draw_figures(
        directory, runs, meta.get("select_on_validation"), meta.get("description", "")
    )
    for path in paths:
        print(f"wrote: {path}")
    print("test error (%), mean [95% t-interval] over seeds:")
    print(interval_table(summary[summary["metric"] == "test_error"]).to_string())
    for init, size in crossovers.items():
        if isinstance(size, int):
            print(f"crossover ({init} init): dropout first beats L2 (95% CIs apart) at H={size}")
        elif size is None:
            print(f"crossover ({init} init): none (dropout never beats L2 with 95% CIs apart)")
        else:
            print(f"crossover ({init} init): {size}")


def _figures(args: argparse.Namespace) -> int:
    _draw(Path(args.results))
    return 0


def _status(args: argparse.Namespace) -> int:
    grid = read_grid_file(Path(args.results))
    runs = RunStore(args.results).read()
    ids = {entry["run_id"] for entry in grid["runs"]}
    recorded = runs[runs["run_id"].isin(ids)] if not runs.empty else runs
    counts = recorded["status"].value_counts() if not recorded.empty else {}
    done = len(recorded)
    print(f"{args.results}: {len(ids)} runs in the grid")
    for status in ("ok", "diverged", "failed"):
        print(f"  {status:<9} {int(counts.get(status, 0))}")
    print(f"  remaining {len(ids) - done}")
    return 0


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
        "--jobs", type=int, default=1, help="local worker processes (default 1: see README)"
    )
    run.add_argument("--executor", choices=EXECUTORS, default="local", help="local or ray")
    run.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    run.add_argument("--verbose", action="store_true", help="per-epoch progress of each run")
    run.add_argument("--tensorboard", action="store_true", help="TensorBoard logs per run")
    run.add_argument("--no-figures", action="store_true", help="do not redraw figures at the end")
    run.set_defaults(handler=_run)
    figures = commands.add_parser("figures", help="draw a results folder's figures")
    figures.add_argument("results", help="results folder holding runs.csv")
    figures.set_defaults(handler=_figures)
    status = commands.add_parser("status", help="count done, failed and remaining runs")
    status.add_argument("results", help="results folder made by `run`")
    status.set_defaults(handler=_status)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad config, 1 for other errors)."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (FileNotFoundError, DataError, CorruptResultsError, ResultsLockedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
