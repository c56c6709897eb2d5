"""The multi-objective optimization config: accuracy up, parameter count down.

Objective thresholds are the reference point of the hypervolume: a configuration
counts only if it reaches val_acc >= 0.94 with at most 80,000 parameters.
"""

from ax.core import MultiObjectiveOptimizationConfig, Objective, OutcomeConstraint

from nas.metrics import make_metrics

VAL_ACC_THRESHOLD = 0.94
NUM_PARAMS_THRESHOLD = 80_000


def make_optimization_config(metrics=None):
    """Maximize val_acc, minimize num_params, both thresholded (absolute bounds)."""
    metrics = metrics or make_metrics()
    signatures = {m.name: m.signature for m in metrics}
    return MultiObjectiveOptimizationConfig(
        objective=Objective(expression="val_acc, -num_params", metric_name_to_signature=signatures),
        objective_thresholds=[
            OutcomeConstraint(f"val_acc >= {VAL_ACC_THRESHOLD}",
                              metric_name_to_signature=signatures, relative=False),
            OutcomeConstraint(f"num_params <= {NUM_PARAMS_THRESHOLD}",
                              metric_name_to_signature=signatures, relative=False),
        ],
    )
