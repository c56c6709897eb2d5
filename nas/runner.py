"""Setting up the Runner: Ax launches each trial as a TorchX job and polls its state.

`NasRunner` is Ax's `TorchXRunner` with the `trainer` component (nas/component.py). Ax
builds and submits the job (`run`) and cancels it (`stop`); this class adds only what a
long search needs and Ax does not do:
- run metadata that can be saved and re-attached after a driver restart: the trial's log
  dir (where its TensorBoard log and, for local jobs, job.pid are), not the torchx runner;
- a failure reason for every failed trial, and FAILED for a job that exited 0 without a
  finite value of every metric's TensorBoard tag;
- the state of jobs the current TorchX runner does not know (started by an earlier driver
  process), decided by their logs;
- `dryrun`: the request a trial would submit, built by Ax's own `run`.
What differs by scheduler (local jobs by pid, Slurm without accounting) is the
scheduler's `TorchXJobs` object (nas/jobs/schedulers.py).
"""

import copy
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ax.core.base_trial import BaseTrial, TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY
from ax.runners.torchx import TORCHX_APP_HANDLE, TORCHX_RUNNER, TorchXRunner

from nas.ax_compat import set_torchx_runner, torchx_runner
from nas.component import trainer
from nas.config import SearchConfig
from nas.jobs.schedulers import JobState, jobs_for
from nas.metrics import read_final_scalars, trial_log

FAILURE_FILE = "failure_reason.txt"


def make_runner(config: SearchConfig, scheduler: str, trials_dir: str | Path, data_dir: str | Path,
                cache_dir: str | Path, resources: Mapping[str, Any] | None = None,
                cfg: Mapping[str, Any] | None = None) -> "NasRunner":
    """The runner of `config`'s trials on `scheduler`: its script and fixed arguments, the
    dirs its placeholders stand for, and the jobs' `resources` (image, cpu, threads, memMB,
    gpu, mounts: None keeps the component's default); paths absolute, as remote jobs need
    them. A container runs the script from its image, whose working dir holds the project
    as the driver's working dir does: the script's path relative to the latter."""
    script = Path(config.script)
    if not jobs_for(scheduler).on_driver_filesystem:
        script = Path(os.path.relpath(script))
    settings = {"script": str(script), "args": list(config.args),
                "parameter_args": config.parameter_args, "omit": list(config.omit),
                "data_dir": str(Path(data_dir).resolve()), "cache_dir": str(Path(cache_dir).resolve())}
    settings.update({k: v for k, v in (resources or {}).items() if v is not None})
    return NasRunner(scheduler=scheduler, log_dir=Path(trials_dir).resolve(), job_settings=settings,
                     cfg=cfg)


