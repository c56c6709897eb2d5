"""The experiment, its generation strategy, and the loop that runs the trials.

Ax's `Orchestrator` (the tutorial's Scheduler) keeps up to `max_pending` TorchX jobs
running, asks the generation strategy for a new configuration whenever one finishes,
and stops after `total_trials`. `run_search` drives it one poll round at a time so
that the state can be saved and progress shown after every change.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ax.core import Experiment
from ax.core.base_trial import TrialStatus
from ax.core.runner import Runner
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.orchestration.orchestrator import Orchestrator
from ax.orchestration.orchestrator_options import OrchestratorOptions

from nas.ax_compat import experiment_properties
from nas.config import SearchConfig
from nas.early_stopping import make_strategy
from nas.errors import NasError
from nas.global_stopping import ThresholdStopping
from nas.messages import option
from nas.metrics import make_metrics
from nas.optimization import make_optimization_config
from nas.search_space import make_search_space

POLL_SECONDS = 0.25  # a finished job is noticed within this
CONFIG_PROPERTY = "search_config"  # in the experiment's properties: which config made it
RUN_PROPERTY = "run_info"  # and what the results record of the driver's run (run_nas.py)


def make_experiment(config: SearchConfig, runner: Runner | None = None,
                    early_stopping: bool = False) -> Experiment:
    """The config's experiment. `early_stopping`: the first objective is read while the
    trials run (nas/metrics.py). Its properties record which config made it (a resume
    with another config is refused: `check_same_search`)."""
    metrics = make_metrics(config, curves_while_running=early_stopping)
    experiment = Experiment(
        name=config.name,
        search_space=make_search_space(config),
        tracking_metrics=metrics,
        runner=runner,
        properties={CONFIG_PROPERTY: {"path": config.source,
                                      "fingerprint": config.fingerprint()}},
    )
    experiment.optimization_config = make_optimization_config(config)
    return experiment


def check_same_search(experiment: Experiment, config: SearchConfig) -> None:
    """SearchMismatch if `experiment` (saved) was made from another search config."""
    made_from = experiment_properties(experiment).get(CONFIG_PROPERTY, {})
    if made_from.get("fingerprint") != config.fingerprint():
        raise SearchMismatch(
            f"this search was made from the config {made_from.get('path', '?')} as it was "
            f"then; {config.source} now declares another search (trial command, parameters, "
            f"{option('fix')}, metrics or objectives): run with that config as it was, or "
            f"start anew with {option('fresh')}")


def record_run_info(experiment: Experiment, info: dict) -> None:
    """Keep the driver's `info` (plain data) in the experiment's properties: saved with the
    state, so that `run_nas.py --report` writes the results files as the driver does."""
    experiment_properties(experiment)[RUN_PROPERTY] = info


def saved_run_info(experiment: Experiment) -> dict:
    """What `record_run_info` kept, {} if nothing (a search saved by an earlier version)."""
    return dict(experiment_properties(experiment).get(RUN_PROPERTY) or {})


def make_orchestrator(experiment: Experiment, generation_strategy: GenerationStrategy,
                      max_pending: int, early_stopping: Mapping[str, float] | None = None,
                      last_step: str | int | None = None,
                      global_stopping: Mapping[str, Any] | None = None) -> Orchestrator:
    """`run_search` sets the trial budget: what the saved state still needs.
    `early_stopping`: options of nas.early_stopping.parse_spec, or None (off); `last_step`:
    the config's (a parameter or a number: the last step a trial logs); `global_stopping`:
    the arguments of Ax's ImprovementGlobalStoppingStrategy (the config's
    [search.global_stopping]: stop once the hypervolume stopped improving), or None."""
    if early_stopping is not None and not reads_curves_while_running(experiment):
        raise SearchMismatch(f"this search was started without {option('early_stopping')}: "
                             "its first objective is read only when a trial ends; resume it "
                             f"without {option('early_stopping')}, or start anew with "
                             f"{option('fresh')}")
    options = OrchestratorOptions(
        max_pending_trials=max_pending,
        init_seconds_between_polls=POLL_SECONDS,  # type: ignore[arg-type]  # Ax says int; sleeps a float
        # Ax sleeps this long after each launch before it generates the next candidate,
        # even with a slot free; local capacity needs no such pause
        min_seconds_before_poll=0,
        seconds_between_polls_backoff_factor=1.0,
        # with several slots free, one call of the generation strategy makes a candidate
        # for each (one model fit, then one acquisition optimization per candidate)
        run_trials_in_batches=True,
        logging_level=logging.WARNING,
        early_stopping_strategy=(make_strategy(experiment, early_stopping, last_step)
                                 if early_stopping is not None else None),
        global_stopping_strategy=(ThresholdStopping(**global_stopping)
                                  if global_stopping else None),
    )
    return Orchestrator(experiment=experiment, generation_strategy=generation_strategy,
                        options=options)


class SearchMismatch(NasError):
    """A saved search and this command's options do not go together; the message says how."""


def reads_curves_while_running(experiment: Experiment) -> bool:
    return any(m.is_available_while_running() for m in experiment.metrics.values())


def run_search(orchestrator: Orchestrator, total_trials: int,
               on_change: Callable[[Orchestrator], None] | None = None,
               timeout_hours: float | None = None, ignore_global_stopping: bool = False) -> None:
    """Run until `total_trials` trials ran (abandoned ones replaced) and all finished, or
    Ax's global stopping strategy stopped the search (unless `ignore_global_stopping`),
    or `timeout_hours` passed (Ax aborts: the running trials are left running).

    Works the same on a new experiment and on one loaded from a saved state.
    `on_change(orchestrator)` is called after every poll, also while waiting.
    """
    experiment = orchestrator.experiment
    to_run = trials_still_to_run(experiment, total_trials)
    orchestrator.options = replace(
        orchestrator.options,
        total_trials=len(experiment.trials) - _count(experiment, TrialStatus.CANDIDATE) + to_run,
    )
    if to_run == 0 and not orchestrator.running_trials:
        return
    for _ in orchestrator.run_trials_and_yield_results(
            max_trials=to_run, idle_callback=on_change, timeout_hours=timeout_hours,
            ignore_global_stopping_strategy=ignore_global_stopping):
        if on_change:
            on_change(orchestrator)


def _count(experiment: Experiment, status: TrialStatus) -> int:
    return sum(t.status == status for t in experiment.trials.values())


def trials_still_to_run(experiment: Experiment, total_trials: int) -> int:
    """Trials to launch so that `total_trials` ran; abandoned ones are replaced."""
    counted = [t for t in experiment.trials.values()
               if t.status != TrialStatus.ABANDONED and t.status != TrialStatus.CANDIDATE]
    return max(total_trials - len(counted), 0)
