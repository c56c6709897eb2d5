"""One driver per search: an exclusive `flock` on LOG_DIR/driver.lock from before the
saved state is read until the driver exits; a second driver exits 2 naming the holder's
pid. The kernel drops the lock with the process (`kill -9` too), so a stale lock never
blocks the next run; the descriptor is close-on-exec, so a job or warm-start server
outliving its driver holds none. Standard library only: the lock is taken, and a second
driver refused, before the trials' libraries load; only the search config's check (with
Ax, so that a bad config is refused with nothing written) comes before it.
"""

import errno
import fcntl
import os
import time
from pathlib import Path

from nas.errors import NasError

LOCK_FILE = "driver.lock"


class LogDirInUse(NasError):
    """Another driver holds the log dir's lock."""
_held = []  # the lock's file descriptor, open for the process's whole life


def own_log_dir(log_dir, fresh=False):
    """Lock `log_dir` for this process, or LogDirInUse naming the driver that holds it.
    `fresh`: move an earlier search (logs and state) aside first, never deleting it."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)  # nas/cli.py checked that it can be
    fd = _lock(log_dir)
    if fresh and any(p.name != LOCK_FILE for p in log_dir.iterdir()):
        backup = log_dir.with_name(f"{log_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        log_dir.rename(backup)  # one rename: a crash leaves either the old or the new layout
        log_dir.mkdir()
        new_fd = _lock(log_dir)
        os.close(fd)
        (backup / LOCK_FILE).unlink(missing_ok=True)
        fd = new_fd
        print(f"--fresh: moved the earlier search's logs and state to {backup}")
    _held.append(fd)


def _lock(log_dir):
    path = log_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            raise
        raise LogDirInUse(f"{log_dir} is in use by another run_nas.py (pid {_holder(path)}); "
                          "wait for it to end or stop it, or give this run another "
                          "--results-dir / --log-dir")
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def recorded_holder(log_dir):
    """The pid the last driver to lock `log_dir` wrote (it may have ended since), or None;
    read without taking the lock, which a running driver holds (run_nas.py --report)."""
    try:
        text = (Path(log_dir) / LOCK_FILE).read_text().split()
    except OSError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None


def _holder(path):
    """The pid the holder wrote; it writes it right after locking, so wait a moment."""
    for _ in range(20):
        text = Path(path).read_text().strip()
        if text:
            return text
        time.sleep(0.05)
    return "unknown"


