"""The TorchXRunner set-up: Ax launches each trial as a TorchX job and polls its state.

`NasRunner` is Ax's `TorchXRunner` with the `trainer` component. Ax builds and submits
the job (`run`) and cancels it (`stop`); this class adds only what a long search needs
and Ax does not do:
- run metadata that can be saved and re-attached after a driver restart: the trial's log
  dir (where its TensorBoard log and, for local jobs, job.pid are), not the torchx runner;
- a failure reason for every failed trial (nas/jobs/failures.py), and FAILED for a job that
  exited 0 without finite metrics;
- the state of jobs the current TorchX runner does not know (started by an earlier driver
  process: nas/jobs/processes.py), and stopping them;
- on Slurm: each job working in its trial's log dir, its state without accounting, its
  cancel and failure reason (nas/jobs/slurm.py);
- `dryrun`: the request a trial would submit, built by Ax's own `run`.
"""

import copy
import math
import os
import sys
from pathlib import Path

from ax.core.base_trial import TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY
from ax.runners.torchx import (
    APP_STATE_TO_TRIAL_STATUS, TORCHX_APP_HANDLE, TORCHX_RUNNER, TorchXRunner,
)
from torchx.specs import AppState

from nas.jobs import slurm
from nas.component import SCRIPT, trainer
from nas.jobs.failures import failure_reason
from nas.metrics import read_final_scalars
from nas.jobs.processes import job_pid, kill_job
from nas.jobs.warm_start import address_file

LOCAL_SCHEDULERS = ("local_cwd", "local")
PROJECT_DIR = Path(__file__).resolve().parent.parent
# jobs run on hosts sharing the driver's filesystem, so its interpreter is there too
HOST_SCHEDULERS = LOCAL_SCHEDULERS + ("slurm",)
FAILURE_FILE = "failure_reason.txt"


