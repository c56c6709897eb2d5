"""Cluster runs without a cluster: TorchX's dry-run requests for Slurm and Kubernetes, and
the one-line errors for bad schedulers, run options, mounts and log dirs."""

import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, run_driver, save_snapshot, tutorial_config

HEADER = re.compile(r"^# ---- trial (\d+): (.*)$", re.M)
RESOURCES = ["--cpu", 2, "--memMB", 3000, "--gpu", 1]


def dry_run(capsys, tmp_path, data_dir, *flags, trials=2):
    """run_nas.py --dry-run (in this process, Ax already imported): {trial index:
    (hyperparameters, printed request)} and stderr."""
    import run_nas

    results = tmp_path / "results"
    argv = ["--dry-run", "--seed", 0, "--max-pending", trials, "--data-dir", data_dir,
            "--results-dir", results, *flags]
    run_nas.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert not results.exists() and not any(tmp_path.rglob("*.pt")), "a dry run writes nothing"
    assert out.rstrip().endswith("nothing was submitted or written")
    parts = HEADER.split(out)[1:]  # index, params, request, index, params, ...
    shown = {}
    for index, params, request in zip(parts[0::3], parts[1::3], parts[2::3]):
        shown[int(index)] = (dict(p.split("=", 1) for p in params.split(", ")), request)
    assert sorted(shown) == list(range(trials)), out[:3000]
    return shown, err


def job_args(args):
    """['--log_path', '/x', '--epochs', '2', ...] -> {'log_path': '/x', 'epochs': '2', ...}"""
    assert len(args) % 2 == 0, args
    return {args[i].removeprefix("--"): args[i + 1] for i in range(0, len(args), 2)}


def assert_trial_args(args, params, index, log_dir):
    assert set(params) == {"hidden_size_1", "hidden_size_2", "learning_rate", "epochs",
                           "dropout", "batch_size"}
    for name, value in params.items():
        assert args[name] == value, name
    assert args["log_path"] == f"{log_dir}/trials/{index}"
    assert args["data_cache"] == f"{log_dir}/cache/mnist_uint8.npz"


def test_slurm_dry_run_prints_the_sbatch_script_of_each_trial(capsys, tmp_path, data_dir):
    log_dir = tmp_path / "shared" / "logs"
    shown, stderr = dry_run(capsys, tmp_path, data_dir, "--scheduler", "slurm", "--scheduler-cfg",
                            "partition=cpu,time=0:30:00", "--log-dir", log_dir, *RESOURCES)
    # the contract problem is a warning in a dry run, an error in a real one
    assert f"warning: --log-dir {log_dir} is under /tmp" in stderr
    seen = set()
    for index, (params, request) in shown.items():
        # each job works, and writes its Slurm output, in its trial's log dir (nas/jobs/slurm.py)
        trial_dir = log_dir / "trials" / str(index)
        assert (f"\nsbatch --parsable --chdir={trial_dir} --output={trial_dir}/slurm-%j.out "
                "$SBATCH_SCRIPT\n") in request
        sbatch = [l for l in request.splitlines() if l.startswith("#SBATCH ")]
        assert len(sbatch) == 1, request
        opts = set(sbatch[0].split()[1:])
        assert {"--partition=cpu", "--time=0:30:00", "--cpus-per-task=2", "--mem=3000",
                "--gpus-per-task=1"} <= opts
        (srun,) = [l for l in request.splitlines() if l.startswith("srun ")]
        tokens = shlex.split(srun)
        script = tokens.index(str(ROOT / "mnist_train_nas.py"))
        # no image on Slurm: the job runs the driver's interpreter and this checkout's script
        # from the shared filesystem
        assert tokens[script - 1] == sys.executable
        assert "--export=ALL,OMP_NUM_THREADS=2,MKL_NUM_THREADS=2" in tokens[script - 2]
        assert_trial_args(job_args(tokens[script + 1:]), params, index, log_dir)
        seen.add(tuple(sorted(params.items())))
    assert len(seen) == len(shown)  # each trial its own configuration


