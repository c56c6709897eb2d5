"""What differs by TorchX scheduler, behind one interface; TorchX does the rest.

`jobs_for(scheduler)` gives the object NasRunner (nas/runner.py) and the driver's
lifecycle (nas/state/lifecycle.py) ask, never the scheduler's name:
- `TorchXJobs`, any TorchX scheduler: submit, state and cancel as TorchX does them;
- `LocalJobs` (local_cwd, local): jobs on this machine, found by pid after a driver restart
  (nas/jobs/processes.py), started warm when a warm-start server runs (nas/jobs/warm_start.py);
- `SlurmJobs`: each job working in its trial's log dir, its state without accounting, its
  cancel and failure reason (nas/jobs/slurm.py).
"""

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ax.core.base_trial import BaseTrial, TrialStatus
from ax.core.experiment import Experiment
from ax.metrics.tensorboard import RUN_METADATA_KEY  # the trial's log dir in its run metadata
from ax.runners.torchx import APP_STATE_TO_TRIAL_STATUS, TORCHX_APP_HANDLE
from torchx.specs import AppState

from nas.errors import NasError
from nas.jobs import slurm
from nas.jobs.failures import failure_reason
from nas.jobs.local_launch import LOCAL_SCHEDULERS
from nas.jobs.processes import job_pid, kill_job, stop_untracked_jobs
from nas.jobs.warm_start import address_file

LAUNCHER = Path(__file__).resolve().parent / "local_launch.py"


class SchedulerUnavailable(NasError):
    """Jobs cannot be submitted from here now (one line with the way out)."""


@dataclass
class JobState:
    """A trial's job as its scheduler sees it. `status`: RUNNING, COMPLETED (exited 0: its
    logs still decide), FAILED, ABANDONED, ...; None: the scheduler no longer knows the
    job, and its logs decide. `reason`: why it failed, or why it is unknown."""
    status: TrialStatus | None
    reason: str | None = None


class TorchXJobs:
    """Jobs on any TorchX scheduler, which may run them in a container on another machine."""

    warm_start = False  # whether a warm-start server can start its jobs
    on_driver_filesystem = False  # jobs see the driver's files (interpreter, script) at its paths

    def __init__(self, scheduler: str) -> None:
        self.scheduler = scheduler

    def problem(self) -> str | None:
        """Why jobs cannot be submitted from here now, or None."""
        return None

    def component_settings(self, trials_dir: str | Path) -> dict[str, str]:
        """Job settings of the trial component (nas/component.py) for this scheduler."""
        return {"python": sys.executable} if self.on_driver_filesystem else {}

    def torchx_cfg(self, cfg: Mapping[str, Any], trials_dir: str | Path) -> dict[str, Any]:
        return dict(cfg)

    def submission(self, torchx_runner: Any, trial_dir: str | Path, dry: bool = False) -> Any:
        """What Ax's TorchXRunner.run submits through: the torchx runner, or (dry) an
        object whose `run` returns TorchX's dryrun of the request instead."""
        return _DryRun(torchx_runner) if dry else torchx_runner

    def job_states(self, torchx_runner: Any, trials: Iterable[BaseTrial]) -> dict[int, JobState]:
        """{trial index: JobState}."""
        return {t.index: self._state(torchx_runner, t) for t in trials}

    def _state(self, torchx_runner: Any, trial: BaseTrial) -> JobState:
        handle = trial.run_metadata[TORCHX_APP_HANDLE]
        status = torchx_runner.status(handle)
        if status is None:
            return self._unknown_to_torchx(trial)
        if status.state == AppState.SUCCEEDED:
            return JobState(TrialStatus.COMPLETED)
        state = APP_STATE_TO_TRIAL_STATUS[status.state]
        reason = failure_reason(torchx_runner, handle, status) if state.is_terminal else None
        return JobState(state, reason)

    def _unknown_to_torchx(self, trial: BaseTrial) -> JobState:
        return JobState(None, "TorchX no longer knows the job")

    def process_id(self, trial: BaseTrial) -> int | None:
        """The pid of the trial's job on this machine while it runs, else None (not known
        yet, ended, or not a process here)."""
        return None

    def cancel(self, torchx_runner: Any, trial: BaseTrial) -> None:
        handle = trial.run_metadata[TORCHX_APP_HANDLE]
        if torchx_runner.status(handle) is not None:
            torchx_runner.cancel(handle)

    def take_over(self, trials_dir: str | Path, experiment: Experiment) -> list[str]:
        """Before a resumed search goes on: stop the jobs of this search the saved state
        does not record (launched in the instant before the driver died); one line each."""
        return []


