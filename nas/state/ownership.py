"""One driver per search: an exclusive `flock` on LOG_DIR/driver.lock from before the
saved state is read until the search's run ends (its process's exit at the latest); a
second driver is refused (LogDirInUse, naming the holder's pid), a command or a notebook
alike. The kernel drops the lock with the process (`kill -9` too), so a stale lock never
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
from nas.messages import log, option

LOCK_FILE = "driver.lock"


class LogDirInUse(NasError):
    """Another driver holds the log dir's lock."""


class Ownership:
    """The lock on a log dir, held until `release` (or the end of a `with` block, or the
    process): the driver's while it runs a search."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # the kernel drops the lock with its last descriptor
            self.fd = None

    def __enter__(self) -> "Ownership":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def own_log_dir(log_dir: str | Path, fresh: bool = False) -> Ownership:
    """Lock `log_dir` for this process, or LogDirInUse naming the driver that holds it.
    `fresh`: move an earlier search (logs and state) aside first, never deleting it."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)  # checked beforehand that it can be
    fd = _lock(log_dir)
    if fresh and any(p.name != LOCK_FILE for p in log_dir.iterdir()):
        backup = log_dir.with_name(f"{log_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        log_dir.rename(backup)  # one rename: a crash leaves either the old or the new layout
        log_dir.mkdir()
        new_fd = _lock(log_dir)
        os.close(fd)
        (backup / LOCK_FILE).unlink(missing_ok=True)
        fd = new_fd
        log.info(f"{option('fresh')}: moved the earlier search's logs and state to {backup}")
    return Ownership(fd)


def _lock(log_dir: Path) -> int:
    path = log_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            raise
        raise LogDirInUse(f"{log_dir} is in use by another search driver (pid {_holder(path)}); "
                          "wait for it to end or stop it, or give this run another "
                          f"{option('results_dir')} / {option('log_dir')}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def recorded_holder(log_dir: str | Path) -> int | None:
    """The pid the last driver to lock `log_dir` wrote (it may have ended since), or None;
    read without taking the lock, which a running driver holds (run_nas.py --report)."""
    try:
        text = (Path(log_dir) / LOCK_FILE).read_text().split()
    except OSError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None


def _holder(path: str | Path) -> str:
    """The pid the holder wrote; it writes it right after locking, so wait a moment."""
    for _ in range(20):
        text = Path(path).read_text().strip()
        if text:
            return text
        time.sleep(0.05)
    return "unknown"


