"""The results folder: `runs.csv` (one row per finished run), `histories/`, `weights/` (the
final weights of the runs that ask for them, `save_weights`), a lock.

Rows are appended with one `write` on a file opened in append mode, then `fsync`ed; a write
that fails or comes up short (a full disk, a file-size limit) is cut back to the previous
end of the file, so a row is on disk whole or not at all. Per-epoch histories (and weights)
are written to a temporary file and renamed into place before their row is appended. A torn
last line left by something else is ignored by readers (with a note) and moved aside, never
deleted, by the next writer.

A run id may have several rows: a `failed` row is superseded by a later row of the same id
(the run was retried). Two finished rows of one id are duplicates: readers keep the first
and report the id.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

RUNS = "runs.csv"
HISTORIES = "histories"
WEIGHTS = "weights"  # the folder of `<run_id>.npz` files, and the row key that carries them
LAYER_WEIGHTS = ("hidden_kernel", "hidden_bias", "output_kernel", "output_bias")
LOCK = ".lock"
GRID_FILE = "grid.yaml"


class CorruptResultsError(ValueError):
    """`runs.csv` does not parse: the message gives the line and what to do."""


class ResultsLockedError(RuntimeError):
    """Another process is writing to the same results folder."""


class ResultsWriteError(OSError):
    """A row could not be written (full disk, file-size limit): nothing of it was kept."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half-written.

    On failure (a full disk) the temporary file is removed and `path` is left as it was.
    """
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic_write_text` for bytes."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


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
        self.weights = self.directory / WEIGHTS
        self.notes: list[str] = []  # what the last read found worth telling the user
        self.duplicates: list[str] = []

    @contextlib.contextmanager
    def locked(self) -> Iterator[RunStore]:
        """Hold an exclusive lock on the folder; refuse at once if another process holds it.

        The lock is the kernel's (`flock`) on the folder itself, so it ends with its holder
        and cannot be lost by deleting a file; `.lock` only records the holder's pid for the
        message. A folder this call creates and leaves without a row is removed again, so a
        run that stops early (no data, a bad folder) leaves nothing half-made behind.
        """
        created = not self.directory.exists()
        self.histories.mkdir(parents=True, exist_ok=True)
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            try:
                fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = self.directory / LOCK
                holder = pid.read_text().strip() if pid.is_file() else ""
                raise ResultsLockedError(
                    f"{self.directory} is being written by another process (pid "
                    f"{holder or 'unknown'}). Wait for it to finish, or give this grid another "
                    "--results folder."
                ) from None
            atomic_write_text(self.directory / LOCK, str(os.getpid()))
            try:
                yield self
            except BaseException:
                if created and not self._rows()[1]:  # nothing recorded: leave no trace
                    shutil.rmtree(self.directory, ignore_errors=True)
                raise
        finally:
            os.close(folder)  # closing the descriptor releases the lock

    def _text(self) -> str:
        """`runs.csv` up to its last whole line; a torn tail is noted in `self.notes`."""
        if not self.runs_path.exists():
            return ""
        try:
            text = self.runs_path.read_bytes().decode("utf-8-sig")  # a BOM from a spreadsheet
        except UnicodeDecodeError as error:
            raise CorruptResultsError(
                f"{self.runs_path} is not UTF-8 text (byte {error.start}): it is not a runs.csv "
                "written by this tool. Move it away and run the grid again."
            ) from None
        if text and not text.endswith("\n"):
            line = text.count("\n") + 1
            self.notes.append(
                f"{self.runs_path} line {line} is incomplete (no line end): a writer was killed "
                "mid-row or the disk filled up. It holds no finished run and is ignored; the "
                "next `run` moves it aside and trains that run again."
            )
            text = text[: text.rfind("\n") + 1]
        return text

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        self.notes = []
        text = self._loaded = self._text()
        if not text:
            return [], []
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        for number, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise CorruptResultsError(
                    f"{self.runs_path} line {number} has {len(row)} fields, the header "
                    f"{len(header)}: the file was edited or torn. Fix or delete that line."
                )
        return header, body

    def _current(self, header: list[str], body: list[list[str]]) -> list[int]:
        """Indices of the rows that count: per id, its first finished row, else its last."""
        missing = [c for c in ("run_id", "status") if c not in header]
        if missing:
            raise CorruptResultsError(
                f"{self.runs_path} has no {' or '.join(missing)} column: it is not a runs.csv "
                "written by this tool. Move it away and run the grid again."
            )
        column, status = header.index("run_id"), header.index("status")
        chosen: dict[str, int] = {}
        self.duplicates = []
        for index, row in enumerate(body):
            previous = chosen.get(row[column])
            if previous is None or body[previous][status] == "failed":
                chosen[row[column]] = index
            elif row[status] != "failed" and row[column] not in self.duplicates:
                self.duplicates.append(row[column])
        if self.duplicates:
            self.notes.append(
                f"{self.runs_path}: {len(self.duplicates)} run id(s) have more than one finished "
                f"row (e.g. {self.duplicates[0]}); only the first row of each is used."
            )
        return sorted(chosen.values())

    def read(self) -> pd.DataFrame:
        """The rows that count (see the module docstring) as a DataFrame, empty if none.

        Raises `CorruptResultsError` for a row with the wrong number of fields; notes on a
        torn tail or duplicates are left in `self.notes`.
        """
        header, body = self._rows()
        if not header:
            return pd.DataFrame()
        keep = self._current(header, body)
        table = pd.read_csv(io.StringIO(self._loaded), keep_default_na=False, na_values=[""])
        return table.iloc[keep].reset_index(drop=True)

    def done_ids(self) -> set[str]:
        """Ids of the runs recorded as finished (`ok` or `diverged`): failed runs are retried."""
        header, body = self._rows()
        if not header:
            return set()
        current = self._current(header, body)
        column, status = header.index("run_id"), header.index("status")
        return {body[i][column] for i in current if body[i][status] != "failed"}

    def rewrite_ids(self, config_of: Callable[[dict[str, str]], Any]) -> dict[str, str]:
        """Give every row the id of `config_of(row)` (row as text) and the config columns it
        lacks (e.g. fields added since it was written); rename the history files to match.
        Returns old id -> new id. Call it under `locked()`.

        Refuses (`CorruptResultsError`) if two different old ids would get one new id.
        """
        header, body = self._rows()
        if not header:
            return {}
        mapping: dict[str, str] = {}
        rows = []
        for values in body:
            row = dict(zip(header, values, strict=True))
            config = config_of(row)
            if mapping.setdefault(row["run_id"], config.run_id) != config.run_id:
                raise CorruptResultsError(f"run {row['run_id']} has rows of two configurations")
            rows.append({**config.columns(), **row, "run_id": config.run_id})
        if len(set(mapping.values())) != len(mapping):
            raise CorruptResultsError(
                f"{self.runs_path}: two different runs would get one id; nothing was changed."
            )
        header = list(dict.fromkeys([*header, *(key for row in rows for key in row)]))
        for old, new in mapping.items():
            for folder, suffix in ((self.histories, "csv"), (self.weights, "npz")):
                source, target = folder / f"{old}.{suffix}", folder / f"{new}.{suffix}"
                if source.exists() and old != new:
                    os.replace(source, target)
        text = _line(header) + "".join(_line([row.get(c) for c in header]) for row in rows)
        atomic_write_text(self.runs_path, text)
        return mapping

    def histories_of(self, ids: list[str]) -> tuple[pd.DataFrame, list[str]]:
        """The per-epoch histories of `ids`, stacked with a `run_id` column, and the ids
        whose history file is missing."""
        parts, missing = [], []
        for run_id in ids:
            path = self.histories / f"{run_id}.csv"
            if path.is_file():
                parts.append(pd.read_csv(path).assign(run_id=run_id))
            else:
                missing.append(run_id)
        return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), missing

    def weights_of(self, run_id: str) -> dict[str, np.ndarray]:
        """The saved final weights of a run, by layer (`hidden_kernel`, `hidden_bias`,
        `output_kernel`, `output_bias`); FileNotFoundError when it saved none."""
        path = self.weights / f"{run_id}.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no saved weights for run {run_id}; a run saves them with "
                "save_weights: true in its config"
            )
        with np.load(path) as arrays:
            return dict(arrays)

    def repair(self) -> None:
        """Move a torn last line aside to `runs.csv.torn-<time>` (under the lock): never lost."""
        if not self.runs_path.exists():
            return
        text = self.runs_path.read_text()
        if not text or text.endswith("\n"):
            return
        keep = text.rfind("\n") + 1
        stamp = time.strftime("%Y%m%dT%H%M%S")
        atomic_write_text(self.runs_path.with_name(f"{RUNS}.torn-{stamp}"), text[keep:])
        atomic_write_text(self.runs_path, text[:keep])

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
        """Record a finished run: its history file (and its weights, a list of arrays under
        the key `WEIGHTS` of `row`, when it saved them) first, then its row in one atomic
        append.

        Raises `ResultsWriteError` when either cannot be written whole; `runs.csv` is then as
        it was before.
        """
        row = dict(row)
        weights = row.pop(WEIGHTS, None)
        try:
            if history is not None:
                path = self.histories / f"{row['run_id']}.csv"
                atomic_write_text(path, history.to_csv(index=False))
            if weights is not None:
                self.weights.mkdir(exist_ok=True)
                buffer = io.BytesIO()
                np.savez_compressed(buffer, **dict(zip(LAYER_WEIGHTS, weights, strict=True)))
                atomic_write_bytes(self.weights / f"{row['run_id']}.npz", buffer.getvalue())
            header = self.ensure_columns(list(row))
            data = _line([row.get(column) for column in header]).encode()
            descriptor = os.open(self.runs_path, os.O_WRONLY | os.O_APPEND)
            try:
                end = os.fstat(descriptor).st_size
                try:
                    if os.write(descriptor, data) != len(data):
                        raise OSError(errno.ENOSPC, "short write")
                    os.fsync(descriptor)
                except OSError:
                    os.ftruncate(descriptor, end)  # whole or absent
                    raise
            finally:
                os.close(descriptor)
        except OSError as error:
            raise ResultsWriteError(
                f"Could not record run {row['run_id']} in {self.directory}: "
                f"{error.strerror or error}. The disk may be full or a file-size limit reached; "
                "nothing of this run was kept. Free some space and run the grid again: it "
                "trains this run and those after it."
            ) from error


def read_grid_file(directory: Path) -> dict:
    """`grid.yaml` of a results folder: analysis settings and `runs`, the resolved runs."""
    path = Path(directory) / GRID_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {GRID_FILE} in {directory}: it is not a results folder made by "
            "`python -m experiments run`."
        )
    return yaml.safe_load(path.read_text()) or {"runs": []}
