"""NasRunner with real local TorchX jobs: what a trial really runs against its dry-run,
the failure reason of a failing job, and a job outliving the driver that started it."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from ax.core.base_trial import TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY
from ax.runners.torchx import TORCHX_APP_HANDLE

from conftest import tutorial_runner, tutorial_config, ROOT
from nas.jobs.dryrun import first_trials
from nas.jobs.failures import STDERR_TAIL_LINES
from nas.jobs.processes import is_running, job_pid


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """TorchX's local scheduler installs its own SIGINT/SIGTERM handlers; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def wait_for(predicate, timeout=120):
    end = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)
    return value


def launched_trial(runner):
    """The search's first trial, launched by `runner` (trial.run: Ax's path)."""
    (trial,) = first_trials(runner, tutorial_config(epochs=1), total_trials=2, max_pending=1, seed=0)
    trial.run()
    return trial


def poll_until_terminal(runner, trial):
    def terminal():
        ((status, indices),) = runner.poll_trial_status([trial]).items()
        assert indices == {trial.index}
        return status if status.is_terminal else None
    return wait_for(terminal)


def test_a_local_trial_runs_the_command_its_dry_run_shows(tmp_path, mnist_cache):
    runner = tutorial_runner(tmp_path / "trials", mnist_cache.parent)
    (trial,) = first_trials(runner, tutorial_config(epochs=1), total_trials=2, max_pending=1, seed=0)
    (replica,) = next(iter(runner.dryrun(trial).request.role_params.values()))
    # the dry-run's command, against what the trial should run (built here, not by the runner):
    # the local launcher (nas/jobs/local_launch.py), then `--` and the training script's command
    launcher = [sys.executable, str(ROOT / "nas" / "jobs" / "local_launch.py"),
                "--pid-file", str(tmp_path / "trials" / "0" / "job.pid"),
                "--warm-start", str(tmp_path / "trials" / "warm_start.address"), "--"]
    expected = [str(ROOT / "mnist_train_nas.py"), "--log_path", str(tmp_path / "trials" / "0"),
                "--data_cache", str(mnist_cache), "--gpus", "0"]
    for name, value in trial.arm.parameters.items():
        expected += [f"--{name}", str(value)]
    launched = replica.args[len(launcher):]
    assert replica.args[:len(launcher)] == launcher
    assert launched == expected

    trial.run()
    log_dir = trial.run_metadata[RUN_METADATA_KEY]
    assert log_dir == str(tmp_path / "trials" / "0")
    pid = wait_for(lambda: job_pid(log_dir))
    try:  # the process TorchX started became the dry-run's training command (no warm server)
        cmdline = lambda: Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert wait_for(lambda: cmdline() == [sys.executable, *launched], timeout=10)
        assert os.readlink(f"/proc/{pid}/cwd") == replica.cwd
    finally:
        runner.stop(trial, reason="test done")
    wait_for(lambda: not is_running(pid), timeout=10)


def test_a_failing_job_fails_with_its_exit_code_and_stderr_tail(tmp_path):
    empty = tmp_path / "empty"  # no tensor file: the job exits 2 with one line on stderr
    runner = tutorial_runner(tmp_path / "trials", empty)
    trial = launched_trial(runner)
    assert poll_until_terminal(runner, trial) == TrialStatus.FAILED
    reason = runner.poll_exception(trial)
    # how it ended (and no TorchX "<NONE>" message), then the last lines of stderr
    exit, tail = reason.split(": ", 1)
    assert exit == "exit code 2", reason
    assert tail.count(" | ") < STDERR_TAIL_LINES and "<NONE>" not in tail, reason
    cache = empty / "mnist_uint8.npz"
    assert tail.endswith(f"mnist_train_nas.py: no tensor file {cache}; make it with `python "
                         f"mnist_data.py --data-dir DIR --cache {cache}` (the search's "
                         "[prepare] does)"), reason
    assert "\n" not in reason


def test_a_job_of_a_dead_driver_is_reattached_stopped_and_abandoned(tmp_path, mnist_cache):
    args = (tmp_path / "trials", mnist_cache.parent)
    trial = launched_trial(tutorial_runner(*args))
    pid = wait_for(lambda: job_pid(trial.run_metadata[RUN_METADATA_KEY]))
    # the driver "restarts": a new runner, whose TorchX runner never saw this job
    restarted = tutorial_runner(*args)
    assert restarted.poll_trial_status([trial]) == {TrialStatus.RUNNING: {0}}
    restarted.stop(trial, reason="early stopped")  # by its pid: TorchX does not know it
    wait_for(lambda: not is_running(pid), timeout=10)
    # it ended without results while no driver watched it: a new trial replaces it
    assert restarted.poll_trial_status([trial]) == {TrialStatus.ABANDONED: {0}}
    assert restarted.poll_exception(trial).startswith("job ended while the driver was down; "
                                                      "exited 0 but logged no finite val_acc")


def test_run_metadata_is_plain_data_a_restarted_driver_can_use(tmp_path, mnist_cache):
    runner = tutorial_runner(tmp_path / "trials", mnist_cache.parent)
    trial = launched_trial(runner)
    try:
        assert set(trial.run_metadata) == {TORCHX_APP_HANDLE, RUN_METADATA_KEY,
                                           "torchx_tracker_base"}
        assert trial.run_metadata[TORCHX_APP_HANDLE].startswith("local_cwd://")
        assert all(isinstance(v, str) for v in trial.run_metadata.values())
    finally:
        runner.stop(trial)
