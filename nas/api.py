"""The Python API: a search declared by a config, run, checked, resumed and reported from
a notebook or a script, with what run_nas.py does (one owner per log dir, the state saved
after every trial change, resuming, the live page, the results files).

    import nas

    search = nas.Search.from_config("search.toml", trials=8, max_pending=2, fix={"epochs": 1},
                                    log_dir="runs/logs", results_dir="runs/results", seed=0)
    result = search.run()     # blocks; resumes a search saved in log_dir
    result.state              # "finished" or "stopped" (why: result.stopped_because)
    result.table              # experiment.csv's rows and columns
    result.pareto             # the Pareto-optimal trials
    result.hypervolume
    result.write_report()     # the results files, as run_nas.py writes them: their paths
    nas.load("runs/logs", config="search.toml")   # a SearchResult from the saved state

`from_config` takes the config file's path or a dict in the file's shape, and every
option of run_nas.py that changes the search as a keyword. The library prints nothing:
what a running search has to say goes to the `nas` logger (nas/messages.py), progress
to the `progress` callback of `run`. Errors are `nas.NasError`s. Interrupting `run`
(Ctrl-C, a notebook's interrupt, SIGTERM) cancels the running jobs, saves, and raises
`SearchInterrupted`, a KeyboardInterrupt holding the result; the signal handlers are
put back as they were when `run` returns or raises.

The layers below: the config (nas/config.py) -> the runner, experiment and generation
strategy (nas/runner.py, nas/orchestration.py, nas/generation.py) -> the lifecycle of an
owned search (nas/state/) -> one summary (nas/report/summary.py) -> the files
(nas/report/writer.py).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.budget import TimeBudget
from nas.config import SearchConfig, load_config
from nas.errors import NasError
from nas.jobs.cluster import OptionError, check_mounts, parse_scheduler_cfg
from nas.messages import log, option, quiet_libraries

if TYPE_CHECKING:
    from ax.core.experiment import Experiment

    from nas.jobs.check import CheckResult
    from nas.jobs.warm_start import WarmServer
    from nas.report.summary import RunSummary, SearchStatus
    from nas.runner import NasRunner
    from nas.state.lifecycle import Stop

STRATEGIES = ("botorch", "sobol")


class SearchFailed(NasError):
    """The search stopped and its state could not be saved, or Ax gave up on it; the
    message says why and what to do."""
    exit_status = 1


class SearchInterrupted(KeyboardInterrupt):
    """The search was interrupted (Ctrl-C, a notebook's interrupt, SIGTERM): its jobs were
    cancelled and its state saved; `result` is the SearchResult as it stopped. Running the
    same search again resumes it."""

    def __init__(self, result: SearchResult) -> None:
        super().__init__(result.stopped_because)
        self.result = result


@dataclass(frozen=True)
class SearchOptions:
    """Everything besides the config that decides how a search runs: what run_nas.py's
    flags set, checked and typed."""
    trials: int
    max_pending: int
    seed: int | None
    log_dir: Path
    results_dir: Path
    data_dir: Path
    scheduler: str = "local_cwd"
    scheduler_cfg: Mapping[str, Any] = field(default_factory=dict)
    image: str | None = None
    cpu: int | None = None
    mem_mb: int | None = None
    gpu: int | None = None
    mounts: tuple[str, ...] = ()
    strategy: str = "botorch"
    generation: str = "fast"
    warm_start: bool = True
    early_stopping: Mapping[str, float] | None = None
    fresh: bool = False
    time_budget: float | None = None  # seconds for the whole search (nas/budget.py)
    time_budget_stop: bool = False  # running trials stopped when it is spent
    global_stopping: Mapping[str, Any] | None = None  # Ax's ImprovementGlobalStoppingStrategy
    ignore_global_stopping: bool = False
    import_from: tuple[Path, ...] = ()  # earlier searches' log dirs (nas/imports.py)
    import_fix: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        """The trial jobs' resources as the runner takes them (None: the default)."""
        from nas.jobs.cluster import mount_tokens

        return {"image": self.image, "cpu": self.cpu, "threads": self.cpu, "memMB": self.mem_mb,
                "gpu": self.gpu, "mounts": mount_tokens(self.mounts) or None}


@dataclass
class DryRunTrial:
    index: int
    parameters: dict[str, Any]
    request: Any  # TorchX's AppDryRunInfo: what would be submitted


@dataclass
class DryRun:
    """What `Search.dry_run` shows: the first trials' TorchX requests on a scheduler with
    its resolved run options, and notes (a saved search, a [prepare] still to run)."""
    scheduler: str
    run_options: dict[str, Any]
    trials: list[DryRunTrial]
    notes: list[str]
    warnings: list[str]  # what would refuse a real run (jobs would not see the log dir)


class SearchResult:
    """A search as its saved state holds it: from `Search.run` when it returned, or from
    `nas.load` at any moment. `state`: "finished", "stopped" or "running" (under another
    driver now); `stopped_because`: why it stopped (None otherwise)."""

    def __init__(self, experiment: Experiment, config: SearchConfig, results_dir: Path,
                 run_info: dict[str, Any], status: SearchStatus | None = None,
                 files: dict[str, Path] | None = None, summary: RunSummary | None = None) -> None:
        from nas.report.summary import search_status, summarize

        self.experiment = experiment
        self.config = config
        self.results_dir = Path(results_dir)
        self.run_info = run_info
        self.status = status or search_status(experiment, run_info)
        self.files = files or {}
        self.summary = summary or summarize(experiment, run_info, config, self.status)
        self.seconds: float | None = None  # how long the run that returned it took
        self.exit_status = 0  # run_nas.py's: 1 if Ax gave up on the search

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def stopped_because(self) -> str | None:
        return self.status.why

    @property
    def table(self) -> Any:
        """experiment.csv's rows and columns (a pandas DataFrame)."""
        return self.summary.table

    @property
    def pareto(self) -> Any:
        """The Pareto-optimal trials: index, parameters, objectives (a DataFrame)."""
        return self.summary.pareto_optimal

    @property
    def hypervolume(self) -> float:
        """As run_summary.json has it: of the observed feasible points."""
        return self.summary.hypervolume

    def write_report(self, results_dir: str | Path | None = None) -> dict[str, Path]:
        """Every results file (tables, plots, index.html, run_summary.json), as run_nas.py
        writes them, into `results_dir` (default: the search's); {what: path}."""
        from nas.generation import set_generation_threads
        from nas.report.writer import write_results

        with generation_threads(set_generation_threads), quiet_libraries():
            files, self.summary = write_results(
                self.experiment, Path(results_dir or self.results_dir), self.config,
                run_info=self.run_info, status=self.status)
        self.files = files
        return files

    def __repr__(self) -> str:
        return (f"<SearchResult {self.config.name!r}: {self.state}, "
                f"{self.status.done} of {self.status.total} trials done>")


class Search:
    """A search: its config and options. `run` runs it (or resumes the one saved in its
    log dir), `check` runs one trial and reports its metrics, `dry_run` shows what would
    be submitted."""

    def __init__(self, config: SearchConfig, options: SearchOptions) -> None:
        self.config, self.options = config, options

    @classmethod
    def from_config(cls, config: str | Path | Mapping[str, Any], *, trials: int | None = None,
                    max_pending: int | None = None, fix: Mapping[str, Any] | None = None,
                    seed: int | None = None, log_dir: str | Path | None = None,
                    results_dir: str | Path = "results", data_dir: str | Path | None = None,
                    scheduler: str = "local_cwd",
                    scheduler_cfg: str | Mapping[str, Any] | None = None,
                    image: str | None = None, cpu: int | None = None, mem_mb: int | None = None,
                    gpu: int | None = None, mounts: Iterable[str] = (),
                    strategy: str = "botorch", generation: str = "fast",
                    warm_start: bool = True,
                    early_stopping: bool | str | Mapping[str, float] | None = None,
                    fresh: bool = False, time_budget: str | float | None = None,
                    time_budget_stop: bool = False,
                    global_stopping: str | Mapping[str, Any] | None = None,
                    ignore_global_stopping: bool = False,
                    import_from: str | Path | Iterable[str | Path] = (),
                    import_fix: Mapping[str, Any] | None = None) -> Search:
        """The search `config` declares (a TOML file's path, or a dict in its shape), with
        run_nas.py's options as keywords: `trials`, `max_pending`, `seed` (default: the
        config's [search]), `fix` ({parameter: value}), the folders (`log_dir` default:
        RESULTS_DIR/logs; `data_dir` default: $PATH_DATASETS, else "."), the scheduler and
        its run options (a dict or "k=v,k=v"), the jobs' resources and mounts, `strategy`
        ("botorch" or "sobol"), `generation` ("fast" or "ax"), the launcher's
        `warm_start`, `early_stopping` (True, or its options as a dict or "k=v,k=v"),
        `fresh` (move an earlier search aside); search control: `time_budget` ("4h",
        "90s", or seconds; default: the config's [search] time_budget) and
        `time_budget_stop` (stop the running trials when it is spent),
        `global_stopping` (Ax's ImprovementGlobalStoppingStrategy's arguments as a dict or
        "k=v,k=v"; default: the config's [search.global_stopping]),
        `ignore_global_stopping` (no global stopping asked),
        `import_from` (earlier searches' log dirs, whose completed trials this new search
        starts from) and `import_fix` ({parameter: value} for parameters they lack).
        Raises NasError (ConfigError, ...)."""
        from nas.generation import GENERATIONS

        loaded = load_config(dict(config) if isinstance(config, Mapping) else config,
                             dict(fix or {}))
        trials = trials or loaded.trials
        if trials is None:
            raise OptionError(f"no trial budget: set [search] trials in {loaded.source} or "
                              f"pass {option('trials')}")
        for name, value in (("trials", trials), ("max_pending", max_pending)):
            if value is not None and (type(value) is not int or value < 1):
                raise OptionError(f"{name} must be a whole number >= 1, got {value!r}")
        if strategy not in STRATEGIES:
            raise OptionError(f"{option('strategy')} {strategy!r}: use one of {', '.join(STRATEGIES)}")
        if generation not in GENERATIONS:
            raise OptionError(f"generation {generation!r}: use one of {', '.join(GENERATIONS)}")
        cfg = parse_scheduler_cfg(scheduler, scheduler_cfg or "")
        mounts = tuple(mounts)
        check_mounts(list(mounts))
        results = Path(results_dir)
        budget = loaded.time_budget
        if time_budget is not None:
            from nas.budget import EXAMPLES, parse_duration

            try:
                budget = parse_duration(time_budget)
            except ValueError:
                raise OptionError(f"{option('time_budget')} {time_budget!r}: expected a "
                                  f"duration such as {EXAMPLES}") from None
        if isinstance(import_from, str | Path):
            import_from = [import_from]
        options = SearchOptions(
            trials=trials, max_pending=max_pending or loaded.max_pending,
            seed=loaded.seed if seed is None else seed,
            log_dir=Path(log_dir or results / "logs").resolve(), results_dir=results,
            data_dir=Path(data_dir or os.environ.get("PATH_DATASETS", ".")),
            scheduler=scheduler, scheduler_cfg=cfg, image=image, cpu=cpu, mem_mb=mem_mb,
            gpu=gpu, mounts=mounts, strategy=strategy, generation=generation,
            warm_start=warm_start, early_stopping=early_stopping_options(early_stopping),
            fresh=fresh, time_budget=budget, time_budget_stop=time_budget_stop,
            global_stopping=(loaded.global_stopping if global_stopping is None
                             else global_stopping_arguments(global_stopping)),
            ignore_global_stopping=ignore_global_stopping,
            import_from=tuple(Path(d).resolve() for d in import_from),
            import_fix=dict(import_fix or {}))
        return cls(loaded, options)

    # --- checks before anything starts ---------------------------------------------

    def shared_path_problems(self) -> list[str]:
        """Why jobs on the scheduler would not see the log dir as the driver does."""
        from nas.jobs.cluster import shared_path_problems

        o = self.options
        return shared_path_problems(o.scheduler, str(o.log_dir), list(o.mounts), o.image)

    def check_runnable(self) -> None:
        """What must hold before jobs are submitted: jobs see the log dir, the scheduler
        answers (Slurm's controller up), the folders can be written. OptionError else."""
        from nas.jobs.schedulers import jobs_for

        if problems := self.shared_path_problems():
            raise OptionError("; ".join(problems))
        if problem := jobs_for(self.options.scheduler).problem():
            from nas.jobs.schedulers import SchedulerUnavailable

            raise SchedulerUnavailable(problem)
        check_writable("results_dir", self.options.results_dir)
        check_writable("log_dir", self.options.log_dir)

    def trials_dir(self) -> Path:
        """Where the trials log (under the log dir)."""
        return self.options.log_dir / "trials"

    def make_runner(self, trials_dir: Path | None = None) -> NasRunner:
        """The trials' script, scheduler and resources (nas/runner.py); the trials log
        under `trials_dir` (default LOG_DIR/trials)."""
        from nas.jobs.prepare import cache_dir
        from nas.runner import make_runner

        o = self.options
        return make_runner(self.config, o.scheduler, trials_dir or self.trials_dir(),
                           o.data_dir, cache_dir(o.log_dir), o.resources, dict(o.scheduler_cfg))

    # --- running ---------------------------------------------------------------------

    def run(self, progress: Callable[[Experiment], None] | None = None) -> SearchResult:
        """Run the search to its end (or resume the one saved in the log dir), owning the
        log dir meanwhile; write the results files; the result. `progress(experiment)` is
        called after every poll. SearchInterrupted if interrupted; SearchFailed if the
        state could not be saved. A search Ax gave up on (too many failed trials) returns
        a result whose state is "stopped"."""
        import signal

        from nas.state.ownership import own_log_dir

        self.check_runnable()
        start = time.time()
        # TorchX's local scheduler installs its own handlers when it is made: all are put back
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            # the lock before Ax's and torch's imports: a second driver is refused at once
            with own_log_dir(self.options.log_dir, fresh=self.options.fresh), quiet_libraries():
                from nas.generation import set_generation_threads
                from nas.state.lifecycle import start_warm_server

                o = self.options
                # first: its imports (the training script's: torch, Lightning) overlap
                # with the driver's until the first trials launch, instead of those
                # trials waiting for them
                warm_server = (start_warm_server(o.scheduler, self.config.script,
                                                 self.trials_dir())
                               if o.warm_start else None)
                try:
                    with generation_threads(set_generation_threads):
                        result, stopped = self._run_owned(start, progress, warm_server)
                finally:
                    if warm_server is not None:  # a failure before the search's loop
                        warm_server.stop()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        if stopped and stopped.interrupted:
            raise SearchInterrupted(result)
        return result

    def _run_owned(self, start: float, progress: Callable[[Experiment], None] | None,
                   warm_server: WarmServer | None) -> tuple[SearchResult, Stop | None]:
        """The search, its log dir owned: (its result, the lifecycle's Stop or None)."""
        from nas.generation import make_generation_strategy
        from nas.jobs.prepare import run_prepare
        from nas.orchestration import make_experiment, make_orchestrator, saved_run_info
        from nas.report.provenance import git_state
        from nas.report.summary import search_status, trial_counts
        from nas.report.text import status_line
        from nas.report.writer import write_results
        from nas.state import lifecycle
        from nas.state.storage import STATE_FILE, StateStore, load_state

        config, o = self.config, self.options
        code_at_start = git_state()  # the results record it if the checkout changes
        run_prepare(config, o.data_dir, o.log_dir)  # the search's data, once
        state_file = o.log_dir / STATE_FILE
        store = StateStore(state_file)
        saved = lifecycle.load_saved_search(store, o.strategy, config)
        if saved:
            experiment, generation_strategy = saved
            counts = status_line(trial_counts(experiment), o.trials)
            log.info(f"Resuming the search saved in {state_file}: {counts}")
            before = saved_run_info(experiment)
            check_same_imports(before, o.import_from, state_file)
        else:
            before = {}
            experiment = make_experiment(config, self.make_runner(),
                                         early_stopping=o.early_stopping is not None)
            imported = self.import_trials(experiment)
            generation_strategy = make_generation_strategy(
                experiment, o.trials, o.max_pending, seed=o.seed, strategy=o.strategy,
                generation=o.generation, imported=imported)
        orchestrator = make_orchestrator(experiment, generation_strategy, o.max_pending,
                                         early_stopping=o.early_stopping,
                                         last_step=config.last_step,
                                         global_stopping=o.global_stopping)
        used_before = float(before.get("search_seconds") or 0.0)
        control = lifecycle.Control(
            budget=TimeBudget(o.time_budget, used_before, start) if o.time_budget else None,
            stop_running=o.time_budget_stop, ignore_global_stopping=o.ignore_global_stopping)
        if (before.get("ended") or "").startswith(lifecycle.GLOBAL_STOPPING_PREFIX) \
                and not o.ignore_global_stopping:
            log.info(f"note: this search was {before['ended']}; it ends again at once unless "
                     f"global stopping is ignored ({option('ignore_global_stopping')})")
        lifecycle.take_over_jobs(orchestrator)  # jobs an earlier driver left behind
        if o.early_stopping is not None:
            from nas.early_stopping import describe
            from nas.trial_data import first_objective

            log.info(describe(o.early_stopping, first_objective(experiment)))

        def info() -> dict[str, Any]:
            return {**self.run_info(start, code_at_start),
                    "search_seconds": used_before + time.time() - start}

        def live_page(experiment: Experiment) -> None:
            now = info()
            write_results(experiment, o.results_dir, config, run_info=now, models=False,
                          status=search_status(experiment, now, driver=now["driver"]))

        stopped = lifecycle.run_owned_search(orchestrator, store, o.trials, progress,
                                             warm_server=warm_server, run_info=info,
                                             live_page=live_page, control=control)
        if stopped and not stopped.saved:  # the results would not be written either
            raise SearchFailed(f"{stopped.why}; free space or make {o.log_dir} writable, "
                               f"then {option('rerun')} to resume")
        # the results from the state as saved at the end: a report of that state
        # (nas.load) writes the same files
        experiment, _ = load_state(state_file)
        run_info = saved_run_info(experiment)
        status = search_status(experiment, run_info)
        files, summary = write_results(experiment, o.results_dir, config, run_info=run_info,
                                       status=status)
        result = SearchResult(experiment, config, o.results_dir, run_info, status, files, summary)
        result.seconds = time.time() - start
        result.exit_status = stopped.status if stopped else 0
        return result, stopped

    def import_trials(self, experiment: Any) -> int:
        """The completed trials of the earlier searches `import_from` names, added to a new
        search's `experiment` (nas/imports.py); how many."""
        from nas.imports import describe, import_trials

        total = 0
        for log_dir in self.options.import_from:
            imported, skipped = import_trials(experiment, log_dir, dict(self.options.import_fix))
            log.info(describe(log_dir, imported, skipped, self.options.trials))
            total += imported
        return total

    def run_info(self, start: float, code_at_start: Any) -> dict[str, Any]:
        """What the results record of this run of the driver (saved with the state)."""
        from nas.config import as_dict

        o = self.options
        started = dt.datetime.fromtimestamp(start).isoformat(timespec="seconds")
        return {"strategy": o.strategy, "generation": o.generation, "seed": o.seed,
                "driver_seconds": time.time() - start,
                "code_at_start": code_at_start, "config": as_dict(self.config),
                "config_dict": self.config.raw, "time_budget": o.time_budget,
                "imported_from": [str(d) for d in o.import_from],
                "trials": o.trials,
                "driver": {"pid": os.getpid(), "host": socket.gethostname(), "started": started}}

    # --- one trial, or none -------------------------------------------------------------

    def check(self) -> CheckResult:
        """One trial of the config (its first configuration at this seed) as a real job on
        the scheduler, cold, logging into LOG_DIR/check/0; then whether it logged each
        metric's tag: a nas.jobs.check.CheckResult (`ok`, `metrics`, `job_failure`, ...).
        Nothing of the search is touched."""
        from nas.jobs.check import check_config
        from nas.jobs.prepare import run_prepare

        o = self.options
        self.check_runnable()
        with quiet_libraries():
            run_prepare(self.config, o.data_dir, o.log_dir)
            runner = self.make_runner(trials_dir=o.log_dir / "check")
            return check_config(self.config, runner, seed=o.seed)

    def dry_run(self) -> DryRun:
        """What a new search would submit for its first trials (nas/jobs/dryrun.py):
        nothing is launched or written."""
        from nas.jobs.dryrun import first_trials, requests
        from nas.jobs.prepare import is_prepared, prepare_command
        from nas.state.storage import STATE_FILE

        o = self.options
        notes = [f"{self.options.log_dir / STATE_FILE} holds a saved search; a run resumes it "
                 "with its saved scheduler settings, not these"] if (o.log_dir / STATE_FILE).exists() else []
        command = prepare_command(self.config, o.data_dir, o.log_dir)
        if command and not is_prepared(self.config, o.data_dir, o.log_dir):
            notes.append(f"a real run first runs the config's [prepare] command: {' '.join(command)}")
        warnings = self.shared_path_problems()
        runner = self.make_runner()
        with quiet_libraries():
            trials = first_trials(runner, self.config, o.trials, o.max_pending, o.seed)
            run_options, shown = requests(runner, trials)
        return DryRun(o.scheduler, run_options,
                      [DryRunTrial(t.index, dict(t.arm.parameters), info)  # type: ignore[union-attr]
                       for t, info in shown],  # each trial has its generator run's one arm
                      notes, warnings)


def load(log_dir: str | Path,
         config: str | Path | Mapping[str, Any] | SearchConfig | None = None, *,
         fix: Mapping[str, Any] | None = None,
         results_dir: str | Path | None = None) -> SearchResult:
    """The search saved in `log_dir` as a SearchResult: finished, stopped, or running
    under another driver now (no lock taken, no state written, no job launched). `config`:
    the config it was made from (a path or a dict, as `Search.from_config` takes it; with
    `fix` as it ran); default: the file its saved run info names. `results_dir`: where
    `write_report` writes (default: the log dir's parent)."""
    from nas.config import as_dict
    from nas.report.summary import search_status
    from nas.state.watch import read_saved_search, recorded_config, running_driver

    log_dir = Path(log_dir).resolve()
    if config is None:
        config, fix = recorded_config(log_dir)
    loaded = config if isinstance(config, SearchConfig) else load_config(
        dict(config) if isinstance(config, Mapping) else config, dict(fix or {}))
    experiment, info, saved_at = read_saved_search(log_dir, loaded)
    driver = running_driver(log_dir, info)
    # while it runs, the saved state lags its driver a little: the status says as of when
    status = search_status(experiment, info, driver=driver, saved_at=saved_at if driver else None)
    info = info or {"config": as_dict(loaded)}
    return SearchResult(experiment, loaded, Path(results_dir or log_dir.parent), info, status)


def check_same_imports(run_info: Mapping[str, Any], import_from: Iterable[Path],
                       state_file: Path) -> None:
    """A resumed search keeps the trials it imported when it began; importing other ones
    into it is refused (they would not be the search's start)."""
    wanted = sorted(str(d) for d in import_from)
    if wanted and wanted != sorted(run_info.get("imported_from") or []):
        raise OptionError(f"{state_file} holds a search that began importing "
                          f"{run_info.get('imported_from') or 'nothing'}; imports happen when "
                          f"a search begins: resume it without {option('import_from')}, or "
                          f"start anew with {option('fresh')}")


def global_stopping_arguments(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """Ax's ImprovementGlobalStoppingStrategy's arguments from a dict or "k=v,k=v"
    (nas.config.global_stopping_options checks them)."""
    from nas.config import global_stopping_options

    where = option("global_stopping")
    table: dict[str, Any] = {}
    if isinstance(spec, str):
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise OptionError(f"{where}: {item!r} is not KEY=VALUE")
            text = value.strip()
            table[key.strip()] = (text.lower() == "true" if text.lower() in ("true", "false")
                                  else int(text) if text.lstrip("-").isdigit()
                                  else _number(text, where))
    else:
        table = dict(spec)
    try:
        return global_stopping_options(table, where)
    except ValueError as e:
        raise OptionError(str(e)) from None


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise OptionError(f"{where}: {text!r} is not a number") from None


def early_stopping_options(spec: bool | str | Mapping[str, float] | None) -> dict[str, float] | None:
    """None (off), or the options of Ax's strategy (nas/early_stopping.py) from True (the
    defaults), "k=v,k=v" or a dict."""
    from nas.early_stopping import EarlyStoppingSpecError, parse_spec

    if spec is None or spec is False:
        return None
    text = "" if spec is True else spec if isinstance(spec, str) else ",".join(
        f"{k}={v}" for k, v in dict(spec).items())
    try:
        return parse_spec(text)
    except EarlyStoppingSpecError as e:
        raise OptionError(str(e.args[0])) from None


def check_writable(name: str, folder: str | Path) -> None:
    """`folder` exists as a writable folder, or can be created: its nearest existing
    parent is one. Nothing is created here; the writers create their folders."""
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise OptionError(f"{option(name)} {folder} cannot be created: {existing} is not a "
                          "folder; choose another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created in {existing}"
        raise OptionError(f"{option(name)} {folder} {what}; choose another folder")


class generation_threads:
    """torch's thread count set for the driver's model fits (`setter`) inside the block,
    and put back after: a notebook's torch is left as it was."""

    def __init__(self, setter: Callable[[], None]) -> None:
        self.setter = setter

    def __enter__(self) -> None:
        import torch

        self.before = torch.get_num_threads()
        self.setter()

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_num_threads(self.before)
