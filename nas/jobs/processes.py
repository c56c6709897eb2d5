"""Local trial jobs by pid: which still run, and stopping those no driver tracks.

TorchX's local scheduler knows only the jobs its own process started. After a driver
restart, a job of the previous driver is found through the pid its local launch wrote
to `<trial log dir>/job.pid`; the pid counts only while /proc shows a live process whose
command line holds that log dir (pids are reused).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from nas.jobs.local_launch import PID_FILE  # the launcher writes it

if TYPE_CHECKING:
    from ax.core.base_trial import BaseTrial
    from ax.core.experiment import Experiment


def job_pid(log_dir: str | Path) -> int | None:
    """The pid of the training job still running for this log dir, else None."""
    log_dir = str(log_dir)
    try:
        pid = int((Path(log_dir) / PID_FILE).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    # the pid may have been reused after the job ended: check it is our job
    return pid if f"\0{log_dir}\0" in f"\0{cmdline}" and is_running(pid) else None


def is_running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, ended but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def kill_job(log_dir: str | Path) -> int | None:
    """SIGKILL the local job still running for this log dir (no grace: early stopping);
    its pid, or None."""
    pid = job_pid(log_dir)
    if pid is not None:
        _signal_group(pid, signal.SIGKILL)
    return pid


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:  # not a group leader (or gone)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_untracked_jobs(trials_dir: str | Path, experiment: Experiment) -> list[int]:
    """Before resuming: stop jobs the saved state does not know as running, and move
    their log dirs aside, so no trial index gets two jobs or mixed logs. Returns the pids
    stopped."""
    trials_dir = Path(trials_dir)
    if not trials_dir.is_dir():
        return []
    stopped: list[int] = []
    for log_dir in sorted(trials_dir.iterdir()):
        if not log_dir.name.isdigit():
            continue
        trial = experiment.trials.get(int(log_dir.name))
        if trial is not None and trial.status.is_early_stopped:
            # stopped, but its job outlived the driver; its log is its learning curve: kept
            stopped += _killed(log_dir)
        elif trial is None or not (trial.status.is_terminal or trial.status.is_running):
            stopped += _killed(log_dir)
            log_dir.rename(log_dir.with_name(f"{log_dir.name}.stale-{os.getpid()}"))
    return stopped


def _killed(log_dir: Path) -> list[int]:
    pid = kill_job(log_dir)
    return [] if pid is None else [pid]


class JobExits:
    """A pidfd per running trial whose job is a process here (`process_id`), readable
    once that process ended: the driver's loop waits on them with its poll interval as
    the limit, so that a job's end is seen as it happens rather than at the next poll,
    and its slot takes the next trial at once. Jobs with no process here (a cluster's,
    or before the launcher wrote its pid) are seen by the polls alone."""

    def __init__(self, process_id: Callable[[BaseTrial], int | None]) -> None:
        self._process_id = process_id
        self._fds: dict[int, int] = {}  # trial index -> pidfd of its job

    def watch(self, running: Iterable[BaseTrial]) -> list[int]:
        """The pidfds to wait on for the `running` trials: opened for those newly known,
        closed for those no longer running. One that ended is not opened again: its
        process no longer counts as running (`job_pid`)."""
        running = list(running)
        indices = {t.index for t in running}
        for index in [i for i in self._fds if i not in indices]:
            os.close(self._fds.pop(index))
        for trial in running:
            if trial.index in self._fds:
                continue
            pid = self._process_id(trial)
            if pid is None:
                continue
            try:
                self._fds[trial.index] = os.pidfd_open(pid)
            except OSError:  # ended meanwhile
                pass
        return list(self._fds.values())

    def ended(self, fds: Iterable[int]) -> None:
        """Forget the pidfds that were readable: their jobs ended, and the next poll sees
        it (waiting on them again would not wait)."""
        readable = set(fds)
        for index, fd in [(i, fd) for i, fd in self._fds.items() if fd in readable]:
            os.close(fd)
            del self._fds[index]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
