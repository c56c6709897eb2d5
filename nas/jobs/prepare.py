"""The search's own preparation: the config's [prepare] command, run once by the driver
before the first trial (e.g. the tutorial's: fetch MNIST, decode it into one tensor file
that every trial loads). A search that declares none prepares nothing.

The command runs on the driver's machine, in the config file's folder, with its
placeholders filled in (nas/config.py, PREPARE_PLACEHOLDERS); what it writes into
{cache_dir} (LOG_DIR/cache) the trials see, as they see the log dir. It runs at every
start of the driver unless every file its `creates` names exists (so it should write
them atomically, as the tutorial's does), and then it should keep what an earlier run
made.
"""

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from nas.config import SearchConfig
from nas.errors import NasError
from nas.jobs.failures import last_lines

CACHE_DIR = "cache"  # under the log dir: {cache_dir}


class PrepareFailed(NasError):
    """The [prepare] command failed; the message has its own last lines."""


def cache_dir(log_dir: str | Path) -> Path:
    return Path(log_dir) / CACHE_DIR


def _fill(words: Iterable[str], data_dir: str | Path, log_dir: str | Path) -> list[str]:
    values = {"python": sys.executable, "data_dir": str(Path(data_dir).resolve()),
              "cache_dir": str(cache_dir(log_dir).resolve())}
    return [word.format(**values) for word in words]


def prepare_command(config: SearchConfig, data_dir: str | Path, log_dir: str | Path) -> list[str] | None:
    """The [prepare] command with its placeholders filled in, or None."""
    return None if config.prepare is None else _fill(config.prepare, data_dir, log_dir)


def is_prepared(config: SearchConfig, data_dir: str | Path, log_dir: str | Path) -> bool:
    """Whether every file [prepare] creates exists (False if it names none)."""
    creates = _fill(config.prepare_creates, data_dir, log_dir)
    return bool(creates) and all((config.folder / f).exists() for f in creates)


def run_prepare(config: SearchConfig, data_dir: str | Path, log_dir: str | Path) -> None:
    """Run the [prepare] command to its end, unless what it creates is there;
    PrepareFailed with its last stderr line if it fails."""
    command = prepare_command(config, data_dir, log_dir)
    if command is None or is_prepared(config, data_dir, log_dir):
        return
    cache_dir(log_dir).mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(command, cwd=config.folder, capture_output=True, text=True)
    except OSError as e:
        raise PrepareFailed(f"[prepare] of {config.source}: cannot run {command[0]!r} "
                            f"({e.strerror})") from None
    if done.returncode != 0:
        tail = last_lines([done.stderr], lines=1) or last_lines([done.stdout], lines=1)
        raise PrepareFailed(f"[prepare] of {config.source} failed (exit code {done.returncode})"
                            f": {tail[0] if tail else 'no output'}")
