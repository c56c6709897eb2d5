"""The run's facts as text: the trial counts line, a failed or early-stopped trial's line,
durations, and the line that says where the search stands (atop index.html, and on the
console). Renders what nas/report/summary.py computed; computes nothing, prints nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ax.core.base_trial import BaseTrial

    from nas.report.summary import SearchStatus


def counts_text(counts: Mapping[str, int], total: int | None = None, abandoned_always: bool = True) -> str:
    """`2 completed, 1 stopped early, 0 failed, 1 running, 0 abandoned` from
    nas.report.summary.trial_counts; `2/48 completed, ...` with `total`."""
    parts = [f"{counts['COMPLETED']}{f'/{total}' if total else ''} completed"]
    if counts["EARLY_STOPPED"]:
        parts.append(f"{counts['EARLY_STOPPED']} stopped early")
    parts += [f"{counts['FAILED']} failed", f"{counts['RUNNING']} running"]
    if abandoned_always or counts["ABANDONED"]:
        parts.append(f"{counts['ABANDONED']} abandoned")
    return ", ".join(parts)


def duration(seconds: float | None, compact: bool = False) -> str:
    """`1h 02m 05s`, `1m 05s` (a page's); `compact`: `1h02m05s`, `1m05s`, `5s` (the
    progress line's). "n/a" (compact: "?") when unknown."""
    if seconds is None:
        return "?" if compact else "n/a"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    if compact:
        return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def when(iso: str | None) -> str:
    return iso.replace("T", " ") if iso else "?"


def status_text(status: SearchStatus, generated: str) -> str:
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
    elif status.why and status.why.startswith("stopped by "):  # a budget, global stopping
        text = f"{status.why[:1].upper()}{status.why[1:]}: {done} trials done."
    else:
        text = (f"Stopped ({status.why}): {done} trials done; running the same command again "
                "resumes the search.")
        if running:
            text += f" When its state was saved: {running}."
    text += f" Written {when(generated)}"
    if status.saved_at:
        text += f" by run_nas.py --report, from the state saved at {when(status.saved_at)}"
    return text + ("; reload for the latest." if status.state == "running" else ".")


def status_line(counts: Mapping[str, int], total: int | None) -> str:
    """The counts of a search with `total` trials, e.g. on resume."""
    return f"{counts_text(counts)} (of {total})"


def failure_line(index: int, status: str, reason: str | None) -> str:
    return f"  trial {index} {status}: {reason}"


def stopped_line(trial: BaseTrial, step: int, planned: float | None = None) -> str:
    """`planned`: the trial's last step, if the config says (its `last_step`)."""
    why = (trial.status_reason or "").split("\n")[0]  # Ax's reason: first line
    of = f" of {planned}" if planned is not None else ""
    return f"  trial {trial.index} EARLY_STOPPED after step {step}{of}: {why}"
