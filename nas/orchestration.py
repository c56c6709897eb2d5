"""The experiment, its generation strategy, and the loop that runs the trials.

Ax's `Orchestrator` (the tutorial's Scheduler) polls and launches the TorchX jobs, up to
`max_pending` at once. `run_search` is the loop around it, one poll round at a time, so
that the state is saved and progress shown after every change; it takes the next
configurations from nas/candidates.py, made beside the loop while the trials run,
instead of letting the Orchestrator's own loop stop to generate each one while a slot
stands free.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ax.core import Experiment
from ax.core.base_trial import TrialStatus
from ax.core.runner import Runner
from ax.exceptions.core import AxError
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.orchestration.orchestrator import Orchestrator
from ax.orchestration.orchestrator_options import OrchestratorOptions

from nas.ax_compat import experiment_properties
from nas.candidates import CandidateMaker
from nas.config import SearchConfig
from nas.early_stopping import make_strategy
from nas.errors import NasError
from nas.global_stopping import ThresholdStopping
from nas.jobs.processes import JobExits
from nas.messages import option
from nas.metrics import make_metrics
from nas.optimization import make_optimization_config
from nas.runner import NasRunner
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


def run_search(orchestrator: Orchestrator, total_trials: int, maker: CandidateMaker,
               on_change: Callable[[Orchestrator], None] | None = None,
               ignore_global_stopping: bool = False) -> str | None:
    """Run until `total_trials` trials ran (abandoned ones replaced) and all finished, or
    Ax's global stopping strategy stopped the search (unless `ignore_global_stopping`),
    or the orchestrator's `options.total_trials` (the launches allowed, lowered by a spent
    time budget) is reached and the running trials finished. Returns the global stopping
    strategy's reason if it stopped the launches (as it said then: asked again after
    the last trials ended, it may see them improve the front), else None.

    The loop never waits for the model: `maker` (nas/candidates.py) makes the next
    candidates in its thread while this one polls, launches, and calls
    `on_change(orchestrator)` after every poll. A free slot takes a candidate that is
    ready (an Ax CANDIDATE trial) at once. Between polls the loop sleeps up to
    POLL_SECONDS, and wakes sooner when a candidate is made or a local job's process
    ends (`JobExits`). Works the same on a new experiment and on one loaded from a saved
    state, whose CANDIDATE trials are launched first.
    """
    experiment = orchestrator.experiment
    to_run = trials_still_to_run(experiment, total_trials)
    orchestrator.options = replace(orchestrator.options,
                                   total_trials=launched(experiment) + to_run)
    max_pending = orchestrator.options.max_pending_trials
    stop_launching = to_run == 0
    checked_at: int | None = None  # trials ended when global stopping was last asked
    global_stop: str | None = None
    runner = experiment.runner
    exits = JobExits(runner.process_id if isinstance(runner, NasRunner) else lambda trial: None)
    try:
        while True:
            orchestrator.poll_and_process_results()
            orchestrator.error_if_failure_rate_exceeded()
            for generator_run in maker.take():
                experiment.new_trial(generator_run=generator_run)  # a CANDIDATE trial
            ended = sum(t.status.is_terminal for t in experiment.trials.values())
            if not stop_launching:
                stop_launching = launched(experiment) >= (orchestrator.options.total_trials or 0)
            if (not stop_launching and not ignore_global_stopping and ended != checked_at
                    and orchestrator.options.global_stopping_strategy is not None):
                checked_at = ended
                stop_launching, why = orchestrator.options.global_stopping_strategy.should_stop_optimization(
                    experiment=experiment)
                global_stop = why if stop_launching else None
            if not stop_launching:
                _launch_candidates(orchestrator, max_pending)
                stop_launching = _ask_for_candidates(orchestrator, maker, max_pending, ended)
            if on_change:
                on_change(orchestrator)
            if stop_launching and not orchestrator.running_trials:
                break
            exits.ended(maker.wait_ready(POLL_SECONDS, exits.watch(orchestrator.running_trials)))
    finally:
        exits.close()
    orchestrator.error_if_failure_rate_exceeded(force_check=True)
    return global_stop


def launched(experiment: Experiment) -> int:
    """Trials launched so far (every trial but the candidates not yet launched)."""
    return len(experiment.trials) - _count(experiment, TrialStatus.CANDIDATE)


def _launch_candidates(orchestrator: Orchestrator, max_pending: int) -> None:
    """Launch the candidate trials there are into the free slots, within the launches
    allowed."""
    experiment = orchestrator.experiment
    free = max_pending - len(orchestrator.pending_trials)
    allowed = (orchestrator.options.total_trials or 0) - launched(experiment)
    candidates = orchestrator.candidate_trials[:max(min(free, allowed), 0)]
    if candidates:
        orchestrator.run_trials(new_trials=[], existing_trials=candidates)


def _ask_for_candidates(orchestrator: Orchestrator, maker: CandidateMaker, max_pending: int,
                        ended: int) -> bool:
    """Ask `maker` for the candidates the slots will want (`slots_to_fill`) beyond those
    ready, unless it is busy or said it needs more results than the `ended` trials give. True if no
    trial can be launched any more: the strategy can make no more (Sobol only, all made)."""
    experiment = orchestrator.experiment
    ready = len(orchestrator.candidate_trials)
    if maker.busy:
        return False
    if maker.exhausted:
        return ready == 0
    if maker.needs_data_at == ended:
        if not orchestrator.running_trials and not ready:
            raise AxError("the generation strategy needs more results to make a candidate, "
                          "and no trial is running to give them")
        return False
    allowed = (orchestrator.options.total_trials or 0) - launched(experiment) - ready
    n = min(allowed, slots_to_fill(experiment, max_pending, maker.seconds_per_candidate, ready))
    if n > 0:
        maker.request(experiment, n, ended)
    return False


def slots_to_fill(experiment: Experiment, max_pending: int,
                  seconds_per_candidate: float | None, ready: int = 0,
                  now: datetime | None = None) -> int:
    """How many candidates to ask for now, beyond the `ready` ones: for the slots free now
    and for the running trials expected to end before the candidates asked for would be
    ready. Making n candidates takes about n x `seconds_per_candidate`; k more count if
    the running trials' expected number of ends within SOON_MARGIN x the time to make
    candidates for the slots free plus k is at least k - 1/2 (rounds to k): a wave of
    trials ending together is asked for a wave's generation ahead, a lone trial one
    candidate ahead. Until a trial ended (or a candidate was made) only the free slots
    count.

    The expected number, not the trials each more likely than not to end in time: with
    trials of unequal length, four running trials each with a one-in-four chance of
    ending while a candidate is made free a slot in that time as often as not, and a
    candidate not asked for then is waited for.

    A running trial's chance of ending within h seconds is read from the last trials
    that ended (`_end_chance`), counting only those that ran longer than it has so far:
    with trials of unequal length the first to end are the short ones, and the others,
    older than those, are not about to end for that."""
    running = [t for t in experiment.trials.values() if t.status == TrialStatus.RUNNING]
    free = max_pending - len(running)
    ended = sorted((t.time_completed, t.time_run_started) for t in experiment.trials.values()
                   if t.status.is_terminal and t.time_completed and t.time_run_started)
    if not ended or seconds_per_candidate is None:
        return max(free - ready, 0)
    # the first trials to start wait for the warm-start server and the first loads
    later = [(end, start) for end, start in ended if start >= ended[0][0]]
    recent = (later or ended)[-max(max_pending, RECENT_TRIALS):]
    durations = [(end - start).total_seconds() for end, start in recent]
    now = now or datetime.now()
    ages = [(now - t.time_run_started).total_seconds() for t in running
            if t.time_run_started is not None]

    def ends_within(seconds: float) -> float:
        return sum(_end_chance(age, seconds, durations) for age in ages)

    soon = max((k for k in range(1, len(ages) + 1)
                if ends_within(SOON_MARGIN * seconds_per_candidate * (free - ready + k)) >= k - 0.5),
               default=0)
    return max(free + soon - ready, 0)


def _end_chance(age: float, seconds: float, durations: list[float]) -> float:
    """The chance that a running trial of `age` ends within `seconds`: the share of the
    ended trials that ran longer than `age` that ended within `age` + `seconds`. One
    older than all of them is about to end (1) once RECENT_TRIALS ended; with fewer, its
    end is not known (0)."""
    longer = [d for d in durations if d > age]
    if longer:
        return sum(d <= age + seconds for d in longer) / len(longer)
    return 1.0 if len(durations) >= RECENT_TRIALS else 0.0


SOON_MARGIN = 1.5  # a generation asked for now may take longer per candidate than the last one
RECENT_TRIALS = 5  # at least this many of the last trials that ended give the typical duration


def _count(experiment: Experiment, status: TrialStatus) -> int:
    return sum(t.status == status for t in experiment.trials.values())


def trials_still_to_run(experiment: Experiment, total_trials: int) -> int:
    """Trials to launch so that `total_trials` ran; abandoned ones are replaced."""
    counted = [t for t in experiment.trials.values()
               if t.status != TrialStatus.ABANDONED and t.status != TrialStatus.CANDIDATE]
    return max(total_trials - len(counted), 0)
