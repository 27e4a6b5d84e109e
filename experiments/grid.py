"""Run a grid into a results folder: skip what is done, train the rest, record every run."""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from tqdm import tqdm

from experiments import executors
from experiments.config import (
    ID_SCHEMA,
    LEGACY_V1,
    SPEC_FIELDS,
    RunConfig,
    config_from_columns,
    grid_values,
)
from experiments.data import load_dataset
from experiments.metrics import METRICS
from experiments.store import GRID_FILE, RunStore, atomic_write_text, read_grid_file

COMMAND_FILE = "command.txt"


class GridMismatchError(ValueError):
    """A results folder holds another grid, older run ids, or another backend's runs."""


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
    from experiments.runner import environment  # Keras: only when there is training to do

    config_columns: dict[str, None] = {}
    for run in runs:
        config_columns.update(dict.fromkeys(run.columns()))
    return ["run_id", "status", "error", *config_columns, *METRICS, *environment()]


def write_grid_file(directory: Path, runs: list[RunConfig], meta: dict | None = None) -> None:
    """`grid.yaml`: the id schema, the analysis settings and every resolved run with its id."""
    grid = {
        "id_schema": ID_SCHEMA,
        **(meta or {}),
        "runs": [{"run_id": run.run_id, **run.model_dump()} for run in runs],
    }
    atomic_write_text(directory / GRID_FILE, yaml.safe_dump(grid, sort_keys=False))


def log_command(directory: Path, command: list[str], backend: str) -> None:
    """Append the command to `command.txt`, with the time: every invocation is kept.

    The line starts with the Keras backend it trained on (`KERAS_BACKEND=jax python -m ...`),
    so that pasting it into a shell trains on the same backend.
    """
    path = directory / COMMAND_FILE
    previous = path.read_text() if path.is_file() else ""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    line = f"KERAS_BACKEND={backend} {shlex.join(command)}"
    atomic_write_text(path, previous + f"# {stamp}\n{line}\n")


def check_folder(store: RunStore, runs: list[RunConfig], name: str, redefine: bool) -> None:
    """Refuse a folder whose ids are of an older schema or that holds another grid.

    A folder belongs to the grid recorded in its `grid.yaml`. A config may extend it (every
    recorded run is still in the grid: more seeds, sizes or settings); one that drops
    recorded runs is another grid and is refused unless `redefine` (the old `grid.yaml` is
    then kept as `grid.previous-<time>.yaml`, and rows of dropped runs stay in `runs.csv`).
    """
    path = store.directory / GRID_FILE
    if not path.is_file():
        if store.runs_path.is_file() and store.done_ids():
            raise GridMismatchError(
                f"{store.directory} has runs.csv but no {GRID_FILE}: it was not made by "
                "`python -m experiments run`. Give this grid another --results folder."
            )
        return
    recorded = read_grid_file(store.directory)
    if recorded.get("id_schema", 1) != ID_SCHEMA:
        raise GridMismatchError(
            f"{store.directory} holds run ids of an older schema "
            f"({recorded.get('id_schema', 1)}, this version uses {ID_SCHEMA}). Run "
            f"`python -m experiments migrate {store.directory}` once; it renames the ids in "
            "place and keeps every row."
        )
    old = {entry["run_id"] for entry in recorded.get("runs", [])}
    dropped = old - {run.run_id for run in runs}
    if dropped and not redefine:
        raise GridMismatchError(
            f"{store.directory} holds the grid '{recorded.get('name', '?')}' ({len(old)} runs); "
            f"the config '{name}' leaves out {len(dropped)} of them. Give it its own --results "
            "folder, or pass --redefine to make this config the folder's grid (the old "
            "grid.yaml is kept beside it and no row is deleted)."
        )
    if dropped:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        atomic_write_text(path.with_name(f"grid.previous-{stamp}.yaml"), path.read_text())


def check_backend(store: RunStore, ids: set[str], backend: str, allow_mixed: bool) -> None:
    """Refuse to add `backend`'s runs to a folder whose runs of this grid used another."""
    table = store.read()
    if table.empty or "backend" not in table or allow_mixed:
        return
    mine = table[table["run_id"].isin(ids) & (table["status"] != "failed")]
    others = sorted(set(mine["backend"].dropna()) - {backend})
    if others:
        raise GridMismatchError(
            f"{store.directory} holds runs trained with {', '.join(others)}; this process "
            f"uses {backend}. Numbers from two backends differ slightly, so a folder keeps "
            f"one: set KERAS_BACKEND={others[0]}, use another --results folder, or pass "
            "--allow-mixed-backends (the `backend` column tells the rows apart)."
        )


