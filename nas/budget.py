"""A search's time budget: how long it may run, over every driver that ran it.

People plan compute in hours (a Slurm allocation of four hours, a night), not in trials:
`[search] time_budget = "4h"` (or `"90s"`, `"30m"`, `"1.5h"`) stops a search when its
wall time, counted over every driver that ran it, reaches the budget. A resumed search
goes on counting from where its last driver's saved state left it (the run info's
`search_seconds`, saved with every save while a budget is set), so a kill -9 loses at
most the time since that driver's last save.

When the budget is spent no new trial starts: the running trials finish (Ax's own
`total_trials` is lowered to the trials there are), or, with `stop_running`, they are
stopped as an interrupted search's are (Ax's `timeout_hours` aborts the loop; the jobs
are cancelled and the trials ABANDONED). Either way the search then ends as a finished
one does (its results written, exit status 0), its state saying it was stopped by its
budget: running it again with a larger budget goes on.
"""

import re
import time
from dataclasses import dataclass

DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h)\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
EXAMPLES = '"90s", "30m", "1.5h"'
ENDED_PREFIX = "stopped by its time budget"


def parse_duration(text: str | float | int) -> float:
    """Seconds of a duration such as "90s", "30m", "1.5h" (or a number of seconds);
    ValueError if it is none, or not positive."""
    if isinstance(text, bool):
        raise ValueError(text)
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = DURATION.match(text)
        if not match:
            raise ValueError(text)
        seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if not seconds > 0:
        raise ValueError(text)
    return seconds


def format_duration(seconds: float) -> str:
    """A budget as a config writes it: "90s", "30m", "1.5h"."""
    for unit in ("h", "m"):
        amount = seconds / UNIT_SECONDS[unit]
        if amount >= 1 and round(amount, 2) == amount:
            return f"{amount:g}{unit}"
    return f"{seconds:g}s"


@dataclass
class TimeBudget:
    """`seconds` of wall time for the whole search; `used_before`: what earlier drivers
    used; this driver's time counts from `started` (time.time())."""
    seconds: float
    used_before: float = 0.0
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.started or time.time()

    def used(self, now: float | None = None) -> float:
        return self.used_before + ((now or time.time()) - self.started)

    def left(self, now: float | None = None) -> float:
        return max(self.seconds - self.used(now), 0.0)

    def spent(self, now: float | None = None) -> bool:
        return self.left(now) <= 0

    def ended(self, done: int, total: int) -> str:
        """How the search ended, as its state and page say it."""
        return f"{ENDED_PREFIX} ({format_duration(self.seconds)}) after {done} of {total} trials"
