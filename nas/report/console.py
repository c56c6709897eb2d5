"""The run's facts as console text: the trial counts line, the end-of-run summary and
the failed trials' reasons. Renders what nas/report/summary.py computed; computes nothing."""

import sys

from nas.report.hypervolume import format_hv


def counts_text(counts, total=None, abandoned_always=True):
    """`2 completed, 1 stopped early, 0 failed, 1 running, 0 abandoned` from
    nas.report.summary.trial_counts; `2/48 completed, ...` with `total`."""
    parts = [f"{counts['COMPLETED']}{f'/{total}' if total else ''} completed"]
    if counts["EARLY_STOPPED"]:
        parts.append(f"{counts['EARLY_STOPPED']} stopped early")
    parts += [f"{counts['FAILED']} failed", f"{counts['RUNNING']} running"]
    if abandoned_always or counts["ABANDONED"]:
        parts.append(f"{counts['ABANDONED']} abandoned")
    return ", ".join(parts)


def status_line(counts, total):
    """The counts of a search with `total` trials, e.g. on resume."""
    return f"{counts_text(counts)} (of {total})"


def failure_line(index, status, reason):
    return f"  trial {index} {status}: {reason}"


def stopped_line(trial, step, planned=None):
    """`planned`: the trial's last step, if the config says (its `last_step`)."""
    why = (trial.status_reason or "").split("\n")[0]  # Ax's reason: first line
    of = f" of {planned}" if planned is not None else ""
    return f"  trial {trial.index} EARLY_STOPPED after step {step}{of}: {why}"


def print_summary(summary, total, seconds, files, stream=None):
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


def print_failed_reasons(summary, stream=None):
    """Each failed or abandoned trial's reason (stderr: the run stopped)."""
    for row in summary.failed.itertuples():
        print(failure_line(row.trial_index, row.status, row.reason), file=stream or sys.stderr)
