"""What run_nas.py prints: the library's log lines (INFO on stdout, WARNING on stderr,
options named as the flags), the end-of-run summary, the failed trials' reasons, and
what --check and --dry-run found. Renders what the library returned; computes nothing."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nas.messages import log
from nas.report.hypervolume import format_hv
from nas.report.text import failure_line, status_line

if TYPE_CHECKING:
    from nas.api import DryRun
    from nas.jobs.check import CheckResult
    from nas.report.summary import RunSummary


class ConsoleHandler(logging.Handler):
    """The `nas` logger on the console: INFO to stdout, WARNING and worse to stderr, each
    record as run_nas.py words it. `before` is called before each line (the progress
    line on a terminal ends first)."""

    def __init__(self, before: Callable[[], None] | None = None) -> None:
        super().__init__(logging.INFO)
        self.before = before

    def emit(self, record: logging.LogRecord) -> None:
        if self.before:
            self.before()
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        print(getattr(record, "command_line", record.getMessage()), file=stream, flush=True)


def attach(before: Callable[[], None] | None = None) -> ConsoleHandler:
    """Print the `nas` logger's records on the console; the handler (to `detach`)."""
    handler = ConsoleHandler(before)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # printed here only, whatever the root logger does
    return handler


def detach(handler: logging.Handler) -> None:
    log.removeHandler(handler)
    log.propagate = True


def print_summary(summary: RunSummary, total: int, seconds: float, files: Mapping[str, Path],
                  stream: TextIO | None = None) -> None:
    """The end of a run: counts, hypervolume, Pareto-optimal configurations, files."""
    out = stream or sys.stdout
    print(f"\nDone in {seconds:.0f}s: {status_line(summary.counts, total)}", file=out)
    print(f"Hypervolume (reference point {summary.goal.describe()}): "
          f"{format_hv(summary.hypervolume, summary.goal.max_hv)}", file=out)
    best = summary.best_within_thresholds
    if best:
        print(f"Best {best['metric']} within the thresholds: {best[best['metric']]:.6g} "
              f"(trial {best['trial_index']})", file=out)
    if len(summary.front):
        print("Pareto-optimal configurations (observed):", file=out)
        print(summary.pareto_optimal.to_string(index=False), file=out)
    print("Results:", file=out)
    for what, path in files.items():
        print(f"  {what:18s} {path}", file=out)


def print_failed_reasons(summary: RunSummary, stream: TextIO | None = None) -> None:
    """Each failed or abandoned trial's reason (stderr: the run stopped)."""
    for row in summary.failed.itertuples():
        print(failure_line(row.trial_index, row.status, row.reason), file=stream or sys.stderr)


def print_check(result: CheckResult, stream: TextIO | None = None) -> None:
    """What --check found (a nas.api.CheckResult), a line per metric."""
    out = stream or sys.stdout
    params = ", ".join(f"{k}={v}" for k, v in result.parameters.items())
    print(f"--check: one trial of {result.config.name} ({result.config.source}): {params}",
          file=out)
    for metric in result.metrics:
        if metric.problem is None:
            print(f"  ok       {metric.name}: tag {metric.tag!r} = {metric.value:.6g}", file=out)
        else:
            print(f"  MISSING  {metric.name}: tag {metric.tag!r} {metric.problem}", file=out)
    if result.job_failure:
        print(f"  FAILED   the job: {result.job_failure}", file=out)
    print(f"--check: {'passed' if result.ok else 'failed'}; the trial's logs are in "
          f"{result.log_dir}", file=out, flush=True)


def print_dry_run(dry: DryRun, stream: TextIO | None = None) -> None:
    """What --dry-run found (a nas.api.DryRun): each trial's TorchX request."""
    out = stream or sys.stdout
    for trial in dry.trials:
        params = ", ".join(f"{k}={v}" for k, v in trial.parameters.items())
        print(f"# ---- trial {trial.index}: {params}", file=out)
        print(f"# TorchX dryrun on {dry.scheduler}, run options {dry.run_options}:", file=out)
        print(trial.request, file=out, flush=True)
    print(f"# dry run: {len(dry.trials)} trial(s) shown; nothing was submitted or written",
          file=out)
