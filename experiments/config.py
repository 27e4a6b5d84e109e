"""YAML grids -> validated run configurations, each with a content-hash id.

A config file has a `fixed:` block (settings shared by every run) and a `grid:` block: a
mapping whose list values are crossed, or a list of such mappings whose products are joined
(a union of crossed products). A scalar in the grid counts as a one-value list. Every key is
a `RunConfig` field; the same word is the YAML key, the Python attribute and the CSV column.
Anything wrong fails here, before training, as a `ConfigError` naming the file and field.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SPEC_FIELDS = {
    "hidden_regularizer": "penalty",
    "output_regularizer": "penalty",
    "hidden_constraint": "constraint",
    "output_constraint": "constraint",
}
TOP_LEVEL_KEYS = ("name", "description", "fixed", "grid", "study")
FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
# Version of the run-id recipe: part of every hash, raised only with a `migrate` step that
# maps the ids of older results folders to the new ones.
ID_SCHEMA = 2


class ConfigError(ValueError):
    """A config file is wrong; the message names the file, the field path and what was expected."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source, self.path, self.message = source, path, message
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


# Fields that only matter when `init` is `autoencoder`: a random-init run's id ignores them.
PRETRAINING_ONLY = frozenset(
    {"pretrain_epochs", "pretrain_reduction", "pretrain_optimizer", "pretrain_learning_rate",
     "pretrain_batch_size", "pretrain_noise", "tied_weights"}
)  # fmt: skip


