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


def int_at_least(minimum, wording):
    """An argparse type: a whole number >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wording}, got {text!r}")
        return value
    return parse


positive_int = int_at_least(1, "a positive whole number")
non_negative_int = int_at_least(0, "a whole number >= 0")


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
                   help="TorchX scheduler that runs the trials, e.g. slurm, kubernetes "
                   "(default: %(default)s; see docs/cluster.md)")
    p.add_argument("--scheduler-cfg", default="", metavar="K=V,K=V",
                   help="the scheduler's run options as `torchx run --scheduler_args` takes "
                   "them, e.g. partition=cpu,time=1:00:00 (slurm), queue=default (kubernetes)")
    p.add_argument("--image", default=None,
                   help="container image of the trial jobs (container schedulers)")
    p.add_argument("--cpu", type=positive_int, default=None,
                   help="CPUs per trial job, also its torch threads (default: 1)")
    p.add_argument("--memMB", "--mem-mb", dest="mem_mb", type=positive_int, default=None,
                   help="memory per trial job in MB (default: 1024)")
    p.add_argument("--gpu", type=non_negative_int, default=None,
                   help="GPUs per trial job (default: 0)")
    p.add_argument("--mount", action="append", default=[], metavar="type=volume,src=CLAIM,dst=DIR",
                   help="a volume or bind mount of the trial jobs, as `torchx run` takes it; "
                   "repeatable. Container jobs need one holding LOG_DIR")
    p.add_argument("--dry-run", action="store_true",
                   help="print what TorchX would submit for the first trials; "
                   "launch nothing, write nothing")
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
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="local jobs import torch and Lightning themselves instead of forking "
                   "from a process that has (slower; see nas/jobs/warm_start.py)")
    p.add_argument("--early-stopping", nargs="?", const="", default=None, metavar="K=V,K=V",
                   help="stop trials whose val_acc is poor compared with other trials at the "
                   "same epoch (Ax's percentile strategy; options percentile=50, min_epoch=1, "
                   "min_curves=5, or threshold=ACC for Ax's threshold strategy; see README)")
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
    if args.max_epochs > 100:
        raise UsageError(f"--max-epochs {args.max_epochs} makes no sense for MNIST; use 1..100")
    args.scheduler_cfg = parse_scheduler_cfg(args.scheduler, args.scheduler_cfg)
    if args.early_stopping is not None:
        from nas.early_stopping import EarlyStoppingSpecError, parse_spec

        try:
            args.early_stopping = parse_spec(args.early_stopping)
        except EarlyStoppingSpecError as e:
            raise UsageError(str(e))
    check_mounts(args.mount)
    args.log_dir = args.log_dir or os.path.join(args.results_dir, "logs")

    from nas.jobs.cluster import shared_path_problems

    problems = shared_path_problems(args.scheduler, os.path.abspath(args.log_dir), args.mount,
                                    args.image)
    if problems and not args.dry_run:
        raise UsageError("; ".join(problems))
    for problem in problems:  # a dry run shows the request anyway
        print(f"{Path(sys.argv[0]).name}: warning: {problem}", file=sys.stderr)
    if args.dry_run:
        return  # writes nothing
    if args.scheduler == "slurm":  # before anything starts (a resume checks again: nas/state/lifecycle.py)
        from nas.jobs.slurm import cluster_problem

        if problem := cluster_problem():
            raise UsageError(problem)
    for flag, folder in (("--results-dir", args.results_dir), ("--log-dir", args.log_dir)):
        check_writable(flag, folder)


def load_scheduler(name):
    """The TorchX scheduler object (no connection made), for its run options."""
    from torchx.schedulers import get_scheduler_factories

    factories = get_scheduler_factories()
    if name not in factories:
        raise UsageError(f"unknown TorchX scheduler {name!r}; "
                         f"use one of: {', '.join(sorted(factories))}")
    try:
        return factories[name](session_name="nas")
    except Exception as e:  # e.g. its client package is not installed
        from nas.jobs.cluster import install_hint

        raise UsageError(f"TorchX scheduler {name!r} cannot be loaded here "
                         f"({type(e).__name__}: {e}); {install_hint(name, e)}")


def parse_scheduler_cfg(scheduler, text):
    """`k=v,k=v` -> run options of `scheduler`, typed; unknown keys and bad values rejected.

    The syntax is TorchX's own (torchx.util.types.to_dict: lists as a;b or a,b); the keys,
    types and required options come from the scheduler's `run_opts()`.
    """
    from torchx.specs.api import InvalidRunConfigException, get_type_name
    from torchx.util.types import to_dict

    opts = load_scheduler(scheduler).run_opts()
    type_of = {key: get_type_name(opt.opt_type).replace("typing.", "") for key, opt in opts}
    help_of = {key: " ".join(opt.help.split()) for key, opt in opts}  # one line
    valid = ", ".join(f"{key} ({type_of[key]}{', required' if opt.is_required else ''})"
                      for key, opt in opts) or "none"
    try:
        raw = to_dict(text)
    except ValueError:
        raise UsageError(f"--scheduler-cfg {text!r} is not k=v,k=v; "
                         f"run options of {scheduler}: {valid}")
    cfg = {}
    for key, value in raw.items():
        opt = opts.get(key)
        if opt is None:
            raise UsageError(f"unknown run option {key!r} for scheduler {scheduler}; "
                             f"valid: {valid}")
        try:
            cfg[key] = cast_option(opts, key, value)
        except (ValueError, IndexError):  # IndexError: a dict item without ':'
            raise UsageError(f"--scheduler-cfg {key}={value!r}: expected {type_of[key]} "
                             f"({help_of[key]})")
    try:
        opts.resolve(cfg)  # required options present, types right
    except InvalidRunConfigException as e:
        raise UsageError(f"scheduler {scheduler} needs run option {e.cfg_key} "
                         f"({type_of[e.cfg_key]}: {help_of[e.cfg_key]}); "
                         f"pass --scheduler-cfg {e.cfg_key}=...")
    return cfg


def cast_option(opts, key, value):
    """One run option's text as its type, by TorchX's own `runopts.cfg_from_str`; but
    strict about bools: TorchX reads anything but "true" as False, so a typo such as
    privileged=yes would silently mean False."""
    if opts.get(key).opt_type is bool and value.lower() not in ("true", "false"):
        raise ValueError(value)
    return opts.cfg_from_str(f"{key}={value}")[key]


def check_mounts(mounts):
    from nas.jobs.cluster import mount_tokens
    from torchx.specs import parse_mounts

    for mount in mounts:
        try:
            parse_mounts(mount_tokens([mount]))
        except (KeyError, ValueError) as e:
            problem = e.args[0] if e.args else type(e).__name__
            if isinstance(e, KeyError) and problem in ("src", "dst"):
                problem = f"missing {problem}"
            raise UsageError(f"--mount {mount!r}: {problem}; expected type=volume,src=CLAIM,"
                             "dst=DIR or type=bind,src=DIR,dst=DIR[,readonly]")


def check_writable(flag, folder):
    """`folder` exists as a writable folder, or can be created: its nearest existing
    parent is one. Nothing is created here; the writers create their folders."""
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{flag} {folder} cannot be created: {existing} is not a folder; "
                         "choose another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created in {existing}"
        raise UsageError(f"{flag} {folder} {what}; choose another folder")
