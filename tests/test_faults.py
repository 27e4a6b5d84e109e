"""Faults a user or a hostile input can cause, and what each must leave behind: Ctrl-C at
random moments, orphaned workers, alias bombs and huge grids, malformed configs and results
files, folders that cannot be written. (A lock file deleted under a live writer: test_store.)"""

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from experiments import executors, runner
from experiments.cli import main
from experiments.config import expand
from experiments.grid import run_grid
from experiments.store import RunStore

TINY = {"n_train": 1000, "epochs": 2, "batch_size": 100}


def command(*args):
    return [sys.executable, "-m", "experiments", *args]


def cli(*args, timeout=300):
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout)


def write(path: Path, document) -> Path:
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


@pytest.mark.slow
def test_ctrl_c_at_random_moments_never_records_the_run_it_interrupted(tmp_path):
    grid = {"hidden_units": [8, 16, 24, 32], "seed": [0, 1, 2, 3]}
    config = write(tmp_path / "grid.yaml", {"fixed": TINY, "grid": grid})
    results = tmp_path / "results"
    draw = random.Random(0)
    interrupted = 0
    for _ in range(5):  # caught the races of a raising handler (see grid.interrupt_guard)
        process = subprocess.Popen(
            command("run", str(config), "--results", str(results), "--no-figures"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
        )  # fmt: skip
        time.sleep(draw.uniform(1.0, 7.0))  # from start-up to training
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode in (0, 130), err
        assert "Traceback" not in err
        if process.returncode == 130:
            interrupted += 1
            assert "interrupted" in err
        table = RunStore(results).read() if (results / "runs.csv").exists() else pd.DataFrame()
        assert table.empty or set(table["status"]) == {"ok"}  # never a healthy run as failed
    assert interrupted >= 3
    done = cli("run", str(config), "--results", str(results), "--no-figures")
    assert done.returncode == 0, done.stderr
    table = RunStore(results).read()
    assert len(table) == 16 and set(table["status"]) == {"ok"} and table["run_id"].is_unique


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_kill_9_of_the_parent_takes_its_worker_processes_with_it(tmp_path):
    grid = {"hidden_units": [256, 512], "seed": [0, 1, 2], "n_train": [20000]}
    config = write(tmp_path / "grid.yaml", {"fixed": {"epochs": 5}, "grid": grid})
    process = subprocess.Popen(
        command("run", str(config), "--results", str(tmp_path / "out"), "--jobs", "2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        workers = _children(process.pid)
    assert workers, "no worker processes started"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    for pid in alive:  # leave nothing running whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not alive


def test_a_ray_address_that_answers_nothing_is_refused_at_once():
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=r"No Ray cluster answers at 127\.0\.0\.1:1"):
        executors.check_reachable("127.0.0.1:1")
    assert time.monotonic() - started < 30  # not Ray's minutes of retries


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB + "grid: {seed: 0}\n", "expands to more than 100,000 values"),
        (
            "grid:\n" + "".join(f"  {k}: [{', '.join(str(v) for v in range(10, 20))}]\n"
                                for k in ("hidden_units", "epochs", "batch_size", "seed",
                                          "n_train", "pretrain_epochs", "pretrain_batch_size",
                                          "early_stopping")),
            "a grid holds at most 100,000",
        ),
        ("grid:\n  seed: 0\n  seed: 1\n", "duplicate key 'seed'"),
        ("grid: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than"),
        ("grid: {hidden_units: true}\n", "expects a number, not True"),
        ("grid: {weight_decay: .inf}\n", "finite number"),
        ("grid: {hidden_regularizer: {name: l2, l2: 1e999999}}\n", "l2"),
        ("grid: {hidden_regularizer: {name: l2, l2: " + "9" * 400 + "}}\n", "l2"),
        ("grid: {study: 1}\n", "unknown field"),
    ],
    ids=["alias-bomb", "huge-grid", "duplicate-key", "deep", "bool", "inf", "overflow",
         "huge-int", "misplaced"],
)  # fmt: skip
def test_hostile_configs_are_refused_quickly_with_exit_2(tmp_path, text, expected):
    config = write(tmp_path / "bad.yaml", text)
    started = time.monotonic()
    done = cli("run", str(config), "--results", str(tmp_path / "out"), timeout=60)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr) < 2000  # one readable message, not the document
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - started < 30