class RunConfig(BaseModel):
    """Everything that defines one training run; its hash is the run's id.

    The network is 784-`hidden_units`-10 with softmax output and cross-entropy loss.
    Regularizer and constraint specs are dicts `{name: ..., **arguments}` naming a class
    from `regularizers` (see `regularizers.REGISTRY`); they are stored with every argument
    filled in, so two spellings of the same regularizer get the same id.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dataset: Literal["mnist", "fashion_mnist"] = Field(
        "mnist", description="fashion_mnist: optional, see experiments.data"
    )
    n_train: int = Field(50_000, ge=10, le=50_000, description="training images used (first N)")
    n_val: int | None = Field(
        None, ge=10, le=10_000, description="validation images used (first N); blank: all"
    )
    classes: str = Field(
        "0-9",
        pattern=r"^\d(-\d)?(,\d(-\d)?)*$",
        description="the digits (classes) kept in every split, e.g. 5-9 or 0,2,4; the output "
        "layer keeps its 10 units",
    )
    model: Literal["mlp", "cnn"] = Field(
        "mlp",
        description="mlp: 784-H-10; cnn: Conv2D(H filters, kernel_size, valid) -> 2x2 "
        "max-pool -> 10 softmax units",
    )
    kernel_size: int = Field(5, ge=1, le=27, description="cnn: the filters are k x k")
    hidden_units: int = Field(128, ge=1, le=65_536, description="hidden units (cnn: filters)")
    activation: Literal["relu", "sigmoid", "tanh"] = "relu"
    init: Literal["random", "autoencoder"] = "random"
    pretrain_epochs: int = Field(5, ge=1, le=10_000, description="autoencoder epochs")
    pretrain_reduction: Literal["sum", "mean"] = Field(
        "sum", description="reconstruction BCE summed over an image's 784 pixels, or averaged"
    )
    pretrain_optimizer: Literal["sgd", "finetune"] = Field(
        "sgd", description="plain SGD at pretrain_learning_rate, or the fine-tuning optimizer"
    )
    pretrain_learning_rate: float = Field(0.01, gt=0.0, le=10.0)
    pretrain_batch_size: int = Field(20, ge=1, le=60_000)
    pretrain_noise: float = Field(
        0.0, ge=0.0, lt=1.0, description="masking noise: fraction of pixels zeroed (denoising)"
    )
    tied_weights: bool = Field(False, description="decoder kernel = encoder kernel transposed")
    hidden_regularizer: dict[str, Any] | None = None
    output_regularizer: dict[str, Any] | None = None
    hidden_constraint: dict[str, Any] | None = None
    output_constraint: dict[str, Any] | None = None
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate on the pixels")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate on hidden activations")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    learning_rate: float = Field(0.05, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD only")
    weight_decay: float = Field(
        0.0, ge=0.0,
        description="decoupled decay of the kernels: w <- w - learning_rate * weight_decay * w "
        "each step; under plain SGD the same update as L2(weight_decay / 2)",
    )  # fmt: skip
    schedule: Literal["constant", "cosine"] = "constant"
    epochs: int = Field(10, ge=1, le=10_000)
    batch_size: int = Field(128, ge=1, le=60_000)
    early_stopping: int | None = Field(
        None, ge=1, description="patience in epochs on validation loss; best weights restored"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    save_weights: bool = Field(
        False, description="keep the final weights as weights/<run_id>.npz in the results"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        # pydantic reads `true` as 1 for an int field: `hidden_units: true` would train 1 unit
        for key, value in (data or {}).items() if isinstance(data, dict) else ():
            field = cls.model_fields.get(key)
            if isinstance(value, bool) and field and field.annotation in (int, float, int | None):
                raise ValueError(f"`{key}` expects a number, not {value}")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        for spec in (self.hidden_constraint, self.output_constraint):
            plain_sgd = self.optimizer == "sgd" and self.momentum == 0
            if (
                spec
                and spec["name"].startswith("proximal")
                and not (plain_sgd and self.schedule == "constant")
            ):
                raise ValueError(
                    f"{spec['name']} is the proximal step of plain SGD at a constant learning "
                    "rate (threshold = learning_rate * l1): set optimizer: sgd, momentum: 0 and "
                    "schedule: constant, or use the l1 / group_lasso penalty instead. With "
                    "momentum, Adam or a decaying rate a fixed threshold is not that step."
                )
        penalties = {"hidden": self.hidden_regularizer, "output": self.output_regularizer}
        for where, spec in penalties.items():
            if (
                spec
                and spec["name"] == "smooth_kernel"
                and (where, self.model) != ("hidden", "cnn")
            ):
                raise ValueError(
                    "smooth_kernel applies to Conv2D kernels: use it as the hidden_regularizer "
                    "of model: cnn, not on a Dense layer"
                )
        for low, high in self._class_ranges():
            if high < low:
                raise ValueError(f"classes: the range {low}-{high} is empty; write it low-high")
        default_size = type(self).model_fields["kernel_size"].default
        if self.model == "mlp" and self.kernel_size != default_size:
            raise ValueError("kernel_size applies to model: cnn only; remove it or set model: cnn")
        if self.model == "cnn" and self.init == "autoencoder":
            raise ValueError("autoencoder pretraining is for model: mlp; use init: random")
        return self

    def _class_ranges(self) -> list[tuple[int, int]]:
        """`classes` as (low, high) pairs: `"0,5-9"` -> [(0, 0), (5, 9)]."""
        pairs = [part.partition("-") for part in self.classes.split(",")]
        return [(int(low), int(high or low)) for low, _, high in pairs]

    @property
    def digits(self) -> list[int]:
        """The classes kept: `"5-9"` -> [5, 6, 7, 8, 9], `"0,2,4"` -> [0, 2, 4]."""
        return sorted({d for low, high in self._class_ranges() for d in range(low, high + 1)})

    def identity(self) -> dict[str, Any]:
        """What the run id hashes: `id_schema` and every setting that differs from its default.

        Spec arguments equal to their class's default are left out too, so a new field or a
        new regularizer argument with a default changes no existing id. A default therefore
        never changes meaning: a new behaviour gets a new value, not a new default. The
        pretraining fields are left out of a run that is not pretrained.
        """
        identity: dict[str, Any] = {"id_schema": ID_SCHEMA}
        for key, value in self.model_dump().items():
            if value == type(self).model_fields[key].default:
                continue
            if key in PRETRAINING_ONLY and self.init != "autoencoder":
                continue
            if key in SPEC_FIELDS and value is not None:
                import regularizers  # Keras: only for a grid that has specs

                defaults = regularizers.registry.defaults(value["name"])
                value = {k: v for k, v in value.items() if k not in defaults or defaults[k] != v}
            identity[key] = value
        return identity

    @property
    def run_id(self) -> str:
        """12 hex digits of the sha256 of `identity()` as canonical JSON."""
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def regularization(self) -> str:
        """What regularizes this run, e.g. 'l2', 'dropout', 'max_norm+dropout' or 'none'."""
        specs = (
            self.hidden_regularizer,
            self.output_regularizer,
            self.hidden_constraint,
            self.output_constraint,
        )
        parts = list(dict.fromkeys(spec["name"] for spec in specs if spec))
        if self.input_dropout or self.dropout:
            parts.append("dropout")
        if self.weight_decay:
            parts.append("weight_decay")
        return "+".join(parts) or "none"

    def columns(self) -> dict[str, Any]:
        """Flat CSV columns: scalars as they are, a spec as `field` (its name) and `field.arg`."""
        flat: dict[str, Any] = {}
        for key, value in self.model_dump().items():
            if key in SPEC_FIELDS:
                flat[key] = value["name"] if value else "none"
                for arg, arg_value in (value or {}).items():
                    if arg != "name":
                        plain = isinstance(arg_value, list | dict)
                        flat[f"{key}.{arg}"] = json.dumps(arg_value) if plain else arg_value
            else:
                flat[key] = value
        flat["regularization"] = self.regularization
        return flat


def with_defaults(table: Any) -> Any:
    """`runs.csv` rows (a DataFrame) with blank field columns filled by the field's default.

    A row written before a field existed has a blank there, and ran as the field's default
    (defaults never change meaning), so filling it keeps such rows in the same cells as new
    ones. Fields whose default is blank, and regularizer arguments, are left as they are.
    """
    out = table.copy()
    for key, info in RunConfig.model_fields.items():
        if key in out and info.default is not None and key not in SPEC_FIELDS:
            out[key] = out[key].astype(object).where(out[key].notna(), info.default)
            out[key] = out[key].infer_objects()
    return out


def is_config_column(column: str) -> bool:
    """True for a `runs.csv` column that holds a setting: a field, `field.arg` of a spec, or
    `regularization` (derived from them)."""
    return (
        column in RunConfig.model_fields
        or column.split(".")[0] in SPEC_FIELDS
        or column == "regularization"
    )


def _parse_argument(text: str) -> Any:
    """A spec argument as `runs.csv` holds it: a number or JSON list, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# What schema-1 results (before pretraining had its own settings) did, for fields they lack.
