"""The command line end to end: the smoke grid, resuming, and configs that must fail."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import runner
from experiments.config import expand
from experiments.grid import GridMismatchError, describe, format_seconds, run_grid
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
            "epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss",
            "hidden_kernel_l2",
        ]  # fmt: skip
        assert len(history) == 1
    figure = results / "figures" / "test_error_vs_hidden_units.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert len(yaml.safe_load((results / "grid.yaml").read_text())["runs"]) == 12
    command = (results / "command.txt").read_text().splitlines()[1]
    assert command.startswith(f"KERAS_BACKEND={runs['backend'][0]} ")  # pastes as it trained
    assert "configs/smoke.yaml" in command
    report = (results / "REPORT.md").read_text()
    assert "### dropout − l2 (regularization)" in report and "inconclusive" in report
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
    assert np.isnan(point["ci_low"].item())  # one seed: no interval


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


@pytest.mark.slow
def test_a_second_config_cannot_take_over_a_folder(smoke, tmp_path):
    results, _ = smoke
    before = {
        p.name: p.read_bytes() for p in results.iterdir() if p.is_file() and p.name != ".lock"
    }
    other = tmp_path / "smoke.yaml"  # same name, one run: not the folder's grid
    other.write_text(yaml.safe_dump({"name": "smoke", "fixed": TINY, "grid": {"seed": 0}}))
    done = cli("run", str(other), "--results", str(results))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "leaves out 12 of them" in done.stderr and "--redefine" in done.stderr
    after = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == before  # grid.yaml, command.txt and runs.csv untouched


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
        run_grid(runs, tmp_path, quiet=True, engine="single")
    assert RunStore(tmp_path).done_ids() == {runs[0].run_id}
    trained.append("restart")  # let the next invocation train
    summary = run_grid(runs, tmp_path, quiet=True, engine="single")
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
        # digits 5-9 have about 24,000 of the 50,000 training images
        ("fixed: {classes: 5-9, n_train: 40000}\ngrid:\n  hidden_units: [16]\n", "n_train"),
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


TINY = {"n_train": 200, "epochs": 1, "batch_size": 100, "hidden_units": 8}


@pytest.mark.slow
def test_a_strength_sweep_gets_one_cell_per_strength(tmp_path):
    config = tmp_path / "sweep.yaml"
    sweep = [{"name": "l1", "l1": v} for v in (1e-5, 1e-4, 1e-3)]
    config.write_text(
        yaml.safe_dump(
            {
                "fixed": TINY,
                "grid": [{"seed": [0, 1]}, {"seed": [0, 1], "hidden_regularizer": sweep}],
                "study": {"contrasts": [{"a": "l1", "b": "none"}]},
            }
        )
    )
    done = cli("run", str(config), "--results", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(tmp_path / "out" / "figures" / "summary.csv")
    errors = summary[(summary["metric"] == "test_error") & (summary["regularization"] == "l1")]
    assert sorted(errors["hidden_regularizer.l1"]) == [1e-5, 1e-4, 1e-3]
    assert set(errors["n"]) == {2}  # seeds, never strengths
    contrasts = pd.read_csv(tmp_path / "out" / "figures" / "contrasts.csv")
    assert len(contrasts) == 3 and set(contrasts["n"]) == {2}
    assert set(contrasts["label_a"]) == {"l1=1e-05", "l1=1e-04", "l1=1e-03"}  # one per strength


def test_failed_runs_are_trained_again_and_supersede_their_row(tmp_path, monkeypatch):
    runs = expand({"fixed": TINY, "grid": {"seed": [0, 1]}})
    attempts = []

    def flaky(run, data, **kwargs):
        attempts.append(run.seed)
        failed = run.seed == 1 and attempts.count(1) == 1
        row = {"run_id": run.run_id, "status": "failed" if failed else "ok", "error": "",
               "test_accuracy": None if failed else 0.5, **run.columns(), "wall_time_s": 0.1,
               "backend": "tensorflow"}  # fmt: skip
        return row, pd.DataFrame({"epoch": [1]})

    monkeypatch.setattr(runner, "train_run", flaky)
    first = run_grid(runs, tmp_path, quiet=True, engine="single")
    assert (first.ok, first.failed) == (1, 1)
    second = run_grid(runs, tmp_path, quiet=True, engine="single")
    assert (second.skipped, second.ok) == (1, 1) and attempts == [0, 1, 1]
    store = RunStore(tmp_path)
    assert set(store.read()["status"]) == {"ok"} and len(store.read()) == 2
    assert (tmp_path / "runs.csv").read_text().count("\n") == 4  # nothing deleted


def test_a_folder_of_another_backend_is_refused(tmp_path, monkeypatch):
    runs = expand({"fixed": TINY, "grid": {"seed": [0, 1]}})

    def other_backend(run, data, **kwargs):
        return {"run_id": run.run_id, "status": "ok", "error": "", "test_accuracy": 0.5,
                **run.columns(), "wall_time_s": 0.1, "backend": "jax"}, None  # fmt: skip

    monkeypatch.setattr(runner, "train_run", other_backend)
    run_grid(runs[:1], tmp_path, quiet=True, engine="single")
    with pytest.raises(GridMismatchError, match="KERAS_BACKEND=jax"):
        run_grid(runs, tmp_path, quiet=True, engine="single")
    assert run_grid(runs, tmp_path, quiet=True, engine="single", allow_mixed_backends=True).ok == 1


def test_migrate_gives_an_old_folder_the_current_ids(tmp_path):
    run = expand({"fixed": TINY, "grid": {"seed": 0}})[0]
    old = "0123456789ab"
    (tmp_path / "histories").mkdir()
    (tmp_path / "histories" / f"{old}.csv").write_text("epoch\n1\n")
    (tmp_path / "grid.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "old",
                "select_on_validation": [],
                "runs": [{"run_id": old, **run.model_dump()}],
            }
        )
    )
    columns = {k: "" if v is None else v for k, v in run.columns().items()}
    pd.DataFrame([{"run_id": old, "status": "ok", **columns}]).to_csv(
        tmp_path / "runs.csv", index=False
    )
    refused = cli("status", str(tmp_path))
    assert refused.returncode == 0  # reading works; training refuses until migrated
    with pytest.raises(GridMismatchError, match="experiments migrate"):
        run_grid([run], tmp_path, quiet=True)
    done = cli("migrate", str(tmp_path))
    assert done.returncode == 0 and "1 of 1 run ids renamed" in done.stdout
    assert RunStore(tmp_path).done_ids() == {run.run_id}
    assert (tmp_path / "histories" / f"{run.run_id}.csv").is_file()
    assert run_grid([run], tmp_path, quiet=True).skipped == 1


def test_format_seconds():
    assert [format_seconds(s) for s in (4.6, 65, 3725)] == ["5s", "1m05s", "1h02m"]


def test_eta_in_parallel_waits_for_a_second_result(monkeypatch):
    from experiments import grid

    clock = iter([0.0, 10.0, 12.0, 20.0, 25.0])
    monkeypatch.setattr(grid.time, "monotonic", lambda: next(clock))
    eta = grid.Eta(parallel=True)  # started at 0; the workers start up until 10
    assert eta.update(left=3) == "?"
    assert eta.update(left=2) == "4s"  # one run per 2 s since the first result
    sequential = grid.Eta(parallel=False)  # started at 20
    assert sequential.update(left=2) == "10s"  # 5 s for the first run


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jobs", "0"], "expected a whole number of at least 1"),
        (["--executor", "ray", "--jobs", "2"], "applies to the local executor"),
    ],
)
def test_bad_command_lines_exit_2_with_a_sentence(tmp_path, args, expected):
    done = cli("run", "configs/smoke.yaml", "--results", str(tmp_path / "out"), *args)
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_run_line_shows_every_setting_that_varies():
    row = {"run_id": "abc", "status": "ok", "test_accuracy": 0.9, "wall_time_s": 1.0,
           "regularization": "l1", "hidden_regularizer.l1": 1e-5, "seed": 1}  # fmt: skip
    line = describe(row, ["regularization", "hidden_regularizer.l1", "seed"])
    assert "regularization=l1 l1=1e-05 seed=1" in line and "test_accuracy=0.9000" in line
