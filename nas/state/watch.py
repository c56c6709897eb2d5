"""A search seen from outside its driver, for `run_nas.py --report`: its saved state, and
whether a driver runs it now.

Nothing here takes the search's lock, writes its state or launches a job: the state file
is read as it is (it is replaced atomically, so any moment's copy is complete), and the
driver that runs the search is the pid its lock file names, checked to be a live
`run_nas.py` process (a lock file outlives its driver; the kernel only drops the lock).
"""

import datetime as dt
import os
import socket
from pathlib import Path

from nas.errors import NasError


class NoSavedSearch(NasError):
    """The log dir holds no saved search."""


def read_saved_search(log_dir, config):
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
        raise NoSavedSearch(f"no saved search in {log_dir} (no {STATE_FILE}): --report reads "
                            "the state a search saves; give the --results-dir / --log-dir "
                            "the search ran with") from None
    experiment, _ = load_state(state_file)
    info = saved_run_info(experiment)
    try:
        check_same_search(experiment, config)
    except SearchMismatch:
        def flags(path, fixed):
            return f"--config {path}" + "".join(f" --fix {k}={v}" for k, v in fixed.items())

        ran = info.get("config") or {}
        how = f" (it ran with {flags(ran['path'], ran.get('fixed') or {})})" if ran else ""
        raise SearchMismatch(f"{state_file} holds a search made from another config than "
                             f"{flags(config.path, config.fixed)}{how}: give --report the "
                             "--config and --fix the search ran with") from None
    if not info:  # saved by a version that kept no run info: what the config says
        from nas.config import as_dict

        info = {"config": as_dict(config)}
    return experiment, info, dt.datetime.fromtimestamp(saved).isoformat(timespec="seconds")


def running_driver(log_dir, run_info):
    """The driver running the search in `log_dir` now, as SearchStatus.driver has it
    ({pid, host, started, checked}), or None. A driver on another host (the saved run
    info says which) cannot be checked from here: until its state records an end, it is
    taken as running, `checked` False."""
    from nas.state.ownership import recorded_holder

    saved = run_info.get("driver") or {}
    if saved.get("host") not in (None, socket.gethostname()):
        return {**saved, "checked": False} if run_info.get("ended") is None else None
    pid = recorded_holder(log_dir)
    if pid is None or not is_driver(pid):
        return None
    # a driver that has not saved yet (resuming) is not the one the run info names
    return {**saved, "checked": True} if saved.get("pid") == pid else {"pid": pid, "checked": True}


def is_driver(pid):
    """A live (not zombie) process running run_nas.py."""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():  # no procfs: whether the pid exists at all
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
        state = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # gone meanwhile
        return False
    return state != "Z" and any(Path(os.fsdecode(arg)).name == "run_nas.py" for arg in argv)
