"""How the library speaks: one `nas` logger, and options named the way the reader calls
them.

The library never prints: what a search has to say while it runs (resuming, what became
of the jobs an earlier driver left, a page that could not be written, jobs cancelled)
goes to the `nas` logger, INFO for progress and WARNING for what went wrong but did not
stop the search. Left unconfigured, it says nothing (a NullHandler); run_nas.py prints
INFO to stdout and WARNING to stderr.

An error or a note may tell the reader to change an option. The same option is a keyword
of `nas.Search.from_config` (`fresh=True`) and a flag of run_nas.py (`--fresh`); a
message names it with `option("fresh")`, rendered as the keyword in `str(error)` and in
log records, and as the flag by the command line (`for_command_line`).
"""

import logging
import re
from typing import Any

# option: (as nas.Search.from_config / nas.load take it, as run_nas.py takes it)
OPTIONS = {
    "config": ("config", "--config"),
    "fix": ("fix", "--fix"),
    "fresh": ("fresh=True", "--fresh"),
    "early_stopping": ("early_stopping", "--early-stopping"),
    "strategy": ("strategy", "--strategy"),
    "trials": ("trials", "--trials"),
    "log_dir": ("log_dir", "--log-dir"),
    "results_dir": ("results_dir", "--results-dir"),
    "data_dir": ("data_dir", "--data-dir"),
    "scheduler": ("scheduler", "--scheduler"),
    "scheduler_cfg": ("scheduler_cfg", "--scheduler-cfg"),
    "image": ("image", "--image"),
    "mount": ("mounts", "--mount"),
    "gpu": ("gpu", "--gpu"),
    "report": ("nas.load", "--report"),
    "check": ("Search.check()", "--check"),
    "warm_start_off": ("warm_start=False", "--no-warm-start"),
    "time_budget": ("time_budget", "--time-budget"),
    "time_budget_stop": ("time_budget_stop=True", "--time-budget-stop"),
    "ignore_global_stopping": ("ignore_global_stopping=True", "--ignore-global-stopping"),
    "global_stopping": ("global_stopping", "--global-stopping"),
    "import_from": ("import_from", "--import-from"),
    "import_fix": ("import_fix", "--import-fix"),
    # not an option: how a search is resumed
    "rerun": ("run the same search again", "run the same command again"),
}
_MARK = "\x00"
_MARKED = re.compile(f"{_MARK}([a-z_]+){_MARK}")


def one_line(text: object, limit: int | None = 300) -> str:
    """`text` on one line (Ax's, sympy's and TorchX's messages span several), cut at
    `limit` characters; an exception as its message, or its type's name if it has none."""
    if isinstance(text, BaseException):
        text = str(text) or type(text).__name__
    flat = " ".join(str(text).split())
    return flat if limit is None else flat[:limit]


def error_line(error: BaseException, limit: int | None = 300) -> str:
    """"Type: message" on one line."""
    return one_line(f"{type(error).__name__}: {error}", limit)


def option(name: str) -> str:
    """A mark for option `name` in a message (one of OPTIONS)."""
    if name not in OPTIONS:
        raise KeyError(f"no option {name!r} in nas.messages.OPTIONS")
    return f"{_MARK}{name}{_MARK}"


def render(text: str, command_line: bool = False) -> str:
    """`text` with each option mark as the API's keyword, or as run_nas.py's flag."""
    return _MARKED.sub(lambda m: OPTIONS[m.group(1)][1 if command_line else 0], text)


def for_command_line(text: str) -> str:
    """A message as run_nas.py says it: options as its flags."""
    return render(text, command_line=True)


class _Rendered(logging.Filter):
    """Every record of the `nas` logger with its options as the API names them
    (`record.command_line`: as run_nas.py names them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        record.command_line = for_command_line(text)
        record.msg, record.args = render(text), None
        return True


log = logging.getLogger("nas")
log.addHandler(logging.NullHandler())
log.addFilter(_Rendered())


class quiet_libraries:
    """Inside the block, Ax's INFO chatter (the `ax` logger's console handlers), TorchX's
    and torch's notes stay quiet, and so do two warnings that say nothing to a user: one
    of BoTorch's restarts stopping early (the candidate is still used), and exp_to_df's
    feasibility check once per early-stopped trial (such a trial has no value of the
    objectives it logs after training; the table shows it stopped). Warnings otherwise
    still show. Everything is as it was after the block: a notebook keeps its settings."""

    LEVELS = {"torchx": logging.WARNING, "torch.utils.cpp_extension": logging.ERROR,
              "ax.service.utils.best_point": logging.ERROR}

    def __enter__(self) -> "quiet_libraries":
        import warnings

        ax = logging.getLogger("ax")
        self._handlers = [(h, h.level) for h in ax.handlers]
        for handler, level in self._handlers:
            handler.setLevel(max(level, logging.WARNING))
        self._levels = {name: logging.getLogger(name).level for name in self.LEVELS}
        for name, level in self.LEVELS.items():
            logging.getLogger(name).setLevel(level)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.filterwarnings("ignore", message="Optimization failed", category=RuntimeWarning)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._warnings.__exit__(*exc)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        for handler, level in self._handlers:
            handler.setLevel(level)
