"""The command line end to end: the smoke grid, resuming, and configs that must fail."""

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from experiments import runner
from experiments.config import expand
from experiments.grid import format_seconds, run_grid
from experiments.store import RunStore

REQUIRED_COLUMNS = [
    "run_id", "status", "hidden_units", "hidden_regularizer", "hidden_regularizer.l2",
    "regularization", "dropout", "seed", "epochs", "optimizer", "learning_rate", "batch_size",
    "n_train", "train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss",
    "test_loss", "epochs_run", "wall_time_s", "keras_version", "backend", "git_commit",
]  # fmt: skip


def cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    results = tmp_path_factory.mktemp("smoke")
    done = cli("run", "configs/smoke.yaml", "--results", str(results))
    return results, done


@pytest.mark.slow
def test_smoke_grid_writes_rows_histories_and_a_figure(smoke):
    results, done = smoke
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(results / "runs.csv")
    assert len(runs) == 12 and set(runs["status"]) == {"ok"}
    assert set(REQUIRED_COLUMNS) <= set(runs.columns)
    assert runs["run_id"].is_unique and set(runs["n_train"]) == {2000}
    assert (runs["test_accuracy"] > 0.5).all()  # 1 epoch on 2,000 images: well above chance
    for run_id in runs["run_id"]:
        history = pd.read_csv(results / "histories" / f"{run_id}.csv")
        assert list(history.columns) == [
            "epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss"
        ]  # fmt: skip
        assert len(history) == 1
    figure = results / "figures" / "test_error_vs_hidden_units.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert len(yaml.safe_load((results / "grid.yaml").read_text())["runs"]) == 12
    assert "configs/smoke.yaml" in (results / "command.txt").read_text()
    assert "[12/12]" in done.stdout and "test_accuracy=" in done.stdout
    assert "ETA 0s" in done.stdout  # the last line: nothing left
    summary = pd.read_csv(results / "figures" / "summary.csv")
    point = summary.query(
        "hidden_units == 512 and regularization == 'none' and metric == 'test_error'"
    )
    run = runs.query("hidden_units == 512 and regularization == 'none'")
    error = 100 * (1 - run["test_accuracy"].item())
    assert point["mean"].item() == pytest.approx(error, abs=1e-3) and point["n"].item() == 1
    assert f"{error:.2f}" in done.stdout.split("test error (%)")[1]  # the printed table


@pytest.mark.slow
def test_rerunning_a_finished_grid_trains_nothing(smoke):
    results, _ = smoke
    before = (results / "runs.csv").read_bytes()
    again = cli("run", "configs/smoke.yaml", "--results", str(results))
    assert again.returncode == 0, again.stderr
    assert "12 already done, 0 to train" in again.stdout
    assert (results / "runs.csv").read_bytes() == before


@pytest.mark.slow
def test_status_counts_the_grid(smoke):
    results, _ = smoke
    status = cli("status", str(results))
    assert status.returncode == 0
    assert "12 runs in the grid" in status.stdout
    assert "ok        12" in status.stdout and "remaining 0" in status.stdout


def test_status_and_figures_do_not_import_keras():
    # Checking a running grid's progress should not pay for starting TensorFlow.
    probe = (
        "import sys, experiments.cli, experiments.figures; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_crash_between_runs_loses_nothing(tmp_path, monkeypatch):
    runs = expand({"fixed": {"n_train": 100, "epochs": 1}, "grid": {"hidden_units": [4, 8, 16]}})
    trained = []

    def fake_train(run, data, **kwargs):
        if len(trained) == 1:
            raise KeyboardInterrupt  # the process dies after the first run is stored
        trained.append(run.run_id)
        return {"run_id": run.run_id, "status": "ok", "test_accuracy": 0.5, **run.columns(),
                "wall_time_s": 0.1}, pd.DataFrame({"epoch": [1]})  # fmt: skip

    monkeypatch.setattr(runner, "train_run", fake_train)  # executors import it per call
    with pytest.raises(KeyboardInterrupt):
        run_grid(runs, tmp_path, quiet=True)
    assert RunStore(tmp_path).done_ids() == {runs[0].run_id}
    trained.append("restart")  # let the next invocation train
    summary = run_grid(runs, tmp_path, quiet=True)
    assert summary.skipped == 1 and summary.ok == 2
    table = RunStore(tmp_path).read()
    assert sorted(table["run_id"]) == sorted(r.run_id for r in runs)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("grid:\n  hidden_unit: [16]\n", "grid.hidden_unit"),
        ("grid:\n  hidden_units: [sixteen]\n", "grid.hidden_units"),
        ("grid:\n  hidden_regularizer: {name: l2, l2: -1}\n", "grid.hidden_regularizer.l2"),
        ("grid: []\n", "grid"),
    ],
)
def test_bad_config_exits_2_naming_the_field_and_writes_nothing(tmp_path, text, field):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    results = tmp_path / "results"
    done = cli("run", str(config), "--results", str(results), timeout=120)
    assert done.returncode == 2
    assert f"{config}: {field}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not results.exists()


def test_format_seconds():
    assert [format_seconds(s) for s in (4.6, 65, 3725)] == ["5s", "1m05s", "1h02m"]
