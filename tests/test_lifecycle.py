"""One driver per search; damaged or unsavable state; --fresh; SIGTERM (nas/state/lifecycle.py).

Real driver processes and real signals on small searches (1-epoch trials). Searches that
need no trained trial start from a state saved here and a linked data cache, so that
the driver's own start-up is all they cost.
"""

import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import link_cache, tutorial_runner, tutorial_config, driver_command, run_driver, start_driver
from test_resilience import common, lock_is_free, running_job, stop_while_trial_0_runs, wait_for

LOCK = "driver.lock"


def saved_search(results, mnist_cache, trials=3):
    """A new search saved as the driver saves it, in results/logs, with MNIST cached."""
    from nas.orchestration import make_experiment
    from nas.generation import make_generation_strategy
    from nas.state.storage import STATE_FILE, StateStore

    log_dir = results / "logs"
    cache = link_cache(mnist_cache, log_dir)
    runner = tutorial_runner(log_dir / "trials", cache.parent)
    experiment = make_experiment(tutorial_config(epochs=1), runner)
    strategy = make_generation_strategy(experiment, trials, 2, seed=1)
    StateStore(log_dir / STATE_FILE).write_snapshot(experiment, strategy)
    return log_dir / STATE_FILE


def snapshot(results):
    """Every file of the search outside the trials' own dirs (which jobs write): name, bytes."""
    return {str(p.relative_to(results)): p.read_bytes() for p in results.rglob("*")
            if p.is_file() and "trials" not in p.parts}


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


def test_a_second_driver_is_refused_and_changes_nothing(tmp_path, data_dir, main_in_process):
    results = tmp_path / "r"
    out = tmp_path / "first.txt"
    first = start_driver(*common(results, data_dir, trials=2), out=out)
    wait_for(lambda: running_job(results, 0), what="trial 0's job")
    first.send_signal(signal.SIGSTOP)  # hold the first still: anything changed is the second's
    try:
        # stopped once every thread is: a write under way (the live page's plotly.min.js)
        # finishes in the kernel first
        wait_for(lambda: all(t.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
                             for t in Path(f"/proc/{first.pid}/task").iterdir()),
                 what="the first driver to stop")
        before = snapshot(results)
        # the second in this process: the lock is the first driver process's all the same
        code, printed, err = main_in_process(*common(results, data_dir, trials=2))
        assert snapshot(results) == before
    finally:
        first.send_signal(signal.SIGCONT)
    assert code == 2
    assert [line for line in err.splitlines() if line.strip()] == [
        f"run_nas.py: error: {results / 'logs'} is in use by another search driver (pid {first.pid}); "
        "wait for it to end or stop it, or give this run another --results-dir / --log-dir"]
    assert printed == ""
    assert first.wait(timeout=600) == 0, out.read_text()[-3000:]
    assert "Done in" in out.read_text()


