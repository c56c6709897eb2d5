"""nas/jobs/processes.py with real processes: which job still runs for a log dir, and the jobs
a resumed search stops because its saved state does not know them."""

import os
import subprocess
import sys
import time
from pathlib import Path

from ax.core import Arm

from nas.orchestration import make_experiment
from nas.jobs.processes import PID_FILE, is_running, job_pid, stop_untracked_jobs
from conftest import tutorial_config

HPARAMS = dict(hidden_size_1=32, hidden_size_2=32, learning_rate=1e-3, epochs=1, dropout=0.1,
               batch_size=64)


def fake_job(log_dir):
    """A process standing in for a trial job: its command line holds its log dir, and it
    leads its own session, as a TorchX local job does; job.pid names it."""
    log_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(log_dir)],
                            start_new_session=True)
    (log_dir / PID_FILE).write_text(str(proc.pid))
    # right after exec, /proc/<pid>/cmdline can still be empty
    wait_until(lambda: str(log_dir).encode() in Path(f"/proc/{proc.pid}/cmdline").read_bytes())
    return proc


def wait_until(predicate, timeout=10):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def experiment_with(statuses):
    """A real experiment whose trials 0, 1, ... have the given statuses."""
    experiment = make_experiment(tutorial_config(epochs=1))
    for status in statuses:
        trial = experiment.new_trial().add_arm(Arm(parameters=HPARAMS))
        trial.mark_running(no_runner_required=True)
        if status == "COMPLETED":
            trial.mark_completed()
    return experiment


def test_job_pid_names_only_a_live_job_of_that_log_dir(tmp_path):
    job = fake_job(tmp_path / "0")
    try:
        assert job_pid(tmp_path / "0") == job.pid
        # a pid file naming a live process that is not this log dir's job (a reused pid)
        (tmp_path / "1").mkdir()
        (tmp_path / "1" / PID_FILE).write_text(str(os.getpid()))
        assert job_pid(tmp_path / "1") is None
        assert job_pid(tmp_path / "missing") is None
    finally:
        job.kill()
    wait_until(lambda: not is_running(job.pid))  # ended, not yet reaped: a zombie
    assert job_pid(tmp_path / "0") is None
    job.wait()


def test_stop_untracked_jobs_stops_and_moves_aside_only_unknown_jobs(tmp_path):
    experiment = experiment_with(["RUNNING", "COMPLETED"])
    running = fake_job(tmp_path / "0")  # trial 0 runs: its job is re-attached, not stopped
    (tmp_path / "1").mkdir()  # trial 1 completed: its logs stay
    untracked = fake_job(tmp_path / "2")  # launched, never recorded: stopped
    (tmp_path / "3").mkdir()  # never recorded, pid file of a live process not its job
    (tmp_path / "3" / PID_FILE).write_text(str(os.getpid()))
    (tmp_path / "torchx").mkdir()  # TorchX's own logs: not a trial
    try:
        assert stop_untracked_jobs(tmp_path, experiment) == [untracked.pid]
        assert untracked.wait(timeout=10) == -9
        assert is_running(running.pid)
    finally:
        running.kill()
        untracked.kill()
    running.wait()
    stale = f"stale-{os.getpid()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1", f"2.{stale}", f"3.{stale}",
                                                          "torchx"]
    assert (tmp_path / f"2.{stale}" / PID_FILE).read_text() == str(untracked.pid)


def test_stop_untracked_jobs_without_a_trials_dir(tmp_path):
    assert stop_untracked_jobs(tmp_path / "none", experiment_with([])) == []


def test_job_exits_wake_the_loop_as_a_job_ends(tmp_path):
    """The loop's wait (CandidateMaker.wait_ready) returns the pidfd of a job that ended,
    long before its timeout, and not for one that runs on; a trial no longer running has
    its pidfd closed, and one whose process is not known yet is simply not watched."""
    from types import SimpleNamespace

    from bench.generation import new_experiment
    from nas.candidates import CandidateMaker
    from nas.generation import make_generation_strategy
    from nas.jobs.processes import JobExits

    ending, running = fake_job(tmp_path / "0"), fake_job(tmp_path / "1")
    trials = [SimpleNamespace(index=i, log_dir=tmp_path / str(i)) for i in (0, 1, 2)]
    exits = JobExits(lambda trial: job_pid(trial.log_dir))
    maker = CandidateMaker(make_generation_strategy(new_experiment(str(tmp_path)), total_trials=2,
                                                    max_pending=2, seed=0))
    try:
        fds = exits.watch(trials)  # trial 2 has no job.pid
        assert len(fds) == 2
        assert maker.wait_ready(0.2, fds) == []  # both run: the wait lasts its timeout
        ending.kill()
        started = time.monotonic()
        readable = maker.wait_ready(120, fds)
        assert len(readable) == 1 and time.monotonic() - started < 60
        exits.ended(readable)
        assert exits.watch(trials) == [fd for fd in fds if fd not in readable]  # not reopened
        assert exits.watch(trials[1:2]) == [fd for fd in fds if fd not in readable]
        assert exits.watch([]) == []  # closed once their trials left the running ones
    finally:
        exits.close()
        maker.close()
        running.kill()
        ending.wait()
        running.wait()
