"""The run's facts, computed once per results write: trial counts by status, the trials
table, the observed Pareto set, the hypervolume trace, the best model under the
parameter threshold, the failed trials with their reasons, the early-stopped trials
with the epoch they reached, wall time, versions and provenance.

The console summary (nas/report/console.py), run_summary.json and index.html (nas/report/writer.py,
nas/report/index_page.py) only render a `RunSummary`; none of them counts or computes again.

The Pareto set and the hypervolume are over COMPLETED trials: an early-stopped trial's
accuracy is partly trained, not the result of its configuration.
"""

import os
from dataclasses import dataclass

import pandas as pd
import torch
from ax.core.base_trial import TrialStatus
from ax.service.utils.report_utils import exp_to_df
from botorch.utils.multi_objective.pareto import is_non_dominated

from nas.early_stopping import stopped_epochs
from nas.report.hypervolume import hypervolume_trace
from nas.optimization import NUM_PARAMS_THRESHOLD
from nas.report.provenance import provenance, versions

PARAMS = ["hidden_size_1", "hidden_size_2", "learning_rate", "epochs", "dropout", "batch_size"]
OBJECTIVES = ["val_acc", "num_params"]


def trial_counts(experiment):
    """{status name: number of trials} for every TrialStatus, zeros included."""
    counts = {status.name: 0 for status in TrialStatus}
    for trial in experiment.trials.values():
        counts[trial.status.name] += 1
    return counts


def results_table(experiment):
    """The tutorial's `exp_to_df`, plus the failure reason of failed trials and the epoch
    an early-stopped trial reached (its val_acc is the one after that epoch)."""
    df = exp_to_df(experiment)
    # an objective no trial reported: no trial with data yet, or every trial stopped early
    # (val_acc curves, no num_params)
    df = df.assign(**{name: float("nan") for name in OBJECTIVES if name not in df})
    if "trial_index" not in df:  # no trial yet
        return df
    reasons = {t.index: t.status_reason or "" for t in experiment.trials.values()}
    if any(reasons.values()):
        df["reason"] = df["trial_index"].map(reasons)
    stopped = stopped_epochs(experiment)
    if stopped:
        df["stopped_at_epoch"] = df["trial_index"].map(stopped).astype("Int64")
    return df


def pareto_front(table):
    """The rows of `table` (exp_to_df's columns) of the Pareto-optimal COMPLETED trials,
    by BoTorch's `is_non_dominated` (num_params negated: it maximizes), fewest
    parameters first (then by trial index). Equal points are all kept."""
    if "trial_status" not in table.columns:  # no trial yet
        return pd.DataFrame(columns=["trial_index", *OBJECTIVES])
    done = table[table["trial_status"] == TrialStatus.COMPLETED.name].dropna(subset=OBJECTIVES)
    y = torch.tensor(done[OBJECTIVES].to_numpy(dtype=float) * [1.0, -1.0], dtype=torch.double)
    return done[is_non_dominated(y, deduplicate=False).numpy()].sort_values(
        ["num_params", "trial_index"])


def search_wall_time(experiment):
    """First trial started to last trial ended (seconds), over every run of the driver."""
    starts = [t.time_run_started for t in experiment.trials.values() if t.time_run_started]
    ends = [t.time_completed for t in experiment.trials.values() if t.time_completed]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


def failed_trials(experiment):
    """trial_index, status, reason of every failed or abandoned trial."""
    rows = [{"trial_index": t.index, "status": t.status.name, "reason": t.status_reason or ""}
            for t in experiment.trials.values() if t.status.is_failed or t.status.is_abandoned]
    return pd.DataFrame(rows, columns=["trial_index", "status", "reason"])


@dataclass
class RunSummary:
    name: str
    counts: dict  # {TrialStatus name: trials}, every status
    table: pd.DataFrame  # results_table
    front: pd.DataFrame  # pareto_front(table)
    trace: pd.DataFrame  # hypervolume after each completed trial (nas/report/hypervolume.py)
    stopped: dict  # {trial index: epoch reached} of the early-stopped trials
    failed: pd.DataFrame  # failed_trials
    search_wall_seconds: float  # None before a trial ended
    run_info: dict  # from the driver: strategy, seed, driver_seconds, code_at_start
    versions: dict
    provenance: dict  # nas/report/provenance.py

    @property
    def total(self):
        return sum(self.counts.values())

    @property
    def hypervolume(self):
        return float(self.trace["hypervolume"].iloc[-1]) if len(self.trace) else 0.0

    @property
    def pareto_optimal(self):
        """Index, hyperparameters and both objectives of the Pareto-optimal trials."""
        return self.front[[c for c in ["trial_index", *PARAMS, *OBJECTIVES] if c in self.front]]

    @property
    def best_under_threshold(self):
        """The Pareto-optimal trial with the highest val_acc within the parameter
        threshold (a dict of pareto_optimal's columns), or None."""
        front = self.pareto_optimal
        small = front[front["num_params"] <= NUM_PARAMS_THRESHOLD]
        if not len(small):
            return None
        best = small.sort_values("val_acc").tail(1).to_dict("records")[0]
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in best.items()}

    def to_json(self):
        """run_summary.json."""
        return {
            "trials": {name.lower(): n for name, n in self.counts.items() if n},
            "search_wall_seconds": self.search_wall_seconds,
            "driver_seconds": self.run_info.get("driver_seconds"),
            "strategy": self.run_info.get("strategy"),
            "seed": self.run_info.get("seed"),
            "final_hypervolume": self.hypervolume,
            "best_val_acc_under_80k_params": self.best_under_threshold,
            "pareto_optimal_trials": [int(i) for i in self.front["trial_index"]]
            if len(self.front) else [],
            "cpu_count": os.cpu_count(),
            "versions": self.versions,
            "provenance": self.provenance,
        }


def summarize(experiment, run_info=None):
    """Every fact of the run, once."""
    table = results_table(experiment)
    return RunSummary(
        name=experiment.name, counts=trial_counts(experiment), table=table,
        front=pareto_front(table), trace=hypervolume_trace(experiment),
        stopped=stopped_epochs(experiment), failed=failed_trials(experiment),
        search_wall_seconds=search_wall_time(experiment), run_info=dict(run_info or {}),
        versions=versions(), provenance=provenance(at_start=(run_info or {}).get("code_at_start")),
    )
