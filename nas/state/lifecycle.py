"""The driver's lifecycle around one search: who owns it, what is saved when, how a
stop ends and how a resume begins. run_nas.py builds the search; this module keeps it.

- **One owner**: nas/state/ownership.py, taken by run_nas.py before anything else.
- **Resume**: damaged state -> exit 2 (nas/state/storage.py); the console says what became of
  each job the earlier driver left; jobs it never recorded are stopped.
- **Saving** after every change of trial statuses (`StateSaver`); a failed save (full
  disk, unwritable log dir) stops the driver, the previous state intact. Each save
  carries the driver's run info (who runs it, since when; at the end, how it ended).
- **The page kept current** after every trial that ended (`LivePage`), as the saver
  saves: never while a launch is due.
- **Stopping** (Ctrl-C, SIGTERM, a failed save, Ax giving up): the running jobs are
  cancelled and listed, the state saved, the warm-start server stopped.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

from nas.messages import error_line, log, one_line, option

if TYPE_CHECKING:
    from pathlib import Path

    from ax.core.experiment import Experiment
    from ax.core.trial_status import TrialStatus
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.orchestration.orchestrator import Orchestrator

    from nas.budget import TimeBudget
    from nas.candidates import CandidateMaker
    from nas.config import SearchConfig
    from nas.jobs.warm_start import WarmServer
    from nas.runner import NasRunner
    from nas.state.storage import StateStore

# Ax, TorchX and torch (~5 s of imports) are imported by the functions that use them, so
# that the lock is taken, and a second driver refused, before they load.

EXIT_INTERRUPTED = 130


# --- resume --------------------------------------------------------------------------

def load_saved_search(store: StateStore, strategy: str,
                      config: SearchConfig) -> tuple[Experiment, GenerationStrategy] | None:
    """(experiment, generation_strategy) saved in `store` (a nas.state.storage.StateStore),
    or None for a new search. StateError if the files are unusable; SearchMismatch if the
    search was made with another strategy or another search config."""
    from nas.generation import strategy_of
    from nas.orchestration import SearchMismatch, check_same_search

    state_file = store.path
    if not state_file.exists():
        return None
    experiment, generation_strategy = store.load()
    if strategy_of(generation_strategy) != strategy:
        raise SearchMismatch(f"the search saved in {state_file} uses {option('strategy')} "
                             f"{strategy_of(generation_strategy)}; run it with that, or start "
                             f"anew with {option('fresh')}")
    try:
        check_same_search(experiment, config)
    except SearchMismatch as e:
        raise SearchMismatch(f"{state_file}: {e.raw}") from None
    return experiment, generation_strategy


def take_over_jobs(orchestrator: Orchestrator) -> None:
    """Before a resumed search goes on: stop the jobs the saved state never recorded
    (their trial dirs are moved aside, so no trial index gets two jobs or mixed logs),
    poll the jobs it recorded as running, and say what became of each. Polling first
    lets the trial budget count a trial lost meanwhile as one to replace."""
    experiment = orchestrator.experiment
    runner = cast("NasRunner", experiment.runner)
    # SchedulerUnavailable if jobs cannot be reached (Slurm's controller down)
    for line in runner.jobs.take_over(runner.log_dir, experiment):
        log.info(f"  {line}")
    running = list(orchestrator.running_trials)
    if not running:
        return
    orchestrator.poll_and_process_results()
    for trial in running:
        status = trial.status.name
        log.info(f"  trial {trial.index}: {AFTER_DRIVER_DEATH.get(status, status)}")


AFTER_DRIVER_DEATH = {  # a trial's status after the first poll of a resumed search
    "RUNNING": "its job still runs: re-attached",
    "COMPLETED": "its job finished while no driver ran: results collected",
    "FAILED": "its job failed while no driver ran (reason below)",
    "ABANDONED": "its job ended without a result while no driver ran: replaced by a new trial",
}


# --- saving --------------------------------------------------------------------------

class SaveFailed(BaseException):
    """The state could not be written. A BaseException so that Ax's orchestrator, which
    logs and ignores an Exception from its idle callback, does not go on without saves."""


class StateSaver:
    """Saves the state into its store (nas/state/storage.py) whenever the trials'
    statuses changed: a journal line of what changed, so that the cost of a save does not
    grow with the number of trials."""

    def __init__(self, store: StateStore, run_info: Callable[[], dict[str, Any]] | None = None,
                 every_save: bool = False) -> None:
        self.store = store
        # the candidate maker (nas/candidates.py) while one runs: the strategy is saved
        # only while it is not making a candidate
        self.maker: CandidateMaker | None = None
        self.run_info = run_info  # () -> the driver's run info, saved with the state
        self.every_save = every_save  # the run info at every save, not only first and last
        self.ended: str | None = None  # how the search ended ("finished" or why it stopped), once it did
        self._recorded = False  # the run info saved (at the first save, and at the last)
        self._saved: list[tuple[int, TrialStatus]] | None = None  # the (index, status) pairs last saved

    def on_change(self, orchestrator: Orchestrator) -> None:
        experiment = orchestrator.experiment
        fingerprint = [(t.index, t.status) for t in experiment.trials.values()]
        if fingerprint != self._saved:
            if self.maker is None:
                self.save(experiment, orchestrator.generation_strategy)
            else:
                with self.maker.strategy_free() as free:
                    self.save(experiment, orchestrator.generation_strategy if free else None)
            self._saved = fingerprint

    def save(self, experiment: Experiment, generation_strategy: GenerationStrategy | None,
             snapshot: bool = False) -> None:
        """`snapshot`: the whole state into a new snapshot (and an empty journal). The run
        info goes in at the first save and once the search ended: between them it would
        change at every save (the driver's seconds) and make each one rewrite the
        experiment's fields; with `every_save` (a time budget, whose time used a resume
        counts on from) at every save. `generation_strategy` None: it is making a
        candidate (nas/candidates.py); saved at a later save."""
        from nas.orchestration import record_run_info

        if self.run_info and (not self._recorded or self.ended or self.every_save):
            record_run_info(experiment, {**self.run_info(), "ended": self.ended})
            self._recorded = True
        try:
            if snapshot:
                self.store.write_snapshot(experiment, generation_strategy)
            else:
                self.store.save(experiment, generation_strategy)
        except OSError as e:
            raise SaveFailed(f"cannot save the search state to {self.store.path} "
                             f"({e.strerror or e}); the previous state there is intact") from None


def launch_due(orchestrator: Orchestrator, total_trials: int, max_pending: int) -> bool:
    """A slot is free and a trial is still to run: the driver is about to generate and
    launch one, and nothing else should hold it up."""
    from nas.orchestration import trials_still_to_run

    return (len(orchestrator.running_trials) < max_pending
            and trials_still_to_run(orchestrator.experiment, total_trials) > 0)


class LivePage:
    """Rewrites the results page and its cheap files, `write(experiment)` (run_nas.py's:
    nas/report/writer.py without the model fits), once a trial reached a terminal state:
    not while a launch is due, so not before the next trial's launch, unless the page is
    older than MAX_AGE_SECONDS (a driver that is the bottleneck always has a launch due).
    An update costs 0.25 s at 48 trials and 0.65 s at 500 on 2 busy cores, 7-8% of the
    driver's per-trial budget (`python -m bench.live_page`, results/live_page.json).
    A page that cannot be written is said once per problem; the search goes on."""

    MAX_AGE_SECONDS = 60

    def __init__(self, write: Callable[[Experiment], None], total_trials: int, max_pending: int) -> None:
        self.write = write
        self.total_trials, self.max_pending = total_trials, max_pending
        # the (index, status) pairs of the ended trials last written
        self._shown: list[tuple[int, TrialStatus]] | None = None
        self._written = time.monotonic()  # when, or when the driver started
        self._problem: str | None = None

    def on_change(self, orchestrator: Orchestrator) -> None:
        experiment = orchestrator.experiment
        ended = [(t.index, t.status) for t in experiment.trials.values() if t.status.is_terminal]
        stale = time.monotonic() - self._written > self.MAX_AGE_SECONDS
        if ended == self._shown or (launch_due(orchestrator, self.total_trials, self.max_pending)
                                    and not stale):
            return
        self._shown, self._written = ended, time.monotonic()
        try:
            self.write(experiment)
        except Exception as e:  # a full disk, a bug in a plot: the search matters more
            problem = error_line(e)
            if problem != self._problem:
                log.warning(f"note: the results page could not be updated ({problem}); the "
                            "search goes on, the files are written again after the next trial")
            self._problem = problem


# --- running and stopping ------------------------------------------------------------

class Interrupted(BaseException):
    """SIGTERM received. A BaseException, like Ctrl-C's KeyboardInterrupt, so that no
    `except Exception` on the way (BoTorch's optimizer has some) swallows it."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Ctrl-C (KeyboardInterrupt) and `kill` (Interrupted) stop the search cleanly.
    `install()` replaces the handlers TorchX's local scheduler installs (when it is
    created), which raise an ordinary Exception. Each signal is also recorded, and
    `check()` raises it again: an exception a handler raises is lost when the signal
    lands while a finalizer runs (Python prints "Exception ignored" and goes on), and
    the search's loop calls `check()` after every poll."""

    def __init__(self) -> None:
        self.received: str | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        self.check()

    def check(self) -> None:
        if self.received == "SIGINT":
            raise KeyboardInterrupt
        if self.received is not None:
            raise Interrupted(self.received)


