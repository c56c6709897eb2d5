"""The search through a real Slurm (scripts/slurm-local: one node, no accounting), no mocks.

Each test is checked by its own search's Slurm jobs (their ids; each job works in its
trial's log dir), never by a global scan. 1-epoch trials; a Slurm job starts cold (~5 s
of imports) and the node runs as many at once as it has cores. Skipped, with the reason,
only where Slurm cannot be started: not root, or no Slurm and no apt-get.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, run_driver, start_driver

SLURM_LOCAL = ROOT / "scripts" / "slurm-local"


@pytest.fixture(scope="module")
def slurm():
    """The local cluster, started (or found running) by scripts/slurm-local."""
    if not shutil.which("sbatch") and shutil.which("apt-get") is None:
        pytest.skip("Slurm is not installed and there is no apt-get to install it")
    if os.geteuid() != 0 and subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        pytest.skip("no Slurm cluster answers and starting one (scripts/slurm-local up) needs root")
    up = subprocess.run([str(SLURM_LOCAL), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, up.stdout + up.stderr


@pytest.fixture
def shared(slurm):
    """A folder for the search, outside /tmp: the driver refuses a log dir in a node-local
    folder for Slurm jobs (nas/jobs/cluster.py). Removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="nas-slurm-test-", dir=Path.home()))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def args(results, data_dir, trials):
    return ["--scheduler", "slurm", "--trials", trials, "--max-pending", 2, "--fix", "epochs=1",
            "--seed", 3, "--data-dir", data_dir, "--results-dir", results]


def squeue_jobs():
    """{job id: squeue's record} of every job slurmctld knows."""
    out = subprocess.run(["squeue", "--json"], capture_output=True, text=True, check=True)
    return {str(j["job_id"]): j for j in json.loads(out.stdout)["jobs"]}


def jobs_of(results):
    """{job id: (trial dir name, Slurm state)} of this search's jobs (cwd = a trial dir)."""
    trials = results / "logs" / "trials"
    return {jid: (Path(j["current_working_directory"]).name, j["job_state"])
            for jid, j in squeue_jobs().items()
            if Path(j["current_working_directory"]).parent == trials}