class LocalJobs(TorchXJobs):
    """local_cwd / local: jobs on this machine, through nas/jobs/local_launch.py."""

    warm_start = True
    on_driver_filesystem = True

    def component_settings(self, trials_dir: str | Path) -> dict[str, str]:
        # the launcher writes job.pid, then uses the warm-start server if one serves
        return {**super().component_settings(trials_dir), "launcher": str(LAUNCHER),
                "warm_start": str(address_file(trials_dir))}

    def torchx_cfg(self, cfg: Mapping[str, Any], trials_dir: str | Path) -> dict[str, Any]:
        # the jobs' stdout/stderr land next to the logs
        return {"log_dir": str(Path(trials_dir) / "torchx"), **cfg}

    def _unknown_to_torchx(self, trial: BaseTrial) -> JobState:
        """A job an earlier driver process started: still running, or ended meanwhile."""
        if job_pid(trial.run_metadata[RUN_METADATA_KEY]) is not None:
            return JobState(TrialStatus.RUNNING)
        return JobState(None, "job ended while the driver was down")

    def process_id(self, trial: BaseTrial) -> int | None:
        return job_pid(trial.run_metadata.get(RUN_METADATA_KEY, ""))  # once the launcher wrote it

    def cancel(self, torchx_runner: Any, trial: BaseTrial) -> None:
        """SIGKILL by pid first: TorchX's local cancel sends SIGTERM and waits up to 10 s
        for the job to end, which would hold the driver up at every early-stopped trial
        (a job needs no clean-up: its log is flushed as it goes); and a job of an earlier
        driver, which TorchX does not know, has only its pid."""
        kill_job(trial.run_metadata.get(RUN_METADATA_KEY, ""))
        super().cancel(torchx_runner, trial)

    def take_over(self, trials_dir: str | Path, experiment: Experiment) -> list[str]:
        return [f"stopped job {pid}: launched just before the driver died, never recorded"
                for pid in stop_untracked_jobs(trials_dir, experiment)]


class SlurmJobs(TorchXJobs):
    """sbatch jobs on the shared filesystem (nas/jobs/slurm.py)."""

    on_driver_filesystem = True

    def problem(self) -> str | None:
        return slurm.cluster_problem()

    def submission(self, torchx_runner: Any, trial_dir: str | Path, dry: bool = False) -> Any:
        # the job works and writes its Slurm output in its trial's log dir
        return slurm.Submission(torchx_runner, trial_dir, dry=dry)

    def job_states(self, torchx_runner: Any, trials: Iterable[BaseTrial]) -> dict[int, JobState]:
        """One squeue for all (without accounting). A job Slurm has forgotten (ended beyond
        MinJobAge, no accounting) is None: its logs decide."""
        trials = list(trials)
        handles = {t.index: t.run_metadata[TORCHX_APP_HANDLE] for t in trials}
        states = slurm.job_states(torchx_runner, list(handles.values()))
        out = {}
        for trial in trials:
            handle, log_dir = handles[trial.index], trial.run_metadata[RUN_METADATA_KEY]
            state = states[handle]
            if state is None:
                out[trial.index] = JobState(None, slurm.failure_reason(handle, None, log_dir))
            elif state.app_state == AppState.SUCCEEDED:
                out[trial.index] = JobState(TrialStatus.COMPLETED)
            elif state.ended:  # failed, cancelled from outside, timed out, node failure
                out[trial.index] = JobState(TrialStatus.FAILED,
                                            slurm.failure_reason(handle, state, log_dir))
            else:  # pending, configuring, completing, requeued: not over
                out[trial.index] = JobState(TrialStatus.RUNNING)
        return out

    def cancel(self, torchx_runner: Any, trial: BaseTrial) -> None:
        """scancel: TorchX's cancel asks sacct first, which fails without accounting."""
        slurm.cancel(trial.run_metadata[TORCHX_APP_HANDLE])

    def take_over(self, trials_dir: str | Path, experiment: Experiment) -> list[str]:
        if problem := self.problem():  # no sbatch, slurmctld down
            raise SchedulerUnavailable(problem)
        return [f"cancelled Slurm job {job}: submitted just before the driver died, never recorded"
                for job in slurm.cancel_untracked(trials_dir, experiment)]


def jobs_for(scheduler: str) -> TorchXJobs:
    """The jobs of one TorchX scheduler."""
    if scheduler in LOCAL_SCHEDULERS:
        return LocalJobs(scheduler)
    if scheduler == "slurm":
        return SlurmJobs(scheduler)
    return TorchXJobs(scheduler)


class _DryRun:
    """Stands in for the torchx runner: "submits" by dry-running."""

    def __init__(self, torchx_runner: Any) -> None:
        self._torchx_runner = torchx_runner

    def run(self, app: Any, scheduler: str, cfg: Mapping[str, Any] | None = None) -> Any:
        return self._torchx_runner.dryrun(app, scheduler, cfg)
