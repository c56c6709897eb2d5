"""Defining the TorchX App: one trial of the search as a TorchX AppDef.

The trial runs the config's training script with the config's fixed `args` (their
placeholders filled in for this trial: nas/config.py, TRIAL_PLACEHOLDERS, and the
parameters it names, as in `"--layers", "{width_1}", "{width_2}"`) followed by one flag per
other parameter, written as `parameter_args` says (`--{name} {value}` by default,
`{name}={value}` for Hydra). Ax's TorchXRunner calls `trainer` with the trial's
parameters as keyword arguments, whatever their names (dashes and dots too): in a
conditional space only the active ones (nas/hierarchy.py), so an argument naming one the
trial does not have is left out, and a 2-layer trial runs `--layers 64 32`. The
parameters the config's `omit` lists (structural switches) are not passed at all.

The same AppDef runs on every TorchX scheduler. On a container scheduler the job runs
`python` from the image; the driver passes its own interpreter as `python` for local
schedulers and Slurm (nas/runner.py), so an unactivated venv still trains with its
packages. `mounts` are TorchX mount specs: how container jobs see the shared log dir.
`launcher` (local schedulers): the job starts through nas/jobs/local_launch.py, which
writes its pid into the trial's log dir and hands the job to the warm-start server
whose address is in the file `warm_start`, if one serves.
"""

import os
from string import Formatter
from typing import Any

import torchx
from torchx import specs
from torchx.components import utils

from nas.jobs.local_launch import PID_FILE

SETTINGS = dict(script="", args=(), parameter_args="--{name} {value}", data_dir="", cache_dir="",
                python="python", image=torchx.IMAGE, cpu=1, memMB=1024, gpu=0, threads=1,
                mounts=None, launcher="", warm_start="", omit=())


def trainer(log_path: str, trial_idx: int = -1, job_settings: dict | None = None,
            **parameters: Any) -> specs.AppDef:
    """The tutorial's `trainer`, for any script: each trial logs into `<log_path>/<trial_idx>`.

    `job_settings` (SETTINGS' keys): the script and its fixed arguments, and the job's
    interpreter, image, resources and launcher, all in one argument, so that no parameter
    name of a search can collide with one of them (Ax's TorchXRunner passes the trial's
    parameters beside them and would let a parameter override a setting)."""
    unknown = set(job_settings or {}) - set(SETTINGS)
    if unknown:
        raise TypeError(f"unknown job settings: {sorted(unknown)}")
    job = {**SETTINGS, **(job_settings or {})}
    if trial_idx >= 0:
        log_path = os.path.join(log_path, str(trial_idx))
    argv = trial_argv(job["args"], job["parameter_args"], parameters, omit=job["omit"],
                      log_dir=log_path, trial_index=trial_idx, data_dir=job["data_dir"],
                      cache_dir=job["cache_dir"], gpus=job["gpu"])
    script = job["script"]
    if job["launcher"]:
        launch = ["--pid-file", os.path.join(log_path, PID_FILE)]
        if job["warm_start"]:
            launch += ["--warm-start", job["warm_start"]]
        argv, script = [*launch, "--", script, *argv], job["launcher"]
    app = utils.python(*argv, script=script, image=job["image"], name="trainer",
                       cpu=job["cpu"], memMB=job["memMB"], gpu=job["gpu"])
    role = app.roles[0]
    role.entrypoint = job["python"]
    # e.g. ["type=volume", "src=nas-logs", "dst=/mnt/nas"], as `torchx run --mounts` takes them
    role.mounts = specs.parse_mounts(job["mounts"] or [])
    # 1 thread by default: several local trials share the machine's cores (--cpu sets both)
    threads = str(job["threads"])
    role.env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    return app


def trial_argv(args: list[str], parameter_args: str, parameters: dict, omit: tuple = (),
               **placeholders: Any) -> list[str]:
    """The script's arguments: the fixed ones with their placeholders filled in (an
    argument naming a parameter that `parameters` lacks, inactive in this trial, is left
    out), then each parameter neither named in them nor in `omit`, as `parameter_args`
    writes it (split into words at spaces)."""
    argv: list[str] = []
    named: set[str] = set()
    for arg in args:
        fields = [f for _, f, _, _ in Formatter().parse(arg) if f]
        named.update(f for f in fields if f not in placeholders)
        if all(f in placeholders or f in parameters for f in fields):
            argv.append(_fill(arg, {**placeholders, **parameters}))
    for name, value in parameters.items():
        if name not in named and name not in omit:
            argv += [word.format(name=name, value=value) for word in parameter_args.split()]
    return argv


def _fill(text: str, values: dict) -> str:
    """`text` with each {name} or {name:spec} replaced; names taken whole (a parameter
    may be called model.width, which str.format would read as an attribute)."""
    out = []
    for literal, name, spec, conversion in Formatter().parse(text):
        out.append(literal)
        if name is not None:
            value = values[name]
            value = repr(value) if conversion == "r" else str(value) if conversion == "s" else value
            out.append(format(value, spec or ""))
    return "".join(out)
