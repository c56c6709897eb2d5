"""The TorchX component: one NAS trial as a TorchX AppDef.

The same AppDef runs on every TorchX scheduler. On a container scheduler the job runs
`python` from the image; the driver passes its own interpreter as `python` for local
schedulers and Slurm (see nas/runner.py), so an unactivated venv still trains with its
packages. `mounts` are TorchX mount specs: how container jobs see the shared log dir. `launcher`
(local schedulers): the job starts through nas/jobs/local_launch.py, which writes its pid into
the trial's log dir and hands the job to the warm-start server whose address is in the
file `warm_start`, if one serves (see nas/runner.py, which sets both).
"""

import os
from typing import List, Optional

import torchx
from torchx import specs
from torchx.components import utils

from nas.jobs.local_launch import PID_FILE

SCRIPT = "mnist_train_nas.py"  # relative to the job's working dir (the image's, on containers)


def trainer(
    log_path: str,
    hidden_size_1: int,
    hidden_size_2: int,
    learning_rate: float,
    epochs: int,
    dropout: float,
    batch_size: int,
    trial_idx: int = -1,
    data_dir: str = "",
    data_cache: str = "",
    python: str = "python",
    script: str = SCRIPT,
    image: str = torchx.IMAGE,
    cpu: int = 1,
    memMB: int = 1024,
    gpu: int = 0,
    threads: int = 1,
    mounts: Optional[List[str]] = None,
    launcher: str = "",
    warm_start: str = "",
) -> specs.AppDef:
    """The tutorial's `trainer`, with each trial logging into `<log_path>/<trial_idx>`."""
    if trial_idx >= 0:
        log_path = os.path.join(log_path, str(trial_idx))
    args = [
        "--log_path", log_path,
        "--hidden_size_1", str(hidden_size_1),
        "--hidden_size_2", str(hidden_size_2),
        "--learning_rate", str(learning_rate),
        "--epochs", str(epochs),
        "--dropout", str(dropout),
        "--batch_size", str(batch_size),
    ]
    if data_dir:
        args += ["--data_dir", data_dir]
    if data_cache:
        args += ["--data_cache", data_cache]
    if gpu > 0:  # the job trains on the GPUs the scheduler gives it (untested here: no GPU)
        args += ["--gpus", str(gpu)]
    if launcher:
        launch = ["--pid-file", os.path.join(log_path, PID_FILE)]
        if warm_start:
            launch += ["--warm-start", warm_start]
        args, script = [*launch, "--", script, *args], launcher
    app = utils.python(
        *args, script=script, image=image, name="trainer", cpu=cpu, memMB=memMB, gpu=gpu
    )
    role = app.roles[0]
    role.entrypoint = python
    # e.g. ["type=volume", "src=nas-logs", "dst=/mnt/nas"], as `torchx run --mounts` takes them
    role.mounts = specs.parse_mounts(mounts or [])
    # 1 thread by default: several local trials share the machine's cores (--cpu sets both)
    role.env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    return app
