"""Nothing finished is lost: killed trials, a SIGKILLed driver, Ctrl-C, broken logs.

Real driver processes, real TorchX jobs, real signals; 1-epoch trials to stay fast.
"""

import fcntl
import math
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from ax.core import Arm
from ax.core.base_trial import TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY
from torch.utils.tensorboard import SummaryWriter

from conftest import run_driver, start_driver, tutorial_config
from nas.jobs.processes import job_pid
from nas.orchestration import make_experiment
from nas.runner import NasRunner


def wait_for(predicate, timeout=300, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def running_job(results, idx):
    """pid of trial idx's training job once it runs, else None."""
    return job_pid(results / "logs" / "trials" / str(idx))


def table(results):
    return pd.read_csv(results / "experiment.csv").set_index("trial_index")


def common(results, data_dir, trials=3):
    return ["--trials", trials, "--max-pending", 2, "--fix", "epochs=1", "--seed", 1,
            "--data-dir", data_dir, "--results-dir", results]


def test_killed_trial_fails_with_its_signal_and_the_search_goes_on(tmp_path, data_dir):
    results = tmp_path / "r"
    driver = start_driver(*common(results, data_dir), out=tmp_path / "out.txt")
    pid = wait_for(lambda: running_job(results, 0), what="trial 0's job")
    os.kill(pid, signal.SIGKILL)
    assert driver.wait(timeout=600) == 0, (tmp_path / "out.txt").read_text()[-3000:]
    df = table(results)
    assert len(df) == 3
    assert df.loc[0, "trial_status"] == "FAILED"
    assert "killed by SIGKILL" in df.loc[0, "reason"]
    assert (df.loc[[1, 2], "trial_status"] == "COMPLETED").all()
    kept = (results / "logs" / "trials" / "0" / "failure_reason.txt").read_text()
    assert "SIGKILL" in kept
    assert "trial 0 FAILED: killed by SIGKILL" in (tmp_path / "out.txt").read_text()


def test_driver_killed_with_sigkill_resumes_without_rerunning(tmp_path, data_dir):
    results = tmp_path / "r"
    out = tmp_path / "first.txt"
    driver = start_driver(*common(results, data_dir, trials=4), out=out)
    wait_for(lambda: finished_trials(results), what="a finished trial")
    driver.kill()
    driver.wait()
    done_before = finished_trials(results)
    mtimes = {i: _mtimes(results, i) for i in done_before}

    second = run_driver(*common(results, data_dir, trials=4))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Resuming the search" in second.stdout
    df = table(results)
    assert (df["trial_status"] != "ABANDONED").sum() == 4  # the requested total ran
    # jobs running when the driver died were re-attached (or their results taken), not lost
    assert (df["trial_status"] == "COMPLETED").all(), df["trial_status"].to_dict()
    for i in done_before:
        assert df.loc[i, "trial_status"] == "COMPLETED"
        assert _mtimes(results, i) == mtimes[i], f"trial {i} ran again"


def stop_while_trial_0_runs(tmp_path, data_dir, sig):
    """A 3-trial search whose driver gets `sig` once trial 0's job runs: it exits 130
    without a traceback, the job cancelled. (results dir, console text)."""
    results = tmp_path / "r"
    out = tmp_path / "out.txt"
    driver = start_driver(*common(results, data_dir), out=out)
    pid = wait_for(lambda: running_job(results, 0), what="trial 0's job")
    driver.send_signal(sig)
    assert driver.wait(timeout=120) == 130
    text = out.read_text()
    assert "run the same command again to resume" in text and "Traceback" not in text
    wait_for(lambda: not alive(pid), timeout=30, what="the job to be cancelled")
    return results, text


def test_ctrl_c_cancels_jobs_saves_and_resume_finishes(tmp_path, data_dir):
    results, _ = stop_while_trial_0_runs(tmp_path, data_dir, signal.SIGINT)
    df = table(results)
    assert df.loc[0, "trial_status"] == "ABANDONED"

    again = run_driver(*common(results, data_dir))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    df = table(results)
    assert (df["trial_status"] == "COMPLETED").sum() == 3  # the abandoned trial was replaced


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 100, "nan"])
def test_broken_tensorboard_log_fails_the_trial_with_a_reason(tmp_path, content):
    log_dir = tmp_path / "0"
    log_dir.mkdir()
    if content == "nan":
        with SummaryWriter(str(log_dir)) as w:
            w.add_scalar("val_acc", math.nan, 0)
            w.add_scalar("num_params", 1000, 0)
    else:
        (log_dir / "events.out.tfevents.1.host").write_bytes(content)
    exp = make_experiment(tutorial_config())
    trial = exp.new_trial().add_arm(Arm(parameters=dict(
        hidden_size_1=32, hidden_size_2=32, learning_rate=0.001, epochs=1, dropout=0.1,
        batch_size=32)))
    trial.update_run_metadata({RUN_METADATA_KEY: str(log_dir)})
    runner = NasRunner("local_cwd", tmp_path)
    assert runner._check_metrics(trial) == TrialStatus.FAILED
    assert "val_acc" in runner.poll_exception(trial)
    assert (log_dir / "failure_reason.txt").exists()