@dataclass
class Stop:
    """Why the search stopped before its end, the driver's exit status, and whether the
    state could be saved (if not, the previous one is on disk). `interrupted`: by Ctrl-C
    or SIGTERM (a notebook's interrupt raises KeyboardInterrupt once all is saved). A
    search stopped by its time budget or by Ax's global stopping ends as a finished one
    does: status 0."""
    status: int
    why: str
    saved: bool = True
    interrupted: bool = False


@dataclass
class Control:
    """What may end a search before its trial budget: its time budget (nas/budget.py;
    `stop_running`: its running trials stopped when it is spent, else they finish), and
    Ax's global stopping strategy (the orchestrator's; `ignore_global_stopping`: not
    asked)."""
    budget: TimeBudget | None = None
    stop_running: bool = False
    ignore_global_stopping: bool = False


class BudgetSpent(BaseException):
    """The time budget is spent and the running trials are to be stopped. A
    BaseException, as SaveFailed, so that Ax's orchestrator does not go on past it: Ax's
    own timeout is checked only when a trial ends, too late for trials of hours."""


def run_owned_search(orchestrator: Orchestrator, store: StateStore, total_trials: int,
                     progress: Callable[[Experiment], None] | None = None,
                     warm_server: WarmServer | None = None,
                     run_info: Callable[[], dict[str, Any]] | None = None,
                     live_page: Callable[[Experiment], None] | None = None,
                     control: Control | None = None) -> Stop | None:
    """Run the search to its end or to a `Stop` (returned; None: it ended), saving it into
    `store`. Whatever ends it, no job is left running, and the state is saved unless
    saving is what failed; the last save records how it ended. `progress`: called with
    the experiment after every poll, or None; `run_info`: () -> the driver's run info,
    saved with the state (nas.orchestration.saved_run_info reads it back); `live_page`:
    the write(experiment) that rewrites the results page (LivePage calls it), or None;
    `control`: a Control (time budget, global stopping), or None; `warm_server`: the one
    the local jobs fork from (`start_warm_server`), stopped here after the last job, or
    None. The signal handlers are as they were before, once it returns."""
    experiment = orchestrator.experiment
    runner = cast("NasRunner", experiment.runner)
    max_pending = orchestrator.options.max_pending_trials
    control = control or Control()
    # with a time budget the time used is saved with every save: a resume counts on from it
    saver = StateSaver(store, run_info, every_save=control.budget is not None)
    page = LivePage(live_page, total_trials, max_pending) if live_page else None
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    signals = StopSignals()
    try:
        runner.open_scheduler()
        signals.install()
        return _run_and_stop(orchestrator, store, saver, page, total_trials, progress,
                             warm_server, control, signals)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _run_and_stop(orchestrator: Orchestrator, store: StateStore, saver: StateSaver, page: LivePage | None,
                  total_trials: int, progress: Callable[[Experiment], None] | None,
                  warm_server: WarmServer | None, control: Control,
                  signals: StopSignals) -> Stop | None:
    from ax.exceptions.core import AxError

    from nas.orchestration import launched, run_search, trials_still_to_run

    experiment = orchestrator.experiment
    budget = control.budget
    if warm_server is not None and not trials_still_to_run(experiment, total_trials):
        warm_server.stop()  # no job to start
        warm_server = None
    budget_said: list[bool] = []

    def at_budget(o: Orchestrator) -> None:
        """Once the budget is spent: no new trial starts (Ax's total_trials lowered to
        the trials there are), said once; with stop_running, the loop ends at once."""
        if budget is None or budget_said or not budget.spent():
            return
        budget_said.append(True)
        running = len(o.running_trials)
        done = trials_done(o.experiment)
        if not control.stop_running:
            o.options = replace(o.options, total_trials=launched(o.experiment))
        what = ("they are stopped" if control.stop_running else "they finish") if running else ""
        log.info(f"{budget.ended(done, total_trials)}: no new trial starts"
                 + (f"; {running} running trial{'s' * (running != 1)}: {what}" if running else ""))
        if control.stop_running:
            raise BudgetSpent()

    def on_change(o: Orchestrator) -> None:
        signals.check()  # a stop signal whose exception was lost (StopSignals)
        at_budget(o)
        saver.on_change(o)
        if page:
            page.on_change(o)
        if progress:
            progress(o.experiment)

    from nas.candidates import GENERATION_LOG, CandidateMaker

    stopped, ran_to_end = None, False
    maker = None
    try:
        # at once: what a resume collected is kept even if this driver dies before a
        # trial changes, and an unwritable log dir shows before anything launches; a
        # journal left by an earlier driver goes into a new snapshot
        saver.save(experiment, orchestrator.generation_strategy,
                   snapshot=store.journal_lines > 0)
        at_budget(orchestrator)  # a resumed search may have spent it already
        # spent before the loop: it launches nothing (and waits for re-attached jobs)
        launches = (total_trials - trials_still_to_run(experiment, total_trials)
                    if budget_said else total_trials)
        maker = CandidateMaker(orchestrator.generation_strategy, store.path.parent / GENERATION_LOG)
        saver.maker = maker
        global_stop = run_search(orchestrator, launches, maker, on_change=on_change,
                                 ignore_global_stopping=control.ignore_global_stopping)
        ran_to_end = True
        stopped = ended_early(orchestrator, total_trials, control, global_stop)
    except BudgetSpent:
        stopped = ended_early(orchestrator, total_trials, control)
        cancel_running_jobs(orchestrator, "time budget spent")
    except (KeyboardInterrupt, Interrupted) as e:
        stopped = Stop(EXIT_INTERRUPTED, f"interrupted ({str(e) or 'SIGINT'})", interrupted=True)
    except SaveFailed as e:
        stopped = Stop(1, str(e), saved=False)
    except AxError as e:  # e.g. too many failed trials
        stopped = Stop(1, error_line(e, None))
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut this short
            signal.signal(sig, signal.SIG_IGN)
        if maker is not None:  # a candidate being made is dropped; ready ones are CANDIDATE trials
            maker.close()
            saver.maker = None
        cancel_running_jobs(orchestrator, "search stopped" if stopped else "driver failed")
        try:
            if stopped is None or stopped.saved:  # a finished search is one file
                saver.ended = (stopped.why if stopped else "finished" if ran_to_end
                               else "the driver failed")
                saver.save(experiment, orchestrator.generation_strategy, snapshot=True)
        except SaveFailed as e:
            stopped = Stop(1, str(e), saved=False)
        if warm_server is not None:
            warm_server.stop()
    return stopped