LEGACY_V1 = {"pretrain_reduction": "mean", "pretrain_optimizer": "finetune"}


def config_from_columns(
    row: dict[str, str], source: str = "runs.csv", legacy: dict[str, str] | None = None
) -> RunConfig:
    """The `RunConfig` of a `runs.csv` row given as text (blank = unset): `columns()` inverted.

    Fields without a column, or blank (a row written before the field existed), take their
    value from `legacy` (what the results' version did, e.g. `LEGACY_V1`), else their default:
    defaults never change meaning. Raises `ConfigError` naming the column when a value does
    not validate.
    """
    legacy_keys = set(legacy or ())
    # a blank field was not recorded (the row predates the field): what that version did
    row = {**(legacy or {}), **{k: v for k, v in row.items() if v != "" or k not in legacy_keys}}
    settings: dict[str, Any] = {}
    for key in RunConfig.model_fields:
        text = row.get(key)
        if key in SPEC_FIELDS:
            if text in (None, "", "none"):
                continue
            spec = {"name": text}
            for column, value in row.items():
                if column.startswith(f"{key}.") and value not in (None, ""):
                    spec[column.split(".", 1)[1]] = _parse_argument(value)
            settings[key] = _normalise_spec(source, key, spec, SPEC_FIELDS[key])
        elif text not in (None, ""):
            settings[key] = text
    try:
        return RunConfig.model_validate(settings)
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(part) for part in detail["loc"])
        raise ConfigError(source, where, detail["msg"]) from None


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _normalise_spec(source: str, path: str, value: Any, kind: str) -> dict[str, Any] | None:
    """Validate a regularizer or constraint spec; return it with every argument filled in."""
    import regularizers  # imports Keras: only when a spec is checked, so `status` stays quick

    if value is None or value == "none":
        return None
    if not isinstance(value, dict) or "name" not in value:
        raise ConfigError(
            source,
            path,
            f"expected a mapping like {{name: l2, l2: 1e-4}} or none; got {_shown(value)}",
        )
    # YAML 1.1 reads `1e-4` (no dot) as text; a number is meant, as in every other field
    value = {
        k: float(v) if isinstance(v, str) and FLOAT.fullmatch(v) else v for k, v in value.items()
    }
    try:
        regularizers.registry.lookup(value["name"], kind)
    except ValueError as error:
        raise ConfigError(source, f"{path}.name", str(error)) from None
    for key in MATRIX_ARGUMENTS:
        if isinstance(value.get(key), str):
            value = {**value, key: _matrix_file(source, f"{path}.{key}", value[key])}
    try:
        obj = regularizers.from_spec(value, kind)
    except (TypeError, ValueError, OverflowError) as error:
        # The library's messages name the argument: point the path at it.
        named = re.search(r"argument `(\w+)`", str(error))
        where = f"{path}.{named.group(1)}" if named and named.group(1) in value else path
        raise ConfigError(source, where, str(error)) from None
    return regularizers.to_spec(obj)