class NasRunner(TorchXRunner):
    """Runs `trainer` jobs on a TorchX scheduler; every init arg is plain data for storage.

    Local jobs start through nas/jobs/local_launch.py (the component's `launcher`/`warm_start`,
    set here once).
    """

    def __init__(self, scheduler, log_dir, component_args=None, cfg=None):
        self.scheduler = scheduler
        self.log_dir = str(log_dir)
        self.component_args = dict(component_args or {})
        self.cfg = dict(cfg or {})
        if scheduler in HOST_SCHEDULERS:
            # the jobs run this project's script with this interpreter, from any cwd
            # (Slurm: both on the shared filesystem)
            self.component_args.setdefault("python", sys.executable)
            self.component_args.setdefault("script", str(PROJECT_DIR / SCRIPT))
        local_launch = {}
        if scheduler in LOCAL_SCHEDULERS:
            # local jobs' stdout/stderr land next to the logs
            self.cfg.setdefault("log_dir", str(Path(log_dir) / "torchx"))
            # they start through a launcher that writes job.pid and uses a warm-start
            # server if the driver runs one (nas/jobs/local_launch.py)
            local_launch = {"launcher": str(PROJECT_DIR / "nas" / "jobs" / "local_launch.py"),
                            "warm_start": str(address_file(self.log_dir))}
        super().__init__(
            tracker_base=self.log_dir,
            component=trainer,
            component_const_params={"log_path": self.log_dir, **local_launch, **self.component_args},
            orchestrator=scheduler,
            cfg=self.cfg,
        )
        self._reasons = {}

    def open_scheduler(self):
        """Create the TorchX scheduler now rather than at the first launch (the local one
        installs signal handlers when created; the driver then puts its own back).
        TorchX has no public call for that alone: asking its run options creates it."""
        self._torchx_runner.scheduler_run_opts(self.scheduler)

    def trial_log_dir(self, trial_index):
        return os.path.join(self.log_dir, str(trial_index))

    def run(self, trial):
        """Ax submits; we keep what a restarted driver needs: the handle and the log dir
        (on Slurm the handle holds the job id, by which a restarted driver re-attaches)."""
        submitter = self
        if self.scheduler == "slurm":  # the job works and writes its output in its log dir
            submitter = self._submitting_through(
                slurm.Submission(self._torchx_runner, self.trial_log_dir(trial.index)))
        metadata = TorchXRunner.run(submitter, trial)
        # this process's torchx runner object: it cannot be saved, and a restarted
        # driver polls through its own
        del metadata[TORCHX_RUNNER]
        metadata[RUN_METADATA_KEY] = self.trial_log_dir(trial.index)
        return metadata

    def dryrun(self, trial):
        """TorchX's AppDryRunInfo of the trial: the request `run` would submit; nothing runs.

        Ax builds the trial's AppDef inside `TorchXRunner.run` and has no hook to get it
        alone, so that method runs on a copy whose submission is TorchX's dryrun.
        `_torchx_runner` is Ax's private attribute; Ax has no public one for it."""
        if self.scheduler == "slurm":  # with the options `run` adds on Slurm
            submission = slurm.Submission(self._torchx_runner, self.trial_log_dir(trial.index),
                                          dry=True)
        else:
            submission = _DryRunSubmission(self._torchx_runner)
        return TorchXRunner.run(self._submitting_through(submission), trial)[TORCHX_APP_HANDLE]

    def _submitting_through(self, submission):
        """A copy of this runner whose `_torchx_runner` (Ax's private attribute; Ax has no
        public one) is `submission`, an object with the torchx runner's `run`."""
        other = copy.copy(self)
        other._torchx_runner = submission
        return other

    def poll_trial_status(self, trials):
        trials = list(trials)
        if self.scheduler == "slurm":  # one squeue for all (without accounting)
            states = slurm.job_states(self._torchx_runner,
                                      [t.run_metadata[TORCHX_APP_HANDLE] for t in trials])
            status_of = lambda t: self._slurm_status(t, states[t.run_metadata[TORCHX_APP_HANDLE]])
        else:
            status_of = self._trial_status
        by_status = {}
        for trial in trials:
            by_status.setdefault(status_of(trial), set()).add(trial.index)
        return by_status

    def poll_exception(self, trial):
        """The reason Ax records on a failed trial; also kept in the trial's log dir."""
        reason = self._reasons.get(trial.index, "unknown")
        log_dir = Path(trial.run_metadata.get(RUN_METADATA_KEY, ""))
        if log_dir.is_dir():
            (log_dir / FAILURE_FILE).write_text(reason + "\n")
        return reason

    def stop(self, trial, reason=None):
        """Ax cancels through TorchX. A local job gets SIGKILL by its pid first: TorchX's
        local cancel sends SIGTERM and waits up to 10 s for the job to end, which would hold
        the driver up at every early-stopped trial (the job needs no clean-up: it flushes
        its log every epoch); and a job of an earlier driver, which TorchX does not know,
        has only its pid."""
        if self.scheduler == "slurm":  # TorchX's cancel asks sacct first: see nas/jobs/slurm.py
            slurm.cancel(trial.run_metadata[TORCHX_APP_HANDLE])
            return {"reason": reason} if reason else {}
        if self.scheduler in LOCAL_SCHEDULERS:
            kill_job(trial.run_metadata.get(RUN_METADATA_KEY, ""))
        if self._torchx_runner.status(trial.run_metadata[TORCHX_APP_HANDLE]) is None:
            return {"reason": reason} if reason else {}
        return super().stop(trial, reason=reason)

    def _trial_status(self, trial):
        handle = trial.run_metadata[TORCHX_APP_HANDLE]
        status = self._torchx_runner.status(handle)
        if status is None:  # a local job started by an earlier driver process
            return self._orphan_status(trial)
        if status.state == AppState.SUCCEEDED:
            return self._check_metrics(trial)
        state = APP_STATE_TO_TRIAL_STATUS[status.state]
        if state.is_terminal:
            self._reasons[trial.index] = failure_reason(self._torchx_runner, handle, status)
        return state

    def _check_metrics(self, trial):
        """A job that exited 0 but logged no finite val_acc/num_params has failed."""
        log_dir = trial.run_metadata[RUN_METADATA_KEY]
        try:
            values = read_final_scalars(log_dir)
        except Exception as e:
            values, problem = {}, f"unreadable TensorBoard log ({type(e).__name__}: {e})"
        else:
            problem = None
        for tag in ("val_acc", "num_params"):
            if problem is None and not math.isfinite(values.get(tag, math.nan)):
                problem = f"exited 0 but logged no finite {tag} in {log_dir}"
        if problem:
            self._reasons[trial.index] = problem
            return TrialStatus.FAILED
        return TrialStatus.COMPLETED

    def _slurm_status(self, trial, state):
        """`state`: the job's slurm.JobState, None once Slurm has forgotten it (ended
        beyond MinJobAge, no accounting): then its logs decide, as for an orphan."""
        handle = trial.run_metadata[TORCHX_APP_HANDLE]
        log_dir = trial.run_metadata[RUN_METADATA_KEY]
        if state is None:
            status = self._check_metrics(trial)
            if status == TrialStatus.FAILED:  # ended unseen without results: a new trial instead
                self._reasons[trial.index] = (f"{slurm.failure_reason(handle, None, log_dir)}; "
                                              f"{self._reasons[trial.index]}")
                return TrialStatus.ABANDONED
            return status
        if state.app_state == AppState.SUCCEEDED:
            return self._check_metrics(trial)
        if state.ended:
            # failed, cancelled from outside, timed out, node failure: FAILED, with why
            self._reasons[trial.index] = slurm.failure_reason(handle, state, log_dir)
            return TrialStatus.FAILED
        return TrialStatus.RUNNING  # pending, configuring, completing, requeued: not over

    def _orphan_status(self, trial):
        """A job the previous driver started: still running, done, or lost with it."""
        if job_pid(trial.run_metadata[RUN_METADATA_KEY]) is not None:
            return TrialStatus.RUNNING
        status = self._check_metrics(trial)
        if status == TrialStatus.FAILED:  # ended unseen without results: run a new trial instead
            self._reasons[trial.index] = "job ended while the driver was down; " + self._reasons[trial.index]
            return TrialStatus.ABANDONED
        return status


class _DryRunSubmission:
    """Stands in for the torchx runner in `NasRunner.dryrun`: "submits" by dry-running."""

    def __init__(self, torchx_runner):
        self._torchx_runner = torchx_runner

    def run(self, app, scheduler, cfg=None):
        return self._torchx_runner.dryrun(app, scheduler, cfg)
