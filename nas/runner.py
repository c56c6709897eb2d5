"""The TorchXRunner set-up: Ax launches each trial as a TorchX job and polls its state.

`NasRunner` is Ax's `TorchXRunner` with the `trainer` component, plus what a long
search needs: run metadata that can be saved (handle, log dir, pid; not the torchx
runner object), a failure reason for every failed trial (exit code or signal and the
tail of its stderr), re-attaching to local jobs after the driver restarted, and `dryrun`:
the request a trial would submit, built by the same code path as `run`.
"""

import inspect
import json
import math
import os
import signal
import sys
from pathlib import Path

from ax.core.base_trial import TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY
from ax.runners.torchx import APP_STATE_TO_TRIAL_STATUS, TORCHX_APP_HANDLE, TorchXRunner
from torchx.specs import AppState

from nas.component import SCRIPT, trainer
from nas.metrics import read_final_scalars
from nas.warm_start import WarmServer

LOCAL_SCHEDULERS = ("local_cwd", "local")
PROJECT_DIR = Path(__file__).resolve().parent.parent
# jobs run on hosts sharing the driver's filesystem, so its interpreter is there too
HOST_SCHEDULERS = LOCAL_SCHEDULERS + ("slurm",)
PID_FILE = "job.pid"
FAILURE_FILE = "failure_reason.txt"
STDERR_TAIL_LINES = 5


