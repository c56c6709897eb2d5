"""A search seen from outside its driver, for `run_nas.py --report`: its saved state, and
whether a driver runs it now.

Nothing here takes the search's lock, writes its state or launches a job: the state file
is read as it is (it is replaced atomically, so any moment's copy is complete), and the
driver that runs the search is the pid its lock file names, checked to be a live
`run_nas.py` process (a lock file outlives its driver; the kernel only drops the lock).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import NasError
from nas.messages import option

if TYPE_CHECKING:
    from ax.core.experiment import Experiment

    from nas.config import SearchConfig


class NoSavedSearch(NasError):
    """The log dir holds no saved search."""


def read_saved_search(log_dir: str | Path, config: SearchConfig) -> tuple[Experiment, dict[str, Any], str]:
    """(experiment, the driver's run info, when the state was saved (ISO)) of the search
    saved in `log_dir`. NoSavedSearch, StateError (damaged: the resume's one line) or
    SearchMismatch (saved from another config)."""
    from nas.orchestration import SearchMismatch, check_same_search, saved_run_info
    from nas.state.storage import STATE_FILE, journal_of, load_state

    state_file = Path(log_dir) / STATE_FILE
    try:
        saved = os.stat(state_file).st_mtime
        if journal_of(state_file).exists():  # the latest save is the journal's last line
            saved = max(saved, os.stat(journal_of(state_file)).st_mtime)
    except FileNotFoundError:
        raise NoSavedSearch(f"no saved search in {log_dir} (no {STATE_FILE}): "
                            f"{option('report')} reads the state a search saves; give the "
                            f"{option('results_dir')} / {option('log_dir')} the search ran "
                            "with") from None
    experiment, _ = load_state(state_file)
    info = saved_run_info(experiment)
    try:
        check_same_search(experiment, config)
    except SearchMismatch:
        def flags(path: str, fixed: Mapping[str, Any]) -> str:
            return f"{option('config')} {path}" + "".join(
                f" {option('fix')} {k}={v}" for k, v in fixed.items())

        ran = info.get("config") or {}
        how = f" (it ran with {flags(ran['path'], ran.get('fixed') or {})})" if ran else ""
        raise SearchMismatch(f"{state_file} holds a search made from another config than "
                             f"{flags(config.source, config.fixed)}{how}: give "
                             f"{option('report')} the {option('config')} and {option('fix')} "
                             "the search ran with") from None
    if not info:  # saved by a version that kept no run info: what the config says
        from nas.config import as_dict

        info = {"config": as_dict(config)}
    return experiment, info, dt.datetime.fromtimestamp(saved).isoformat(timespec="seconds")


def recorded_config(log_dir: str | Path) -> tuple[dict[str, Any] | Path, dict[str, Any]]:
    """(the config file, or the dict it was declared by, and {parameter: value} fixed) a
    saved search's driver ran with, as its run info records them; NoSavedSearch if there
    is none, or none was recorded."""
    from nas.orchestration import saved_run_info
    from nas.state.storage import STATE_FILE, load_state

    state_file = Path(log_dir) / STATE_FILE
    if not state_file.exists():
        raise NoSavedSearch(f"no saved search in {log_dir} (no {STATE_FILE}): "
                            f"{option('report')} reads the state a search saves; give the "
                            f"{option('results_dir')} / {option('log_dir')} the search ran "
                            "with")
    experiment, _ = load_state(state_file)
    info = saved_run_info(experiment)
    ran = info.get("config") or {}
    if info.get("config_dict"):  # a search declared by a dict (nas.Search.from_config)
        return info["config_dict"], dict(ran.get("fixed") or {})
    path = ran.get("path")
    if not path or not Path(path).is_file():
        raise NoSavedSearch(f"the search saved in {log_dir} does not record a config file that "
                            f"exists here ({path or 'none recorded'}); give {option('config')}")
    return Path(path), dict(ran.get("fixed") or {})


def running_driver(log_dir: str | Path, run_info: Mapping[str, Any]) -> dict[str, Any] | None:
    """The driver running the search in `log_dir` now, as SearchStatus.driver has it
    ({pid, host, started, checked}), or None. A driver on another host (the saved run
    info says which) cannot be checked from here: until its state records an end, it is
    taken as running, `checked` False."""
    from nas.state.ownership import LOCK_FILE, recorded_holder

    saved = run_info.get("driver") or {}
    if saved.get("host") not in (None, socket.gethostname()):
        return {**saved, "checked": False} if run_info.get("ended") is None else None
    pid = recorded_holder(log_dir)
    if pid is None or not holds_lock(pid, Path(log_dir) / LOCK_FILE):
        return None
    # a driver that has not saved yet (resuming) is not the one the run info names
    return {**saved, "checked": True} if saved.get("pid") == pid else {"pid": pid, "checked": True}


def holds_lock(pid: int, lock_file: str | Path) -> bool:
    """Whether process `pid` holds the flock on `lock_file` now: the kernel's table of
    locks (/proc/locks) says, whatever the process is (run_nas.py, a notebook's kernel);
    a pid reused by another process holds no lock. Without /proc/locks: whether `pid` is
    a live process."""
    locks = Path("/proc/locks")
    try:
        st = os.stat(lock_file)
        table = locks.read_text()
    except OSError:
        return _alive(pid)
    file_id = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()  # 1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid) \
                and fields[5] == file_id:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