def test_a_config_that_is_not_utf8_is_refused(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_bytes(b"grid: {seed: 0}\n# caf\xe9\n")
    done = cli("run", str(config), "--results", str(tmp_path / "out"), timeout=60)
    assert done.returncode == 2 and "not UTF-8 text" in done.stderr


def test_l1_written_1e_4_is_a_number_in_a_spec_too():
    [run] = expand(yaml.safe_load("grid: {hidden_regularizer: {name: l1, l1: 1e-4}}"))
    assert run.hidden_regularizer["l1"] == 1e-4


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe\x00binary", "not UTF-8 text"),
        (b"a,b\n1,2\n", "no run_id or status column"),
    ],
)
def test_a_runs_csv_that_is_not_ours_is_an_error_not_a_traceback(
    tmp_path, capsys, content, expected
):
    (tmp_path / "runs.csv").write_bytes(content)
    (tmp_path / "grid.yaml").write_text("id_schema: 2\nruns: []\n")
    assert main(["status", str(tmp_path)]) == 1
    assert expected in capsys.readouterr().err


def test_a_runs_csv_with_a_bom_or_empty_reads(tmp_path):
    store = RunStore(tmp_path)
    store.runs_path.write_bytes("\ufeffrun_id,status\nabc,ok\n".encode())
    assert store.read()["run_id"].tolist() == ["abc"]
    store.runs_path.write_text("")
    assert store.read().empty and store.done_ids() == set()


def test_a_results_path_that_is_a_file_is_an_error_and_nothing_is_made(tmp_path):
    config = write(tmp_path / "grid.yaml", {"fixed": TINY, "grid": {"seed": 0}})
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    done = cli("run", str(config), "--results", str(blocker / "out"), timeout=120)
    assert done.returncode == 1 and "error:" in done.stderr and "Traceback" not in done.stderr
    assert blocker.read_text() == "not a folder"


def test_missing_data_leaves_no_empty_results_folder(tmp_path):
    config = write(tmp_path / "grid.yaml", {"fixed": TINY, "grid": {"seed": 0}})
    results = tmp_path / "out"
    done = cli("run", str(config), "--results", str(results), "--data", str(tmp_path / "none.npz"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert not results.exists()


def test_a_grid_where_every_run_failed_reports_without_a_traceback(tmp_path, monkeypatch, capsys):
    runs = expand({"fixed": TINY, "grid": {"seed": [0, 1]}})

    def broken(run, data, **kwargs):
        return {"run_id": run.run_id, "status": "failed", "error": "ValueError: broken",
                **run.columns(), "wall_time_s": 0.1}, None  # fmt: skip

    monkeypatch.setattr(runner, "train_run", broken)
    assert (
        run_grid(runs, tmp_path, quiet=True, engine="single", meta={"name": "broken"}).failed == 2
    )
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no finished (status ok) run" in err and "2 failed" in err
    assert main(["status", str(tmp_path)]) == 0
    assert "failed: " in capsys.readouterr().out  # each failed run with its error


def test_rows_without_history_are_reported(tmp_path, monkeypatch):
    runs = expand({"fixed": TINY, "grid": {"seed": [0, 1]}})

    def fake(run, data, **kwargs):
        row = {"run_id": run.run_id, "status": "ok", "error": "", **run.columns(),
               "test_accuracy": 0.9, "train_accuracy": 0.95, "val_accuracy": 0.9,
               "hidden_kernel_l2": 1.0, "wall_time_s": 0.1}  # fmt: skip
        history = pd.DataFrame({"epoch": [1], "train_accuracy": [0.9], "val_accuracy": [0.9]})
        return row, history

    monkeypatch.setattr(runner, "train_run", fake)
    run_grid(runs, tmp_path, quiet=True, engine="single", meta={"name": "toy"})
    (tmp_path / "histories" / f"{runs[0].run_id}.csv").unlink()
    from experiments.report import write_report

    notes = write_report(tmp_path).result.notes
    assert any("1 runs used here have no history file" in note for note in notes)
