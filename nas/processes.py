"""Local trial jobs by pid: which still run, and stopping those no driver tracks.

TorchX's local scheduler knows only the jobs its own process started. After a driver
restart, a job of the previous driver is found through the pid its local launch wrote
to `<trial log dir>/job.pid`; the pid counts only while /proc shows a live process whose
command line holds that log dir (pids are reused).
"""

import os
import signal
import time
from pathlib import Path

PID_FILE = "job.pid"


def job_pid(log_dir):
    """The pid of the training job still running for this log dir, else None."""
    log_dir = str(log_dir)
    try:
        pid = int((Path(log_dir) / PID_FILE).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    # the pid may have been reused after the job ended: check it is our job
    return pid if f"\0{log_dir}\0" in f"\0{cmdline}" and is_running(pid) else None


def is_running(pid):
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


def stop_job(pid, grace_seconds=5.0):
    """Stop a job and what it started, as TorchX's cancel does: SIGTERM, then SIGKILL
    after `grace_seconds`. TorchX starts each local job in its own session."""
    _signal_group(pid, signal.SIGTERM)
    end = time.monotonic() + grace_seconds
    while is_running(pid) and time.monotonic() < end:
        time.sleep(0.05)
    if is_running(pid):
        _signal_group(pid, signal.SIGKILL)


def kill_job(log_dir):
    """SIGKILL the local job still running for this log dir (no grace: early stopping);
    its pid, or None."""
    pid = job_pid(log_dir)
    if pid is not None:
        _signal_group(pid, signal.SIGKILL)
    return pid


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:  # not a group leader (or gone)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_untracked_jobs(trials_dir, experiment):
    """Before resuming: stop jobs the saved state does not know as running, and move
    their log dirs aside, so no trial index gets two jobs or mixed logs. Returns the pids
    stopped."""
    trials_dir = Path(trials_dir)
    if not trials_dir.is_dir():
        return []
    stopped = []
    for log_dir in sorted(trials_dir.iterdir()):
        if not log_dir.name.isdigit():
            continue
        trial = experiment.trials.get(int(log_dir.name))
        if trial is not None and trial.status.name == "EARLY_STOPPED":
            pid = kill_job(log_dir)  # stopped, but its job outlived the driver
            stopped.extend([pid] if pid is not None else [])
            continue  # its log is its learning curve: kept
        if trial is not None and (trial.status.is_terminal or trial.status.is_running):
            continue
        pid = job_pid(log_dir)
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            stopped.append(pid)
        log_dir.rename(log_dir.with_name(f"{log_dir.name}.stale-{os.getpid()}"))
    return stopped
