"""--check: does the config's script run, and does it log what the config reads?

One trial of the config, its first configuration (what a search at this seed would start
with), runs as a real job on the chosen scheduler, cold (no warm-start server), logging
into LOG_DIR/check/0 (a previous check's logs there are removed first). Then, for each
metric the config declares: is its TensorBoard tag in the trial's log (its event files
anywhere under that dir, read as a search reads them: nas/metrics.py), with a finite
value? A missing one gets a line naming the tag, where it looked, and each folder of
event files with the tags it holds; a failed
job its exit status and stderr tail. Nothing of the search is touched: no saved state,
no lock (the [prepare] command may fill LOG_DIR/cache, as a search's first run would).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ax.core.base_trial import TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY

from nas.config import SearchConfig
from nas.jobs.dryrun import first_trials
from nas.messages import log, option
from nas.metrics import read_final_scalars, trial_log

if TYPE_CHECKING:
    from nas.runner import NasRunner

POLL_SECONDS = 0.5


@dataclass
class MetricCheck:
    """One metric of a check: its tag, the value the trial logged (None: none finite) and
    what is wrong (None: nothing)."""
    name: str
    tag: str
    value: float | None
    problem: str | None


@dataclass
class CheckResult:
    """What a check found: the trial's parameters and log dir, each metric, and the job's
    failure (None if it succeeded). `ok`: every metric logged finite, the job succeeded."""
    config: SearchConfig
    parameters: dict[str, Any]
    log_dir: Path
    metrics: list[MetricCheck]
    job_failure: str | None

    @property
    def ok(self) -> bool:
        return self.job_failure is None and all(m.problem is None for m in self.metrics)


def check_config(config: SearchConfig, runner: NasRunner, seed: int | None = None) -> CheckResult:
    """Run the check: one trial, then its metrics looked up in its log."""
    shutil.rmtree(runner.log_dir, ignore_errors=True)
    (trial,) = first_trials(runner, config, total_trials=2, max_pending=1, seed=seed)[:1]
    assert trial.arm is not None  # the generator run's one arm
    params = ", ".join(f"{k}={v}" for k, v in trial.arm.parameters.items())
    log.info(f"{option('check')}: one trial of {config.name} ({config.source}): {params}")
    runner.open_scheduler()
    trial.run()
    status = None
    try:
        while status is None or not status.is_terminal:
            time.sleep(POLL_SECONDS)
            by_status = runner.poll_trial_status([trial])
            status = next(iter(by_status))
    finally:
        if status is None or not status.is_terminal:  # Ctrl-C: the job goes too
            runner.stop(trial)
    log_dir = trial.run_metadata[RUN_METADATA_KEY]
    job_failed = status != TrialStatus.COMPLETED and runner.poll_exception(trial)
    values = read_final_scalars(log_dir)
    found = trial_log(log_dir).describe()
    metrics = []
    for spec in config.metrics.values():
        value = values.get(spec.tag, math.nan)
        if math.isfinite(value):
            metrics.append(MetricCheck(spec.name, spec.tag, value, None))
            continue
        what = "not finite" if spec.tag in values else "not in the trial's TensorBoard log"
        metrics.append(MetricCheck(spec.name, spec.tag, None,
                                   f"{what}; looked in {log_dir} and its subfolders: {found}"))
    failure = job_failed if job_failed and not job_failed.startswith("exited 0") else None
    return CheckResult(config, dict(trial.arm.parameters), Path(log_dir), metrics, failure)