MATRIX_ARGUMENTS = ("covariance",)  # spec arguments whose value is itself a list


def _matrix_file(source: str, path: str, name: str) -> list[list[float]]:
    """A matrix argument given as a `.npy` file name, relative to the config file's folder:
    its values, so that the run (and its id) holds the matrix itself."""
    import numpy as np

    file = Path(source).parent / name
    try:
        matrix = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ConfigError(
            source,
            path,
            f"expected a matrix or a .npy file holding one (relative to the config file); "
            f"could not read {file}: {error}. A fitted covariance is written by "
            "`python -m experiments covariance RESULTS`.",
        ) from None
    if matrix.ndim != 2:
        raise ConfigError(
            source, path, f"{file} holds an array of shape {matrix.shape}, not a matrix"
        )
    return matrix.tolist()


def sweep_spec(spec: Any) -> list[Any]:
    """A regularizer spec with lists as argument values, crossed into one spec per
    combination: `{name: l1, l1: [1e-5, 1e-4]}` -> two specs. Anything else as it is."""
    if not isinstance(spec, dict):
        return [spec]
    swept = {k: v for k, v in spec.items() if isinstance(v, list) and k not in MATRIX_ARGUMENTS}
    if not swept:
        return [spec]
    return [
        {**spec, **dict(zip(swept, combination, strict=True))}
        for combination in itertools.product(*swept.values())
    ]


def _check_field(source: str, path: str, key: str, value: Any) -> Any:
    """Validate one field value on its own; return it normalised."""
    if key not in RunConfig.model_fields:
        raise ConfigError(
            source,
            path,
            f"unknown field.{_suggest(key, RunConfig.model_fields)} "
            f"Known fields: {', '.join(RunConfig.model_fields)}.",
        )
    if key in SPEC_FIELDS:
        return _normalise_spec(source, path, value, SPEC_FIELDS[key])
    try:
        checked = RunConfig.model_validate({key: value})
    except ValidationError as error:
        detail = error.errors()[0]
        raise ConfigError(source, path, f"{detail['msg']}; got {_shown(value)}") from None
    return getattr(checked, key)


def _check_mapping(source: str, path: str, block: Any) -> dict:
    if not isinstance(block, dict):
        raise ConfigError(
            source, path, f"expected a mapping of field: value; got {type(block).__name__}"
        )
    return block


class Contrast(BaseModel):
    """A paired comparison: runs with `factor == a` against runs with `factor == b`.

    `factor` defaults to the study's `compare`; `a` and `b` are two of its values as they
    appear in `runs.csv` (e.g. `dropout` and `l2` of `regularization`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    factor: str | None = None
    a: str | int | float
    b: str | int | float


class Study(BaseModel):
    """What a grid is for: the axes of its figures, what is tuned and what is compared.

    Every name is a column of the grid (a field, `field.argument` of a spec, or
    `regularization`). A cell is every setting that varies in the grid except `seed`; `tune`
    columns are chosen on validation per cell instead of defining cells of their own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: str = Field("hidden_units", description="the horizontal axis of the figures")
    compare: str = Field("regularization", description="one line per value; contrast factor")
    panels: str | None = Field(None, description="one panel per value")
    tune: list[str] = Field(default_factory=list, description="chosen on validation per cell")
    metrics: list[str] = Field(
        default_factory=lambda: ["test_error", "gap_points", "hidden_kernel_l2"],
        description="one figure each; the first is the cell table's",
    )
    metric: str = Field("test_error", description="what the contrasts compare")
    versus: str | None = Field(
        None, description="a metric: each figure's metric is also drawn against it, run by run"
    )
    contrasts: list[Contrast] = Field(default_factory=list)
    equivalence_margin: float = Field(
        0.1, gt=0, description="a tie needs the corrected interval inside +-margin (metric units)"
    )

    def factor(self, contrast: Contrast) -> str:
        """The column a contrast compares values of."""
        return contrast.factor or self.compare

    def with_axes(
        self,
        x: str | None = None,
        compare: str | None = None,
        panels: str | None = None,
        metrics: list[str] | None = None,
    ) -> Study:
        """This study seen along other axes (a quick look): what is given replaces what was
        recorded; new axes drop the contrasts (declared for the recorded ones); what is
        tuned stays tuned. With nothing given, the study itself."""
        axes = {k: v for k, v in {"x": x, "compare": compare, "panels": panels}.items() if v}
        update = {**axes, **({"contrasts": []} if axes else {})}
        if metrics:
            update["metrics"] = metrics
        return self.model_copy(update=update) if update else self


