"""Early stopping in real searches (local_cwd TorchX jobs on real MNIST), and curves read
while a job trains.

The strategy is set so that stopping is certain: Ax's threshold strategy with a val_acc
of 1.0, which no trial reaches, from epoch 1 on and without waiting for completed
trials. So every trial planned for 2+ epochs is stopped after its first epochs; a
1-epoch trial is done training when its first val_acc arrives and completes.
"""

import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import ROOT, run_driver
from nas.metrics import trial_log
from nas.jobs.processes import PID_FILE, is_running

STOP_ALL = "threshold=1.0,min_curves=0"


def search_args(results, data_dir, trials):
    # seed 0's first Sobol points plan 2, 4 and 1 epochs (checked below); with BoTorch's
    # strategy, these initial-design trials would not be stopped (nas.early_stopping.stoppable)
    return ["--strategy", "sobol", "--trials", trials, "--max-pending", 3, "--seed", 0,
            "--early-stopping", STOP_ALL, "--data-dir", data_dir, "--results-dir", results]


@pytest.fixture(scope="module")
def stopped_search(tmp_path_factory, data_dir):
    results = tmp_path_factory.mktemp("es")
    proc = run_driver(*search_args(results, data_dir, 3))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results, proc


def test_trials_planned_for_more_epochs_end_early_stopped_with_their_epoch(stopped_search):
    results, proc = stopped_search
    df = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    assert sorted(df["epochs"]) == [1, 2, 4]
    stopped = df[df["epochs"] >= 2]
    assert (stopped["trial_status"] == "EARLY_STOPPED").all()
    assert (df[df["epochs"] == 1]["trial_status"] == "COMPLETED").all()
    for i, row in stopped.iterrows():
        epoch = int(row["stopped_at_step"])
        assert 1 <= epoch < row["epochs"]
        assert f"trial {i} EARLY_STOPPED after step {epoch} of {row['epochs']}" in proc.stdout
    assert "stopped early" in proc.stdout  # the status line
    # the hypervolume counts completed trials only
    trace = pd.read_csv(results / "hypervolume.csv")
    assert set(trace["trial_index"]) == set(df.index[df["trial_status"] == "COMPLETED"])


def test_a_stopped_trials_job_really_stopped(stopped_search):
    results, _ = stopped_search
    df = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    for i, row in df[df["trial_status"] == "EARLY_STOPPED"].iterrows():
        log_dir = results / "logs" / "trials" / str(i)
        assert not is_running(int((log_dir / PID_FILE).read_text()))
        curves = trial_log(log_dir).curves()
        # it trained no further than the epoch it was stopped at, and never finished
        assert max(step for step, _ in curves["val_acc"]) == row["stopped_at_step"]
        assert "num_params" not in curves


def test_the_report_shows_the_stopped_curves(stopped_search):
    results, _ = stopped_search
    html = (results / "index.html").read_text()
    assert 'data-plot="curves"' in html and "stopped after step" in html
    assert "early_stopped" in html  # the summary's trial counts
    assert "stopped after step" in (results / "learning_curves.html").read_text()


def test_resume_keeps_stopped_trials_and_counts_them(stopped_search, data_dir):
    results, _ = stopped_search
    before = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    logs = {i: sorted((results / "logs" / "trials" / str(i)).glob("events.out.tfevents.*"))
            for i in before.index}
    proc = run_driver(*search_args(results, data_dir, 4))  # one trial more
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Resuming" in proc.stdout
    after = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    assert sorted(after.index) == [0, 1, 2, 3]  # the stopped trials count toward the budget
    for i in before.index:  # and were not run again
        assert after.loc[i, "trial_status"] == before.loc[i, "trial_status"]
        assert sorted((results / "logs" / "trials" / str(i)).glob("events.out.tfevents.*")) == logs[i]
    assert after.loc[3, "trial_status"] in ("COMPLETED", "EARLY_STOPPED")


def test_curves_are_readable_while_the_job_trains(tmp_path, mnist_cache):
    """The job's val_acc after epoch 1, read by the driver's reader while epoch 2 trains."""
    log_dir, stderr = tmp_path / "trial", tmp_path / "stderr.txt"
    cmd = [sys.executable, str(ROOT / "mnist_train_nas.py"), "--log_path", str(log_dir),
           "--hidden_size_1", "16", "--hidden_size_2", "16", "--learning_rate", "0.001",
           "--epochs", "3", "--dropout", "0.1", "--batch_size", "128",
           "--data_cache", str(mnist_cache)]
    job = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=open(stderr, "w"))
    try:
        seen, running = [], True
        while running and not seen:
            running = job.poll() is None
            try:
                seen = trial_log(log_dir).curves().get("val_acc", [])
            except FileNotFoundError:  # no event file yet
                pass
            time.sleep(0.1)
        assert seen and running, "no val_acc before the job ended"
        assert seen[0][0] == 1 and 0 < seen[0][1] <= 1
        assert job.wait(timeout=300) == 0, stderr.read_text()[-2000:]
        curve = trial_log(log_dir).curves()["val_acc"]
        assert [step for step, _ in curve] == [1, 2, 3]
        assert curve[0][1] == pytest.approx(seen[0][1])
    finally:
        job.kill()
        job.wait()
