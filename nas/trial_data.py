"""A search's trial data as Ax holds it, read the same way by everything that needs it:
each COMPLETED trial's final values (what models are fitted on), the steps a trial logged
its first objective at, the step an early-stopped trial reached, the step a trial plans
to end at.

A metric logged at several steps is a learning curve (nas/metrics.py); its last step is a
trial's value. A partly trained value is never a configuration's result: the generation
strategy (`MODEL_DATA`) and the report's model (`completed_results`) fit COMPLETED trials
only, each by its last step.
"""

import math
from typing import Any

from ax.core import Data, Experiment
from ax.core.data_utils import DataLoaderConfig
from ax.core.trial_status import TrialStatus

from nas.ax_compat import data_rows

# Only COMPLETED trials' curve metrics are modelled, each by its last step: a running or
# early-stopped trial's accuracy is not the result of its configuration (Ax's default
# fits RUNNING and EARLY_STOPPED trials' latest step too).
MODEL_DATA = DataLoaderConfig(fit_only_completed_map_metrics=True)


def completed_results(experiment: Experiment) -> Data:
    """Each COMPLETED trial's final values (last step), without the step column: data for
    a model of finished configurations only (the report's)."""
    df = experiment.lookup_data().df
    done = experiment.trial_indices_by_status[TrialStatus.COMPLETED]
    return Data(df=df[df["trial_index"].isin(done)].drop(columns=["step"], errors="ignore"))



def inferred_reference(experiment: Experiment) -> list[Any] | None:
    """Ax's inferred reference point (its nadir of the Pareto front) from each COMPLETED
    trial's final values, as objective thresholds; None before it can infer one (no
    completed trial with every objective). Ax's own inference reads every step as an
    observation and fails when a trial logs its objectives at different steps."""
    from ax.service.utils.best_point import infer_reference_point_from_experiment

    try:
        return infer_reference_point_from_experiment(experiment, completed_results(experiment))
    except Exception:  # no data yet, no Pareto front: nothing to infer from
        return None

def planned_steps(trial: Any, last_step: str | int | None) -> float:
    """The last step `trial` logs: the value of the config's `last_step` parameter, or the
    number itself; infinite without one (the trial may be stopped at any step)."""
    if last_step is None:
        return math.inf
    if isinstance(last_step, str):
        return trial.arm.parameters[last_step]
    return last_step


def first_objective(experiment: Experiment) -> str:
    config = experiment.optimization_config
    assert config is not None  # every search's experiment has one (nas/orchestration.py)
    return config.objective.metric_names[0]


def last_steps(experiment: Experiment, metric: str | None = None) -> dict[int, int]:
    """{trial index: last step with a value of `metric` (the first objective) in the
    experiment's data}."""
    metric = metric or first_objective(experiment)
    last: dict[int, int] = {}
    # the rows, not Data.full_df: this runs on every poll and a DataFrame costs ~ms
    for row in data_rows(experiment.lookup_data()):
        if row.metric_name == metric and row.step is not None and row.step == row.step:  # not NaN
            last[row.trial_index] = max(last.get(row.trial_index, 0), int(row.step))
    return last


def stopped_steps(experiment: Experiment) -> dict[int, int]:
    """{trial index: step reached} of the EARLY_STOPPED trials (0: stopped before its first)."""
    last = last_steps(experiment)
    return {i: last.get(i, 0) for i, t in experiment.trials.items()
            if t.status == TrialStatus.EARLY_STOPPED}
