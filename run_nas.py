"""Multi-objective NAS with Ax: the tutorial's search, run as one command.

    python run_nas.py                      # 48 trials, 4 at a time, local_cwd TorchX jobs
    python run_nas.py --trials 8 --max-epochs 1
    python run_nas.py --scheduler slurm --scheduler-cfg partition=cpu --dry-run

`main` reads top to bottom like the tutorial: data, TorchX runner, search space, metrics,
optimization config, experiment, generation strategy, orchestrator, run, results. What
keeps a search alive across drivers (one driver per log dir, saving the state after every
trial state change, stopping cleanly, resuming after a crash) is nas/state/ownership.py and
nas/state/lifecycle.py: running the same command again resumes the search (see README,
"Interrupted runs").
"""

import logging
import sys
import time
import warnings
from pathlib import Path

from nas.cli import fail, parse_args


def main(argv=None):
    args = parse_args(argv)  # bad values end here, exit 2
    start = time.time()
    log_dir = Path(args.log_dir).resolve()
    from nas.state import lifecycle
    from nas.state.ownership import own_log_dir

    if not args.dry_run:  # a dry run launches and writes nothing: it needs no lock
        # This driver owns the search in log_dir until it exits (another one: exit 2).
        own_log_dir(log_dir, fresh=args.fresh)

    from nas.report.provenance import git_state

    code_at_start = git_state()  # the results record it if the checkout changes meanwhile
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's, at import
    from nas.data import DataError, prepare_mnist
    from nas.orchestration import (
        SearchMismatch, make_experiment, make_generation_strategy, make_orchestrator,
        set_generation_threads,
    )
    from nas.report.console import print_failed_reasons, print_summary, status_line
    from nas.report.progress import Progress
    from nas.report.writer import write_results
    from nas.report.summary import trial_counts
    from nas.state.storage import STATE_FILE

    quiet_ax_logs()
    if args.dry_run:
        return dry_run(args, log_dir)

    # 1. Data: present once, before any trial starts.
    try:
        data_cache = prepare_mnist(args.data_dir, log_dir / "data")
    except DataError as e:
        fail(str(e))

    state_file = log_dir / STATE_FILE
    saved = lifecycle.load_saved_search(state_file, args.strategy)
    if saved:  # 2-7 as saved: runner, experiment, generation strategy
        experiment, generation_strategy = saved
        counts = status_line(trial_counts(experiment), args.trials)
        print(f"Resuming the search saved in {state_file}: {counts}")
    else:
        # 2. TorchX runner: the trainer component on the chosen scheduler.
        runner = make_runner(args, log_dir, data_cache)
        # 3-6. Search space, metrics, optimization config, experiment.
        experiment = make_experiment(runner, max_epochs=args.max_epochs,
                                     early_stopping=args.early_stopping is not None)
        # 7. Generation strategy: Sobol, then BoTorch.
        generation_strategy = make_generation_strategy(
            experiment, args.trials, args.max_pending, seed=args.seed, strategy=args.strategy
        )

    # 8. Orchestrator; candidates are generated with one torch thread (the jobs own the cores).
    set_generation_threads()
    try:
        orchestrator = make_orchestrator(experiment, generation_strategy, args.max_pending,
                                         early_stopping=args.early_stopping)
    except SearchMismatch as e:  # --early-stopping on a search saved without it
        fail(f"{state_file}: {e}")
    lifecycle.take_over_jobs(orchestrator)  # jobs an earlier driver left behind
    if args.early_stopping is not None:
        from nas.early_stopping import describe

        print(describe(args.early_stopping))

    # 9. Run: the state is saved after every trial state change; a stop cancels the jobs.
    stopped = lifecycle.run_owned_search(orchestrator, args.trials,
                                         Progress(args.trials, start, experiment),
                                         warm_start=args.warm_start)
    if stopped and not stopped.saved:  # the results would not be written either
        fail_run(f"{stopped.why}; free space or make {log_dir} writable, then run the same "
                 "command again to resume", stopped.status)

    # 10. Results.
    files, summary = write_results(experiment, args.results_dir,
                                   run_info={"strategy": args.strategy, "seed": args.seed,
                                             "driver_seconds": time.time() - start,
                                             "code_at_start": code_at_start})
    print_summary(summary, args.trials, time.time() - start, files)
    if stopped:
        print_failed_reasons(summary)
        fail_run(f"search stopped ({stopped.why}); the state is saved in {state_file}: "
                 "run the same command again to resume", stopped.status)


def fail_run(message, status):
    print(f"run_nas.py: {message}", file=sys.stderr)
    sys.exit(status)


def make_runner(args, log_dir, data_cache):
    """The trials' scheduler, resources and paths; paths absolute, as remote jobs need them."""
    from nas.jobs.cluster import mount_tokens
    from nas.runner import NasRunner

    component_args = {"data_cache": str(Path(data_cache).resolve())}
    flags = {"image": args.image, "cpu": args.cpu, "threads": args.cpu, "memMB": args.mem_mb,
             "gpu": args.gpu, "mounts": mount_tokens(args.mount) or None}
    component_args.update({k: v for k, v in flags.items() if v is not None})
    return NasRunner(scheduler=args.scheduler, log_dir=log_dir / "trials",
                     component_args=component_args, cfg=args.scheduler_cfg)


def dry_run(args, log_dir):
    """Print the first trials' TorchX requests (nas/jobs/dryrun.py); launch and write nothing."""
    from nas.data import cache_path, missing_files
    from nas.jobs.dryrun import first_trials, print_dry_run
    from nas.state.storage import STATE_FILE

    state_file = log_dir / STATE_FILE
    if state_file.exists():
        print(f"note: {state_file} holds a saved search; without --dry-run it is resumed "
              "with its saved scheduler settings, not these", file=sys.stderr)
    cache = cache_path(log_dir / "data")
    if not cache.exists() and missing_files(args.data_dir):
        print(f"note: MNIST is not in {args.data_dir}; a real run downloads it first",
              file=sys.stderr)
    runner = make_runner(args, log_dir, cache)
    trials = first_trials(runner, args.max_epochs, args.trials, args.max_pending, args.seed)
    try:
        print_dry_run(runner, trials)
    except ImportError as e:  # e.g. the kubernetes client renders the Volcano job
        from nas.jobs.cluster import install_hint

        fail(f"TorchX's {args.scheduler} scheduler needs the module {e.name!r}, not installed "
             f"here; {install_hint(args.scheduler, e)}")


def quiet_ax_logs():
    """Our progress lines replace Ax's INFO chatter; warnings still show."""
    from ax.utils.common.logger import set_ax_logger_levels

    set_ax_logger_levels(logging.WARNING)
    logging.getLogger("torchx").setLevel(logging.WARNING)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime"
    # BoTorch's note that one of its 20 restarts stopped early; the candidate is still used
    warnings.filterwarnings("ignore", message="Optimization failed", category=RuntimeWarning)
    # exp_to_df's feasibility check, once per early-stopped trial and call: such a trial
    # has no num_params (the job logs it after training); the table shows it stopped
    logging.getLogger("ax.service.utils.best_point").setLevel(logging.ERROR)


if __name__ == "__main__":
    main()
