"""Command-line options of run_nas.py and the search config they point at, checked
before anything starts.

Every user mistake raises a UsageError (or the config's ConfigError), one line naming the
problem and the fix; run_nas.py prints it and exits 2, with no traceback. The search's
own settings (trials, max_pending, seed) come from the config file; flags override them.
"""

import argparse
import os
import sys
from pathlib import Path

from nas.config import DEFAULT_CONFIG, load_config, parse_fix
from nas.errors import NasError

DEFAULTS = dict(scheduler="local_cwd")


class UsageError(NasError):
    """A bad command-line value; the message says what to change."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def fail(message, status=2):
    """Print `message` as the program's one error line and exit with `status`."""
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    sys.exit(status)


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
        description="Multi-objective search with Ax, BoTorch and TorchX over the training "
        "script and parameters a search config declares (default: the PyTorch tutorial's "
        "search, nas/tutorial.toml; README: Search your own model).",
    )
    p.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE",
                   help="the search config (TOML; default: %(default)s)")
    p.add_argument("--trials", type=positive_int, default=None,
                   help="total trials in the search (default: the config's [search] trials)")
    p.add_argument("--max-pending", type=positive_int, default=None,
                   help="trials running at once (default: the config's [search] max_pending)")
    p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                   help="pin a parameter of the config to one value, e.g. --fix epochs=1 "
                   "(repeatable)")
    p.add_argument("--check", action="store_true",
                   help="run one trial of the config (its first configuration) and report "
                   "whether each metric's TensorBoard tag was logged; not a search")
    p.add_argument("--report", action="store_true",
                   help="write every results file from the saved state of the search in "
                   "LOG_DIR (finished, stopped, or running under another driver now), with "
                   "the search's --results-dir / --log-dir / --config; takes no lock, "
                   "writes no state, launches nothing")
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
                   help="the config's {data_dir}: where the datasets are (default: "
                   "$PATH_DATASETS or .)")
    p.add_argument("--results-dir", default="results",
                   help="where tables and plots go (default: %(default)s)")
    p.add_argument("--log-dir", default=None,
                   help="trial logs and the saved search state (default: RESULTS_DIR/logs)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the generation strategy (default: the config's [search] seed)")
    p.add_argument("--strategy", choices=("botorch", "sobol"), default="botorch",
                   help="botorch: Sobol, then Bayesian optimization (the tutorial's); sobol: "
                   "quasi-random search only, the baseline (default: %(default)s)")
    p.add_argument("--generation", choices=("fast", "ax"), default="fast",
                   help="settings of the BoTorch node: fast (a warm-started model fit, a "
                   "smaller acquisition optimization; measured in docs/performance.md) or ax "
                   "(Ax's defaults, as in the tutorial); saved with the search "
                   "(default: %(default)s)")
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="local jobs import torch and Lightning themselves instead of forking "
                   "from a process that has (slower; see nas/jobs/warm_start.py)")
    p.add_argument("--early-stopping", nargs="?", const="", default=None, metavar="K=V,K=V",
                   help="stop trials whose first objective is poor compared with other trials "
                   "at the same step (Ax's percentile strategy; options percentile=50, "
                   "min_step=1, min_curves=5, or threshold=V for Ax's threshold strategy; "
                   "see README)")
    p.add_argument("--fresh", action="store_true",
                   help="start a new search; an earlier one in LOG_DIR is moved aside, not deleted")
    return p


def parse_args(argv=None):
    """The checked options; `args.config` is the loaded SearchConfig, and `trials`,
    `max_pending` and `seed` are resolved (flag, else config). Raises UsageError or
    ConfigError."""
    args = make_parser().parse_args(argv)
    check_args(args)
    return args


def load_search_config(args):
    """The config file of `args`, --fix applied; the search settings it leaves to flags."""
    fixed = dict(parse_fix(text) for text in args.fix)
    config = load_config(args.config, fixed)
    args.trials = args.trials or config.trials
    if args.trials is None:
        raise UsageError(f"no trial budget: set [search] trials in {config.path} or pass --trials")
    args.max_pending = args.max_pending or config.max_pending
    args.seed = config.seed if args.seed is None else args.seed
    return config


def check_args(args):
    args.config = load_search_config(args)  # ConfigError: bad file, bad --fix
    args.scheduler_cfg = parse_scheduler_cfg(args.scheduler, args.scheduler_cfg)
    if args.early_stopping is not None:
        from nas.early_stopping import EarlyStoppingSpecError, parse_spec

        try:
            args.early_stopping = parse_spec(args.early_stopping)
        except EarlyStoppingSpecError as e:
            raise UsageError(str(e))
    check_mounts(args.mount)
    args.log_dir = args.log_dir or os.path.join(args.results_dir, "logs")
    if args.report:  # reads the saved search, writes only results files
        if clash := [flag for flag, on in (("--check", args.check), ("--dry-run", args.dry_run),
                                           ("--fresh", args.fresh)) if on]:
            raise UsageError(f"--report reads a saved search; it does not go with {clash[0]}")
        check_writable("--results-dir", args.results_dir)
        return

    from nas.jobs.cluster import shared_path_problems

    problems = shared_path_problems(args.scheduler, os.path.abspath(args.log_dir), args.mount,
                                    args.image)
    if problems and not args.dry_run:
        raise UsageError("; ".join(problems))
    for problem in problems:  # a dry run shows the request anyway
        print(f"{Path(sys.argv[0]).name}: warning: {problem}", file=sys.stderr)
    if args.dry_run:
        return  # writes nothing
    from nas.jobs.schedulers import jobs_for

    # before anything starts, e.g. Slurm's controller down (a resume checks again)
    if problem := jobs_for(args.scheduler).problem():
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
