"""Command-line options of run_nas.py, checked before anything starts.

Every user mistake ends in one line on stderr naming the problem and the fix, and
exit status 2; no traceback.
"""

import argparse
import os
import sys
from pathlib import Path

DEFAULTS = dict(trials=48, max_pending=4, max_epochs=4, scheduler="local_cwd")


class UsageError(Exception):
    """A bad command-line value; the message says what to change."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        fail(f"{message} (see --help)")


def fail(message):
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def make_parser():
    p = OneLineParser(
        prog="run_nas.py",
        description="Multi-objective NAS on MNIST with Ax and TorchX: maximize val_acc, "
        "minimize num_params.",
    )
    p.add_argument("--trials", type=positive_int, default=DEFAULTS["trials"],
                   help="total trials in the search (default: %(default)s)")
    p.add_argument("--max-pending", type=positive_int, default=DEFAULTS["max_pending"],
                   help="trials running at once (default: %(default)s)")
    p.add_argument("--max-epochs", type=positive_int, default=DEFAULTS["max_epochs"],
                   help="upper end of the epochs range; 1 fixes epochs to 1 (default: %(default)s)")
    p.add_argument("--scheduler", default=DEFAULTS["scheduler"],
                   help="TorchX scheduler that runs the trials (default: %(default)s)")
    p.add_argument("--data-dir", default=os.environ.get("PATH_DATASETS", "."),
                   help="dataset root holding MNIST/raw/ (default: $PATH_DATASETS or .)")
    p.add_argument("--results-dir", default="results",
                   help="where tables and plots go (default: %(default)s)")
    p.add_argument("--log-dir", default=None,
                   help="trial logs and the saved search state (default: RESULTS_DIR/logs)")
    p.add_argument("--seed", type=int, default=None, help="seed of the generation strategy")
    p.add_argument("--strategy", choices=("botorch", "sobol"), default="botorch",
                   help="botorch: Sobol, then Bayesian optimization (the tutorial's); sobol: "
                   "quasi-random search only, the baseline (default: %(default)s)")
    p.add_argument("--fresh", action="store_true",
                   help="start a new search; an earlier one in LOG_DIR is moved aside, not deleted")
    return p


def parse_args(argv=None):
    args = make_parser().parse_args(argv)
    try:
        check_args(args)
    except UsageError as e:
        fail(str(e))
    return args


def check_args(args):
    from torchx.schedulers import get_scheduler_factories

    schedulers = sorted(get_scheduler_factories())
    if args.scheduler not in schedulers:
        raise UsageError(f"unknown TorchX scheduler {args.scheduler!r}; "
                         f"use one of: {', '.join(schedulers)}")
    if args.max_epochs > 100:
        raise UsageError(f"--max-epochs {args.max_epochs} makes no sense for MNIST; use 1..100")
    args.log_dir = args.log_dir or os.path.join(args.results_dir, "logs")
    for flag, folder in (("--results-dir", args.results_dir), ("--log-dir", args.log_dir)):
        check_writable(flag, folder)


def check_writable(flag, folder):
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{flag} {folder} cannot be created ({e.strerror}); choose another folder")
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {folder} is not a writable folder; choose another folder")
