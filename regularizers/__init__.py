"""Regularizers and constraints from the literature as first-class Keras objects.

Penalties (`keras.regularizers.Regularizer`): `L1`, `L2`, `ElasticNet`, `GroupLasso`,
`SparseGroupLasso`, `SmoothKernel`. Constraints (`keras.constraints.Constraint`): `MaxNorm`,
`ProximalL1`, `ProximalGroupLasso`. Every class is registered for `.keras` saving; `get`
builds one by its snake_case name.
"""

from regularizers.constraints import MaxNorm, ProximalGroupLasso, ProximalL1
from regularizers.elastic_net import apply_elastic_net_correction, elastic_net_correction
from regularizers.penalties import L1, L2, ElasticNet, GroupLasso, Penalty, SparseGroupLasso
from regularizers.pruning import count_zero_units, prune_units, zero_units
from regularizers.registry import CONSTRAINTS, PENALTIES, REGISTRY, from_spec, get, to_spec
from regularizers.smooth_kernel import (
    SmoothKernel,
    fit_covariance,
    kernel_vectors,
    squared_exponential_covariance,
)

__all__ = [
    "CONSTRAINTS",
    "L1",
    "L2",
    "PENALTIES",
    "REGISTRY",
    "ElasticNet",
    "GroupLasso",
    "MaxNorm",
    "Penalty",
    "ProximalGroupLasso",
    "ProximalL1",
    "SmoothKernel",
    "SparseGroupLasso",
    "apply_elastic_net_correction",
    "count_zero_units",
    "elastic_net_correction",
    "fit_covariance",
    "from_spec",
    "get",
    "kernel_vectors",
    "prune_units",
    "squared_exponential_covariance",
    "to_spec",
    "zero_units",
]
