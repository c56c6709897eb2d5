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

import math
import shutil
import sys
import time

from ax.core.base_trial import TrialStatus
from ax.metrics.tensorboard import RUN_METADATA_KEY

from nas.config import SearchConfig
from nas.metrics import read_final_scalars, trial_log
from nas.orchestration import make_experiment
from nas.generation import make_generation_strategy

POLL_SECONDS = 0.5


def check_config(config: SearchConfig, runner, seed=None, stream=None) -> bool:
    """Run the check, print its findings; True if every metric was logged finite and the
    job succeeded."""
    out = stream or sys.stdout
    shutil.rmtree(runner.log_dir, ignore_errors=True)
    experiment = make_experiment(config, runner)
    strategy = make_generation_strategy(experiment, total_trials=2, max_pending=1, seed=seed)
    trial = experiment.new_trial(generator_run=strategy.gen_single_trial(experiment))
    params = ", ".join(f"{k}={v}" for k, v in trial.arm.parameters.items())
    print(f"--check: one trial of {config.name} ({config.path}): {params}", file=out, flush=True)
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
    ok = True
    for spec in config.metrics.values():
        value = values.get(spec.tag, math.nan)
        if math.isfinite(value):
            print(f"  ok       {spec.name}: tag {spec.tag!r} = {value:.6g}", file=out)
            continue
        ok = False
        what = "not finite" if spec.tag in values else "not in the trial's TensorBoard log"
        print(f"  MISSING  {spec.name}: tag {spec.tag!r} {what}; looked in {log_dir} and its "
              f"subfolders: {found}", file=out)
    if job_failed and not job_failed.startswith("exited 0"):
        ok = False
        print(f"  FAILED   the job: {job_failed}", file=out)
    print(f"--check: {'passed' if ok else 'failed'}; the trial's logs are in {log_dir}", file=out)
    return ok