def recorded_engine(store: RunStore) -> str | None:
    """The engine most of the folder's finished rows were trained with (rows from before
    the batched engine existed have a blank `engine`: single), None for an empty folder."""
    table = store.read()
    if table.empty:
        return None
    finished = table[table["status"] != "failed"]
    engines = finished.get("engine", pd.Series("", index=finished.index))
    counts = engines.fillna("").replace("", "single").value_counts()
    return str(counts.index[0]) if len(counts) else None


def migrate(directory: str | Path) -> dict[str, str]:
    """Give a results folder's runs the ids of the current `ID_SCHEMA`; returns old -> new.

    Each row's configuration is read back from its own columns (`config.config_from_columns`,
    with what schema-1 versions did for the fields they lacked: `config.LEGACY_V1`) and hashed
    again; `runs.csv` and `grid.yaml` are rewritten atomically and history files
    renamed. Rows, columns and values are otherwise untouched.
    """
    store = RunStore(directory)
    with store.locked():
        meta = read_grid_file(store.directory)
        if meta.get("id_schema", 1) == ID_SCHEMA:
            return {}
        legacy = LEGACY_V1 if meta.get("id_schema", 1) == 1 else {}
        mapping = store.rewrite_ids(
            lambda row: config_from_columns(row, str(store.runs_path), legacy)
        )
        runs = []
        for entry in meta.pop("runs", []):
            old = entry.pop("run_id")
            run = RunConfig.model_validate({**legacy, **entry})
            mapping.setdefault(old, run.run_id)
            runs.append(run)
        meta.pop("id_schema", None)
        if "select_on_validation" in meta:
            tune = meta.pop("select_on_validation") or []
            meta["study"] = {**(meta.get("study") or {}), **({"tune": tune} if tune else {})}
        write_grid_file(store.directory, runs, meta)
    return mapping


def format_seconds(seconds: float) -> str:
    """`3h05m`, `4m09s` or `12s`."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Eta:
    """Time left from the pace of finished runs. In parallel the first result also carries
    the workers' start-up, so the pace is measured from it on (`?` until a second one)."""

    def __init__(self, parallel: bool) -> None:
        self.parallel, self.started, self.finished = parallel, time.monotonic(), 0

    def update(self, left: int) -> str:
        """Count one more finished run; return the estimate for the `left` still to train."""
        self.finished += 1
        if self.parallel and self.finished == 1:
            self.started = time.monotonic()
            return "?" if left else format_seconds(0)
        done = self.finished - 1 if self.parallel else self.finished
        return format_seconds((time.monotonic() - self.started) / done * left)


def describe(row: dict, varying: list[str] = ()) -> str:
    """One line for a finished run: id, every setting that varies in its grid, test accuracy
    and seconds (`varying`: those columns; by default size, regularization, init, seed)."""
    from experiments.analysis import text_of

    columns = varying or ["hidden_units", "regularization", "init", "seed"]
    settings = " ".join(
        f"{column.rsplit('.', 1)[-1]}={row[column]:g}"
        if isinstance(row.get(column), float)
        else f"{column.rsplit('.', 1)[-1]}={text_of(row.get(column))}"
        for column in columns
        if row.get(column) is not None  # an argument this run's regularizer does not have
    )
    if row["status"] == "ok":
        outcome = f"test_accuracy={row['test_accuracy']:.4f}"
    else:
        outcome = f"{row['status'].upper()}: {row['error'][:80]}"
    return f"{row['run_id']}  {settings}  {outcome}  {row['wall_time_s']:.1f}s"


