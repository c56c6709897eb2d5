"""Why a trial's job failed, in one line: how it ended (exit code or signal) and the last
lines of its stderr, as far as TorchX can tell for its scheduler."""

from __future__ import annotations

import collections
import json
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from torchx.schedulers.api import Stream
from torchx.specs import NONE

if TYPE_CHECKING:
    from torchx.runner import Runner
    from torchx.specs import AppStatus

STDERR_TAIL_LINES = 5


def failure_reason(torchx_runner: Runner, handle: str, status: AppStatus) -> str:
    """`status`: the job's terminal TorchX AppStatus."""
    reason = exit_description(status) or f"job {status.state.name.lower()}"
    if status.msg and status.msg != NONE:  # NONE: TorchX's "no message"
        reason += f": {status.msg}"
    tail = stderr_tail(torchx_runner, handle)
    return f"{reason}: {' | '.join(tail)}" if tail else reason


def exit_description(status: AppStatus) -> str | None:
    """'exit code N' or 'killed by SIGNAME' for a local job, else None.

    TorchX has no public API for a job's exit code: its local scheduler keeps the replicas'
    exit codes private and writes them only to the SUCCESS file in the app's log dir
    (`ui_url`, file://...), which we read; other schedulers report no SUCCESS file.
    """
    app_dir = (status.ui_url or "").removeprefix("file://")
    try:
        roles = json.loads((Path(app_dir) / "SUCCESS").read_text())["roles"]
        code = next(iter(roles.values()))[0]["exitcode"]
    except (OSError, ValueError, KeyError, IndexError, StopIteration, TypeError):
        return None
    if code is None:
        return None
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def stderr_tail(torchx_runner: Runner, handle: str) -> list[str]:
    """The last non-blank lines of the first replica's stderr (TorchX's `log_lines`)."""
    app = torchx_runner.describe(handle)
    if app is None:
        return []
    try:
        return last_lines(torchx_runner.log_lines(handle, app.roles[0].name, 0,
                                                  streams=Stream.STDERR))
    except Exception:  # schedulers raise their own errors when logs are gone: no tail then
        return []


def file_tail(path: str | Path) -> list[str]:
    """The last non-blank lines of a job's stderr file; [] if it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            return last_lines(f)
    except OSError:
        return []


def last_lines(chunks: Iterable[str], lines: int = STDERR_TAIL_LINES) -> list[str]:
    """The last `lines` non-blank lines, stripped, of text given in chunks (lines of a
    file, or TorchX's log chunks)."""
    tail: collections.deque[str] = collections.deque(maxlen=lines)
    for chunk in chunks:
        tail.extend(line.strip() for line in chunk.splitlines() if line.strip())
    return list(tail)
