"""The results store: whole rows, resumable grids, a lock, and loud corruption."""

import multiprocessing
import subprocess
import sys

import pandas as pd
import pytest

from experiments.grid import recorded_engine
from experiments.store import CorruptResultsError, ResultsLockedError, RunStore


def row(run_id, **extra):
    return {"run_id": run_id, "status": "ok", "test_accuracy": 0.9, **extra}


def test_rows_append_and_read_back(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a"), pd.DataFrame({"epoch": [1, 2], "train_loss": [0.5, 0.4]}))
        store.append(row("b", error="line one\nline two"))
    table = store.read()
    assert table["run_id"].tolist() == ["a", "b"]
    assert table.loc[1, "error"] == "line one line two"  # one row, one line
    assert store.done_ids() == {"a", "b"}
    history = pd.read_csv(tmp_path / "histories" / "a.csv")
    assert history["train_loss"].tolist() == [0.5, 0.4]


def test_new_columns_rewrite_the_header_and_keep_old_rows(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a"))
        store.append(row("b", hidden_kernel_l2=3.5))
    table = store.read()
    assert list(table.columns) == ["run_id", "status", "test_accuracy", "hidden_kernel_l2"]
    assert pd.isna(table.loc[0, "hidden_kernel_l2"]) and table.loc[1, "hidden_kernel_l2"] == 3.5


def test_a_torn_last_line_is_ignored_with_a_note_then_moved_aside(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a"))
        store.append(row("b"))
    with open(store.runs_path, "a") as handle:
        handle.write("c,ok,0.")  # a writer killed mid-row by something else
    assert store.read()["run_id"].tolist() == ["a", "b"]
    assert "line 4 is incomplete" in store.notes[0]
    assert store.done_ids() == {"a", "b"}
    with store.locked():
        store.repair()
        store.append(row("c"))
    assert store.read()["run_id"].tolist() == ["a", "b", "c"] and not store.notes
    [aside] = tmp_path.glob("runs.csv.torn-*")
    assert aside.read_text() == "c,ok,0."  # never deleted


def test_a_failed_row_is_superseded_by_a_retry_and_duplicates_are_reported(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a", status="failed", test_accuracy=None))
        store.append(row("b"))
    assert store.done_ids() == {"b"}  # the failed run is trained again
    with store.locked():
        store.append(row("a", test_accuracy=0.7))
        store.append(row("b", test_accuracy=0.1))  # a second writer's duplicate
    table = store.read()
    # a: the retry; b: its first finished row
    assert table.set_index("run_id")["test_accuracy"].to_dict() == {"a": 0.7, "b": 0.9}
    assert store.duplicates == ["b"] and "more than one finished row" in store.notes[0]


def test_a_full_disk_leaves_no_torn_row_and_says_what_to_do(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a", error=""))
    before = store.runs_path.read_bytes()
    # a file-size limit just above the current size: the next row cannot be written whole
    code = (
        "import resource, sys, pandas as pd\n"
        "from experiments.store import RunStore, ResultsWriteError\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 20}, {len(before) + 20}))\n"
        f"store = RunStore({str(tmp_path)!r})\n"
        "try:\n"
        "    with store.locked():\n"
        "        store.append({'run_id': 'b', 'status': 'ok', 'test_accuracy': 0.9,\n"
        "                      'error': 'x' * 200})\n"
        "except ResultsWriteError as error:\n"
        "    print(error)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "Could not record run b" in done.stdout and "disk may be full" in done.stdout
    assert store.runs_path.read_bytes() == before  # whole or absent
    assert store.read()["run_id"].tolist() == ["a"] and not store.notes


def test_a_row_with_the_wrong_number_of_fields_is_reported(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a"))
    with open(store.runs_path, "a") as handle:
        handle.write("b,ok\n")
    with pytest.raises(CorruptResultsError, match="line 3 has 2 fields, the header 3"):
        store.read()


def _hold_lock(directory, ready, release):
    with RunStore(directory).locked():
        ready.set()
        release.wait(10)


@pytest.mark.parametrize("delete_lock_file", [False, True])
def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, delete_lock_file):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        if delete_lock_file:  # it looks stale now; the lock is the kernel's, on the folder
            (tmp_path / ".lock").unlink()
        with (
            pytest.raises(
                ResultsLockedError, match="pid unknown" if delete_lock_file else f"pid {holder.pid}"
            ),
            RunStore(tmp_path).locked(),
        ):
            pass
    finally:
        release.set()
        holder.join(10)
    with RunStore(tmp_path).locked():  # free again once the holder is gone
        pass


def test_a_folder_keeps_the_engine_most_of_its_runs_used(tmp_path):
    store = RunStore(tmp_path / "results")
    assert recorded_engine(store) is None
    with store.locked():
        store.append(row("a"))  # written before the batched engine: blank engine
        store.append(row("b", engine="batched"))
        store.append(row("c", engine="single"))
        store.append(row("d", engine="batched", status="failed"))  # does not count
    assert recorded_engine(store) == "single"
    with store.locked():
        store.append(row("e", engine="batched"))
        store.append(row("f", engine="batched"))
    assert recorded_engine(store) == "batched"