@dataclass(frozen=True)
class Grid:
    """A validated config file: its runs, and how its results are to be analysed."""

    name: str
    runs: list[RunConfig]
    description: str = ""
    study: Study = field(default_factory=Study)

    def meta(self) -> dict[str, Any]:
        """The analysis settings, as written next to the results in `grid.yaml`."""
        return {
            "name": self.name,
            "description": self.description,
            "study": self.study.model_dump(exclude_defaults=True),
        }


def study_from_meta(meta: dict, columns: dict[str, set[str]] | None = None) -> Study:
    """The `Study` recorded in a results folder's `grid.yaml` (defaults where none was)."""
    study = dict(meta.get("study") or {})
    if "select_on_validation" in meta:  # grid.yaml files written before `study` existed
        study.setdefault("tune", meta["select_on_validation"] or [])
    if "panels" not in study and columns and len(columns.get("init", ())) > 1:
        study["panels"] = "init"
    return Study.model_validate(study)


def grid_values(runs: list[RunConfig]) -> dict[str, set[str]]:
    """Every column of these runs with the set of its values, as text."""
    values: dict[str, set[str]] = {}
    for run in runs:
        for column, value in run.columns().items():
            values.setdefault(column, set()).add(str(value))
    return values


def _check_study(source: str, block: Any, values: dict[str, set[str]]) -> Study:
    from experiments import metrics  # no Keras

    block = _check_mapping(source, "study", block or {})
    try:
        study = Study.model_validate(block)
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(part) for part in ("study", *detail["loc"]))
        raise ConfigError(source, where, f"{detail['msg']}; got {detail.get('input')!r}") from None

    def column(path: str, name: str | None) -> None:
        if name is not None and name not in values:
            raise ConfigError(
                source, path, f"'{name}' is not a column of this grid.{_suggest(name, values)}"
            )

    column("study.x", study.x)
    column("study.compare", study.compare)
    column("study.panels", study.panels)
    for index, name in enumerate(study.tune):
        column(f"study.tune[{index}]", name)
        if name in ("seed", study.x, study.compare, study.panels):
            raise ConfigError(
                source, f"study.tune[{index}]",
                f"'{name}' is an axis or the seed; only a setting can be chosen on validation",
            )  # fmt: skip
    named = [*study.metrics, study.metric, *([study.versus] if study.versus else [])]
    for index, name in enumerate(named):
        if name not in metrics.known():
            where = (
                f"study.metrics[{index}]" if index < len(study.metrics)
                else "study.metric" if index == len(study.metrics) else "study.versus"
            )  # fmt: skip
            raise ConfigError(
                source, where,
                f"unknown metric '{name}'.{_suggest(name, metrics.known())} "
                f"Known: {', '.join(metrics.known())}.",
            )  # fmt: skip
    for index, contrast in enumerate(study.contrasts):
        factor = study.factor(contrast)
        column(f"study.contrasts[{index}].factor", factor)
        for side in ("a", "b"):
            value = str(getattr(contrast, side))
            if value not in values[factor]:
                raise ConfigError(
                    source, f"study.contrasts[{index}].{side}",
                    f"no run of this grid has {factor} = {value}. "
                    f"Its values: {', '.join(sorted(values[factor]))}.",
                )  # fmt: skip
        if str(contrast.a) == str(contrast.b):
            raise ConfigError(source, f"study.contrasts[{index}]", "a and b are the same value")
    return study