def test_kubernetes_dry_run_prints_the_volcano_job_of_each_trial(capsys, tmp_path, data_dir):
    # needs the kubernetes client (the dev extra), which renders the Volcano job
    log_dir = tmp_path / "nas" / "logs"
    image = "registry.example.com/nas-mnist:0.1"
    shown, stderr = dry_run(
        capsys, tmp_path, data_dir, "--scheduler", "kubernetes", "--scheduler-cfg",
        "queue=research,namespace=nas", "--image", image, "--mount",
        f"type=volume,src=nas-shared,dst={tmp_path / 'nas'}", "--log-dir", log_dir, *RESOURCES)
    assert "warning:" not in stderr, stderr
    for index, (params, request) in shown.items():
        assert "'namespace': 'nas'" in request.splitlines()[1]
        job = yaml.safe_load(request)
        assert job["kind"] == "Job" and job["apiVersion"].startswith("batch.volcano.sh/")
        assert job["spec"]["queue"] == "research"
        (task,) = job["spec"]["tasks"]
        pod = task["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == image
        command = container["command"]
        assert command[:2] == ["python", "mnist_train_nas.py"]
        assert_trial_args(job_args(command[2:]), params, index, log_dir)
        assert container["resources"]["limits"] == {"cpu": "2000m", "memory": "3000M",
                                                    "nvidia.com/gpu": "1"}
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["OMP_NUM_THREADS"] == "2"
        # the log dir, and the data cache in it, reach the pod through the claim
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
                  for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert {mounts[name]: claim for name, claim in claims.items()} == {
            str(tmp_path / "nas"): "nas-shared"}


def slurm_or_skip():
    """Skip unless a Slurm cluster answers here (scripts/slurm-local up starts one)."""
    if shutil.which("sinfo") is None:
        pytest.skip("no Slurm here: sinfo not found (start one with scripts/slurm-local up)")
    states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                            timeout=30).stdout.split()
    if not {"idle", "mix", "alloc"} & set(states):
        pytest.skip(f"Slurm has no node up (sinfo: {states}); scripts/slurm-local up starts it")


def test_slurm_holds_the_batch_script_the_dry_run_shows(tmp_path, data_dir, monkeypatch):
    """Submitted to a real Slurm: the script sbatch received is the dry-run's."""
    from nas.jobs.dryrun import first_trials
    from nas.runner import make_runner

    slurm_or_skip()
    monkeypatch.chdir(tmp_path)  # TorchX notes the job dir in ./.torchxslurmjobdirs
    (tmp_path / "job").mkdir()
    runner = make_runner(tutorial_config(epochs=1), "slurm", tmp_path / "trials", data_dir,
                         tmp_path / "cache", cfg={"job_dir": str(tmp_path / "job")})
    (trial,) = first_trials(runner, tutorial_config(epochs=1), total_trials=2, max_pending=1, seed=0)
    shown = runner.dryrun(trial).request.materialize()
    trial.run()
    job_id = trial.run_metadata["torchx_app_handle"].rsplit("/", 1)[1]
    try:
        held = subprocess.run(["scontrol", "write", "batch_script", job_id, "-"],
                              capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["scancel", job_id], check=True)
    # the same script, but for the comment TorchX adds at submission: the sbatch command
    run_with = "# Run with: sbatch --parsable"
    assert [l for l in shown.splitlines() if not l.startswith(run_with)] == [
        l for l in held.splitlines() if not l.startswith(run_with)]
    assert f"{run_with} --chdir={tmp_path / 'job'} " in held
    assert f" --log_path {tmp_path / 'trials' / '0'} " in held


def test_cluster_settings_are_saved_with_the_search(tmp_path):
    """A resumed search submits the same requests: the runner's settings round-trip."""
    from nas.jobs.dryrun import first_trials
    from nas.generation import make_generation_strategy
    from nas.runner import make_runner
    from nas.state.storage import StateStore, load_state

    shared = tmp_path / "shared" / "logs"  # a dry run writes nothing there
    runner = make_runner(tutorial_config(), "slurm", shared / "trials", tmp_path, shared / "cache",
                         {"cpu": 2, "threads": 2, "memMB": 3000, "gpu": 1,
                          "mounts": ["type=bind", "src=/s", "dst=/s"]},
                         cfg={"partition": "cpu", "mail-type": "BEGIN,END"})
    (trial,) = first_trials(runner, tutorial_config(), total_trials=4, max_pending=1, seed=2)
    experiment = trial.experiment
    save_snapshot(tmp_path / "state.json", experiment, make_generation_strategy(experiment, 4, 1))
    loaded, _ = load_state(tmp_path / "state.json")
    assert (loaded.runner.job_settings, loaded.runner.cfg) == (runner.job_settings, runner.cfg)
    assert str(loaded.runner.dryrun(loaded.trials[0])) == str(runner.dryrun(trial))


