"""Early stopping of poor trials (opt-in: `--early-stopping`), with Ax's own strategies.

Default: Ax's `PercentileEarlyStoppingStrategy` on the first objective: from step
`min_step` (1), a running trial whose value is in the worst `percentile` (50 %) of all
trials' values at the same TensorBoard step is stopped, once `min_curves` (5) trials
completed. `threshold=V` uses Ax's `ThresholdEarlyStoppingStrategy` instead: stop a
trial whose value at a step >= `min_step` is worse than V.

Which objective decides: the first. Ax has no multi-objective strategy (it defaults to
the first objective); and the first objective is the one a learning curve can say
something about in the tutorial's search (num_params is fixed before training starts).

What is specific to a search with learning curves:
- the config's `last_step` (a parameter such as the tutorial's `epochs`, or a number)
  says where a trial's curve ends. Curves may have different lengths; trials are compared
  at the same step (Ax aligns curves by step), and a trial that has logged its last step
  is never stopped: it is done, stopping it would save nothing and only throw its result
  away. Without `last_step` any running trial can be stopped.
- Trials of the initial design (the Sobol trials before BoTorch) run to the end: Ax moves
  on to BoTorch only when enough of them completed (`stoppable`).
- A stopped trial's value is partly trained: the model is fitted on COMPLETED trials only
  (nas/trial_data.py, `MODEL_DATA`), and the hypervolume counts only COMPLETED trials.
- The Orchestrator fetches the running trials' curves on every poll (0.25 s); the
  strategy runs only when some trial logged a new step since its last run.
"""

from collections.abc import Mapping
from typing import Any

from ax.core.base_trial import BaseTrial
from ax.core.experiment import Experiment
from ax.core.trial_status import TrialStatus
from ax.early_stopping.strategies import (
    PercentileEarlyStoppingStrategy,
    ThresholdEarlyStoppingStrategy,
)
from ax.generation_strategy.generation_node import GenerationNode

from nas.ax_compat import generation_node_name
from nas.errors import NasError
from nas.messages import option
from nas.trial_data import first_objective, last_steps, planned_steps

DEFAULTS = {"percentile": 50.0, "min_step": 1, "min_curves": 5}
OPTIONS = ("percentile", "threshold", "min_step", "min_curves")
ALIASES = {"min_epoch": "min_step"}  # the tutorial's word for a step


class EarlyStoppingSpecError(NasError, ValueError):
    """Options of early stopping that cannot be used."""


def parse_spec(text: str | None) -> dict[str, float]:
    """`--early-stopping [key=value,...]` -> options dict; keys: OPTIONS."""
    options = dict(DEFAULTS)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        key = ALIASES.get(key.strip(), key.strip())
        if not sep or key not in OPTIONS:
            raise EarlyStoppingSpecError(
                f"{option('early_stopping')}: {item!r} is not KEY=VALUE with KEY one of {', '.join(OPTIONS)}")
        try:
            number = float(value) if key in ("percentile", "threshold") else int(value)
        except ValueError:
            raise EarlyStoppingSpecError(
                f"{option('early_stopping')}: {key} needs a number, got {value!r}") from None
        options[key] = number
    if not 0 < options["percentile"] < 100:
        raise EarlyStoppingSpecError(f"{option('early_stopping')}: percentile must be between 0 and 100")
    if options["min_step"] < 1 or options["min_curves"] < 0:
        raise EarlyStoppingSpecError(f"{option('early_stopping')}: min_step must be >= 1, min_curves >= 0")
    return options


def describe(options: Mapping[str, float], metric: str) -> str:
    """One line for the console: what stops a trial."""
    when = f"from step {options['min_step']}, after {options['min_curves']} completed trials"
    if "threshold" in options:
        return f"early stopping: {metric} worse than {options['threshold']:g} {when}"
    return (f"early stopping: {metric} in the worst {options['percentile']:g}% at the same step "
            f"{when}")


class _UnfinishedOnly:
    """Mixin: consider only trials that have not yet logged their last step and are not
    part of an initial design, and decide only when some curve gained a step since the
    last decision. `metric`: the first objective; `last_step`: the config's."""

    metric: str
    last_step: str | int | None

    def should_stop_trials_early(self, trial_indices: set[int], experiment: Experiment,
                                 current_node: GenerationNode | None = None) -> dict[int, str | None]:
        last = last_steps(experiment, self.metric)
        seen = (last, frozenset(experiment.trial_indices_by_status[TrialStatus.COMPLETED]))
        if seen == getattr(self, "_last_seen", None):
            return {}
        self._last_seen = seen
        unfinished = {i for i in trial_indices
                      if last.get(i, 0) < planned_steps(experiment.trials[i], self.last_step)
                      and stoppable(experiment.trials[i], current_node)}
        if not unfinished:
            return {}
        return super().should_stop_trials_early(  # type: ignore[misc]  # the strategy's, after this mixin
            unfinished, experiment, current_node)


def stoppable(trial: BaseTrial, current_node: GenerationNode | None) -> bool:
    """False for a trial of the initial design (Sobol before BoTorch): the generation
    strategy moves on only once enough of those trials COMPLETED, and a stopped one never
    does; stopping them stalls the search (Ax raises DataRequiredError with nothing
    running, and the Orchestrator ends). Trials of the strategy's last node (BoTorch, or
    Sobol alone with --strategy sobol) can be stopped."""
    if current_node is None:
        return True
    moves_on = any(tc.transition_to not in (None, current_node.name)
                   for tc in current_node.transition_criteria)
    made_by = {generation_node_name(run) for run in trial.generator_runs}
    return not moves_on and made_by <= {current_node.name}


class PercentileStopping(_UnfinishedOnly, PercentileEarlyStoppingStrategy):
    pass


class ThresholdStopping(_UnfinishedOnly, ThresholdEarlyStoppingStrategy):
    pass


def make_strategy(experiment: Experiment, options: Mapping[str, float],
                  last_step: str | int | None = None) -> PercentileStopping | ThresholdStopping:
    """Ax's strategy for these options, on the first objective of `experiment`."""
    metric = first_objective(experiment)
    common: dict[str, Any] = dict(metric_signatures=[experiment.metrics[metric].signature],
                  min_progression=options["min_step"], min_curves=options["min_curves"])
    strategy: PercentileStopping | ThresholdStopping
    if "threshold" in options:
        strategy = ThresholdStopping(metric_threshold=options["threshold"], **common)
    else:
        strategy = PercentileStopping(percentile_threshold=options["percentile"], **common)
    strategy.metric, strategy.last_step = metric, last_step
    return strategy
