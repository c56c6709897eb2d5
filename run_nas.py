"""Multi-objective NAS with Ax: the search a config file declares, run as one command.

    python run_nas.py                      # the tutorial's: 48 trials, 4 at a time, local_cwd jobs
    python run_nas.py --trials 8 --fix epochs=1
    python run_nas.py --config examples/spirals/search.toml --check
    python run_nas.py --scheduler slurm --scheduler-cfg partition=cpu --dry-run
    python run_nas.py --report             # the results files of the search in results/, now

`main` reads top to bottom like the tutorial: the search config (nas/config.py; the
tutorial's is nas/tutorial.toml), its data, the TorchX runner, the experiment (search
space, metrics, optimization config), the generation strategy, the orchestrator, the
run, the results. What keeps a search alive across drivers (one driver per log dir,
saving the state after every trial state change, stopping cleanly, resuming after a
crash) is nas/state/: running the same command again resumes the search (README,
"Interrupted runs"). While it runs, the results page is kept current; `--report`
writes it from the saved state in another process (README, "Follow a running search").
The layers below raise `NasError`s; this file turns them into one line on stderr and an
exit status.
"""

import atexit
import datetime as dt
import gc
import logging
import os
import socket
import sys
import time
import warnings
from pathlib import Path

from nas.cli import fail, parse_args
from nas.errors import NasError


def main(argv=None):
    try:
        run(argv)
    except NasError as e:  # one line; 2: refused before anything started, 1: the run failed
        fail(str(e), e.exit_status)


def run(argv=None):
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's, at import
    args = parse_args(argv)  # bad flags and bad config files end here, exit 2
    config = args.config
    start = time.time()
    log_dir = Path(args.log_dir).resolve()
    if args.check:
        return check(args, log_dir)
    if args.report:  # before the lock: a report never takes it
        return report(args, log_dir)
    from nas.state import lifecycle
    from nas.state.ownership import own_log_dir

    if not args.dry_run:  # a dry run launches and writes nothing: it needs no lock
        # This driver owns the search in log_dir until it exits (another one: exit 2).
        own_log_dir(log_dir, fresh=args.fresh)

    from nas.report.provenance import git_state

    code_at_start = git_state()  # the results record it if the checkout changes meanwhile
    from nas.jobs.prepare import run_prepare
    from nas.orchestration import make_experiment, make_orchestrator, saved_run_info
    from nas.generation import make_generation_strategy, set_generation_threads
    from nas.report.console import print_failed_reasons, print_summary, status_line
    from nas.report.progress import Progress
    from nas.report.summary import search_status, trial_counts
    from nas.report.writer import write_results
    from nas.state.storage import STATE_FILE, StateStore, load_state

    quiet_ax_logs()
    if args.dry_run:
        return dry_run(args, log_dir)

    # 1. Data: the search's own [prepare] command, once, before any trial starts.
    run_prepare(config, args.data_dir, log_dir)

    state_file = log_dir / STATE_FILE
    store = StateStore(state_file)
    saved = lifecycle.load_saved_search(store, args.strategy, config)
    if saved:  # 2-7 as saved: runner, experiment, generation strategy
        experiment, generation_strategy = saved
        counts = status_line(trial_counts(experiment), args.trials)
        print(f"Resuming the search saved in {state_file}: {counts}")
    else:
        # 2. TorchX runner: the trainer component on the chosen scheduler.
        runner = make_runner(args, log_dir)
        # 3-6. Search space, metrics, optimization config, experiment.
        experiment = make_experiment(config, runner, early_stopping=args.early_stopping is not None)
        # 7. Generation strategy: Sobol, then BoTorch.
        generation_strategy = make_generation_strategy(
            experiment, args.trials, args.max_pending, seed=args.seed, strategy=args.strategy,
            generation=args.generation)

    # 8. Orchestrator; candidates are generated with one torch thread (the jobs own the cores).
    set_generation_threads()
    orchestrator = make_orchestrator(experiment, generation_strategy, args.max_pending,
                                     early_stopping=args.early_stopping,
                                     last_step=config.last_step)
    lifecycle.take_over_jobs(orchestrator)  # jobs an earlier driver left behind
    if args.early_stopping is not None:
        from nas.early_stopping import describe, first_objective

        print(describe(args.early_stopping, first_objective(experiment)))

    # 9. Run: the state is saved after every trial state change; a stop cancels the jobs.
    # After every trial that ended, the results page is rewritten without the model fits.
    best = {m.name: m.best for m in config.metrics.values()}

    def info():
        return run_info(args, start, code_at_start)

    def live_page(experiment):
        now = info()
        write_results(experiment, args.results_dir, config, run_info=now, models=False,
                      status=search_status(experiment, now, driver=now["driver"]))

    stopped = lifecycle.run_owned_search(orchestrator, store, args.trials,
                                         Progress(args.trials, start, experiment, best=best,
                                                  last_step=config.last_step),
                                         warm_start=args.warm_start, run_info=info,
                                         live_page=live_page)
    if stopped and not stopped.saved:  # the results would not be written either
        fail_run(f"{stopped.why}; free space or make {log_dir} writable, then run the same "
                 "command again to resume", stopped.status)

    # 10. Results, from the state as saved at the end (its numbers as the file holds them,
    # the run info with how the search ended): --report on that state writes the same files.
    experiment, _ = load_state(state_file)
    files, summary = write_results(experiment, args.results_dir, config,
                                   run_info=saved_run_info(experiment))
    print_summary(summary, args.trials, time.time() - start, files)
    if stopped:
        print_failed_reasons(summary)
        fail_run(f"search stopped ({stopped.why}); the state is saved in {state_file}: "
                 "run the same command again to resume", stopped.status)


