import sys
from pathlib import Path

import torchx

from nas.component import trainer
from nas.runner import NasRunner
from nas.jobs.warm_start import address_file

ROOT = Path(__file__).resolve().parent.parent

HPARAMS = dict(hidden_size_1=64, hidden_size_2=32, learning_rate=0.001, epochs=2,
               dropout=0.25, batch_size=128)


def args_of(app):
    args = app.roles[0].args
    return {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}


def test_trainer_passes_every_hyperparameter_and_a_per_trial_log_dir():
    app = trainer(log_path="/logs", trial_idx=7, **HPARAMS)
    role = app.roles[0]
    assert role.args[0] == "mnist_train_nas.py"
    args = args_of(app)
    assert args["--log_path"] == "/logs/7"
    for name, value in HPARAMS.items():
        assert args[f"--{name}"] == str(value)
    assert role.image == torchx.IMAGE and role.entrypoint == "python"


def test_trainer_without_trial_index_logs_into_log_path():
    assert args_of(trainer(log_path="/logs", **HPARAMS))["--log_path"] == "/logs"


def job_args(app):
    """The training script's flags, after the launcher's `--` if there is one."""
    args = app.roles[0].args
    args = args[args.index("--") + 1:] if "--" in args else args
    return {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}


def test_local_runner_uses_the_driver_interpreter_and_the_launcher(tmp_path):
    runner = NasRunner("local_cwd", tmp_path)
    app = runner._component(**runner._component_const_params, trial_idx=0, **HPARAMS)
    assert app.roles[0].entrypoint == sys.executable
    args = app.roles[0].args
    assert args[:5] == [str(ROOT / "nas" / "jobs" / "local_launch.py"), "--pid-file", str(tmp_path / "0" / "job.pid"),
                        "--warm-start", str(address_file(tmp_path))]
    assert args[5:7] == ["--", str(ROOT / "mnist_train_nas.py")]
    assert job_args(app)["--log_path"] == str(tmp_path / "0")


def test_slurm_runner_runs_the_script_itself(tmp_path):
    runner = NasRunner("slurm", tmp_path)
    app = runner._component(**runner._component_const_params, trial_idx=0, **HPARAMS)
    assert app.roles[0].args[0] == str(ROOT / "mnist_train_nas.py")
    assert "--pid-file" not in app.roles[0].args


def test_the_job_gets_gpus_only_when_the_component_has_some():
    assert "--gpus" not in trainer(log_path="/logs", **HPARAMS).roles[0].args
    app = trainer(log_path="/logs", gpu=2, **HPARAMS)
    assert args_of(app)["--gpus"] == "2"
    assert app.roles[0].resource.gpu == 2


def test_container_runner_uses_the_image_python(tmp_path):
    runner = NasRunner("kubernetes", tmp_path)
    app = runner._component(**runner._component_const_params, trial_idx=0, **HPARAMS)
    assert app.roles[0].entrypoint == "python"
