"""The console progress of a running search.

On a terminal: one line, redrawn in place (carriage return), with the completed /
failed / early-stopped / running trials, the current hypervolume, the elapsed time and an estimate
of the time left. When stdout is not a terminal (a log file, CI, a pipe): the same
line as a plain log line, printed whenever the trial counts change. The failure
reason of every failed or abandoned trial, and the epoch each early-stopped trial
reached, is printed once, on a line of its own.

The estimate is (trials still to finish) / (trials finished per second in this
process so far), counted from `experiment` as given to Progress (a resumed search's
earlier trials don't count); it stays "?" until a trial finished.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

from nas.report.hypervolume import current_hypervolume, format_hv, goal_of
from nas.report.summary import finished, trial_counts
from nas.report.text import counts_text, duration, failure_line, stopped_line
from nas.trial_data import planned_steps, stopped_steps

if TYPE_CHECKING:
    from ax.core.experiment import Experiment


def format_duration(seconds: float | None) -> str:
    return duration(seconds, compact=True)


class Progress:
    def __init__(self, total: int, start: float | None = None, experiment: Experiment | None = None,
                 stream: TextIO | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.time, best: Mapping[str, float | None] | None = None,
                 last_step: str | int | None = None) -> None:
        """`best`: {objective: its best possible value}, for the share of the largest
        hypervolume; `last_step`: a trial's last step (both the config's)."""
        self.total = total
        self.best, self.last_step = best, last_step
        self.clock = clock
        self.start = clock() if start is None else start
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        # (time, finished trials) when the search began: the ETA's base
        self._began: tuple[float, int] | None = None
        if experiment is not None:
            c = trial_counts(experiment)
            self._began = (clock(), finished(c))
        self._reported: set[int] = set()
        self._hv_key: frozenset[int] | None = None
        self._hv = 0.0
        self._max_hv: float | None = None
        self._last_counts: str | None = None
        self._width = 0  # of the line now on screen (tty)

    def hypervolume(self, experiment: Experiment) -> float:
        """Recomputed only when the set of completed trials changed."""
        key = frozenset(i for i, t in experiment.trials.items() if t.status.name == "COMPLETED")
        if key != self._hv_key:
            goal = goal_of(experiment, self.best)
            self._hv, self._hv_key = current_hypervolume(experiment, goal), key
            self._max_hv = goal.max_hv
        return self._hv

    def eta(self, finished: int, now: float) -> float | None:
        if self._began is None:
            self._began = (now, finished)
            return None
        t0, f0 = self._began
        done = finished - f0
        remaining = max(self.total - finished, 0)
        if remaining == 0:
            return 0.0
        if done <= 0 or now <= t0:
            return None
        return remaining * (now - t0) / done

    def line(self, experiment: Experiment) -> tuple[str, str]:
        """(the progress line, its counts part: a new log line when that changes)."""
        now = self.clock()
        c = trial_counts(experiment)
        eta = self.eta(finished(c), now)
        shown = counts_text(c, self.total, abandoned_always=False)
        hv = self.hypervolume(experiment)
        text = (f"{shown} | HV {format_hv(hv, self._max_hv)}"
                f" | elapsed {format_duration(now - self.start)} | ETA {format_duration(eta)}")
        return text, shown

    def update(self, experiment: Experiment) -> None:
        stopped = None
        for t in experiment.trials.values():
            if (t.status.is_failed or t.status.is_abandoned) and t.index not in self._reported:
                self._reported.add(t.index)
                self._print(failure_line(t.index, t.status.name, t.status_reason))
            if t.status.name == "EARLY_STOPPED" and t.index not in self._reported:
                self._reported.add(t.index)
                stopped = stopped or stopped_steps(experiment)
                planned = planned_steps(t, self.last_step) if self.last_step else None
                self._print(stopped_line(t, stopped[t.index], planned))
        text, counts = self.line(experiment)
        if self.tty:
            self._draw(text)
        elif counts != self._last_counts:
            self._print(f"[{format_duration(self.clock() - self.start):>8s}] {text}")
        self._last_counts = counts

    def close(self) -> None:
        """End the line on screen (tty), so that later output starts on a new line."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def _draw(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def _print(self, text: str) -> None:
        if self.tty and self._width:  # clear the progress line, print, the line comes back next update
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()
