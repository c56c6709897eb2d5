"""run_nas.py's command line: its flags, turned into a `nas.Search` (nas/api.py) and what
to do with it (run, --check, --dry-run, --report), checked before anything starts.

Every user mistake raises a UsageError (or the library's NasError: a ConfigError, an
OptionError), one line naming the problem and the fix; run_nas.py prints it, options
named as its flags, and exits 2, with no traceback. The search's own settings (trials,
max_pending, seed) come from the config file; flags override them.
"""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from nas.api import Search, SearchOptions
from nas.config import DEFAULT_CONFIG, SearchConfig, parse_fix, script_of
from nas.errors import NasError
from nas.jobs.local_launch import LOCAL_SCHEDULERS
from nas.jobs.warm_start import prestart
from nas.messages import one_line

DEFAULTS = dict(scheduler="local_cwd")


class UsageError(NasError):
    """A bad command-line value; the message says what to change."""


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser that raises UsageError (one line) and keeps the options it was
    given in `options`, in their order, for the README's table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: list[argparse.Action] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.options.append(action)
        return action

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def fail(message: str, status: int = 2) -> NoReturn:
    """Print `message` as the program's one error line and exit with `status`."""
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    sys.exit(status)


def warn(message: str) -> None:
    """Print `message` as one of the program's warning lines."""
    print(f"{Path(sys.argv[0]).name}: warning: {message}", file=sys.stderr)


def int_at_least(minimum: int, wording: str) -> Callable[[str], int]:
    """An argparse type: a whole number >= minimum."""
    def parse(text: str) -> int:
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


