"""The results folder: `runs.csv` (one row per finished run), `histories/`, a lock.

Rows are appended with one `write` on a file opened in append mode, then `fsync`ed, so a
row is on disk whole or not at all; per-epoch histories are written to a temporary file and
renamed into place before their row is appended. A torn last line (a killed older writer, a
full disk) is reported with its line number, never dropped in silence.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import yaml

RUNS = "runs.csv"
HISTORIES = "histories"
LOCK = ".lock"
GRID_FILE = "grid.yaml"


class CorruptResultsError(ValueError):
    """`runs.csv` does not parse: the message gives the line and what to do."""


class ResultsLockedError(RuntimeError):
    """Another process is writing to the same results folder."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half-written."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _format(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _line(values: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_format(v) for v in values])
    return buffer.getvalue()


class RunStore:
    """One results folder. Use `with store.locked():` around any writing."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.runs_path = self.directory / RUNS
        self.histories = self.directory / HISTORIES

    @contextlib.contextmanager
    def locked(self) -> Iterator[RunStore]:
        """Hold an exclusive lock on the folder; refuse at once if another process holds it."""
        self.histories.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise ResultsLockedError(
                    f"{self.directory} is being written by another process (pid {holder}). "
                    "Wait for it to finish, or give this grid another --results folder."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        if not self.runs_path.exists():
            return [], []
        text = self.runs_path.read_text()
        if not text:
            return [], []
        lines = text.split("\n")
        if lines[-1] != "":
            raise CorruptResultsError(
                f"{self.runs_path} line {len(lines)} is incomplete (no line end): a writer was "
                "killed mid-row or the disk filled up. That line holds no finished run: delete "
                "it and rerun; the run will be trained again."
            )
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        for number, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise CorruptResultsError(
                    f"{self.runs_path} line {number} has {len(row)} fields, the header "
                    f"{len(header)}: the file was edited or torn. Fix or delete that line."
                )
        return header, body

    def read(self) -> pd.DataFrame:
        """All rows as a DataFrame (empty if there are none); raises `CorruptResultsError`."""
        if not self._rows()[0]:
            return pd.DataFrame()
        return pd.read_csv(self.runs_path, keep_default_na=False, na_values=[""])

    def done_ids(self) -> set[str]:
        """Ids of the runs already recorded, whatever their status."""
        header, body = self._rows()
        if not header:
            return set()
        column = header.index("run_id")
        return {row[column] for row in body}

    def ensure_columns(self, columns: list[str]) -> list[str]:
        """Make the header hold `columns` and return it.

        Adding columns rewrites the file through a temporary file and a rename, old rows
        getting blanks there: nothing is lost, and a reader never sees half a file.
        """
        header, body = self._rows()
        new_columns = [key for key in columns if key not in header]
        if new_columns or not header:
            header = header + new_columns
            text = _line(header) + "".join(_line(old + [""] * len(new_columns)) for old in body)
            atomic_write_text(self.runs_path, text)
        return header

    def append(self, row: dict[str, object], history: pd.DataFrame | None = None) -> None:
        """Record a finished run: its history file first, then its row in one atomic append."""
        if history is not None:
            atomic_write_text(self.histories / f"{row['run_id']}.csv", history.to_csv(index=False))
        header = self.ensure_columns(list(row))
        data = _line([row.get(column) for column in header]).encode()
        descriptor = os.open(self.runs_path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def read_grid_file(directory: Path) -> dict:
    """`grid.yaml` of a results folder: analysis settings and `runs`, the resolved runs."""
    path = Path(directory) / GRID_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {GRID_FILE} in {directory}: it is not a results folder made by "
            "`python -m experiments run`."
        )
    return yaml.safe_load(path.read_text()) or {"runs": []}