class NasRunner(TorchXRunner):
    """Runs `trainer` jobs on a TorchX scheduler; every init arg is plain data for storage."""

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
        if scheduler in LOCAL_SCHEDULERS:
            # local jobs' stdout/stderr land next to the logs
            self.cfg.setdefault("log_dir", str(Path(log_dir) / "torchx"))
        super().__init__(
            tracker_base=self.log_dir,
            component=trainer,
            component_const_params={"log_path": self.log_dir, **self.component_args},
            orchestrator=scheduler,
            cfg=self.cfg,
        )
        self._reasons = {}
        self._warm_server = None

    def start_warm_server(self):
        """Local jobs fork from a process that has imported torch and Lightning
        (nas/warm_start.py); other schedulers start their jobs as usual."""
        if self.scheduler in LOCAL_SCHEDULERS and self._warm_server is None:
            self._warm_server = WarmServer(PROJECT_DIR)

    def stop_warm_server(self):
        if self._warm_server is not None:
            self._warm_server.stop()
            self._warm_server = None

    def open_scheduler(self):
        """Create the TorchX scheduler now rather than at the first launch (the local one
        installs signal handlers when created; the driver then puts its own back)."""
        self._torchx_runner._scheduler(self.scheduler)

    def trial_log_dir(self, trial_index):
        return os.path.join(self.log_dir, str(trial_index))

    def app(self, trial):
        """The trial's AppDef, with the arguments Ax's TorchXRunner.run passes."""
        params = {**self._component_const_params, **trial.arm.parameters}
        accepted = inspect.getfullargspec(self._component).args
        if "trial_idx" in accepted:
            params["trial_idx"] = trial.index
        if "tracker_base" in accepted:
            params["tracker_base"] = self._tracker_base
        app = self._component(**params)
        return self._warm_server.attach(app) if self._warm_server else app

    def run(self, trial):
        handle = self._torchx_runner.run(self.app(trial), self._orchestrator, self._cfg)
        return {TORCHX_APP_HANDLE: handle, RUN_METADATA_KEY: self.trial_log_dir(trial.index)}

    def dryrun(self, trial):
        """TorchX's AppDryRunInfo of the trial: the request `run` would submit; nothing runs."""
        return self._torchx_runner.dryrun(self.app(trial), self._orchestrator, self._cfg)

    def poll_trial_status(self, trials):
        by_status = {}
        for trial in trials:
            by_status.setdefault(self._trial_status(trial), set()).add(trial.index)
        return by_status

    def poll_exception(self, trial):
        """The reason Ax records on a failed trial; also kept in the trial's log dir."""
        reason = self._reasons.get(trial.index, "unknown")
        log_dir = Path(trial.run_metadata.get(RUN_METADATA_KEY, ""))
        if log_dir.is_dir():
            (log_dir / FAILURE_FILE).write_text(reason + "\n")
        return reason

    def _trial_status(self, trial):
        handle = trial.run_metadata[TORCHX_APP_HANDLE]
        status = self._torchx_runner.status(handle)
        if status is None:  # a local job started by an earlier driver process
            return self._orphan_status(trial)
        state = APP_STATE_TO_TRIAL_STATUS[status.state]
        if status.state == AppState.SUCCEEDED:
            return self._check_metrics(trial)
        if state.is_terminal:
            self._reasons[trial.index] = self._failure_reason(trial, status)
        return state

    def _check_metrics(self, trial):
        """A job that exited 0 but logged no finite val_acc/num_params has failed."""
        try:
            values = read_final_scalars(trial.run_metadata[RUN_METADATA_KEY])
        except Exception as e:
            values, problem = {}, f"unreadable TensorBoard log ({type(e).__name__}: {e})"
        else:
            problem = None
        for tag in ("val_acc", "num_params"):
            if problem is None and not math.isfinite(values.get(tag, math.nan)):
                problem = f"exited 0 but logged no finite {tag} in {trial.run_metadata[RUN_METADATA_KEY]}"
        if problem:
            self._reasons[trial.index] = problem
            return TrialStatus.FAILED
        return TrialStatus.COMPLETED

    def _orphan_status(self, trial):
        """A job the previous driver started: still running, done, or lost with it."""
        log_dir = trial.run_metadata[RUN_METADATA_KEY]
        if job_pid(log_dir) is not None:
            return TrialStatus.RUNNING
        status = self._check_metrics(trial)
        if status == TrialStatus.FAILED:  # ended unseen without results: run a new trial instead
            self._reasons[trial.index] = "job ended while the driver was down; " + self._reasons[trial.index]
            return TrialStatus.ABANDONED
        return status

    def _failure_reason(self, trial, status):
        """Exit code or signal plus the last lines of stderr, as far as TorchX tells."""
        reason = f"job {status.state.name.lower()}"
        app_dir = (status.ui_url or "").removeprefix("file://")
        info = Path(app_dir) / "SUCCESS"  # torchx's local scheduler: exit codes of the replicas
        if not (app_dir and info.exists()):
            return f"{reason}: {status.msg}" if status.msg else reason
        try:
            replica = next(iter(json.loads(info.read_text())["roles"].values()))[0]
            code = replica["exitcode"]
            if code is not None:
                reason = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            stderr = Path(replica["stderr"])
            lines = [l for l in stderr.read_text(errors="replace").splitlines() if l.strip()]
        except (OSError, ValueError, KeyError, IndexError, StopIteration):
            return reason
        if lines:
            reason += ": " + " | ".join(lines[-STDERR_TAIL_LINES:])
        return reason


def job_pid(log_dir):
    """The pid of the training job still running for this log dir, else None."""
    try:
        pid = int((Path(log_dir) / PID_FILE).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    # the pid may have been reused after the job ended: check it is our job
    return pid if f"\0{log_dir}\0" in f"\0{cmdline}" and _is_running(pid) else None


def stop_untracked_jobs(trials_dir, experiment):
    """Before resuming: stop jobs the saved state does not know as running, and move
    their log dirs aside, so no trial index gets two jobs or mixed logs."""
    trials_dir = Path(trials_dir)
    if not trials_dir.is_dir():
        return []
    stopped = []
    for log_dir in trials_dir.iterdir():
        if not log_dir.name.isdigit():
            continue
        trial = experiment.trials.get(int(log_dir.name))
        if trial is not None and (trial.status.is_terminal or trial.status == TrialStatus.RUNNING):
            continue
        pid = job_pid(log_dir)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)  # torchx starts each job in its own session
            except OSError:
                os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
        log_dir.rename(log_dir.with_name(f"{log_dir.name}.stale-{os.getpid()}"))
    return stopped


def _is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0)
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