@contextlib.contextmanager
def interrupt_guard(say: Callable[[str], None]) -> Iterator[threading.Event]:
    """While inside, the first Ctrl-C (SIGINT, or SIGTERM) sets `executors.STOP` and returns
    it: training stops at its next step and the caller records nothing more. A second one
    raises KeyboardInterrupt at once.

    Raising on the first would throw the interrupt into the backend, which can turn it into
    another exception (a healthy run recorded as failed), swallow it, or hang. Outside the
    main thread (no signals there) nothing is installed.
    """
    stop = executors.STOP
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        say("stopping: the run in flight will not be recorded (Ctrl-C again to quit at once)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    outermost = not any(getattr(old, "__name__", "") == "handler" for old in previous.values())
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if outermost:
            stop.clear()  # the next grid in this process starts afresh


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
    redefine: bool = False,
    allow_mixed_backends: bool = False,
    engine: str | None = None,
) -> GridSummary:
    """Train every run of `runs` not yet finished in `directory`, appending one row per run.

    `executor="local"` trains in this process (`jobs=1`) or in `jobs` worker processes;
    `executor="ray"` sends each run to the Ray cluster at `address` as a task. Either way
    this process is the only writer, and holds the folder's lock throughout, so a second
    process on the same folder is refused. Prints one line per finished run and a progress
    bar with an ETA (both off with `quiet`). Runs train seed by seed (a stable sort), so a
    grid stopped early holds whole replicates. Failed runs are trained again (their new row
    supersedes the old). `meta` (see `config.Grid.meta`) is written to `grid.yaml` with the
    runs, once the folder has been checked (`check_folder`, `check_backend`).

    `engine="batched"` trains runs that share a seed, network shape and schedule together as
    one stacked model (`experiments.batched`; a killed grid loses the batch in flight), and
    `"single"` trains each run as its own Keras model (`runner.train_run`). None: the
    engine the folder's runs were trained with (`recorded_engine`), batched for a new
    folder, so a resumed grid keeps its random streams. TensorBoard logs need the
    single-run engine.

    Ctrl-C (`interrupt_guard`) stops training at its next step; the run in flight is not
    recorded and KeyboardInterrupt propagates.
    """
    if executor not in executors.EXECUTORS:
        raise ValueError(f"executor must be one of {executors.EXECUTORS}; received {executor!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1; received {jobs}")
    if engine is not None and engine not in executors.ENGINES:
        raise ValueError(f"engine must be one of {executors.ENGINES}; received {engine!r}")
    name = (meta or {}).get("name", "?")
    say = (lambda text: None) if quiet else tqdm.write
    store = RunStore(directory)
    with interrupt_guard(say) as stop, store.locked():
        check_folder(store, runs, name, redefine)
        store.repair()
        done = store.done_ids()
        todo = sorted((run for run in runs if run.run_id not in done), key=lambda run: run.seed)
        if todo:
            import keras  # the backend this process trains with

            ids = {run.run_id for run in runs}
            check_backend(store, ids, keras.backend.backend(), allow_mixed_backends)
        if stop.is_set():
            raise KeyboardInterrupt
        write_grid_file(store.directory, runs, meta)
        summary = GridSummary(total=len(runs), skipped=len(runs) - len(todo))
        say(f"{len(runs)} runs in the grid: {summary.skipped} already done, {len(todo)} to train.")
        if not todo:
            return summary
        # the commands that made results
        log_command(store.directory, command or sys.argv, keras.backend.backend())
        store.ensure_columns(columns_for(runs))
        values = grid_values(runs)
        varying = [
            c for c, v in values.items() if len(v) > 1 and c not in ("regularization", *SPEC_FIELDS)
        ]
        varying = ["regularization", *varying] if len(values["regularization"]) > 1 else varying
        board = store.directory / "tensorboard" if tensorboard else None
        engine = engine or recorded_engine(store) or "batched"
        if engine == "batched" and tensorboard:
            say("TensorBoard logs need the single-run engine: training run by run.")
            engine = "single"
        if engine == "batched" and any(run.model != "mlp" for run in todo):
            say("The batched engine stacks 784-H-10 networks only: training run by run.")
            engine = "single"
        from experiments.batched import plan_batches  # imports Keras, as training does

        units = plan_batches(todo) if engine == "batched" else [[run] for run in todo]
        datasets = {run.dataset for run in todo}
        if len(datasets) > 1:  # `config.expand` refuses such a config; this is for callers
            raise ValueError(f"a grid trains on one data set; these runs name {sorted(datasets)}")
        (dataset,) = datasets
        if engine == "batched":
            say(f"Batched engine: {len(todo)} runs in {len(units)} stacked models.")
        if executor == "local" and jobs > 1:
            say(f"Training in {jobs} worker processes.")
            results = executors.in_processes(
                units, engine, jobs, data_path, dataset, tensorboard=board
            )
        else:
            data = load_dataset(dataset, data_path)
            say(f"Data: {data.source}")
            if executor == "ray":
                results = executors.on_ray(units, data, engine, address, tensorboard=board)
            else:
                verbosity = 2 if verbose else 0
                results = executors.in_process(
                    units, data, engine, verbose=verbosity, tensorboard=board
                )
        bar = tqdm(total=len(runs), initial=summary.skipped, unit="run", disable=quiet or None)
        eta = Eta(parallel=executor == "ray" or jobs > 1)
        with bar:
            for trained, (row, history) in enumerate(results, start=1):
                if stop.is_set():  # cut short by the stop: keep nothing of it
                    raise KeyboardInterrupt
                store.append(row, history)
                setattr(summary, row["status"], getattr(summary, row["status"]) + 1)
                left = len(todo) - trained
                count = summary.skipped + trained
                line = describe(row, varying)
                say(f"[{count}/{len(runs)}] {line}  ETA {eta.update(left)}")
                bar.set_postfix_str(f"last: {row['status']} {row.get('test_accuracy') or ''}")
                bar.update()
            if stop.is_set():
                raise KeyboardInterrupt
    return summary