class NasRunner(TorchXRunner):
    """Runs `trainer` jobs on a TorchX scheduler; every init arg is plain data for storage.

    `job_settings`: the component's (nas/component.py, SETTINGS); the scheduler's own are
    added here once (its interpreter, launcher)."""

    def __init__(self, scheduler: str, log_dir: str | Path, job_settings: Mapping[str, Any] | None = None,
                 cfg: Mapping[str, Any] | None = None) -> None:
        self.scheduler = scheduler
        self.log_dir = str(log_dir)
        self.jobs = jobs_for(scheduler)
        self.job_settings = {**self.jobs.component_settings(self.log_dir), **(job_settings or {})}
        self.cfg = self.jobs.torchx_cfg(cfg or {}, self.log_dir)
        super().__init__(
            tracker_base=self.log_dir,
            component=trainer,
            component_const_params={"log_path": self.log_dir, "job_settings": self.job_settings},
            orchestrator=scheduler,
            cfg=self.cfg,
        )
        self._reasons: dict[int, str] = {}

    def open_scheduler(self) -> None:
        """Create the TorchX scheduler now rather than at the first launch (the local one
        installs signal handlers when created; the driver then puts its own back).
        TorchX has no public call for that alone: asking its run options creates it."""
        torchx_runner(self).scheduler_run_opts(self.scheduler)

    def trial_log_dir(self, trial_index: int) -> str:
        return os.path.join(self.log_dir, str(trial_index))

    def run(self, trial: BaseTrial) -> dict[str, Any]:
        """Ax submits; we keep what a restarted driver needs: the handle and the log dir
        (on Slurm the handle holds the job id, by which a restarted driver re-attaches)."""
        submission = self.jobs.submission(torchx_runner(self), self.trial_log_dir(trial.index))
        metadata = TorchXRunner.run(self._submitting_through(submission), trial)
        # this process's torchx runner object: it cannot be saved, and a restarted
        # driver polls through its own
        del metadata[TORCHX_RUNNER]
        metadata[RUN_METADATA_KEY] = self.trial_log_dir(trial.index)
        return metadata

    def dryrun(self, trial: BaseTrial) -> Any:
        """TorchX's AppDryRunInfo of the trial: the request `run` would submit; nothing runs.

        Ax builds the trial's AppDef inside `TorchXRunner.run` and has no hook to get it
        alone, so that method runs on a copy whose submission is TorchX's dryrun."""
        submission = self.jobs.submission(torchx_runner(self), self.trial_log_dir(trial.index),
                                          dry=True)
        return TorchXRunner.run(self._submitting_through(submission), trial)[TORCHX_APP_HANDLE]

    def _submitting_through(self, submission: Any) -> "NasRunner":
        """A copy of this runner that submits through `submission`, an object with the
        torchx runner's `run` (nas/ax_compat.py)."""
        other = copy.copy(self)
        set_torchx_runner(other, submission)
        return other

    def poll_trial_status(self, trials: Iterable[BaseTrial]) -> dict[TrialStatus, set[int]]:
        by_index = {t.index: t for t in trials}
        by_status: dict[TrialStatus, set[int]] = {}
        for index, job in self.jobs.job_states(torchx_runner(self), by_index.values()).items():
            by_status.setdefault(self._status(by_index[index], job), set()).add(index)
        return by_status

    def _status(self, trial: BaseTrial, job: JobState) -> TrialStatus:
        index = trial.index
        if job.status == TrialStatus.COMPLETED:
            return self._check_metrics(trial)
        if job.status is None:  # ended unseen: its logs decide; without results, a new trial
            status = self._check_metrics(trial)
            if status == TrialStatus.FAILED:
                self._reasons[index] = f"{job.reason}; {self._reasons[index]}"
                return TrialStatus.ABANDONED
            return status
        if job.reason:
            self._reasons[index] = job.reason
        return job.status

    def poll_exception(self, trial: BaseTrial) -> str:
        """The reason Ax records on a failed trial; also kept in the trial's log dir."""
        reason = self._reasons.get(trial.index, "unknown")
        log_dir = Path(trial.run_metadata.get(RUN_METADATA_KEY, ""))
        if log_dir.is_dir():
            (log_dir / FAILURE_FILE).write_text(reason + "\n")
        return reason

    def process_id(self, trial: BaseTrial) -> int | None:
        """The pid of the trial's job if it runs as a process on this machine (local
        schedulers, once its launcher started), else None."""
        return self.jobs.process_id(trial)

    def stop(self, trial: BaseTrial, reason: str | None = None) -> dict[str, Any]:
        """Cancel the trial's job, as its scheduler does it (nas/jobs/schedulers.py)."""
        self.jobs.cancel(torchx_runner(self), trial)
        return {"reason": reason} if reason else {}

    def _check_metrics(self, trial: BaseTrial) -> TrialStatus:
        """A job that exited 0 but logged no finite value of some metric's tag has failed."""
        log_dir = trial.run_metadata[RUN_METADATA_KEY]
        problem = missing_metrics(log_dir, trial.experiment.metrics.values())
        if problem:
            self._reasons[trial.index] = f"exited 0 but {problem}"
            return TrialStatus.FAILED
        return TrialStatus.COMPLETED


def missing_metrics(log_dir: str | Path, metrics: Iterable[Any]) -> str | None:
    """Why the TensorBoard log in `log_dir` lacks a finite value of some metric's tag
    (naming the tags it does hold), or None."""
    try:
        values = read_final_scalars(log_dir)
    except Exception as e:
        return f"left an unreadable TensorBoard log ({type(e).__name__}: {e})"
    for metric in metrics:
        if not math.isfinite(values.get(metric.tag, math.nan)):
            named = "" if metric.tag == metric.name else f" (metric {metric.name})"
            return (f"logged no finite {metric.tag}{named} in {log_dir} or its subfolders; "
                    f"{trial_log(log_dir).describe()}")
    return None
