"""The grid engine under faults and at scale: kill -9, divergence, failures, determinism,
worker processes, a real local Ray cluster, TensorBoard logs."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from experiments import runner
from experiments.config import expand
from experiments.grid import run_grid
from experiments.store import RunStore

TINY = {"n_train": 500, "epochs": 2, "batch_size": 100, "learning_rate": 0.05}
METRIC_COLUMNS = ["train_loss", "val_loss", "test_loss", "test_accuracy", "hidden_kernel_l2"]


def write_config(path: Path, grid: dict, fixed: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump({"fixed": fixed or TINY, "grid": grid}))
    return path


def cli(*args, timeout=600, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        capture_output=True, text=True, timeout=timeout, **kwargs,
    )  # fmt: skip


def rows_on_disk(path: Path) -> int:
    if not path.exists():
        return 0
    return max(0, path.read_text().count("\n") - 1)


@pytest.mark.slow
def test_kill_9_mid_grid_then_rerun_loses_at_most_the_run_in_flight(tmp_path):
    config = write_config(tmp_path / "grid.yaml", {"hidden_units": [8, 16, 24, 32, 40, 48]})
    results = tmp_path / "results"
    command = [sys.executable, "-m", "experiments", "run", str(config), "--results", str(results)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while rows_on_disk(results / "runs.csv") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = RunStore(results).read()  # parses: no torn row
    assert 2 <= len(killed_at) < 6
    again = cli("run", str(config), "--results", str(results), "--no-figures")
    assert again.returncode == 0, again.stderr
    assert f"{len(killed_at)} already done" in again.stdout
    table = RunStore(results).read()
    assert len(table) == 6 and table["run_id"].is_unique
    histories = {p.stem for p in (results / "histories").glob("*.csv")}
    assert histories == set(table["run_id"])


@pytest.mark.slow
def test_same_run_id_same_numbers_across_processes(tmp_path):
    config = write_config(
        tmp_path / "grid.yaml", {"hidden_units": [32], "dropout": [0.3]}, fixed=TINY
    )
    tables = []
    for name in ("first", "second"):
        done = cli("run", str(config), "--results", str(tmp_path / name), "--no-figures")
        assert done.returncode == 0, done.stderr
        tables.append(RunStore(tmp_path / name).read())
    first, second = tables
    assert first["run_id"].tolist() == second["run_id"].tolist()
    pd.testing.assert_frame_equal(first[METRIC_COLUMNS], second[METRIC_COLUMNS])


@pytest.mark.slow
def test_a_diverging_run_and_a_failing_run_are_recorded_and_the_grid_goes_on(tmp_path, monkeypatch):
    runs = expand(
        {
            "fixed": {"n_train": 500, "epochs": 2},
            "grid": [
                # each step multiplies the kernel by 1 - 2 * 10 * 1 = -19: inf within 30 steps
                {
                    "hidden_units": [16],
                    "learning_rate": [10.0],
                    "momentum": [0.0],
                    "batch_size": [10],
                    "hidden_regularizer": [{"name": "l2", "l2": 1.0}],
                },
                {"hidden_units": [17, 18], "batch_size": [100]},
            ],
        }
    )
    real_build = runner.build_model

    def build_or_fail(run):
        if run.hidden_units == 17:
            raise RuntimeError("simulated out-of-memory")
        return real_build(run)

    monkeypatch.setattr(runner, "build_model", build_or_fail)
    summary = run_grid(runs, tmp_path, quiet=True)
    table = RunStore(tmp_path).read().set_index("hidden_units")
    assert (summary.ok, summary.diverged, summary.failed) == (1, 1, 1)
    assert table.loc[16, "status"] == "diverged" and "became nan" in table.loc[16, "error"]
    assert table.loc[17, "status"] == "failed"
    assert table.loc[17, "error"] == "RuntimeError: simulated out-of-memory"
    assert table.loc[18, "status"] == "ok" and table.loc[18, "test_accuracy"] > 0.2  # chance: 0.1


@pytest.mark.slow
def test_two_worker_processes_train_the_same_runs_to_the_same_numbers(tmp_path):
    runs = expand({"fixed": TINY, "grid": {"hidden_units": [16, 32, 48]}})
    assert run_grid(runs, tmp_path / "workers", jobs=2, quiet=True).ok == 3
    assert run_grid(runs, tmp_path / "here", quiet=True).ok == 3
    workers = RunStore(tmp_path / "workers").read().set_index("run_id").sort_index()
    here = RunStore(tmp_path / "here").read().set_index("run_id").sort_index()
    assert workers.index.tolist() == sorted(r.run_id for r in runs)
    # same seeds; only the thread count differs, which may change the last float bits
    pd.testing.assert_series_equal(workers["train_loss"], here["train_loss"], rtol=1e-3)
    pd.testing.assert_series_equal(workers["test_accuracy"], here["test_accuracy"], atol=0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ray_cluster():
    """A real Ray head on this machine, as `ray start` makes it for a cluster; stopped after."""
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable))
    assert ray_bin, "ray is a dev dependency: make setup installs it"
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    # Ray's unix sockets live under --temp-dir, whose path must stay short (< 108 bytes).
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    started = subprocess.run(
        [ray_bin, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp_dir}"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    yield f"127.0.0.1:{port}"
    subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_ray_executor_on_a_local_cluster_with_resume(tmp_path, ray_cluster):
    config = write_config(tmp_path / "grid.yaml", {"hidden_units": [8, 16, 24]})
    results = tmp_path / "results"
    RunStore(results).histories.mkdir(parents=True)
    # one run already done: Ray must train only the other two
    first = expand(yaml.safe_load(config.read_text()))[0]
    local = run_grid([first], results, quiet=True)
    assert local.ok == 1
    done = cli(
        "run", str(config), "--results", str(results), "--executor", "ray",
        "--address", ray_cluster, "--no-figures",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 already done, 2 to train" in done.stdout
    table = RunStore(results).read()
    assert len(table) == 3 and table["run_id"].is_unique and set(table["status"]) == {"ok"}


@pytest.mark.slow
def test_tensorboard_logs_are_opt_in(tmp_path):
    config = write_config(tmp_path / "grid.yaml", {"hidden_units": [8]})
    plain = cli("run", str(config), "--results", str(tmp_path / "plain"), "--no-figures")
    logged = cli(
        "run", str(config), "--results", str(tmp_path / "logged"), "--no-figures", "--tensorboard"
    )
    assert plain.returncode == logged.returncode == 0
    assert not (tmp_path / "plain" / "tensorboard").exists()
    events = list((tmp_path / "logged" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "TensorBoard event files were written"
    [run_dir] = (tmp_path / "logged" / "tensorboard").iterdir()
    assert "hidden_units=8" in run_dir.name and "epochs=2" in run_dir.name  # readable
    from tensorboard.backend.event_processing import event_accumulator

    top = [e for e in events if e.parent == run_dir]  # the HParams summary sits at the top
    tags = set()
    for path in top:
        accumulator = event_accumulator.EventAccumulator(str(path))
        accumulator.Reload()
        tags |= set(accumulator.summary_metadata)
    assert "_hparams_/session_start_info" in tags