def make_parser() -> OneLineParser:
    p = OneLineParser(
        prog="run_nas.py",
        description="Multi-objective search with Ax, BoTorch and TorchX over the training "
        "script and parameters a search config declares (default: the PyTorch tutorial's "
        "search, nas/tutorial.toml; README: Search your own model).",
    )
    p.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE",
                   help="the search config (TOML; default: nas/tutorial.toml, the tutorial's)")
    p.add_argument("--trials", type=positive_int, default=None, metavar="N",
                   help="total trials in the search (default: the config's [search] trials)")
    p.add_argument("--max-pending", type=positive_int, default=None, metavar="N",
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
    p.add_argument("--scheduler", default=DEFAULTS["scheduler"], metavar="NAME",
                   help="TorchX scheduler that runs the trials, e.g. slurm, kubernetes "
                   "(default: %(default)s; see docs/cluster.md)")
    p.add_argument("--scheduler-cfg", default="", metavar="K=V,K=V",
                   help="the scheduler's run options as `torchx run --scheduler_args` takes "
                   "them, e.g. partition=cpu,time=1:00:00 (slurm), queue=default (kubernetes)")
    p.add_argument("--image", default=None,
                   help="container image of the trial jobs (container schedulers)")
    p.add_argument("--cpu", type=positive_int, default=None, metavar="N",
                   help="CPUs per trial job, also its torch threads (default: 1)")
    p.add_argument("--memMB", "--mem-mb", dest="mem_mb", type=positive_int, default=None,
                   metavar="MB",
                   help="memory per trial job in MB (default: 1024)")
    p.add_argument("--gpu", type=non_negative_int, default=None, metavar="N",
                   help="GPUs per trial job (default: 0)")
    p.add_argument("--mount", action="append", default=[], metavar="type=volume,src=CLAIM,dst=DIR",
                   help="a volume or bind mount of the trial jobs, as `torchx run` takes it; "
                   "repeatable. Container jobs need one holding LOG_DIR")
    p.add_argument("--dry-run", action="store_true",
                   help="print what TorchX would submit for the first trials; "
                   "launch nothing, write nothing")
    p.add_argument("--data-dir", default=os.environ.get("PATH_DATASETS", "."), metavar="DIR",
                   help="the config's {data_dir}: where the datasets are (default: "
                   "$PATH_DATASETS or .)")
    p.add_argument("--results-dir", default="results", metavar="DIR",
                   help="where tables and plots go (default: %(default)s)")
    p.add_argument("--log-dir", default=None, metavar="DIR",
                   help="trial logs and the saved search state (default: RESULTS_DIR/logs)")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of the generation strategy (default: the config's [search] seed)")
    p.add_argument("--strategy", choices=("botorch", "sobol"), default="botorch",
                   metavar="botorch|sobol",
                   help="botorch: Sobol, then Bayesian optimization (the tutorial's); sobol: "
                   "quasi-random search only, the baseline (default: %(default)s)")
    p.add_argument("--generation", choices=("fast", "ax"), default="fast", metavar="fast|ax",
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
                   "docs/early_stopping.md)")
    p.add_argument("--time-budget", default=None, metavar="DURATION",
                   help="wall time for the whole search, over every run of it, e.g. 90s, 30m, "
                   "1.5h (default: the config's [search] time_budget; none)")
    p.add_argument("--time-budget-stop", action="store_true",
                   help="when the time budget is spent, stop the running trials (default: "
                   "they finish)")
    p.add_argument("--global-stopping", default=None, metavar="K=V,K=V",
                   help="stop once the hypervolume stopped improving: Ax's "
                   "ImprovementGlobalStoppingStrategy with min_trials (required), window_size, "
                   "improvement_bar (default: the config's [search.global_stopping])")
    p.add_argument("--ignore-global-stopping", action="store_true",
                   help="go on although the config's [search.global_stopping] would stop "
                   "the search")
    p.add_argument("--import-from", action="append", default=[], metavar="LOG_DIR",
                   help="start a new search from the completed trials of the search saved "
                   "in LOG_DIR (repeatable; they count toward --trials)")
    p.add_argument("--import-fix", action="append", default=[], metavar="NAME=VALUE",
                   help="the value of a parameter the imported trials lack (repeatable)")
    p.add_argument("--fresh", action="store_true",
                   help="start a new search; an earlier one in LOG_DIR is moved aside, not deleted")
    return p


@dataclass
class Command:
    """What run_nas.py was asked: `mode` ("run", "check", "dry_run" or "report") and the
    search (its config and options)."""
    mode: str
    search: Search

    @property
    def options(self) -> SearchOptions:
        return self.search.options

    @property
    def config(self) -> SearchConfig:
        return self.search.config


def options_table() -> str:
    """The options as the README's markdown table, from the parser itself (a test checks
    that the README holds exactly this: `python -c "import nas.cli as c;
    print(c.options_table())"` writes it)."""
    rows = ["| option | what it does |", "| --- | --- |"]
    for action in make_parser().options:
        if not action.option_strings or action.dest == "help":
            continue
        flag = " / ".join(action.option_strings)
        if action.nargs != 0:
            flag += f" {action.metavar or action.dest.upper()}"
        text = one_line(action.help or "", None) % {"default": action.default}
        rows.append(f"| `{flag}` | {text.replace('|', '/')} |")
    return "\n".join(rows)


def parse_args(argv: Sequence[str] | None = None) -> Command:
    """The command the flags ask for, its search built by `nas.Search.from_config` with
    the flags as keywords. Raises UsageError or the library's NasError."""
    args = make_parser().parse_args(argv)
    if args.report and (clash := [flag for flag, on in (
            ("--check", args.check), ("--dry-run", args.dry_run), ("--fresh", args.fresh)) if on]):
        raise UsageError(f"--report reads a saved search; it does not go with {clash[0]}")
    mode = ("report" if args.report else "check" if args.check
            else "dry_run" if args.dry_run else "run")
    if mode == "run" and args.warm_start and args.scheduler in LOCAL_SCHEDULERS:
        # the warm-start server's imports (torch, Lightning) overlap the config's check,
        # whose Ax import takes seconds, instead of the first trials waiting for them
        script = script_of(args.config)
        if script is not None:
            prestart(script)
    search = Search.from_config(
        args.config, trials=args.trials, max_pending=args.max_pending,
        fix=dict(parse_fix(text) for text in args.fix), seed=args.seed,
        log_dir=args.log_dir, results_dir=args.results_dir, data_dir=args.data_dir,
        scheduler=args.scheduler, scheduler_cfg=args.scheduler_cfg, image=args.image,
        cpu=args.cpu, mem_mb=args.mem_mb, gpu=args.gpu, mounts=args.mount,
        strategy=args.strategy, generation=args.generation, warm_start=args.warm_start,
        early_stopping=args.early_stopping, fresh=args.fresh, time_budget=args.time_budget,
        time_budget_stop=args.time_budget_stop, global_stopping=args.global_stopping,
        ignore_global_stopping=args.ignore_global_stopping, import_from=args.import_from,
        import_fix=dict(parse_fix(text) for text in args.import_fix))
    if mode == "report":  # reads the saved search, writes only results files
        from nas.api import check_writable

        check_writable("results_dir", search.options.results_dir)
    return Command(mode, search)
