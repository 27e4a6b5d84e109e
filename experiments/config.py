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
TOP_LEVEL_KEYS = ("name", "description", "fixed", "grid", "select_on_validation")


class ConfigError(ValueError):
    """A config file is wrong; the message names the file, the field path and what was expected."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source, self.path, self.message = source, path, message
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


class RunConfig(BaseModel):
    """Everything that defines one training run; its hash is the run's id.

    The network is 784-`hidden_units`-10 with softmax output and cross-entropy loss.
    Regularizer and constraint specs are dicts `{name: ..., **arguments}` naming a class
    from `regularizers` (see `regularizers.REGISTRY`); they are stored with every argument
    filled in, so two spellings of the same regularizer get the same id.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["mnist"] = "mnist"
    n_train: int = Field(50_000, ge=10, le=50_000, description="training images used (first N)")
    hidden_units: int = Field(128, ge=1, le=65_536)
    activation: Literal["relu", "sigmoid", "tanh"] = "relu"
    init: Literal["random", "autoencoder"] = "random"
    pretrain_epochs: int = Field(5, ge=1, description="autoencoder epochs when init=autoencoder")
    hidden_regularizer: dict[str, Any] | None = None
    output_regularizer: dict[str, Any] | None = None
    hidden_constraint: dict[str, Any] | None = None
    output_constraint: dict[str, Any] | None = None
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate on the pixels")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate on hidden activations")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    learning_rate: float = Field(0.05, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD only")
    weight_decay: float = Field(0.0, ge=0.0, description="decoupled, per unit learning rate")
    schedule: Literal["constant", "cosine"] = "constant"
    epochs: int = Field(10, ge=1, le=10_000)
    batch_size: int = Field(128, ge=1, le=60_000)
    early_stopping: int | None = Field(
        None, ge=1, description="patience in epochs on validation loss; best weights restored"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        for spec in (self.hidden_regularizer, self.output_regularizer):
            if spec and spec["name"] == "smooth_kernel":
                raise ValueError(
                    "smooth_kernel applies to Conv2D kernels, not to these Dense layers"
                )
        return self

    @property
    def run_id(self) -> str:
        """12 hex digits of the sha256 of the resolved config as canonical JSON."""
        text = json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))
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
            source, path, f"expected a mapping like {{name: l2, l2: 1e-4}} or none; got {value!r}"
        )
    try:
        regularizers.registry.lookup(value["name"], kind)
    except ValueError as error:
        raise ConfigError(source, f"{path}.name", str(error)) from None
    try:
        obj = regularizers.from_spec(value, kind)
    except (TypeError, ValueError) as error:
        # The library's messages name the argument: point the path at it.
        named = re.search(r"argument `(\w+)`", str(error))
        where = f"{path}.{named.group(1)}" if named and named.group(1) in value else path
        raise ConfigError(source, where, str(error)) from None
    return regularizers.to_spec(obj)


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
        raise ConfigError(source, path, f"{detail['msg']}; got {value!r}") from None
    return getattr(checked, key)


def _check_mapping(source: str, path: str, block: Any) -> dict:
    if not isinstance(block, dict):
        raise ConfigError(
            source, path, f"expected a mapping of field: value; got {type(block).__name__}"
        )
    return block


@dataclass(frozen=True)
class Grid:
    """A validated config file: its runs, and how its results are to be analysed.

    `select_on_validation` lists the columns (e.g. `hidden_regularizer.l2`, `dropout`) whose
    values are tuned: per cell, only the value with the best mean validation accuracy is
    reported (see `analysis.select_on_validation`).
    """

    name: str
    runs: list[RunConfig]
    description: str = ""
    select_on_validation: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """The analysis settings, as written next to the results in `grid.yaml`."""
        return {
            "name": self.name,
            "description": self.description,
            "select_on_validation": self.select_on_validation,
        }


def load_config(path: str | Path) -> Grid:
    """Read a YAML config: its runs (validated, in order, without duplicates) and settings.

    Raises `ConfigError` for a missing file or anything wrong in it.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(source, "", "no such config file (see configs/ for examples)")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(source, "", f"not valid YAML: {error}") from None
    runs = expand(document, source)
    columns = {column for run in runs for column in run.columns()}
    selected = document.get("select_on_validation") or []
    if not isinstance(selected, list) or not all(isinstance(c, str) for c in selected):
        raise ConfigError(source, "select_on_validation", "expected a list of column names")
    for index, column in enumerate(selected):
        if column not in columns:
            raise ConfigError(
                source, f"select_on_validation[{index}]",
                f"'{column}' is not a column of this grid.{_suggest(column, columns)}",
            )  # fmt: skip
    for key in ("name", "description"):
        if not isinstance(document.get(key, ""), str):
            raise ConfigError(source, key, "expected a string")
    return Grid(
        name=document.get("name") or path.stem,
        runs=runs,
        description=document.get("description", ""),
        select_on_validation=selected,
    )


def load_grid(path: str | Path) -> list[RunConfig]:
    """The validated runs of a YAML config (see `load_config`)."""
    return load_config(path).runs


def expand(document: Any, source: str = "<config>") -> list[RunConfig]:
    """Validate a parsed config document and cross its grid into run configs."""
    document = _check_mapping(source, "", document)
    for key in document:
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
            if not values:
                raise ConfigError(source, f"{where}.{key}", "expected a non-empty list of values")
            axes[key] = [
                _check_field(
                    source, f"{where}.{key}[{i}]" if len(values) > 1 else f"{where}.{key}", key, v
                )
                for i, v in enumerate(values)
            ]
        for combination in itertools.product(*axes.values()):
            settings = {**fixed, **dict(zip(axes, combination, strict=True))}
            try:
                run = RunConfig.model_validate(settings)
            except ValidationError as error:
                raise ConfigError(source, where, error.errors()[0]["msg"]) from None
            runs.setdefault(run.run_id, run)
    return list(runs.values())
