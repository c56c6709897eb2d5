"""Ax's global stopping (`ImprovementGlobalStoppingStrategy`: stop once the hypervolume
stopped improving) given the search's reference point.

The Orchestrator asks the strategy without objective thresholds, and Ax then infers a
reference point from the first observation's metrics in the experiment's data. A trial
that logs its objectives at different steps (the tutorial's job: num_params once at step
0, val_acc at its last epoch) makes observations with one metric each, and that inference
fails ("Metric num_params does not exist in `obs_data`"), ending the search. Here the
strategy gets the thresholds the config declares, and where it declares none, the point
Ax infers from each completed trial's final values (as the report's hypervolume does)."""

from typing import Any

from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.optimization_config import MultiObjectiveOptimizationConfig
from ax.global_stopping.strategies.improvement import ImprovementGlobalStoppingStrategy

from nas.trial_data import inferred_reference


class ThresholdStopping(ImprovementGlobalStoppingStrategy):
    """Ax's strategy, its arguments Ax's own, asked with the search's reference point
    once enough trials completed for it to decide (before that Ax says why not)."""

    def should_stop_optimization(self, experiment: Experiment, **kwargs: Any) -> tuple[bool, str]:
        config = experiment.optimization_config
        completed = len(experiment.trial_indices_by_status[TrialStatus.COMPLETED])
        if completed >= self.min_trials and kwargs.get("objective_thresholds") is None \
                and isinstance(config, MultiObjectiveOptimizationConfig):
            thresholds = (list(config.objective_thresholds)
                          if len(config.objective_thresholds) == len(config.objective.metric_names)
                          else inferred_reference(experiment))
            if thresholds is None:
                return False, "no reference point yet: no completed trial has every objective"
            kwargs["objective_thresholds"] = thresholds
        return super().should_stop_optimization(experiment, **kwargs)
