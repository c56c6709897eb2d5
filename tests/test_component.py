"""The trial component (nas/component.py) and its runner: a config's trial command, its
placeholders and its parameters, reach the job's argv, on each kind of scheduler."""

import sys

import torchx

from conftest import ROOT, tutorial_config
import inspect

from nas.component import trainer, trial_argv
from nas.config import RESERVED_NAMES
from nas.jobs.warm_start import address_file
from nas.runner import NasRunner


def settings(**more):
    return {"script": "train.py", "args": ["--log-path", "{log_dir}", "--trial", "{trial_index}",
                                          "--data", "{data_dir}", "--cache", "{cache_dir}/x.pt",
                                          "--gpus", "{gpus}"],
            "data_dir": "/data", "cache_dir": "/logs/cache", **more}


def test_placeholders_and_parameters_reach_the_argv():
    app = trainer(log_path="/logs", trial_idx=7, job_settings=settings(),
                  **{"lr": 0.001, "batch-size": 64, "opt.name": "adam"})
    role = app.roles[0]
    assert role.args[0] == "train.py" and role.entrypoint == "python"
    assert role.args[1:] == ["--log-path", "/logs/7", "--trial", "7", "--data", "/data",
                             "--cache", "/logs/cache/x.pt", "--gpus", "0",
                             "--lr", "0.001", "--batch-size", "64", "--opt.name", "adam"]
    assert role.image == torchx.IMAGE


def test_hydra_style_and_a_trial_without_index():
    argv = trial_argv(["{log_dir}"], "{name}={value}", {"model.width": 32, "lr": 0.1},
                      log_dir="/logs", trial_index=-1, data_dir="", cache_dir="", gpus=0)
    assert argv == ["/logs", "model.width=32", "lr=0.1"]
    app = trainer(log_path="/logs", job_settings=settings(parameter_args="{name}={value}"), lr=0.1)
    assert app.roles[0].args[2] == "/logs" and app.roles[0].args[-1] == "lr=0.1"


def test_a_parameter_cannot_override_a_job_setting():
    """A parameter named like a setting (gpu, script) is the script's flag, not the job's."""
    app = trainer(log_path="/logs", trial_idx=0, job_settings=settings(), gpu=3, script="x")
    assert app.roles[0].resource.gpu == 0 and app.roles[0].args[0] == "train.py"
    assert app.roles[0].args[-4:] == ["--gpu", "3", "--script", "x"]
    # the config refuses as a parameter name exactly the component's own arguments
    named = [p.name for p in inspect.signature(trainer).parameters.values()
             if p.kind is not inspect.Parameter.VAR_KEYWORD]
    assert set(RESERVED_NAMES) == set(named)


def test_the_tutorials_job_gets_its_flags_from_the_shipped_config(tmp_path):
    config = tutorial_config()
    app = trainer(log_path="/logs", trial_idx=0, job_settings={
        "script": str(config.script), "args": list(config.args), "cache_dir": "/c"},
        hidden_size_1=64, hidden_size_2=32, learning_rate=0.001, epochs=2, dropout=0.25,
        batch_size=128)
    args = app.roles[0].args
    assert args[0] == str(ROOT / "mnist_train_nas.py")
    flags = dict(zip(args[1::2], args[2::2]))
    assert flags == {"--log_path": "/logs/0", "--data_cache": "/c/mnist_uint8.npz", "--gpus": "0",
                     "--hidden_size_1": "64", "--hidden_size_2": "32", "--learning_rate": "0.001",
                     "--epochs": "2", "--dropout": "0.25", "--batch_size": "128"}


def job_argv(app):
    """The training script's argv, after the launcher's `--` if there is one."""
    args = app.roles[0].args
    return args[args.index("--") + 1:] if "--" in args else args


def test_local_runner_uses_the_driver_interpreter_and_the_launcher(tmp_path):
    runner = NasRunner("local_cwd", tmp_path, settings(script="/abs/train.py"))
    app = runner._component(**runner._component_const_params, trial_idx=0, lr=0.1)
    assert app.roles[0].entrypoint == sys.executable
    args = app.roles[0].args
    assert args[:5] == [str(ROOT / "nas" / "jobs" / "local_launch.py"), "--pid-file",
                        str(tmp_path / "0" / "job.pid"), "--warm-start", str(address_file(tmp_path))]
    assert job_argv(app)[:3] == ["/abs/train.py", "--log-path", str(tmp_path / "0")]


def test_slurm_runner_runs_the_script_itself(tmp_path):
    runner = NasRunner("slurm", tmp_path, settings(script="/abs/train.py"))
    app = runner._component(**runner._component_const_params, trial_idx=0, lr=0.1)
    assert app.roles[0].args[0] == "/abs/train.py" and app.roles[0].entrypoint == sys.executable
    assert "--pid-file" not in app.roles[0].args


def test_the_job_gets_the_gpus_of_its_component():
    app = trainer(log_path="/logs", job_settings=settings(gpu=2), lr=0.1)
    assert app.roles[0].resource.gpu == 2
    assert app.roles[0].args[app.roles[0].args.index("--gpus") + 1] == "2"


def test_container_runner_uses_the_image_python(tmp_path):
    runner = NasRunner("kubernetes", tmp_path, settings())
    app = runner._component(**runner._component_const_params, trial_idx=0, lr=0.1)
    assert app.roles[0].entrypoint == "python" and app.roles[0].args[0] == "train.py"
