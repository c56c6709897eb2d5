"""Early stopping of poor trials (opt-in: `--early-stopping`), with Ax's own strategies.

Default: Ax's `PercentileEarlyStoppingStrategy` on `val_acc`: after epoch
`min_epoch` (1), a running trial whose validation accuracy is in the bottom
`percentile` (50 %) of all trials' accuracies at the same epoch is stopped, once
`min_curves` (5) trials completed. `threshold=ACC` uses Ax's
`ThresholdEarlyStoppingStrategy` instead: stop a trial whose val_acc after an epoch
>= `min_epoch` is below ACC.

Which objective decides: val_acc. Ax has no multi-objective strategy (it defaults to
the first objective); and num_params is fixed by the architecture before training
starts (its "curve" is one point), so accuracy is the only objective a learning curve
can say anything about.

What is specific to this search:
- `epochs` is searched (1..max), so curves have different lengths. Trials are
  compared at the same epoch (Ax aligns curves by step), and a trial that has logged
  its last planned epoch is never stopped: it is done training, stopping it would save
  nothing and only throw its result away.
- Trials of the initial design (the Sobol trials before BoTorch) run to the end: Ax moves
  on to BoTorch only when enough of them completed (`stoppable`).
- A stopped trial's accuracy is partly trained: the model is fitted on COMPLETED
  trials only (`MODEL_DATA`), and the hypervolume counts only COMPLETED trials.
- The Orchestrator fetches the running trials' curves on every poll (0.25 s); the
  strategy runs only when some trial logged a new epoch since its last run.
"""

from ax.core import Data
from ax.core.data_utils import DataLoaderConfig
from ax.core.trial_status import TrialStatus
from ax.early_stopping.strategies import (
    PercentileEarlyStoppingStrategy, ThresholdEarlyStoppingStrategy,
)

# Only COMPLETED trials' curve metrics are modelled, each by its last step: a running or
# early-stopped trial's accuracy is not the result of its configuration (Ax's default
# fits RUNNING and EARLY_STOPPED trials' latest step too).
MODEL_DATA = DataLoaderConfig(fit_only_completed_map_metrics=True)


def completed_results(experiment):
    """Each COMPLETED trial's final values (last step), without the step column: data for
    a model of finished configurations only (the report's)."""
    df = experiment.lookup_data().df
    done = experiment.trial_indices_by_status[TrialStatus.COMPLETED]
    return Data(df=df[df["trial_index"].isin(done)].drop(columns=["step"], errors="ignore"))


DEFAULTS = {"percentile": 50.0, "min_epoch": 1, "min_curves": 5}
OPTIONS = ("percentile", "threshold", "min_epoch", "min_curves")
METRIC = "val_acc"
EPOCHS = "epochs"  # the searched parameter: a trial's planned number of epochs


class EarlyStoppingSpecError(ValueError):
    pass


def parse_spec(text):
    """`--early-stopping [key=value,...]` -> options dict; keys: OPTIONS."""
    options = dict(DEFAULTS)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in OPTIONS:
            raise EarlyStoppingSpecError(
                f"--early-stopping: {item!r} is not KEY=VALUE with KEY one of {', '.join(OPTIONS)}")
        try:
            number = float(value) if key in ("percentile", "threshold") else int(value)
        except ValueError:
            raise EarlyStoppingSpecError(f"--early-stopping: {key} needs a number, got {value!r}")
        options[key] = number
    if not 0 < options["percentile"] < 100:
        raise EarlyStoppingSpecError("--early-stopping: percentile must be between 0 and 100")
    if "threshold" in options and not 0 <= options["threshold"] <= 1:
        raise EarlyStoppingSpecError("--early-stopping: threshold is a val_acc, in [0, 1]")
    if options["min_epoch"] < 1 or options["min_curves"] < 0:
        raise EarlyStoppingSpecError("--early-stopping: min_epoch must be >= 1, min_curves >= 0")
    return options


def describe(options):
    """One line for the console: what stops a trial."""
    when = f"from epoch {options['min_epoch']}, after {options['min_curves']} completed trials"
    if "threshold" in options:
        return f"early stopping: val_acc below {options['threshold']:g} {when}"
    return (f"early stopping: val_acc in the bottom {options['percentile']:g}% at the same epoch "
            f"{when}")


class _UnfinishedOnly:
    """Mixin: consider only trials that have not yet logged their last planned epoch and
    are not part of an initial design, and decide only when some curve gained an epoch
    since the last decision."""

    def should_stop_trials_early(self, trial_indices, experiment, current_node=None):
        last = last_epochs(experiment)
        seen = (last, frozenset(experiment.trial_indices_by_status[TrialStatus.COMPLETED]))
        if seen == getattr(self, "_last_seen", None):
            return {}
        self._last_seen = seen
        unfinished = {i for i in trial_indices
                      if last.get(i, 0) < experiment.trials[i].arm.parameters[EPOCHS]
                      and stoppable(experiment.trials[i], current_node)}
        if not unfinished:
            return {}
        return super().should_stop_trials_early(unfinished, experiment, current_node)


def stoppable(trial, current_node):
    """False for a trial of the initial design (Sobol before BoTorch): the generation
    strategy moves on only once enough of those trials COMPLETED, and a stopped one never
    does; stopping them stalls the search (Ax raises DataRequiredError with nothing
    running, and the Orchestrator ends). Trials of the strategy's last node (BoTorch, or
    Sobol alone with --strategy sobol) can be stopped."""
    if current_node is None:
        return True
    moves_on = any(tc.transition_to not in (None, current_node.name)
                   for tc in current_node.transition_criteria)
    # the node that generated the trial (GeneratorRun has no public accessor for it)
    made_by = {run._generation_node_name for run in trial.generator_runs}
    return not moves_on and made_by <= {current_node.name}


class PercentileStopping(_UnfinishedOnly, PercentileEarlyStoppingStrategy):
    pass


class ThresholdStopping(_UnfinishedOnly, ThresholdEarlyStoppingStrategy):
    pass


def make_strategy(experiment, options):
    """Ax's strategy for these options, on the val_acc metric of `experiment`."""
    common = dict(metric_signatures=[experiment.metrics[METRIC].signature],
                  min_progression=options["min_epoch"], min_curves=options["min_curves"])
    if "threshold" in options:
        return ThresholdStopping(metric_threshold=options["threshold"], **common)
    return PercentileStopping(percentile_threshold=options["percentile"], **common)


def last_epochs(experiment):
    """{trial index: last epoch with a val_acc in the experiment's data}."""
    last = {}
    # the rows, not Data.full_df: this runs on every poll and a DataFrame costs ~ms
    for row in experiment.lookup_data()._data_rows:
        if row.metric_name == METRIC and row.step is not None:
            last[row.trial_index] = max(last.get(row.trial_index, 0), int(row.step))
    return last


def stopped_epochs(experiment):
    """{trial index: epoch reached} of the EARLY_STOPPED trials (0: stopped before epoch 1)."""
    last = last_epochs(experiment)
    return {i: last.get(i, 0) for i, t in experiment.trials.items()
            if t.status == TrialStatus.EARLY_STOPPED}
