"""Multi-objective NAS with Ax: the search a config file declares, run as one command.

    python run_nas.py                      # the tutorial's: 48 trials, 4 at a time, local_cwd jobs
    python run_nas.py --trials 8 --fix epochs=1
    python run_nas.py --config examples/spirals/search.toml --check
    python run_nas.py --scheduler slurm --scheduler-cfg partition=cpu --dry-run
    python run_nas.py --report             # the results files of the search in results/, now

The command line of the Python API (nas/api.py): the flags become a `nas.Search`
(nas/cli/), which runs, checks, dry-runs, or is read back as `nas.load` does for
--report; this file prints what the library returns and logs (nas/cli/console.py) and
turns its errors into one line on stderr and an exit status (2: refused before anything
started; 1: the run failed; 130: interrupted, the state saved). Running the same command
again resumes a search (README, "Interrupted runs"); while it runs, its page is kept
current, and `--report` writes it from the saved state in another process.
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas.cli import Command, fail, parse_args, warn
from nas.errors import NasError

if TYPE_CHECKING:
    from nas.cli.console import ConsoleHandler


def main(argv: Sequence[str] | None = None) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's, at import
    try:
        command = parse_args(argv)  # bad flags and bad config files end here, exit 2
        run(command)
    except NasError as e:  # one line; 2: refused before anything started, 1: the run failed
        fail(e.for_command_line(), e.exit_status)


def run(command: Command) -> None:
    from nas.cli import console

    handler = console.attach()
    try:
        if command.mode == "check":
            return check(command)
        if command.mode == "report":  # before the lock: a report never takes it
            return report(command)
        if command.mode == "dry_run":
            return dry_run(command)
        return search(command, handler)
    finally:
        console.detach(handler)


def search(command: Command, handler: ConsoleHandler) -> None:
    """The search, to its end or a stop; the summary; the exit status."""
    from nas.api import SearchInterrupted
    from nas.cli.console import print_failed_reasons, print_summary
    from nas.cli.progress import Progress
    from nas.messages import for_command_line

    start = time.time()
    options, config = command.options, command.config
    best = {m.name: m.best for m in config.metrics.values()}
    progress = Progress(options.trials, start, best=best, last_step=config.last_step)
    handler.before = progress.close  # a log line ends the progress line first
    interrupted = False
    try:
        result = command.search.run(progress=progress.update)
    except SearchInterrupted as e:
        result, interrupted = e.result, True
    finally:
        progress.close()
    print_summary(result.summary, options.trials, time.time() - start, result.files)
    why = for_command_line(result.stopped_because or "")
    if interrupted or result.exit_status:
        from nas.state.storage import STATE_FILE

        print_failed_reasons(result.summary)
        state_file = options.log_dir / STATE_FILE
        fail(f"search stopped ({why}); the state is saved in {state_file}: run the same "
             "command again to resume", 130 if interrupted else result.exit_status)
    if result.state == "stopped":  # its time budget or global stopping: ended as finished
        print(f"{why[:1].upper()}{why[1:]}; {stop_hint(why)}")


def stop_hint(why: str) -> str:
    """How to go on with a search its time budget or Ax's global stopping ended."""
    from nas.budget import ENDED_PREFIX

    if why.startswith(ENDED_PREFIX):
        return "run the same command with a larger --time-budget to go on"
    return "running the same command again ends it again; --ignore-global-stopping goes on"


def report(command: Command) -> None:
    """--report: every results file from the search saved in LOG_DIR, finished, stopped or
    running under another driver now (no lock, no state written, no job launched)."""
    import nas
    from nas.report.text import status_text

    options = command.options
    result = nas.load(options.log_dir, command.config, results_dir=options.results_dir)
    files = result.write_report()
    print(f"--report on {options.log_dir}: "
          f"{status_text(result.summary.status, result.summary.provenance['generated'])}")
    for what, path in files.items():
        print(f"  {what:18s} {path}")


def dry_run(command: Command) -> None:
    """Print the first trials' TorchX requests; launch and write nothing."""
    from nas.cli.console import print_dry_run
    from nas.messages import for_command_line

    try:
        dry = command.search.dry_run()
    except ImportError as e:  # e.g. the kubernetes client renders the Volcano job
        from nas.jobs.cluster import install_hint

        scheduler = command.options.scheduler
        fail(f"TorchX's {scheduler} scheduler needs the module {e.name!r}, not installed "
             f"here; {install_hint(scheduler, e)}")
    for problem in dry.warnings:  # a dry run shows the request anyway
        warn(for_command_line(problem))
    for note in dry.notes:
        print(f"note: {for_command_line(note)}", file=sys.stderr)
    print_dry_run(dry)


def check(command: Command) -> None:
    """--check: one trial of the config, its metrics' tags looked up in its log
    (nas/jobs/check.py); exit status 1 on any problem."""
    from nas.cli.console import print_check

    result = command.search.check()
    print_check(result)
    if not result.ok:
        sys.exit(1)


if __name__ == "__main__":
    # At exit, the interpreter's garbage collection passes over every object that Ax's and
    # torch's imports made (2.3 s of a driver's end, 0.4 s frozen; docs/performance.md).
    # Frozen, they are still freed and their files closed as the modules are cleared; only
    # cycles are not collected, which the interpreter does not promise at exit either.
    atexit.register(gc.freeze)
    main()
