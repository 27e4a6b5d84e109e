"""Run a grid into a results folder: skip what is done, train the rest, record every run."""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from experiments import executors
from experiments.config import RunConfig
from experiments.data import load_mnist
from experiments.runner import METRICS, environment
from experiments.store import GRID_FILE, RunStore, atomic_write_text

COMMAND_FILE = "command.txt"


@dataclass
class GridSummary:
    """How a grid invocation went: counts of runs by what happened to them."""

    total: int
    skipped: int
    ok: int = 0
    diverged: int = 0
    failed: int = 0


def columns_for(runs: list[RunConfig]) -> list[str]:
    """The `runs.csv` header for these runs: id and status, config fields, metrics, environment."""
    config_columns: dict[str, None] = {}
    for run in runs:
        config_columns.update(dict.fromkeys(run.columns()))
    return ["run_id", "status", "error", *config_columns, *METRICS, *environment()]


def write_grid_files(
    directory: Path, runs: list[RunConfig], command: list[str], meta: dict | None = None
) -> None:
    """`grid.yaml`: the analysis settings and every resolved run with its id;
    `command.txt`: the command that ran it."""
    grid = {**(meta or {}), "runs": [{"run_id": run.run_id, **run.model_dump()} for run in runs]}
    atomic_write_text(directory / GRID_FILE, yaml.safe_dump(grid, sort_keys=False))
    atomic_write_text(directory / COMMAND_FILE, shlex.join(command) + "\n")


def format_seconds(seconds: float) -> str:
    """`3h05m`, `4m09s` or `12s`."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def describe(row: dict) -> str:
    """One line for a finished run: id, settings, test accuracy and seconds."""
    settings = (
        f"H={row['hidden_units']:<5} {row['regularization']:<18} {row['init']:<11} "
        f"seed={row['seed']}"
    )
    if row["status"] == "ok":
        outcome = f"test_accuracy={row['test_accuracy']:.4f}"
    else:
        outcome = f"{row['status'].upper()}: {row['error'][:80]}"
    return f"{row['run_id']}  {settings}  {outcome}  {row['wall_time_s']:.1f}s"


def run_grid(
    runs: list[RunConfig],
    directory: str | Path,
    *,
    command: list[str] | None = None,
    meta: dict | None = None,
    data_path: str | None = None,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    quiet: bool = False,
    verbose: bool = False,
    tensorboard: bool = False,
) -> GridSummary:
    """Train every run of `runs` not yet in `directory`, appending one row per run.

    `executor="local"` trains in this process (`jobs=1`) or in `jobs` worker processes;
    `executor="ray"` sends each run to the Ray cluster at `address` as a task. Either way
    this process is the only writer, and holds the folder's lock throughout, so a second
    process on the same folder is refused. Prints one line per finished run and a progress
    bar with an ETA (both off with `quiet`). Runs train seed by seed (a stable sort), so a
    grid stopped early holds whole replicates. `meta` (see `config.Grid.meta`) is written to
    `grid.yaml` with the runs.
    """
    if executor not in executors.EXECUTORS:
        raise ValueError(f"executor must be one of {executors.EXECUTORS}; received {executor!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1; received {jobs}")
    store = RunStore(directory)
    with store.locked():
        write_grid_files(store.directory, runs, command or sys.argv, meta)
        done = store.done_ids()
        todo = sorted((run for run in runs if run.run_id not in done), key=lambda run: run.seed)
        summary = GridSummary(total=len(runs), skipped=len(runs) - len(todo))
        say = (lambda text: None) if quiet else tqdm.write
        say(f"{len(runs)} runs in the grid: {summary.skipped} already done, {len(todo)} to train.")
        if not todo:
            return summary
        store.ensure_columns(columns_for(runs))
        board = store.directory / "tensorboard" if tensorboard else None
        if executor == "local" and jobs > 1:
            say(f"Training in {jobs} worker processes.")
            results = executors.in_processes(todo, jobs, data_path, tensorboard=board)
        else:
            data = load_mnist(data_path)
            say(f"MNIST from {data.source}")
            if executor == "ray":
                results = executors.on_ray(todo, data, address, tensorboard=board)
            else:
                verbosity = 2 if verbose else 0
                results = executors.in_process(todo, data, verbose=verbosity, tensorboard=board)
        bar = tqdm(total=len(runs), initial=summary.skipped, unit="run", disable=quiet or None)
        started = time.monotonic()
        with bar:
            for trained, (row, history) in enumerate(results, start=1):
                store.append(row, history)
                setattr(summary, row["status"], getattr(summary, row["status"]) + 1)
                left = len(todo) - trained
                eta = (time.monotonic() - started) / trained * left
                count = summary.skipped + trained
                say(f"[{count}/{len(runs)}] {describe(row)}  ETA {format_seconds(eta)}")
                bar.set_postfix_str(f"last: {row['status']} {row['test_accuracy'] or ''}")
                bar.update()
    return summary