def load_config(path: str | Path) -> Grid:
    """Read a YAML config: its runs (validated, in order, without duplicates) and its study.

    Raises `ConfigError` for a missing file or anything wrong in it.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(source, "", "no such config file (see configs/ for examples)")
    document = read_yaml(path)
    runs = expand(document, source)
    for key in ("name", "description"):
        if not isinstance(document.get(key, ""), str):
            raise ConfigError(source, key, "expected a string")
    return Grid(
        name=document.get("name") or path.stem,
        runs=runs,
        description=document.get("description", ""),
        study=_check_study(source, document.get("study"), grid_values(runs)),
    )


MAX_CONFIG_BYTES = 1_000_000
MAX_NODES = 100_000  # values in the document once YAML aliases are expanded
MAX_DEPTH = 32
MAX_RUNS = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice (YAML keeps the last).
    Merge keys (`<<: *block`) are allowed, and a key written next to one overrides it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # SafeLoader merges it below
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(document: Any, source: str) -> int:
    """Count the values of `document` as if every alias were copied out; refuse past the
    limits. Shared subtrees are sized once, so an alias bomb is measured, not expanded."""
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ConfigError(source, "", f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(value, dict | list):
            return 1
        if id(value) not in sizes:
            children = value.values() if isinstance(value, dict) else value
            sizes[id(value)] = 1 + sum(size(child, depth + 1) for child in children)
            if sizes[id(value)] > MAX_NODES:
                raise ConfigError(
                    source, "", f"expands to more than {MAX_NODES:,} values (YAML aliases "
                    "included): a config is a few dozen lines, not a data file",
                )  # fmt: skip
        return sizes[id(value)]

    return size(document, 0)


def read_yaml(path: Path) -> Any:
    """Parse a config file safely: bounded size, UTF-8, no duplicate keys, bounded expansion.

    Raises `ConfigError` naming the file and what is wrong.
    """
    source = str(path)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(source, "", f"larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(source, "", f"not UTF-8 text (byte {error.start})") from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no objects
    except yaml.YAMLError as error:
        raise ConfigError(source, "", f"not valid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(source, "", f"nested deeper than {MAX_DEPTH} levels") from None
    _expanded_size(document, source)
    return document


def _shown(value: Any, limit: int = 120) -> str:
    """`repr(value)`, cut to `limit` characters: an error message is one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_grid(path: str | Path) -> list[RunConfig]:
    """The validated runs of a YAML config (see `load_config`)."""
    return load_config(path).runs


def expand(document: Any, source: str = "<config>") -> list[RunConfig]:
    """Validate a parsed config document and cross its grid into run configs."""
    document = _check_mapping(source, "", document)
    for key in document:
        if key == "select_on_validation":
            raise ConfigError(
                source, key, "moved into the study block: write `study: {tune: [...]}`"
            )
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                source,
                str(key),
                f"unknown top-level key.{_suggest(key, TOP_LEVEL_KEYS)} "
                f"Expected: {', '.join(TOP_LEVEL_KEYS)}.",
            )
    fixed = _check_mapping(source, "fixed", document.get("fixed") or {})
    fixed = {key: _check_field(source, f"fixed.{key}", key, v) for key, v in fixed.items()}
    grid = document.get("grid")
    blocks = grid if isinstance(grid, list) else [grid] if grid else []
    if not blocks or not all(blocks):
        raise ConfigError(
            source, "grid", "expected at least one non-empty block of field: [values]"
        )
    runs: dict[str, RunConfig] = {}
    for index, block in enumerate(blocks):
        where = f"grid[{index}]" if isinstance(grid, list) else "grid"
        block = _check_mapping(source, where, block)
        axes = {}
        for key, values in block.items():
            if key in fixed:
                raise ConfigError(
                    source, f"{where}.{key}", "set in both `fixed` and the grid; keep one of them"
                )
            values = values if isinstance(values, list) else [values]
            if key in SPEC_FIELDS:
                values = [spec for value in values for spec in sweep_spec(value)]
            if not values:
                raise ConfigError(source, f"{where}.{key}", "expected a non-empty list of values")
            axes[key] = [
                _check_field(
                    source, f"{where}.{key}[{i}]" if len(values) > 1 else f"{where}.{key}", key, v
                )
                for i, v in enumerate(values)
            ]
        count = math.prod(len(values) for values in axes.values())
        if count + len(runs) > MAX_RUNS:
            raise ConfigError(
                source, where, f"crosses into {count:,} runs; a grid holds at most {MAX_RUNS:,}"
            )
        for combination in itertools.product(*axes.values()):
            settings = {**fixed, **dict(zip(axes, combination, strict=True))}
            try:
                run = RunConfig.model_validate(settings)
            except ValidationError as error:
                raise ConfigError(source, where, error.errors()[0]["msg"]) from None
            runs.setdefault(run.run_id, run)
    datasets = sorted({run.dataset for run in runs.values()})
    if len(datasets) > 1:
        raise ConfigError(
            source, "dataset", f"a grid trains on one data set; this one names {datasets}: "
            "make one config per data set",
        )  # fmt: skip
    return list(runs.values())
