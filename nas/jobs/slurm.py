"""Trial jobs on Slurm: where their files go, their state with or without accounting,
cancelling them, and why one failed. NasRunner (nas/runner.py) calls these for
`--scheduler slurm`; the rest is TorchX's slurm scheduler, as it is.

What TorchX 0.7 does not cover, and how this module adds it:
- **Files.** sbatch writes `slurm-<id>.out`, and srun the `slurm-<id>-trainer-0.out/.err`
  TorchX asks for (relative paths), into the job's working dir: the driver's cwd unless
  sbatch gets `--chdir`. TorchX's `job_dir` run option sets `--chdir`, but it is one dir
  for all trials, must not exist yet, and TorchX records it in `.torchxslurmjobdirs` in the
  driver's cwd. So `Submission` submits through TorchX's own dryrun + schedule, adding
  `--chdir` and `--output` = the trial's log dir: a trial's Slurm files sit beside its
  TensorBoard log, nothing lands in the cwd, and the trial's log dir identifies its job.
- **State.** TorchX reads a job's state only with `sacct`, which fails ("Slurm accounting
  storage is disabled") on clusters without slurmdbd, common on small lab clusters.
  `job_states` keeps TorchX's answer where sacct works and falls back to what slurmctld
  itself knows (`squeue --json`, which keeps a finished job, its state and exit code, for
  MinJobAge, 300 s by default); a job neither knows is None, and the trial's own logs
  decide, as for a local job after a driver restart (SlurmJobs.job_states in
  nas/jobs/schedulers.py).
- **Cancel.** TorchX's cancel first asks sacct whether the job exists (fails as above), so
  `cancel` runs `scancel` itself (a no-op on a finished job).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchx.schedulers.slurm_scheduler import SLURM_STATES
from torchx.specs import AppState, is_terminal, parse_app_handle

from nas.jobs.failures import file_tail
from nas.messages import log, one_line, option

if TYPE_CHECKING:
    from ax.core.experiment import Experiment

SBATCH_OUTPUT = "slurm-%j.out"  # the batch script's own output (TorchX's `set -x` lines)
ROLE_ERR = "slurm-{job_id}-*-0.err"  # the job's stderr: TorchX names srun's file by role
START_HINT = ("start the local single-node cluster with `scripts/slurm-local up` (as root; "
              "see docs/cluster.md)")
NO_ANSWER = "NO_ANSWER"  # squeue failed this time: the job is taken as still running
_accounting: dict[str, bool] = {}  # "on": whether sacct works, asked once (it is the cluster's setting)


def cluster_problem() -> str | None:
    """Why jobs cannot be submitted to Slurm from here (one line with the way out), or None."""
    if shutil.which("sbatch") is None:
        return f"{option('scheduler')} slurm: sbatch is not installed here (no Slurm client); {START_HINT}"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
        answer = one_line((ping.stdout.splitlines() or [ping.stderr])[0], None)
        up = ping.returncode == 0 and " is UP" in ping.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        answer, up = str(e), False
    if not up:
        return f"{option('scheduler')} slurm: slurmctld does not answer ({answer}); {START_HINT}"
    return None


def job_id(handle: str) -> str:
    """The Slurm job id in a TorchX app handle (slurm://session/<id>)."""
    return parse_app_handle(handle).app_id


class Submission:
    """Stands in for the torchx runner in NasRunner.run (and .dryrun, `dry`): submits as
    TorchX does, the job working (and writing its Slurm output) in the trial's log dir.
    A `job_dir` the user set in the run options is left to TorchX."""

    def __init__(self, torchx_runner: Any, trial_dir: str | Path, dry: bool = False) -> None:
        self._torchx_runner = torchx_runner
        self.trial_dir = Path(trial_dir)
        self.dry = dry

    def run(self, app: Any, scheduler: str, cfg: Mapping[str, Any] | None = None) -> Any:
        info = self._torchx_runner.dryrun(app, scheduler, cfg)
        if not (cfg or {}).get("job_dir"):
            info.request.cmd += [f"--chdir={self.trial_dir}",
                                 f"--output={self.trial_dir / SBATCH_OUTPUT}"]
        if self.dry:
            return info
        self.trial_dir.mkdir(parents=True, exist_ok=True)  # --chdir needs it
        return self._torchx_runner.schedule(info)


@dataclass
class SlurmState:
    """A job's state as Slurm names it (RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT,
    ...) and, from squeue, its exit code or the signal that ended it."""
    slurm_state: str
    exit_code: int | None = None
    signal: int | None = None

    @property
    def app_state(self) -> AppState:
        return SLURM_STATES.get(self.slurm_state, AppState.UNKNOWN)

    @property
    def ended(self) -> bool:
        return self.slurm_state in SLURM_STATES and is_terminal(self.app_state)

    @property
    def failed(self) -> bool:
        return self.ended and self.app_state != AppState.SUCCEEDED


def job_states(torchx_runner: Any, handles: Sequence[str]) -> dict[str, SlurmState | None]:
    """{handle: SlurmState, or None when Slurm no longer knows the job}."""
    states: dict[str, SlurmState | None] = {}
    for handle in handles if accounting_on() else []:
        try:
            status = torchx_runner.status(handle)  # TorchX: sacct
        except Exception:  # e.g. TorchX asserts on sacct's "CANCELLED by 0": ask squeue
            continue
        if status is not None and status.msg in SLURM_STATES:
            states[handle] = SlurmState(status.msg)
    # squeue for the rest, and for failed jobs' exit codes (sacct's, via TorchX, has none)
    ask = [h for h in handles if h not in states or states[h].failed]  # type: ignore[union-attr]  # JobStates so far
    if ask:
        queue = squeue()
        for handle in ask:
            known = None if queue is None else queue.get(job_id(handle))
            states[handle] = known or states.get(handle) or (
                SlurmState(NO_ANSWER) if queue is None else None)
    return states


def accounting_on() -> bool:
    """Whether sacct answers here (asked once, quietly: TorchX would print sacct's error)."""
    if "on" not in _accounting:
        try:
            sacct = subprocess.run(["sacct", "--noheader", "-X", "-j", "1"],
                                   capture_output=True, text=True, timeout=60)
            _accounting["on"] = sacct.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _accounting["on"] = False
        if not _accounting["on"]:
            log.info("note: Slurm accounting is off here (sacct fails): job states come from "
                     "squeue, and from the trials' logs for jobs ended over MinJobAge ago")
    return _accounting["on"]


def squeue() -> dict[str, SlurmState] | None:
    """{job id: SlurmState} of the jobs slurmctld knows (pending, running, and ended within
    MinJobAge); None if it did not answer."""
    jobs = _squeue_jobs()
    return None if jobs is None else {str(job["job_id"]): _job_state(job) for job in jobs}


def _squeue_jobs() -> list[dict[str, Any]] | None:
    """squeue's records of all jobs (`squeue --json` ignores --jobs in Slurm 22.05)."""
    try:
        out = subprocess.run(["squeue", "--json"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return json.loads(out)["jobs"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return None


def _job_state(job: Mapping[str, Any]) -> SlurmState:
    raw = job.get("exit_code")
    code = sig = None
    if isinstance(raw, int):  # a wait status: exit code in the high byte, signal low
        code, sig = raw >> 8, raw & 0x7F
    return SlurmState(str(job.get("job_state", "UNKNOWN")), code, sig or None)


def queued_jobs_under(folder: str | Path) -> dict[str, Path]:
    """{job id: working dir} of the jobs not yet ended that work under `folder`: this
    search's trial jobs, as each works in its trial's log dir."""
    folder = Path(folder)
    return {str(job["job_id"]): Path(job["current_working_directory"])
            for job in _squeue_jobs() or []
            if folder in Path(job.get("current_working_directory") or "/").parents
            and not _job_state(job).ended}


def cancel_untracked(trials_dir: str | Path, experiment: Experiment) -> list[str]:
    """Before resuming: scancel this search's jobs the saved state does not record as
    running (submitted in the instant before the driver died); their ids."""
    from ax.runners.torchx import TORCHX_APP_HANDLE

    tracked = {job_id(t.run_metadata[TORCHX_APP_HANDLE]) for t in experiment.trials.values()
               if t.status.is_running and TORCHX_APP_HANDLE in t.run_metadata}
    stray = sorted(set(queued_jobs_under(trials_dir)) - tracked, key=int)
    if stray:
        subprocess.run(["scancel", *stray], capture_output=True, timeout=60)
    return stray


def cancel(handle: str) -> None:
    """scancel the trial's job; nothing happens to a job that already ended."""
    subprocess.run(["scancel", job_id(handle)], capture_output=True, timeout=60)


def failure_reason(handle: str, state: SlurmState | None, trial_dir: str | Path) -> str:
    """'Slurm job 12 FAILED, exit code 1: <stderr tail>' (CANCELLED, TIMEOUT, ...)."""
    reason = f"Slurm job {job_id(handle)} " + (state.slurm_state if state else "no longer known to Slurm")
    if state and state.signal:
        try:
            reason += f", killed by {signal.Signals(state.signal).name}"
        except ValueError:
            reason += f", signal {state.signal}"
    elif state and state.exit_code is not None:
        reason += f", exit code {state.exit_code}"
    errs = sorted(Path(trial_dir).glob(ROLE_ERR.format(job_id=job_id(handle))))
    # TorchX's log_lines looks for the job's stderr in the driver's cwd; it is in the trial's dir
    tail = file_tail(errs[0]) if errs else []
    return f"{reason}: {' | '.join(tail)}" if tail else reason


