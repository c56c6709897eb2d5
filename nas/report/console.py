"""The run's facts as text: the trial counts line, the end-of-run summary, the failed
trials' reasons and the line that says where the search stands (also atop index.html).
Renders what nas/report/summary.py computed; computes nothing."""

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


def duration(seconds):
    if seconds is None:
        return "n/a"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def when(iso):
    return iso.replace("T", " ") if iso else "?"


def status_text(status, generated):
    """Where the search stands (a nas.report.summary.SearchStatus) and when the files were
    written (`generated`, ISO), e.g. `Running under the driver pid 4242 (started ...): 5 of
    48 trials done; running: trial 5 for 1m 20s. Written 2026-11-30 12:05:02; reload ...`."""
    done = f"{status.done} of {status.total}" if status.total else f"{status.done}"
    running = ", ".join(f"trial {i} for {duration(seconds)}" for i, seconds in status.running)
    if status.state == "running":
        driver = status.driver or {}
        text = f"Running under the driver pid {driver.get('pid', '?')}"
        if driver.get("started"):
            text += f" (started {when(driver['started'])})"
        if driver.get("checked") is False:
            text += (f" on {driver.get('host')}, as its saved state says (its process cannot be "
                     "checked from this machine)")
        text += f": {done} trials done; running: {running or 'none'}."
    elif status.state == "finished":
        text = f"Finished: {done} trials done."
    else:
        text = (f"Stopped ({status.why}): {done} trials done; running the same command again "
                "resumes the search.")
        if running:
            text += f" When its state was saved: {running}."
    text += f" Written {when(generated)}"
    if status.saved_at:
        text += f" by run_nas.py --report, from the state saved at {when(status.saved_at)}"
    return text + ("; reload for the latest." if status.state == "running" else ".")


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