def run_info(args, start, code_at_start):
    """What the results record of this run of the driver (saved with the state)."""
    from nas.config import as_dict

    started = dt.datetime.fromtimestamp(start).isoformat(timespec="seconds")
    return {"strategy": args.strategy, "generation": args.generation, "seed": args.seed,
            "driver_seconds": time.time() - start,
            "code_at_start": code_at_start, "config": as_dict(args.config),
            "trials": args.trials,
            "driver": {"pid": os.getpid(), "host": socket.gethostname(), "started": started}}


def report(args, log_dir):
    """--report: every results file from the search saved in log_dir, finished, stopped or
    running under another driver now (nas/state/watch.py: no lock, no state written, no
    job launched); the model fits with the driver's one torch thread, so that they match."""
    from nas.generation import set_generation_threads
    from nas.report.console import status_text
    from nas.report.summary import search_status
    from nas.report.writer import write_results
    from nas.state.watch import read_saved_search, running_driver

    quiet_ax_logs()
    experiment, info, saved_at = read_saved_search(log_dir, args.config)
    driver = running_driver(log_dir, info)
    # while it runs, the saved state lags its driver a little: the page says as of when
    status = search_status(experiment, info, driver=driver, saved_at=saved_at if driver else None)
    set_generation_threads()
    files, summary = write_results(experiment, args.results_dir, args.config, run_info=info,
                                   status=status)
    print(f"--report on {log_dir}: {status_text(summary.status, summary.provenance['generated'])}")
    for what, path in files.items():
        print(f"  {what:18s} {path}")


def fail_run(message, status):
    print(f"run_nas.py: {message}", file=sys.stderr)
    sys.exit(status)


def make_runner(args, log_dir, trials_dir=None):
    """The trials' script, scheduler and resources (nas/runner.py); the trials log under
    `trials_dir` (default LOG_DIR/trials)."""
    from nas.jobs.cluster import mount_tokens
    from nas.jobs.prepare import cache_dir
    from nas.runner import make_runner

    resources = {"image": args.image, "cpu": args.cpu, "threads": args.cpu, "memMB": args.mem_mb,
                 "gpu": args.gpu, "mounts": mount_tokens(args.mount) or None}
    return make_runner(args.config, args.scheduler, trials_dir or log_dir / "trials", args.data_dir,
                       cache_dir(log_dir), resources, args.scheduler_cfg)


def dry_run(args, log_dir):
    """Print the first trials' TorchX requests (nas/jobs/dryrun.py); launch and write nothing."""
    from nas.jobs.dryrun import first_trials, print_dry_run
    from nas.jobs.prepare import is_prepared, prepare_command
    from nas.state.storage import STATE_FILE

    state_file = log_dir / STATE_FILE
    if state_file.exists():
        print(f"note: {state_file} holds a saved search; without --dry-run it is resumed "
              "with its saved scheduler settings, not these", file=sys.stderr)
    command = prepare_command(args.config, args.data_dir, log_dir)
    if command and not is_prepared(args.config, args.data_dir, log_dir):
        print(f"note: a real run first runs the config's [prepare] command: {' '.join(command)}",
              file=sys.stderr)
    runner = make_runner(args, log_dir)
    trials = first_trials(runner, args.config, args.trials, args.max_pending, args.seed)
    try:
        print_dry_run(runner, trials)
    except ImportError as e:  # e.g. the kubernetes client renders the Volcano job
        from nas.jobs.cluster import install_hint

        fail(f"TorchX's {args.scheduler} scheduler needs the module {e.name!r}, not installed "
             f"here; {install_hint(args.scheduler, e)}")


def check(args, log_dir):
    """--check: one trial of the config, its metrics' tags looked up in its log
    (nas/jobs/check.py); exit status 1 on any problem."""
    from nas.jobs.check import check_config
    from nas.jobs.prepare import run_prepare

    quiet_ax_logs()
    run_prepare(args.config, args.data_dir, log_dir)
    runner = make_runner(args, log_dir, trials_dir=log_dir / "check")
    if not check_config(args.config, runner, seed=args.seed):
        sys.exit(1)


def quiet_ax_logs():
    """Our progress lines replace Ax's INFO chatter; warnings still show."""
    from ax.utils.common.logger import set_ax_logger_levels

    set_ax_logger_levels(logging.WARNING)
    logging.getLogger("torchx").setLevel(logging.WARNING)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime"
    # BoTorch's note that one of its 20 restarts stopped early; the candidate is still used
    warnings.filterwarnings("ignore", message="Optimization failed", category=RuntimeWarning)
    # exp_to_df's feasibility check, once per early-stopped trial and call: such a trial
    # has no value of the objectives it logs after training; the table shows it stopped
    logging.getLogger("ax.service.utils.best_point").setLevel(logging.ERROR)


if __name__ == "__main__":
    # At exit, the interpreter's garbage collection passes over every object that Ax's and
    # torch's imports made: 2.3 s of a driver's end here (0.4 s frozen). Frozen, they are
    # still freed and their files closed as the modules are cleared; only cycles are not
    # collected, which the interpreter does not promise at exit either.
    atexit.register(gc.freeze)
    main()