def test_a_dry_run_needs_no_lock(tmp_path, data_dir):
    results = tmp_path / "r"
    (results / "logs").mkdir(parents=True)
    with open(results / "logs" / LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = run_driver(*common(results, data_dir), "--dry-run", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "# ---- trial 0" in proc.stdout


def test_sigterm_cancels_the_jobs_saves_and_exits_130(tmp_path, data_dir):
    from nas.state.storage import STATE_FILE, load_state

    results, text = stop_while_trial_0_runs(tmp_path, data_dir, signal.SIGTERM)
    assert "Cancelling the jobs of the running trials [0" in text
    assert "search stopped (interrupted (SIGTERM))" in text
    experiment, _ = load_state(results / "logs" / STATE_FILE)
    statuses = {t.index: t.status.name for t in experiment.trials.values()}
    assert statuses[0] == "ABANDONED" and "RUNNING" not in statuses.values(), statuses
    assert "job cancelled" in experiment.trials[0].status_reason
    assert lock_is_free(results / "logs")


DAMAGE = {
    "empty": (b"", "is empty"),
    "truncated": (None, "is truncated"),
    "not JSON": (b"\x00\x01 not json at all", "is not JSON"),
    "newer format": (None, "has format 99, this version reads 2"),
    "unknown class": (None, "cannot be read by this version of Ax"),
}


def damage(state_file, kind):
    text = state_file.read_text()
    if kind == "truncated":
        return text[: len(text) // 2].encode()
    state = json.loads(text)
    if kind == "newer format":
        state["format"] = 99
    if kind == "unknown class":
        state["experiment"]["__type"] = "ExperimentFromTheFuture"
    return json.dumps(state).encode() if kind in ("newer format", "unknown class") else \
        DAMAGE[kind][0]


AS_A_COMMAND = "truncated"  # the other kinds run the driver's main in this process (same code)


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_state_exits_2_naming_the_file_and_keeps_the_last_good_copy(
        tmp_path, data_dir, mnist_cache, kind, main_in_process):
    from nas.state.storage import StateStore, load_state

    results = tmp_path / "r"
    state_file = saved_search(results, mnist_cache)
    good = state_file.read_bytes()
    experiment, strategy = load_state(state_file)
    StateStore(state_file).write_snapshot(experiment, strategy)  # the earlier file: the previous copy
    prev = state_file.with_name(state_file.name + ".prev")
    bad = damage(state_file, kind)
    state_file.write_bytes(bad)

    if kind == AS_A_COMMAND:
        proc = run_driver(*common(results, data_dir), timeout=120)
        code, err = proc.returncode, proc.stderr
    else:
        code, _, err = main_in_process(*common(results, data_dir))
    assert code == 2
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith(f"run_nas.py: error: the saved search {state_file} {DAMAGE[kind][1]}")
    assert f"`cp {prev} {state_file}`" in line and "--fresh" in line
    assert state_file.read_bytes() == bad  # nothing trusted, nothing discarded
    assert prev.read_bytes() == good
    # nothing launched: no trial's folder (the warm-start server, started as the driver
    # took the log dir and stopped as it refused the state, may have made the trials dir)
    assert not [p for p in (results / "logs" / "trials").glob("*") if p.is_dir()]
    assert load_state(prev)  # the way out the line names works


def test_fresh_moves_a_damaged_search_aside_and_starts_anew(tmp_path, data_dir, mnist_cache):
    results = tmp_path / "r"
    state_file = saved_search(results, mnist_cache)
    state_file.write_bytes(b"{\"experiment\": ")
    proc = run_driver(*common(results, data_dir, trials=1), "--fresh")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    moved = [p for p in results.iterdir() if p.name.startswith("logs.old-")]
    assert len(moved) == 1 and f"--fresh: moved the earlier search's logs and state to {moved[0]}" \
        in proc.stdout
    assert (moved[0] / state_file.name).read_bytes() == b"{\"experiment\": "
    assert not (moved[0] / LOCK).exists()
    assert "Resuming" not in proc.stdout and "1 completed" in proc.stdout


def test_a_failing_save_stops_the_driver_and_keeps_the_previous_state(
        tmp_path, data_dir, mnist_cache):
    """No file may grow beyond the saved state's size (RLIMIT_FSIZE, as a full disk: root
    writes through chmod): a save fails once the journal reaches that size, or at the
    latest the final snapshot."""
    results = tmp_path / "r"
    state_file = saved_search(results, mnist_cache)
    before = state_file.read_bytes()
    limit = len(before) + 64

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd, env = driver_command(*common(results, data_dir))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_file_size)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = error_lines(proc)
    assert lines[-1] == (
        f"run_nas.py: error: cannot save the search state to {state_file} (File too large); the "
        f"previous state there is intact; free space or make {results / 'logs'} writable, "
        "then run the same command again to resume"), lines
    assert "Traceback" not in proc.stderr
    assert state_file.read_bytes() == before
    leftovers = [p.name for p in state_file.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    for idx in (0, 1):  # the jobs it launched were cancelled
        assert running_job(results, idx) is None


def test_a_stop_signal_lost_in_a_finalizer_is_raised_again_at_the_next_check(monkeypatch):
    """A signal handler's exception raised while a finalizer runs is printed as "Exception
    ignored" and lost: Ctrl-C would do nothing. The search's loop checks after every poll
    for a stop signal received, and raises it then."""
    from nas.state.lifecycle import STOP_SIGNALS, StopSignals

    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))  # the handler runs here, inside the finalizer

    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)  # Python's "Exception ignored"
    signals, before = StopSignals(), {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    signals.install()
    try:
        Finalized()  # collected at once: the handler's KeyboardInterrupt goes nowhere
        assert [type(u.exc_value) for u in ignored] == [KeyboardInterrupt]
        with pytest.raises(KeyboardInterrupt):
            signals.check()
    finally:  # this test process's handlers, both of them, as they were
        for sig, handler in before.items():
            signal.signal(sig, handler)
