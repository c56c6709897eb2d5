"""Multi-objective NAS with Ax: the tutorial's search, run as one command.

    python run_nas.py                      # 48 trials, 4 at a time, local_cwd TorchX jobs
    python run_nas.py --trials 8 --max-epochs 1
    python run_nas.py --scheduler slurm --scheduler-cfg partition=cpu --dry-run

Reads top to bottom like the tutorial: data, TorchX runner, experiment (search space,
metrics, optimization config), generation strategy, orchestration, results. The
search state is saved after every trial state change in LOG_DIR; running the same
command again resumes it (see README, "Interrupted runs").
"""

import logging
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path

from nas.cli import fail, parse_args


def main(argv=None):
    args = parse_args(argv)  # bad values end here, exit 2
    start = time.time()
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's, at import

    from ax.exceptions.core import AxError

    from nas.data import DataError, prepare_mnist
    from nas.orchestration import (
        make_experiment, make_generation_strategy, make_orchestrator, run_search,
        strategy_of, trials_still_to_run,
    )
    from nas.progress import Progress
    from nas.report import write_results
    from nas.processes import stop_untracked_jobs
    from nas.storage import STATE_FILE, load_state, save_state

    quiet_ax_logs()
    log_dir = Path(args.log_dir).resolve()
    state_file = log_dir / STATE_FILE
    if args.dry_run:
        return dry_run(args, log_dir, state_file)
    if args.fresh and state_file.exists():
        backup = log_dir.with_name(f"{log_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(log_dir, backup)
        print(f"--fresh: moved the earlier search's logs and state to {backup}")

    # 1. Data: present once, before any trial starts.
    try:
        data_cache = prepare_mnist(args.data_dir, log_dir / "data")
    except DataError as e:
        fail(str(e))

    # 2-7. Runner, experiment, generation strategy: new, or resumed from the saved state.
    if state_file.exists():
        experiment, generation_strategy = load_state(state_file)
        if strategy_of(generation_strategy) != args.strategy:
            fail(f"the search saved in {state_file} uses --strategy "
                 f"{strategy_of(generation_strategy)}; run it with that, or start anew with --fresh")
        print(f"Resuming the search saved in {state_file}: {status_line(experiment, args.trials)}")
        for pid in stop_untracked_jobs(experiment.runner.log_dir, experiment):
            print(f"  stopped job {pid}: launched just before the driver died, never recorded")
    else:
        runner = make_runner(args, log_dir, data_cache)
        experiment = make_experiment(runner, max_epochs=args.max_epochs)
        generation_strategy = make_generation_strategy(
            experiment, args.trials, args.max_pending, seed=args.seed, strategy=args.strategy
        )
    orchestrator = make_orchestrator(experiment, generation_strategy, args.max_pending,
                                     early_stopping=args.early_stopping)
    if args.early_stopping is not None:
        from nas.early_stopping import describe

        print(describe(args.early_stopping))
    experiment.runner.open_scheduler()
    warm_server = None
    if args.warm_start and trials_still_to_run(experiment, args.trials):
        warm_server = start_warm_server(experiment.runner)
    install_stop_handlers()

    # 8. Orchestration: the trials run, the state is saved after every change; when a
    # trial ends and a new one is due, with that launch. Saving takes ~0.5 s at 48 trials
    # and would hold up the launch; a driver that dies in between finds what the ended
    # job logged on resume (NasRunner._orphan_status), as for jobs ending while it is down.
    show = Progress(args.trials, start, experiment)
    saved = [None]

    def on_change(o):
        fingerprint = [(t.index, t.status) for t in o.experiment.trials.values()]
        launch_due = (len(o.running_trials) < args.max_pending
                      and trials_still_to_run(o.experiment, args.trials) > 0)
        if fingerprint != saved[0] and not launch_due:
            save_state(state_file, o.experiment, o.generation_strategy)
            saved[0] = fingerprint
        show.update(o.experiment)

    stopped = None
    try:
        run_search(orchestrator, args.trials, on_change=on_change)
    except (KeyboardInterrupt, Interrupted):
        stopped = "interrupted: running jobs were cancelled"
        for trial in orchestrator.running_trials:
            experiment.runner.stop(trial, reason="driver interrupted")
            trial.mark_abandoned(reason="driver interrupted; job cancelled", unsafe=True)
    except AxError as e:  # e.g. too many failed trials
        stopped = f"{type(e).__name__}: {' '.join(str(e).split())}"
    finally:
        show.close()
        save_state(state_file, experiment, generation_strategy)
        if warm_server is not None:
            warm_server.stop()

    # 9. Results.
    files = write_results(experiment, args.results_dir,
                          run_info={"strategy": args.strategy, "seed": args.seed,
                                    "driver_seconds": time.time() - start})
    summary(experiment, args.trials, start, files)
    if stopped:
        failed_reasons(experiment)
        print(f"run_nas.py: search stopped ({stopped}); the state is saved in {state_file}: "
              "run the same command again to resume", file=sys.stderr)
        sys.exit(130 if stopped.startswith("interrupted") else 1)


class Interrupted(BaseException):
    """SIGTERM received. A BaseException, like Ctrl-C's KeyboardInterrupt, so that no
    `except Exception` on the way (BoTorch's optimizer has some) swallows it."""


def raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def install_stop_handlers():
    """Ctrl-C and `kill` stop the search cleanly. Replaces the handlers TorchX's local
    scheduler installs, which raise an ordinary Exception."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupted)


def start_warm_server(runner):
    """Local jobs fork from a process that has imported torch and Lightning
    (nas/warm_start.py); other schedulers start their jobs as usual. None if not local."""
    from nas.runner import LOCAL_SCHEDULERS, PROJECT_DIR
    from nas.warm_start import WarmServer

    if runner.scheduler not in LOCAL_SCHEDULERS:
        return None
    server = WarmServer(PROJECT_DIR)
    runner.launch_hooks.append(server.attach)
    return server


def make_runner(args, log_dir, data_cache):
    """The trials' scheduler, resources and paths; paths absolute, as remote jobs need them."""
    from nas.cluster import mount_tokens
    from nas.runner import NasRunner

    component_args = {"data_cache": str(Path(data_cache).resolve())}
    flags = {"image": args.image, "cpu": args.cpu, "threads": args.cpu, "memMB": args.mem_mb,
             "gpu": args.gpu, "mounts": mount_tokens(args.mount) or None}
    component_args.update({k: v for k, v in flags.items() if v is not None})
    return NasRunner(scheduler=args.scheduler, log_dir=log_dir / "trials",
                     component_args=component_args, cfg=args.scheduler_cfg)


def dry_run(args, log_dir, state_file):
    """Print the first trials' TorchX requests (nas/dryrun.py); launch and write nothing."""
    from nas.data import cache_path, missing_files
    from nas.dryrun import first_trials, print_dry_run

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
        from nas.cluster import install_hint

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


def status_line(experiment, total):
    from nas.progress import counts

    counts = counts(experiment)
    return (f"{counts['COMPLETED']} completed, {counts['FAILED']} failed, "
            f"{counts['RUNNING']} running, {counts['ABANDONED']} abandoned (of {total})")


def summary(experiment, total, start, files):
    from nas.hypervolume import current_hypervolume, format_hv
    from nas.report import pareto_optimal

    print(f"\nDone in {time.time() - start:.0f}s: {status_line(experiment, total)}")
    print(f"Hypervolume (reference point val_acc 0.94, num_params 80,000): "
          f"{format_hv(current_hypervolume(experiment))}")
    front = pareto_optimal(experiment)
    if len(front):
        print("Pareto-optimal configurations (observed):")
        print(front.to_string(index=False))
    print("Results:")
    for what, path in files.items():
        print(f"  {what:18s} {path}")


def failed_reasons(experiment):
    for t in experiment.trials.values():
        if t.status.is_failed or t.status.is_abandoned:
            print(f"  trial {t.index} {t.status.name}: {t.status_reason}", file=sys.stderr)


if __name__ == "__main__":
    main()