@pytest.mark.parametrize("flags, expected", [
    (["--scheduler", "nope"], "unknown TorchX scheduler 'nope'; use one of: aws_batch"),
    (["--scheduler", "slurm", "--scheduler-cfg", "queue=x"],
     "unknown run option 'queue' for scheduler slurm; valid: partition (str), time (str)"),
    (["--scheduler", "slurm", "--scheduler-cfg", "partition"], "is not k=v,k=v"),
    (["--scheduler", "kubernetes", "--scheduler-cfg", "namespace=nas"],
     "scheduler kubernetes needs run option queue (str"),
    (["--scheduler", "kubernetes_mcad", "--scheduler-cfg", "priority=high"],
     "--scheduler-cfg priority='high': expected int"),
    (["--scheduler", "local_docker", "--scheduler-cfg", "privileged=yes"],
     "--scheduler-cfg privileged='yes': expected bool"),
    (["--scheduler", "local_docker", "--scheduler-cfg", "env=A"],
     "--scheduler-cfg env='A': expected Dict[str, str]"),
    (["--mount", "type=volume,src=claim"], "--mount 'type=volume,src=claim': missing dst"),
    (["--cpu", "0"], "--cpu"),
    (["--gpu", "-1"], "--gpu"),
    (["--memMB", "lots"], "--memMB"),
    (["--scheduler", "slurm", "--log-dir", "/tmp/nas-logs"], "is under /tmp, private to each"),
    (["--scheduler", "kubernetes", "--scheduler-cfg", "queue=q", "--image", "i",
      "--log-dir", "/mnt/nas/logs"], "only through a mount at that same path"),
    (["--scheduler", "kubernetes", "--scheduler-cfg", "queue=q", "--log-dir", "/mnt/nas/logs",
      "--mount", "type=volume,src=c,dst=/mnt/nas"], "pass --image"),
])
def test_bad_cluster_settings_exit_2_with_one_line(flags, expected, tmp_path, main_in_process):
    results = tmp_path / "results"
    code, _, err = main_in_process(*flags, "--results-dir", results)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0] and "Traceback" not in err
    assert not results.exists()


def test_run_options_are_typed_as_the_scheduler_declares():
    from nas.jobs.cluster import parse_scheduler_cfg

    assert parse_scheduler_cfg("slurm", "partition=cpu,time=1:00:00,mail-type=BEGIN,END") == {
        "partition": "cpu", "time": "1:00:00", "mail-type": "BEGIN,END"}
    assert parse_scheduler_cfg("local_docker", "copy_env=A;B,privileged=True,env=X:1;Y:2") == {
        "copy_env": ["A", "B"], "privileged": True, "env": {"X": "1", "Y": "2"}}
    assert parse_scheduler_cfg("kubernetes_mcad", "priority=3") == {"priority": 3}
    assert parse_scheduler_cfg("local_cwd", "") == {}


def test_run_options_from_any_mapping():
    """A mapping of run options that is not a dict (nas.Search.from_config takes any
    Mapping) is read as a dict is, not as "k=v,k=v" text."""
    from types import MappingProxyType

    from nas.jobs.cluster import parse_scheduler_cfg

    options = MappingProxyType({"partition": "cpu", "time": "1:00:00"})
    assert parse_scheduler_cfg("slurm", options) == {"partition": "cpu", "time": "1:00:00"}


@pytest.mark.parametrize("scheduler, log_dir, mounts, image, problems", [
    ("local_cwd", "/tmp/logs", [], None, []),
    ("slurm", "/home/me/nas/logs", [], None, []),
    ("slurm", "/dev/shm/logs", [], None, ["under /dev/shm"]),
    ("kubernetes", "/mnt/nas/logs", ["type=volume,src=c,dst=/mnt/nas"], "img", []),
    ("kubernetes", "/mnt/nas", ["type=volume,src=c,dst=/mnt/nas"], "img", []),
    ("kubernetes", "/mnt/nasty/logs", ["type=volume,src=c,dst=/mnt/nas"], "img", ["mount"]),
    ("local_docker", "/tmp/logs", ["type=bind,src=/tmp,dst=/tmp"], "img", []),
    ("local_docker", "/tmp/logs", ["type=bind,src=/data,dst=/tmp"], "img", ["same path"]),
    ("aws_batch", "/efs/logs", ["type=bind,src=/efs,dst=/efs"], None, ["--image"]),
    ("kubernetes", "/mnt/nas/logs", [], None, ["--image", "mount at that same path"]),
])
def test_shared_log_dir_contract(scheduler, log_dir, mounts, image, problems):
    from nas.jobs.cluster import shared_path_problems

    from nas.messages import for_command_line

    found = [for_command_line(p) for p in shared_path_problems(scheduler, log_dir, mounts, image)]
    assert len(found) == len(problems), found
    for expected, problem in zip(problems, found):
        assert expected in problem, found
