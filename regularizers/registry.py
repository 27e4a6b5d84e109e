"""Names for every regularizer and constraint, as used in YAML configs and CSV columns.

A spec is a plain dict: `{"name": "group_lasso", "strength": 1e-4, "groups": "units"}`.
`from_spec` builds the object (validating every argument); `to_spec` is its inverse.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from regularizers.constraints import MaxNorm, ProximalGroupLasso, ProximalL1
from regularizers.penalties import L1, L2, ElasticNet, GroupLasso, SparseGroupLasso
from regularizers.smooth_kernel import SmoothKernel

PENALTIES: dict[str, type] = {
    "l1": L1,
    "l2": L2,
    "elastic_net": ElasticNet,
    "group_lasso": GroupLasso,
    "sparse_group_lasso": SparseGroupLasso,
    "smooth_kernel": SmoothKernel,
}
CONSTRAINTS: dict[str, type] = {
    "max_norm": MaxNorm,
    "proximal_l1": ProximalL1,
    "proximal_group_lasso": ProximalGroupLasso,
}
REGISTRY: dict[str, type] = {**PENALTIES, **CONSTRAINTS}


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def arguments(name: str) -> list[str]:
    """The constructor arguments of the class registered as `name`, in order."""
    return [p for p in inspect.signature(lookup(name)).parameters if p != "self"]


def defaults(name: str) -> dict[str, Any]:
    """The constructor defaults of the class registered as `name`: `{argument: value}`."""
    parameters = inspect.signature(lookup(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def lookup(name: str, kind: str = "any") -> type:
    """The class registered as `name`; `kind` is "penalty", "constraint" or "any"."""
    table = {"penalty": PENALTIES, "constraint": CONSTRAINTS, "any": REGISTRY}[kind]
    if not isinstance(name, str) or name not in table:
        what = {"penalty": "regularizer", "constraint": "constraint", "any": "regularizer"}[kind]
        raise ValueError(
            f"Unknown {what} '{name}'.{_suggest(str(name), table)} Known: {', '.join(table)}."
        )
    return table[name]


def get(name: str, *args: Any, kind: str = "any", **kwargs: Any) -> Any:
    """Build the regularizer or constraint registered as `name` with the given arguments.

    Positional arguments go to the class in order (its coefficient first), as with the class
    itself; `kind` ("penalty", "constraint" or "any") restricts the lookup.

    >>> get("group_lasso", 1e-3)
    GroupLasso(strength=0.001, groups='units', scale='sum')
    >>> get("l2", l2=1e-4)
    L2(l2=0.0001, scale='sum')
    """
    cls = lookup(name, kind)
    allowed = arguments(name)
    if len(args) > len(allowed):
        raise TypeError(
            f"'{name}' takes at most {len(allowed)} arguments ({', '.join(allowed)}); "
            f"received {len(args)}."
        )
    for key in kwargs:
        if key not in allowed:
            raise TypeError(
                f"'{name}' has no argument `{key}`.{_suggest(key, allowed)} "
                f"Its arguments are: {', '.join(allowed)}."
            )
    return cls(*args, **kwargs)


def from_spec(spec: dict, kind: str = "any") -> Any:
    """Build an object from a spec dict `{"name": ..., **arguments}`."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise TypeError(f"Expected a dict with a 'name' key; received {spec!r}.")
    arguments_ = {k: v for k, v in spec.items() if k != "name"}
    return get(spec["name"], kind=kind, **arguments_)


def to_spec(obj: Any) -> dict:
    """The spec dict of a registered object: `{"name": ..., **obj.get_config()}`."""
    for name, cls in REGISTRY.items():
        if type(obj) is cls:
            return {"name": name, **obj.get_config()}
    raise TypeError(f"{obj!r} is not a registered regularizer or constraint.")