def ended_early(orchestrator: Orchestrator, total_trials: int, control: Control,
                global_stop: str | None = None) -> Stop | None:
    """The Stop of a search whose loop ended with trials still to run because its time
    budget was spent or Ax's global stopping strategy stopped it (`global_stop`: its
    reason, as it said when it stopped the launches); None otherwise."""
    from nas.orchestration import trials_still_to_run

    experiment = orchestrator.experiment
    if not trials_still_to_run(experiment, total_trials) and not orchestrator.running_trials:
        return None
    if control.budget is not None and control.budget.spent():
        return Stop(0, control.budget.ended(trials_done(experiment), total_trials))
    if global_stop is not None:
        return Stop(0, f"{GLOBAL_STOPPING_PREFIX}: {one_line(global_stop, None)}")
    return None


GLOBAL_STOPPING_PREFIX = "stopped by global stopping"


def trials_done(experiment: Experiment) -> int:
    """Trials that ended and count toward the budget."""
    from nas.report.summary import finished, trial_counts

    return finished(trial_counts(experiment))


def start_warm_server(scheduler: str, script: str | Path,
                      trials_dir: str | Path) -> WarmServer | None:
    """Local jobs fork from a process that has imported the training `script` and so its
    libraries (nas/jobs/warm_start.py; their launcher finds it through `trials_dir`, the
    trials' log dir); other schedulers start their jobs as usual. None if `scheduler` is
    not local, or if the script cannot be started so (the console says why, once)."""
    from nas.jobs.schedulers import jobs_for
    from nas.jobs.warm_start import WarmServer, why_not_warm

    if not jobs_for(scheduler).warm_start:
        return None
    if why := why_not_warm(script):
        log.info(f"note: {why}: its trials start cold, each importing its libraries itself")
        return None
    return WarmServer(trials_dir, script)


def cancel_running_jobs(orchestrator: Orchestrator, why: str) -> None:
    """Stop every running trial's job and mark the trial ABANDONED (replaced on resume)."""
    running = list(orchestrator.running_trials)
    if running:
        log.warning(f"Cancelling the jobs of the running trials {[t.index for t in running]} "
                    "(they are run anew, as new trials, on resume)")
    for trial in running:
        cast("NasRunner", orchestrator.experiment.runner).stop(trial, reason=why)
        trial.mark_abandoned(reason=f"{why}; job cancelled", unsafe=True)
