"""The names of what a run measures: recorded columns, derived columns, units and direction.

Kept free of Keras so that config validation, analysis and figures can name metrics without
starting a backend.
"""

from __future__ import annotations

# Every row of `runs.csv` has these columns, blank where a run did not get that far.
METRICS = (
    "pretrain_loss", "pretrain_baseline_loss", "initial_val_loss", "epochs_run",
    "train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss",
    "generalization_gap", "best_epoch", "best_val_accuracy", "test_accuracy_at_best",
    "hidden_kernel_l1", "hidden_kernel_l2", "output_kernel_l1", "output_kernel_l2",
    "hidden_small_fraction", "hidden_zero_fraction", "dead_units", "zero_units", "n_params",
    "hidden_abs_counts", "wall_time_s", "started_at", "finished_at",
)  # fmt: skip
# `hidden_abs_counts`: a JSON list of how many hidden weights have |w| in each bin: exactly 0,
# then (0, 1e-8), then half-decade bins [1e-8, 10**-7.5), ..., [10**0.5, 10), then >= 10.
ABS_EDGES = tuple(10.0**e for e in [x / 2 for x in range(-16, 3)])  # 1e-8 ... 10
# Added by `analysis.with_derived` from the recorded columns.
DERIVED = (
    "train_error", "val_error", "test_error", "test_error_at_best", "gap_points", "units_kept",
)  # fmt: skip
# metric -> axis label with its unit
LABELS = {
    "train_error": "training error (%)",
    "val_error": "validation error (%)",
    "test_error": "test error (%)",
    "test_error_at_best": "test error at the best validation epoch (%)",
    "gap_points": "train - test accuracy (points)",
    "hidden_kernel_l2": "hidden kernel L2 norm",
    "hidden_kernel_l1": "hidden kernel L1 norm",
    "hidden_small_fraction": "fraction of hidden weights with |w| < 1e-3",
    "hidden_zero_fraction": "fraction of hidden weights exactly 0",
    "zero_units": "hidden units with all-zero weights",
    "dead_units": "dead hidden units",
    "units_kept": "hidden units kept (a nonzero incoming weight)",
    "pretrain_loss": "autoencoder reconstruction BCE per pixel",
    "epochs_run": "epochs trained",
    "late_gain_points": "late gain in validation accuracy (points)",
    "wall_time_s": "wall time (s)",
}
NOT_METRICS = ("started_at", "finished_at", "hidden_abs_counts")


def known() -> tuple[str, ...]:
    """Every metric a study may name: numeric recorded columns and derived ones."""
    return tuple(m for m in METRICS if m not in NOT_METRICS) + DERIVED


def lower_is_better(metric: str) -> bool:
    """True for errors, losses, gaps and costs; False for accuracies."""
    return "accuracy" not in metric


def label(metric: str) -> str:
    """The axis label of `metric`, with its unit where it has one."""
    return LABELS.get(metric, metric.replace("_", " "))
