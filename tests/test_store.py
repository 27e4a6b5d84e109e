"""The results store: whole rows, resumable grids, a lock, and loud corruption."""

import multiprocessing

import pandas as pd
import pytest

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


def test_a_torn_last_line_is_reported_with_its_number(tmp_path):
    store = RunStore(tmp_path)
    with store.locked():
        store.append(row("a"))
        store.append(row("b"))
    with open(store.runs_path, "a") as handle:
        handle.write("c,ok,0.")  # a writer killed mid-row by an older version
    with pytest.raises(CorruptResultsError, match=r"runs.csv line 4 is incomplete"):
        store.read()
    with pytest.raises(CorruptResultsError):
        store.done_ids()


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


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(ResultsLockedError, match=f"pid {holder.pid}"),
            RunStore(tmp_path).locked(),
        ):
            pass
    finally:
        release.set()
        holder.join(10)
    with RunStore(tmp_path).locked():  # free again once the holder is gone
        pass