def wait_for(predicate, timeout=300, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if value := predicate():
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def table(results):
    return pd.read_csv(results / "experiment.csv").set_index("trial_index")


def job_ids_in(trial_dir):
    """The Slurm jobs that ran in this trial dir (sbatch's slurm-<id>.out, one per job)."""
    return sorted(p.name[len("slurm-"):-len(".out")] for p in Path(trial_dir).glob("slurm-*.out")
                  if p.name[len("slurm-"):-len(".out")].isdigit())


def test_search_through_slurm_completes_with_files_beside_the_logs(shared, data_dir, small_run):
    results = shared / "r"
    before = set(os.listdir(ROOT))
    proc = run_driver(*args(results, data_dir, trials=4))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "accounting is off" in proc.stdout  # the fallback is what ran
    df = table(results)
    assert len(df) == 4 and (df["trial_status"] == "COMPLETED").all(), df["trial_status"].to_dict()
    assert all(math.isfinite(v) for v in df["val_acc"]) and (df["num_params"] > 0).all()
    for i in range(4):  # each trial's Slurm output beside its TensorBoard log
        trial_dir = results / "logs" / "trials" / str(i)
        [job] = job_ids_in(trial_dir)
        assert (trial_dir / f"slurm-{job}-python-0.err").exists()
        assert list(trial_dir.glob("events.out.tfevents.*"))
    assert (results / "logs" / "cache").is_dir()
    # nothing in the cwd (the project root): no slurm-*.out, no .torchxslurmjobdirs
    assert set(os.listdir(ROOT)) - before == set()
    local_results, _ = small_run  # results/ has what a local run writes
    assert sorted(p.name for p in results.iterdir()) == sorted(p.name for p in local_results.iterdir())


def test_job_cancelled_from_outside_fails_its_trial_and_the_search_goes_on(shared, data_dir):
    results = shared / "r"
    out = shared / "out.txt"
    driver = start_driver(*args(results, data_dir, trials=3), out=out)
    job = wait_for(lambda: next((j for j, (t, s) in jobs_of(results).items()
                                 if t == "0" and s == "RUNNING"), None), what="trial 0's job")
    subprocess.run(["scancel", job], check=True)
    assert driver.wait(timeout=600) == 0, out.read_text()[-3000:]
    df = table(results)
    assert df.loc[0, "trial_status"] == "FAILED"
    assert f"Slurm job {job} CANCELLED" in df.loc[0, "reason"]
    assert (df.loc[[1, 2], "trial_status"] == "COMPLETED").all()  # launched, ran, counted
    assert f"trial 0 FAILED: Slurm job {job} CANCELLED" in out.read_text()
    assert f"Slurm job {job} CANCELLED" in (results / "index.html").read_text()


def test_ctrl_c_cancels_the_searchs_slurm_jobs(shared, data_dir):
    results = shared / "r"
    out = shared / "out.txt"
    driver = start_driver(*args(results, data_dir, trials=4), out=out)
    jobs = wait_for(lambda: (lambda js: js if len(js) == 2 else None)(
        {j for j, (_, s) in jobs_of(results).items() if s in ("PENDING", "RUNNING")}),
        what="two jobs of the search")
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) == 130, out.read_text()[-3000:]
    # scancel is asynchronous: within seconds no job of this search is pending or running
    wait_for(lambda: all(squeue_jobs().get(j, {}).get("job_state") not in
                         ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING") for j in jobs),
             timeout=60, what="the jobs to end")
    assert {squeue_jobs()[j]["job_state"] for j in jobs} == {"CANCELLED"}
    assert (table(results)["trial_status"] == "ABANDONED").sum() == 2


def test_kill_9_then_restart_reattaches_slurm_jobs_and_runs_none_twice(shared, data_dir):
    results = shared / "r"
    driver = start_driver(*args(results, data_dir, trials=2), out=shared / "first.txt")
    wait_for(lambda: any(s == "COMPLETED" for _, s in jobs_of(results).values()),
             what="a finished job")
    driver.kill()  # SIGKILL: no clean-up; the other job may be running on
    driver.wait()
    running = {t for t, s in jobs_of(results).values() if s == "RUNNING"}
    second = run_driver(*args(results, data_dir, trials=2))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Resuming the search" in second.stdout
    for t in running:  # seen running after the kill: still known to the saved state
        assert (f"trial {t}: its job still runs: re-attached" in second.stdout
                or f"trial {t}: its job finished while no driver ran" in second.stdout), second.stdout
    df = table(results)
    assert len(df) == 2 and (df["trial_status"] == "COMPLETED").all(), df["trial_status"].to_dict()
    trials = results / "logs" / "trials"
    for i in range(2):  # one job per trial: none ran twice
        assert len(job_ids_in(trials / str(i))) == 1, job_ids_in(trials / str(i))


def test_an_early_stopped_trials_slurm_job_is_cancelled(shared, data_dir):
    """--early-stopping through Slurm, stopping certain (as in test_early_stopping_search):
    the stopped trials' jobs are scancel'ed, not left to train to their last epoch."""
    results = shared / "r"
    proc = run_driver("--scheduler", "slurm", "--strategy", "sobol", "--trials", 2,
                      "--max-pending", 2, "--seed", 0,
                      "--early-stopping", "threshold=1.0,min_curves=0",
                      "--data-dir", data_dir, "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = table(results)
    assert sorted(df["epochs"]) == [2, 4]  # seed 0's first Sobol points: both stoppable
    assert (df["trial_status"] == "EARLY_STOPPED").all(), df["trial_status"].to_dict()
    for i, row in df.iterrows():
        assert 1 <= row["stopped_at_step"] < row["epochs"]
        [job] = job_ids_in(results / "logs" / "trials" / str(i))
        state = wait_for(lambda: (lambda s: s if s not in ("RUNNING", "COMPLETING") else None)(
            squeue_jobs()[job]["job_state"]), timeout=60, what=f"job {job} to end")
        assert state == "CANCELLED", (job, state)


def test_the_examples_config_search_runs_through_slurm(shared):
    """Another script, from its config, as sbatch jobs: the script's path on the shared
    filesystem, the same results files as locally."""
    results = shared / "spirals"
    proc = run_driver("--config", ROOT / "examples" / "spirals" / "search.toml",
                      "--scheduler", "slurm", "--trials", 2, "--max-pending", 2, "--seed", 0,
                      "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = table(results)
    assert (df["trial_status"] == "COMPLETED").all() and (df["accuracy"] > 0.3).all()
    for i in range(2):
        [job] = job_ids_in(results / "logs" / "trials" / str(i))
        assert squeue_jobs()[job]["job_state"] == "COMPLETED"
        assert str(ROOT / "examples" / "spirals" / "train.py") in (
            results / "logs" / "trials" / str(i) / f"slurm-{job}.out").read_text()
    assert {"contour_accuracy.html", "index.html"} <= {p.name for p in results.iterdir()}


def test_no_sbatch_or_controller_down_exits_2_with_the_way_out(shared, data_dir, tmp_path,
                                                             main_in_process, monkeypatch):
    """Real Slurm clients: one with no sbatch on PATH, one whose slurm.conf points at a
    port no slurmctld listens on (as when it is down). The driver's main in this process
    (a refusal before anything starts: the same code without a driver's imports)."""
    conf = tmp_path / "slurm.conf"
    conf.write_text(Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
                    + "SlurmctldPort=9\n")  # discard: nothing answers there
    for name, change in (("no sbatch", {"PATH": str(tmp_path)}), ("down", {"SLURM_CONF": str(conf)})):
        with monkeypatch.context() as env:
            for key, value in change.items():
                env.setenv(key, value)
            code, out, err = main_in_process(*args(shared / name.replace(" ", "_"), data_dir, trials=2))
        assert code == 2, (name, out[-2000:], err[-2000:])
        [line] = err.strip().splitlines()
        assert "scripts/slurm-local up" in line, line
        assert ("sbatch is not installed" if name == "no sbatch" else "slurmctld does not answer") in line


def test_a_job_exiting_non_zero_reports_slurm_state_exit_code_and_stderr(shared):
    """A real sbatch job, submitted as the runner does: its reason, its files' place."""
    from torchx.runner import get_runner
    from torchx.specs import AppDef, Role

    from nas.jobs import slurm

    trial_dir = shared / "trials" / "0"
    app = AppDef(name="t", roles=[Role(name="sh", image="", entrypoint="sh", args=[
        "-c", "echo starting >&2; echo 'boom: the end' >&2; exit 3"])])
    handle = slurm.Submission(get_runner(), trial_dir).run(app, "slurm", {})
    state = wait_for(lambda: (lambda s: s if s and s.ended else None)(
        slurm.job_states(get_runner(), [handle])[handle]), timeout=60, what="the job to end")
    reason = slurm.failure_reason(handle, state, trial_dir)
    assert reason.startswith(f"Slurm job {slurm.job_id(handle)} FAILED, exit code 3: "), reason
    assert reason.endswith("boom: the end"), reason
    assert (trial_dir / f"slurm-{slurm.job_id(handle)}.out").exists()