def finished_trials(results):
    """Trials whose job logged its metrics."""
    return finished_trials_of(results, "val_acc")


def finished_trials_of(results, tag):
    """Trials whose job logged `tag`."""
    from nas.metrics import read_final_scalars

    d = results / "logs" / "trials"
    if not d.exists():
        return set()
    return {int(p.name) for p in d.iterdir() if p.name.isdigit() and tag in read_final_scalars(p)}


def _mtimes(results, idx):
    d = results / "logs" / "trials" / str(idx)
    return sorted((p.name, p.stat().st_mtime_ns) for p in d.iterdir())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return open(f"/proc/{pid}/stat").read().split()[2] != "Z"


def test_every_trial_crashing_stops_the_search_listing_the_reasons(tmp_path, data_dir):
    """A search whose training script always crashes."""
    (tmp_path / "crash.py").write_text(
        'import sys\nsys.exit("CUDA error: out of memory (simulated crash)")\n')
    config = tmp_path / "crash.toml"
    config.write_text('[trial]\nscript = "crash.py"\n[parameters]\n'
                      'x = { parameter_type = "float", bounds = [0.0, 1.0] }\n'
                      '[optimization]\nobjective = "accuracy, -size"\n')
    proc = run_driver("--config", config, "--trials", 8, "--max-pending", 2,
                      "--results-dir", tmp_path / "r", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "FailureRateExceededError" in proc.stderr
    reasons = [l for l in proc.stderr.splitlines() if "FAILED: exit code 1" in l]
    assert len(reasons) >= 5 and all("simulated crash" in l for l in reasons)
    df = table(tmp_path / "r")
    assert len(df) < 8 and (df["trial_status"] == "FAILED").sum() >= 5
    # a trial still running when Ax gave up had its job cancelled
    assert set(df["trial_status"]) <= {"FAILED", "ABANDONED"}


def test_an_interrupted_write_leaves_the_previous_file(tmp_path):
    from nas.files import atomic_write_text

    target = tmp_path / "experiment.csv"
    atomic_write_text(target, "complete,old\n")

    with pytest.raises(TypeError):
        atomic_write_text(target, object())  # the write fails midway, as a crash would
    assert target.read_text() == "complete,old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["experiment.csv"]  # no temporary left


KILL_SEED = 12  # of the kill moments: a failure replays with the same moments
KILLS = 5
TRIALS = 6
SLOTS = 2
TRIAL_SECONDS = 5.0  # each trial's floor (tests/scripts/steady_trial.py sleeps this long)
STEADY_TRIAL = Path(__file__).resolve().parent / "scripts" / "steady_trial.py"


def steady_search(tmp_path):
    """A search of TRIALS trials of STEADY_TRIAL, SLOTS at a time, each lasting at least
    TRIAL_SECONDS: the driver's arguments."""
    config = tmp_path / "steady.toml"
    config.write_text(f"""name = "steady"
[trial]
script = "{STEADY_TRIAL}"
args = ["--log-dir", "{{log_dir}}", "--seconds", "{TRIAL_SECONDS}"]
[parameters]
x = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
y = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
[optimization]
objective = "score, -cost"
""")
    return ["--config", config, "--trials", TRIALS, "--max-pending", SLOTS, "--seed", 1,
            "--results-dir", tmp_path / "r"]


def test_kill_9_at_random_moments_then_the_search_finishes_every_trial_once(tmp_path):
    """The driver is SIGKILLed again and again at random moments (start-up, generating,
    launching, saving, polling, writing results), then runs to the end. Judged on the
    trials' own log dirs: each trial of the search trained in one process, its logged
    result is the one counted, no finished training was thrown away, nothing runs on.

    The kill moments are drawn within a trial's floor (TRIAL_SECONDS) from the moment the
    driver reached its search (its first launch, or a resume), so at least 3 kills land
    inside the search on a machine of any speed: a trial launched by a driver cannot end
    before that driver's kill, so each killed driver launches at most SLOTS trials, and
    the TRIALS trials need TRIALS / SLOTS = 3 drivers before one can finish."""
    from nas.metrics import read_final_scalars
    from nas.state.storage import STATE_FILE, load_state

    rng = random.Random(KILL_SEED)
    results = tmp_path / "r"
    args = steady_search(tmp_path)
    kills = []
    for attempt in range(KILLS):
        out = tmp_path / f"driver{attempt}.txt"
        driver = start_driver(*args, out=out)
        wait_for(lambda: driver.poll() is not None or in_search(results, out, attempt == 0), timeout=120,
                 what="the driver to reach its search")
        delay = rng.uniform(0.0, 0.95) * TRIAL_SECONDS  # take-over, generating, launching, ...
        try:
            assert driver.wait(timeout=delay) == 0, out.read_text()[-3000:]
            break  # it finished before its kill
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
        last = [line for line in out.read_text().splitlines() if line.strip()][-1:]
        kills.append((round(delay, 1), last))
        # its jobs and server outlive it and must hold no lock; if one is still held a
        # moment after the kill, the holders are named
        if not lock_is_free(results / "logs"):
            first, end = lock_holders(results / "logs"), time.time() + 5
            while not lock_is_free(results / "logs") and time.time() < end:
                time.sleep(0.1)
            assert lock_is_free(results / "logs"), (
                f"the lock of a driver killed after {delay:.1f} s is held by "
                f"{lock_holders(results / 'logs')} (right after the kill: {first})")
            print(f"after the kill at {delay:.1f} s the lock was held for a moment by {first}")
    final = run_driver(*args)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    print(f"{len(kills)} kills (delay s, the driver's last line): {kills}")
    assert len(kills) >= 3

    experiment, _ = load_state(results / "logs" / STATE_FILE)
    status = {t.index: t.status.name for t in experiment.trials.values()}
    assert sorted(status.values()).count("COMPLETED") == TRIALS, status
    assert set(status.values()) <= {"COMPLETED", "ABANDONED"}, status
    counted = experiment.lookup_data().df.set_index(["trial_index", "metric_name"])["mean"]
    trials_dir = results / "logs" / "trials"
    for idx, name in status.items():
        logged = read_final_scalars(trials_dir / str(idx))
        if name == "COMPLETED":
            assert len(_training_processes(trials_dir / str(idx))) == 1, f"trial {idx} trained twice"
            assert counted[(idx, "score")] == pytest.approx(logged["score"])
        else:  # abandoned: its job ended while no driver ran, without a result
            assert "score" not in logged, f"trial {idx}'s finished training was discarded"
    dirs = [p for p in trials_dir.iterdir() if p.name != "torchx"]
    assert {int(p.name) for p in dirs if p.name.isdigit()} == set(status)
    stale = [p for p in dirs if not p.name.isdigit()]
    print(f"{len(stale)} job(s) launched but never recorded, stopped: {[p.name for p in stale]}")
    for d in dirs:
        assert job_pid(d) is None, f"the job of {d.name} runs on"
    df = table(results)
    assert df.index.is_unique and (df["trial_status"] == "COMPLETED").sum() == TRIALS


def in_search(results, out, first):
    """The first driver launched a trial; a later one resumed the saved search."""
    if first:
        return (results / "logs" / "trials" / "0").exists()
    return "Resuming the search" in out.read_text()


def _training_processes(log_dir):
    """The pids in the TensorBoard event files' names: one per training that logged there."""
    return {p.name.split(".")[-2] for p in log_dir.glob("events.out.tfevents.*")}


def lock_holders(log_dir):
    """(pid, command line) of each process with the lock file open, from /proc."""
    lock, holders = (log_dir / "driver.lock").resolve(), []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if Path(os.readlink(fd)) == lock:
                pid = fd.parent.parent.name
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                holders.append((int(pid), cmd.strip()))
        except OSError:
            continue
    return holders


def lock_is_free(log_dir):
    with open(log_dir / "driver.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True
