"""The training job (mnist_train_nas.py) on its own, as real processes: it runs where the
`nas` package is not, logs learning curves while it trains, exits non-zero when the
training diverges, and picks its device from --gpus."""

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


ROOT = Path(__file__).resolve().parent.parent
JOB_FILES = ("mnist_train_nas.py", "mnist_data.py")  # what ships to a cluster node
SMALL = ["--hidden_size_1", "16", "--hidden_size_2", "16", "--batch_size", "256", "--seed", "0"]
PROJECT_NAMES = ("nas", "bench", "run_nas.py", "mnist_train_nas.py", "mnist_data.py")


@pytest.fixture(scope="module")
def cache(mnist_cache):
    return mnist_cache


def curves(log_dir):
    """{tag: [(step, value), ...]} of a TensorBoard log."""
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def job(*args, cwd=ROOT, python=sys.executable, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.Popen([python, "mnist_train_nas.py", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def venv_without_nas(path):
    """A venv that sees this interpreter's installed packages (symlinked, one by one) but
    not the project: neither the repo on sys.path nor an installed `nas`."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    target = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    for source in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for entry in Path(source).iterdir():
            project = entry.name in PROJECT_NAMES or "editable" in entry.name or "nas_mnist" in entry.name
            if not project and not entry.name.endswith(".pth") and not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    return python


def test_the_job_trains_alone_in_a_venv_without_nas(tmp_path, data_dir):
    python = venv_without_nas(tmp_path / "venv")
    here = tmp_path / "job"
    here.mkdir()
    for name in JOB_FILES:
        shutil.copy(ROOT / name, here)
    check = subprocess.run([python, "-c", "import nas"], cwd=here, capture_output=True, text=True)
    assert check.returncode != 0 and "No module named 'nas'" in check.stderr
    # the tutorial's pipeline from the MNIST files: no driver, no cache
    p = job("--log_path", here / "logs", "--data_dir", data_dir, "--epochs", 1, *SMALL,
            cwd=here, python=python)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    logged = curves(here / "logs")
    assert [s for s, _ in logged["val_acc"]] == [s for s, _ in logged["train_loss"]] == [1]
    assert 0.5 < logged["val_acc"][0][1] <= 1 and 0 < logged["train_loss"][0][1] < 2.4
    assert logged["num_params"][-1][1] == 784 * 16 + 16 * 16 + 16 * 10
    assert f"val_acc={logged['val_acc'][0][1]:.4f}" in out


def test_curves_are_readable_after_each_epoch_while_the_job_runs(tmp_path, cache):
    log_dir = tmp_path / "logs"
    p = job("--log_path", log_dir, "--data_cache", cache, "--epochs", 3, *SMALL[:-2],
            "--batch_size", "64")
    seen_running = {}
    while p.poll() is None:
        if log_dir.is_dir() and any(log_dir.glob("events.out.tfevents.*")):
            steps = [s for s, _ in curves(log_dir).get("val_acc", [])]
            if steps and steps[-1] not in seen_running and p.poll() is None:
                seen_running[steps[-1]] = steps
        time.sleep(0.05)
    out, err = p.communicate()
    assert p.returncode == 0, err[-2000:]
    # epoch 1's point was on disk while epochs 2 and 3 were still to come
    assert seen_running.get(1) == [1], seen_running
    final = curves(log_dir)
    assert [s for s, _ in final["val_acc"]] == [s for s, _ in final["train_loss"]] == [1, 2, 3]
    assert final["train_loss"][2][1] < final["train_loss"][0][1]  # it learns
    assert f"val_acc={final['val_acc'][-1][1]:.4f}" in out  # the last point is the result


def test_a_diverged_training_exits_non_zero_with_one_line(tmp_path, cache):
    p = job("--log_path", tmp_path, "--data_cache", cache, "--epochs", 2, *SMALL,
            "--learning_rate", "1e30")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("mnist_train_nas.py: training diverged: ")
    assert "learning_rate=1e+30" in lines[-1] and "stopped after epoch 1" in lines[-1]
    assert sum("diverged" in line for line in lines) == 1
    logged = curves(tmp_path)
    assert "val_acc" not in logged and "num_params" not in logged  # nothing a metric could read


@pytest.mark.parametrize("flag", ["--epochs", "--batch_size", "--hidden_size_1"])
def test_zero_epochs_batch_or_width_is_an_argparse_error(tmp_path, flag):
    """0 epochs never validates (the job once died dividing by zero): refused at once."""
    import mnist_train_nas

    with pytest.raises(SystemExit) as stop:
        mnist_train_nas.parse_args(["--log_path", str(tmp_path), flag, "0"])
    assert stop.value.code == 2


def test_gpus_choose_the_trainer_device():
    from mnist_train_nas import accelerator

    assert accelerator(0) == {"accelerator": "cpu", "devices": 1}
    assert accelerator(2) == {"accelerator": "gpu", "devices": 2}


def test_gpus_on_a_machine_without_one_is_a_one_line_error(tmp_path, cache):
    """The job really asks Lightning for a GPU (there is none here, so it says so)."""
    p = job("--log_path", tmp_path, "--data_cache", cache, "--gpus", 1, *SMALL)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("mnist_train_nas.py: --gpus 1: ") and "--gpus 0" in last


def test_validating_after_every_epoch_leaves_the_training_as_it_was():
    """Per-epoch validation (the curves) draws no random numbers: the weights and the final
    val_acc are those of a run that validates once, after its last epoch (as before)."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from mnist_data import Grouped, TensorBatches
    from mnist_train_nas import MnistModel, make_trainer

    x, y = torch.randn(640, 1, 28, 28), torch.randint(0, 10, (640,))

    def train(every_epoch, val):
        pl.seed_everything(0, verbose=False)
        model = MnistModel([32, 16], 1e-3, 0.3)
        trainer = make_trainer(3)
        if not every_epoch:
            trainer.check_val_every_n_epoch = 3
        trainer.fit(model, Grouped(TensorBatches(x, y, 64, shuffle=True), 4), val)
        return model.state_dict(), model.val_acc, torch.rand(1)

    for val in (TensorBatches(x, y, 256, shuffle=False),  # the cache's validation batches
                DataLoader(TensorDataset(x, y), batch_size=256, generator=torch.Generator())):
        once, every = train(False, val), train(True, val)
        for name in once[0]:
            torch.testing.assert_close(once[0][name], every[0][name], rtol=0, atol=0)
        assert once[1] == every[1] and torch.equal(once[2], every[2])
