"""Every use of Ax's and TorchX's private names, in one place.

Ax and TorchX have no public way to do these; each function says why it is needed, and
each was checked against ax-platform 1.3.1 and torchx 0.7.0 (pyproject.toml pins
ax-platform < 1.4). An upgrade that renames one breaks this module alone, and
tests/test_ax_compat.py says which: it calls each on real objects of the installed
versions. Nothing else in the project reaches into Ax's or TorchX's private attributes.
"""

from collections.abc import Sequence
from typing import Any

from ax.core.base_trial import BaseTrial
from ax.core.data import Data
from ax.core.experiment import Experiment
from ax.core.generator_run import GeneratorRun
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.metrics.tensorboard import TensorboardMetric
from ax.runners.torchx import TorchXRunner

CHECKED_WITH = {"ax-platform": "1.3.1", "torchx": "0.7.0"}


# --- experiments and trials -------------------------------------------------------------

def experiment_properties(experiment: Experiment) -> dict[str, Any]:
    """The experiment's `properties` (its init argument), a dict to read and update in
    place: Ax saves them with the experiment but has neither a public getter nor a setter.
    The search keeps which config made it, and its driver's run info, there."""
    return experiment._properties


def trial_properties(trial: BaseTrial) -> dict[str, Any]:
    """A trial's properties (Ax's JSON store saves them): part of what tells the state
    store that a trial changed."""
    return trial._properties


def data_rows(data: Data) -> Sequence[Any]:
    """The rows of Ax's `Data`: `Data.df` / `full_df` build a DataFrame of all of them
    (milliseconds), too much for what runs on every poll and every save."""
    return data._data_rows


def generator_runs(generation_strategy: GenerationStrategy) -> list[GeneratorRun]:
    """Every generator run of a generation strategy, in order: the state store saves
    the new ones only (Ax has no public list of them)."""
    return generation_strategy._generator_runs


def generation_node_name(generator_run: GeneratorRun) -> str | None:
    """The name of the generation node that made a generator run (Sobol or BoTorch):
    early stopping leaves the initial design's trials alone. No public accessor."""
    return generator_run._generation_node_name


# --- the runner ----------------------------------------------------------------------

def torchx_runner(runner: TorchXRunner) -> Any:
    """The torchx `Runner` that Ax's TorchXRunner submits and polls through; Ax keeps it
    in a private attribute and has no hook to reach it."""
    return runner._torchx_runner


def set_torchx_runner(runner: TorchXRunner, torchx: Any) -> None:
    """Make Ax's `TorchXRunner.run` submit through `torchx` (an object with the torchx
    runner's `run`): the one way to get the AppDef Ax builds for a trial (a dry run) or to
    submit it our way (Slurm without accounting), without copying Ax's `run`."""
    runner._torchx_runner = torchx


# --- metrics ----------------------------------------------------------------------

class LogMetric(TensorboardMetric):
    """Ax's `TensorboardMetric` reading a trial's events through `event_reader(trial)`
    (an object with the two EventMultiplexer methods Ax calls) instead of a new
    EventMultiplexer of the whole log dir at every fetch: Ax's hook for that is private."""

    def event_reader(self, trial: BaseTrial) -> Any:
        raise NotImplementedError

    def _get_event_multiplexer_for_trial(self, trial: BaseTrial) -> Any:
        return self.event_reader(trial)


# --- plots ----------------------------------------------------------------------

def cv_dropdown_figure(cv_results: list, metrics: Sequence[str]) -> Any:
    """Ax's cross-validation plot (`interact_cross_validation_plotly`), its dropdown in the
    order of `metrics`: Ax takes the metrics from a set, whose order follows Python's
    string hashing and so differs by process. Its two steps are private."""
    from ax.plot.diagnostic import _get_cv_plot_data, _obs_vs_pred_dropdown_plot

    data = _get_cv_plot_data(cv_results, label_dict=None)
    rank = {name: i for i, name in enumerate(metrics)}
    data = data._replace(metrics=sorted(data.metrics, key=lambda m: (rank.get(m, len(rank)), m)))
    return _obs_vs_pred_dropdown_plot(data=data, rel=False, show_context=True)
