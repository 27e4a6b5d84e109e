"""YAML grids: expansion, run ids, and the errors a wrong config gets."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments.config import (
    ID_SCHEMA,
    ConfigError,
    Contrast,
    RunConfig,
    Study,
    config_from_columns,
    expand,
    load_config,
    load_grid,
)

BASE = {"fixed": {"epochs": 2, "n_train": 1000}, "grid": {"hidden_units": [16, 32], "seed": [0, 1]}}


def test_a_mapping_grid_is_the_cross_product():
    runs = expand(BASE)
    assert [(r.hidden_units, r.seed) for r in runs] == [(16, 0), (16, 1), (32, 0), (32, 1)]
    assert all(r.epochs == 2 and r.n_train == 1000 for r in runs)


def test_a_list_of_blocks_is_a_union_of_products_without_duplicates():
    document = {
        "grid": [
            {"hidden_units": [16, 32]},
            {"hidden_units": [16, 32], "hidden_regularizer": [{"name": "l2", "l2": 1e-4}]},
            {"hidden_units": 16},  # the same run as the first block's first: kept once
            {"hidden_units": [64], "dropout": [0.2, 0.5]},
        ]
    }
    runs = expand(document)
    assert len(runs) == 6
    assert [r.regularization for r in runs] == ["none", "none", "l2", "l2", "dropout", "dropout"]
    assert runs[2].hidden_regularizer == {"name": "l2", "l2": 1e-4, "scale": "sum"}


def test_run_ids_are_stable_across_processes():
    ids = [r.run_id for r in expand(BASE)]
    code = (
        f"from experiments.config import expand;print(' '.join(r.run_id for r in expand({BASE!r})))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.split() == ids
    assert len(set(ids)) == 4 and all(len(i) == 12 for i in ids)


@pytest.mark.parametrize(
    "change",
    [
        {"hidden_units": 129},
        {"seed": 1},
        {"learning_rate": 0.051},
        {"dropout": 0.1},
        {"activation": "tanh"},
        {"hidden_regularizer": {"name": "l2", "l2": 2e-4}},
        {"hidden_regularizer": {"name": "l1", "l1": 1e-4}},
    ],
)
def test_any_field_changes_the_run_id(change):
    base = RunConfig(hidden_regularizer={"name": "l2", "l2": 1e-4, "scale": "sum"})
    assert base.model_copy(update=change).run_id != base.run_id


def test_default_arguments_do_not_change_the_run_id():
    spelled_out = expand(
        {"grid": {"hidden_regularizer": {"name": "l2", "l2": 1e-4, "scale": "sum"}}}
    )
    short = expand({"grid": {"hidden_regularizer": {"name": "l2", "l2": 1e-4}}})
    assert spelled_out[0].run_id == short[0].run_id


def test_columns_flatten_specs_with_the_same_words():
    run = expand({"grid": {"hidden_regularizer": {"name": "group_lasso", "strength": 1e-3}}})[0]
    columns = run.columns()
    assert columns["hidden_regularizer"] == "group_lasso"
    assert columns["hidden_regularizer.strength"] == 1e-3
    assert columns["hidden_regularizer.groups"] == "units"
    assert columns["output_regularizer"] == "none" and columns["regularization"] == "group_lasso"


@pytest.mark.parametrize(
    ("document", "path", "expected"),
    [
        ({"grid": {"hiden_units": [16]}}, "grid.hiden_units", "Did you mean 'hidden_units'"),
        ({"grid": {"hidden_units": ["many"]}}, "grid.hidden_units", "valid integer"),
        ({"grid": {"hidden_units": [16, -3]}}, "grid.hidden_units[1]", "greater than or equal"),
        ({"fixed": {"epochs": 1.5}, "grid": {"seed": 0}}, "fixed.epochs", "valid integer"),
        (
            {"grid": [{"seed": 0}, {"hidden_regularizer": {"name": "l2", "l2": -1}}]},
            "grid[1].hidden_regularizer.l2",
            "expected a non-negative float. Received: l2=-1",
        ),
        (
            {"grid": [{"seed": 0}, {"hidden_regularizer": {"name": "group_lasso", "strenght": 1}}]},
            "grid[1].hidden_regularizer.strenght",
            "Did you mean 'strength'",
        ),
        (
            {"grid": {"hidden_regularizer": {"name": "grop_lasso"}}},
            "grid.hidden_regularizer.name",
            "Did you mean 'group_lasso'",
        ),
        (
            {"grid": {"hidden_constraint": {"name": "l2"}}},
            "grid.hidden_constraint.name",
            "Unknown constraint",
        ),
        ({"grid": {"dropout": [1.0]}}, "grid.dropout", "less than 1"),
        ({"grid": {}}, "grid", "at least one non-empty block"),
        ({"grid": []}, "grid", "at least one non-empty block"),
        ({"fixed": {"seed": 0}}, "grid", "at least one non-empty block"),
        ({"grid": {"seed": []}}, "grid.seed", "non-empty list"),
        ({"gird": {"seed": [0]}}, "gird", "Did you mean 'grid'"),
        ({"fixed": {"seed": 0}, "grid": {"seed": [1]}}, "grid.seed", "both `fixed` and the grid"),
        ({"grid": [{"seed": 0}, "oops"]}, "grid[1]", "expected a mapping"),
    ],
)
def test_bad_configs_name_the_field_and_what_was_expected(document, path, expected):
    with pytest.raises(ConfigError) as error:
        expand(document, "bad.yaml")
    assert error.value.path == path
    assert expected in str(error.value)
    assert str(error.value).startswith(f"bad.yaml: {path}:")


def test_bad_yaml_and_missing_files(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("grid: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_grid(broken)
    with pytest.raises(ConfigError, match="no such config file"):
        load_grid(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name", ["default", "smoke"])
def test_shipped_configs_are_valid(name):
    runs = load_grid(f"configs/{name}.yaml")
    assert len(runs) == 12
    assert {r.regularization for r in runs} == {"none", "l2", "dropout"}
    assert sorted({r.hidden_units for r in runs}) == [32, 128, 512, 2048]
    with open(f"configs/{name}.yaml") as handle:
        assert yaml.safe_load(handle)["name"] == name


def test_the_run_id_hashes_only_what_differs_from_the_defaults():
    run = expand({"grid": {"hidden_units": 64, "hidden_regularizer": {"name": "l2", "l2": 1e-4}}})
    identity = run[0].identity()
    assert identity == {
        "id_schema": 2, "hidden_units": 64, "hidden_regularizer": {"name": "l2", "l2": 1e-4},
    }  # fmt: skip
    # so a new field with a default, or a default spelled out, changes no id
    spelled = expand({"grid": {"hidden_units": 64, "learning_rate": 0.05, "seed": 0,
                               "hidden_regularizer": {"name": "l2", "l2": 1e-4}}})  # fmt: skip
    assert spelled[0].run_id == run[0].run_id


def test_a_row_of_runs_csv_gives_back_its_config():
    run = expand(
        {"grid": {"hidden_units": 64, "early_stopping": 5, "hidden_regularizer":
                  {"name": "elastic_net", "strength": 1e-3, "l1_ratio": 0.25}}}
    )[0]  # fmt: skip
    text = {k: "" if v is None else str(v) for k, v in run.columns().items()}
    assert config_from_columns(text) == run and config_from_columns(text).run_id == run.run_id
    with pytest.raises(ConfigError, match="hidden_units"):
        config_from_columns({**text, "hidden_units": "-1"})


@pytest.mark.parametrize("path", sorted(Path("configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_under_its_own_name(path):
    grid = load_config(path)
    assert grid.name == path.stem and grid.runs and grid.description


# committed results folders whose grid is still being trained (seed by seed, across sessions)
IN_PROGRESS: set[str] = set()


@pytest.mark.parametrize("name", sorted(p.parent.name for p in Path("results").glob("*/grid.yaml")))
def test_committed_results_keep_the_ids_of_their_config(name):
    from experiments.store import RunStore, read_grid_file

    grid = load_config(f"configs/{name}.yaml")
    ids = {run.run_id for run in grid.runs}
    recorded = read_grid_file(f"results/{name}")
    assert recorded["id_schema"] == ID_SCHEMA
    assert {entry["run_id"] for entry in recorded["runs"]} == ids
    store = RunStore(f"results/{name}")
    done = store.done_ids()
    assert done <= ids  # every committed run belongs to the config: `run` only adds
    if name not in IN_PROGRESS:
        assert done == ids  # `status` says 0 remaining; `run` trains nothing
    with open(store.runs_path, newline="") as handle:
        for row in csv.DictReader(handle):
            assert config_from_columns(row).run_id == row["run_id"]


@pytest.mark.parametrize(
    ("study", "path", "expected"),
    [
        ({"x": "hiden_units"}, "study.x", "Did you mean 'hidden_units'"),
        ({"tune": ["seed"]}, "study.tune[0]", "only a setting"),
        ({"metrics": ["test_eror"]}, "study.metrics[0]", "Did you mean 'test_error'"),
        ({"versus": "units_kep"}, "study.versus", "Did you mean 'units_kept'"),
        ({"contrasts": [{"a": "dropout", "b": "l1"}]}, "study.contrasts[0].b", "Its values"),
        ({"contrasts": [{"a": "l2"}]}, "study.contrasts.0.b", "Field required"),
        ({"equivalence_margin": 0}, "study.equivalence_margin", "greater than 0"),
        ({"colour": "init"}, "study.colour", "Extra inputs"),
    ],
)
def test_a_bad_study_block_names_the_field(tmp_path, study, path, expected):
    config = tmp_path / "bad.yaml"
    grid = [{"hidden_units": [16, 32]}, {"hidden_units": [16], "dropout": 0.5},
            {"hidden_units": [16], "hidden_regularizer": {"name": "l2", "l2": 1e-4}}]  # fmt: skip
    config.write_text(yaml.safe_dump({"grid": grid, "study": study}))
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert error.value.path == path and expected in str(error.value)


def test_select_on_validation_moved_into_the_study_block():
    with pytest.raises(ConfigError, match=r"study: \{tune"):
        expand({"select_on_validation": ["dropout"], "grid": {"seed": 0}}, "old.yaml")


def test_a_list_inside_a_spec_sweeps_that_argument():
    runs = expand(
        {"grid": {"hidden_regularizer": {"name": "elastic_net", "strength": [1e-4, 1e-3],
                                         "l1_ratio": [0.2, 0.8]}}}
    )  # fmt: skip
    swept = sorted(
        (r.hidden_regularizer["strength"], r.hidden_regularizer["l1_ratio"]) for r in runs
    )
    assert swept == [(1e-4, 0.2), (1e-4, 0.8), (1e-3, 0.2), (1e-3, 0.8)]


def test_a_study_seen_along_other_axes_drops_its_contrasts_and_keeps_its_tuning():
    study = Study(
        x="hidden_units", compare="regularization", tune=["dropout"],
        contrasts=[Contrast(a="dropout", b="l2")],
    )  # fmt: skip
    assert study.with_axes() is study
    looked = study.with_axes(x="seed", compare="init", metrics=["val_error"])
    assert (looked.x, looked.compare, looked.metrics) == ("seed", "init", ["val_error"])
    assert looked.contrasts == [] and looked.tune == ["dropout"]
    assert study.contrasts and study.x == "hidden_units"  # the original is untouched
    assert study.with_axes(metrics=["val_error"]).contrasts == study.contrasts  # same axes


def test_yaml_merge_keys_share_a_block_and_a_key_beside_one_overrides_it(tmp_path):
    config = tmp_path / "merge.yaml"
    config.write_text(
        "grid:\n"
        "  - &small {n_train: 100, batch_size: 10, hidden_units: 8}\n"
        "  - {<<: *small, dropout: 0.5}\n"
        "  - {<<: *small, batch_size: 20}\n"
    )
    runs = load_config(config).runs
    assert [(r.n_train, r.batch_size, r.dropout) for r in runs] == [
        (100, 10, 0.0), (100, 10, 0.5), (100, 20, 0.0),
    ]  # fmt: skip
    config.write_text("grid:\n  - {hidden_units: 8, hidden_units: 16}\n")
    with pytest.raises(ConfigError, match="duplicate key 'hidden_units'"):
        load_config(config)


def test_a_grid_trains_on_one_data_set():
    runs = expand({"grid": {"dataset": "fashion_mnist", "hidden_units": [8, 16]}})
    assert {run.dataset for run in runs} == {"fashion_mnist"}
    with pytest.raises(ConfigError, match="one data set") as error:
        expand({"grid": {"dataset": ["mnist", "fashion_mnist"]}}, "two.yaml")
    assert error.value.path == "dataset"
