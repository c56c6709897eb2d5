"""--dry-run: what the search would submit first, as TorchX itself renders it; nothing runs.

The trials come from the experiment and generation strategy a real run builds, and each
request from TorchX's own dryrun of the trial's AppDef (`NasRunner.dryrun`, the code path
of `run`): the sbatch script for slurm, the Volcano job for kubernetes. The trials stay
candidates in memory: no job is submitted, no file written, no cluster contacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchx.schedulers import get_scheduler_factories

from nas.generation import make_generation_strategy
from nas.orchestration import make_experiment

if TYPE_CHECKING:
    from ax.core.trial import Trial

    from nas.config import SearchConfig
    from nas.runner import NasRunner

MAX_SHOWN = 4


def first_trials(runner: NasRunner, config: SearchConfig, total_trials: int, max_pending: int,
                 seed: int | None = None) -> list[Trial]:
    """The first trials a new search of `config` launches (up to MAX_SHOWN), generated
    but not run."""
    experiment = make_experiment(config, runner)
    generation_strategy = make_generation_strategy(experiment, total_trials, max_pending,
                                                   seed=seed)
    trials = []
    for _ in range(min(max_pending, total_trials, MAX_SHOWN)):
        generator_run = generation_strategy.gen_single_trial(experiment)
        trials.append(experiment.new_trial(generator_run=generator_run))
    return trials


def requests(runner: NasRunner, trials: list[Trial]) -> tuple[dict[str, Any], list[tuple[Trial, Any]]]:
    """(the scheduler's run options as TorchX resolves them, [(trial, its TorchX
    AppDryRunInfo)]): what `run` would submit for each trial."""
    scheduler = runner.scheduler
    cfg = get_scheduler_factories()[scheduler](session_name="nas").run_opts().resolve(runner.cfg)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    return cfg, [(trial, runner.dryrun(trial)) for trial in trials]
