"""The run's facts, computed once per results write: trial counts by status, the trials
table, the observed Pareto set, the hypervolume trace, the best of the first objective
within the thresholds, the failed trials with their reasons, the early-stopped trials
with the step they reached, wall time, versions and provenance, and where the search
stands (`SearchStatus`: running, finished or stopped; trials done; which run, how long).

The console summary (nas/cli/console.py), run_summary.json and index.html
(nas/report/writer.py, nas/report/index_page.py) only render a `RunSummary`; none of them
counts or computes again. Everything is named as the search config names it: its
objectives, metrics and parameters.

The Pareto set and the hypervolume are over COMPLETED trials: an early-stopped trial's
value is partly trained, not the result of its configuration.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.service.utils.report_utils import exp_to_df
from botorch.utils.multi_objective.pareto import is_non_dominated

from nas.hierarchy import dependents, structure
from nas.imports import imported_origins
from nas.report.hypervolume import Goal, goal_of, hypervolume_trace
from nas.report.provenance import provenance, versions
from nas.trial_data import stopped_steps

if TYPE_CHECKING:
    from nas.config import SearchConfig


def trial_counts(experiment: Experiment) -> dict[str, int]:
    """{status name: number of trials} for every TrialStatus, zeros included."""
    counts = {status.name: 0 for status in TrialStatus}
    for trial in experiment.trials.values():
        counts[trial.status.name] += 1
    return counts


def finished(counts: Mapping[str, int]) -> int:
    """Trials that ended and count toward the budget: completed, stopped early, failed."""
    return counts["COMPLETED"] + counts["EARLY_STOPPED"] + counts["FAILED"]


@dataclass
class SearchStatus:
    """Where the search stood when its results were written (the line atop index.html).
    `state`: "running" (a driver runs it: `driver`, {pid, started, host, checked} as far
    as known), "finished" (its driver ran it to the end) or "stopped" (`why`); `done` of
    `total` trials ended; `running`: [[trial index, seconds it has run]]; `saved_at`: when
    the saved state it was read from was written (--report), None for the driver's own."""
    state: str
    done: int
    total: int | None
    running: list
    why: str | None = None
    driver: dict | None = None
    saved_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


NO_RECORD_OF_END = ("its driver is gone without recording how it ended (killed, or its "
                    "machine went down)")


def search_status(experiment: Experiment, run_info: Mapping[str, Any] | None,
                  driver: dict[str, Any] | None = None, saved_at: str | None = None,
                  now: dt.datetime | None = None) -> SearchStatus:
    """The SearchStatus of `experiment`. `driver`: the driver that runs it now ({pid, ...};
    None: none does); else the end its driver recorded in `run_info` ("ended": "finished"
    or why it stopped; nas/state/lifecycle.py saves it with the state)."""
    now = now or dt.datetime.now()
    ended = (run_info or {}).get("ended")
    running = [[t.index, (now - t.time_run_started).total_seconds() if t.time_run_started else None]
               for t in experiment.trials.values() if t.status == TrialStatus.RUNNING]
    if driver:
        state, why = "running", None
    elif ended == "finished":
        state, why = "finished", None
    else:
        state, why = "stopped", ended or NO_RECORD_OF_END
    return SearchStatus(state, finished(trial_counts(experiment)), (run_info or {}).get("trials"),
                        running, why, driver, saved_at)


def results_table(experiment: Experiment) -> pd.DataFrame:
    """The tutorial's `exp_to_df`, plus the failure reason of failed trials and the step
    an early-stopped trial reached (its first objective's value is the one at that step).
    Every metric of the search has a column, also before any trial reported it."""
    df = exp_to_df(experiment)
    df = df.assign(**{name: float("nan") for name in experiment.metrics if name not in df})
    if "trial_index" not in df:  # no trial yet
        return df
    reasons = {t.index: t.status_reason or "" for t in experiment.trials.values()}
    if any(reasons.values()):
        df["reason"] = df["trial_index"].map(reasons)
    stopped = stopped_steps(experiment)
    if stopped:
        df["stopped_at_step"] = df["trial_index"].map(stopped).astype("Int64")
    origins = imported_origins(experiment)
    if origins:  # trials an earlier search gave this one (nas/imports.py)
        df["imported_from"] = df["trial_index"].map(origins).fillna("")
    return df


def pareto_front(table: pd.DataFrame, goal: Goal) -> pd.DataFrame:
    """The rows of `table` (exp_to_df's columns) of the Pareto-optimal COMPLETED trials,
    by BoTorch's `is_non_dominated` (minimized objectives negated: it maximizes), sorted
    by the last objective, then by trial index. Equal points are all kept."""
    names = goal.names
    if "trial_status" not in table.columns:  # no trial yet
        return pd.DataFrame(columns=["trial_index", *names])
    done = table[table["trial_status"] == TrialStatus.COMPLETED.name].dropna(subset=names)
    signs = [o.sign for o in goal.objectives]
    y = torch.tensor(done[names].to_numpy(dtype=float) * signs, dtype=torch.double)
    return done[is_non_dominated(y, deduplicate=False).numpy()].sort_values(
        [names[-1], "trial_index"])


def search_wall_time(experiment: Experiment) -> float | None:
    """First trial started to last trial ended (seconds), over every run of the driver."""
    starts = [t.time_run_started for t in experiment.trials.values() if t.time_run_started]
    ends = [t.time_completed for t in experiment.trials.values() if t.time_completed]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


def trial_structures(experiment: Experiment) -> dict[int, str]:
    """{trial index: its structure ("layer_2=true, layer_3=false": nas/hierarchy.py)} in a
    conditional space, {} in a flat one."""
    parameters = list(experiment.search_space.parameters.values())
    if not any(dependents(p) for p in parameters):
        return {}
    return {t.index: structure(t.arm.parameters, parameters)  # type: ignore[attr-defined]  # Trials
            for t in experiment.trials.values() if t.arm is not None}  # type: ignore[attr-defined]


def structures_table(table: pd.DataFrame, front: pd.DataFrame, structures: Mapping[int, str],
                     goal: Goal) -> pd.DataFrame:
    """One row per structure: trials completed with it, how many of them are
    Pareto-optimal, and the best value of the first objective among them."""
    if not structures or "trial_status" not in table.columns:
        return pd.DataFrame(columns=["structure", "completed", "pareto_optimal"])
    first = goal.objectives[0]
    done = table[table["trial_status"] == TrialStatus.COMPLETED.name]
    done = done.assign(structure=done["trial_index"].map(structures))
    on_front = set(front["trial_index"]) if len(front) else set()
    rows = []
    for label, group in done.groupby("structure", sort=True):
        values = group[first.name].dropna()
        best = (values.min() if first.minimize else values.max()) if len(values) else None
        rows.append({"structure": label, "completed": len(group),
                     "pareto_optimal": int(group["trial_index"].isin(on_front).sum()),
                     f"best {first.name}": best})
    return pd.DataFrame(rows)


def failed_trials(experiment: Experiment) -> pd.DataFrame:
    """trial_index, status, reason of every failed or abandoned trial."""
    rows = [{"trial_index": t.index, "status": t.status.name, "reason": t.status_reason or ""}
            for t in experiment.trials.values() if t.status.is_failed or t.status.is_abandoned]
    return pd.DataFrame(rows, columns=["trial_index", "status", "reason"])


@dataclass
class RunSummary:
    name: str
    counts: dict  # {TrialStatus name: trials}, every status
    table: pd.DataFrame  # results_table
    goal: Goal  # objectives, reference point, constraints (nas/report/hypervolume.py)
    parameters: list  # the search's parameter names, in the config's order
    front: pd.DataFrame  # pareto_front(table)
    trace: pd.DataFrame  # hypervolume after each completed trial
    stopped: dict  # {trial index: step reached} of the early-stopped trials
    failed: pd.DataFrame  # failed_trials
    search_wall_seconds: float | None  # None before a trial ended
    run_info: dict  # from the driver: strategy, seed, driver_seconds, code_at_start, config
    versions: dict
    provenance: dict  # nas/report/provenance.py
    status: SearchStatus  # running, finished or stopped, as the files were written
    tags: tuple = ()  # the metrics' TensorBoard tags
    structures: dict = field(default_factory=dict)  # trial_structures: {} in a flat space
    by_structure: pd.DataFrame | None = None  # structures_table

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def objectives(self) -> list[str]:
        return self.goal.names

    @property
    def hypervolume(self) -> float:
        return float(self.trace["hypervolume"].iloc[-1]) if len(self.trace) else 0.0

    @property
    def pareto_optimal(self) -> pd.DataFrame:
        """Index, parameters and objectives of the Pareto-optimal trials."""
        columns = ["trial_index", *self.parameters, *self.objectives]
        return self.front[[c for c in columns if c in self.front]]

    @property
    def best_within_thresholds(self) -> dict[str, Any] | None:
        """The Pareto-optimal trial best in the first objective among those within the
        other objectives' reference values and every outcome constraint (a dict of
        pareto_optimal's columns and the metric it is best in), or None."""
        first, *others = self.goal.objectives
        front = self.front
        if not len(front):
            return None
        keep = [self.goal.within(dict(row), others) for _, row in front.iterrows()]
        within = self.pareto_optimal[keep]
        if not len(within):
            return None
        best = within.sort_values(first.name, ascending=first.minimize).head(1)
        record = {k: (v.item() if hasattr(v, "item") else v)
                  for k, v in best.to_dict("records")[0].items()}
        return {"metric": first.name, **record}

    @property
    def user_strings(self) -> set[str]:
        """Every string of the search that came from its config, trials or logs: the name,
        the table's headers and text cells (parameter names and values, metric names,
        failure reasons), the metrics' tags and the config's path; what the pages escape
        (nas/report/markup.py)."""
        texts = {self.name, *map(str, self.table.columns), *self.parameters,
                 *self.structures.values(),
                 *self.goal.names, str((self.run_info.get("config") or {}).get("path", ""))}
        for column in self.table.columns:
            if self.table[column].dtype == object:
                texts.update(v for v in self.table[column] if isinstance(v, str))
        texts.update(self.failed["reason"])
        texts.update(self.tags)
        return texts

    def to_json(self) -> dict[str, Any]:
        """run_summary.json."""
        return {
            "name": self.name,
            "objectives": [{"name": o.name, "minimize": o.minimize, "reference": r}
                           for o, r in zip(self.goal.objectives, self.goal.reference)],
            "reference_point_inferred_for": list(self.goal.inferred),
            "trials": {name.lower(): n for name, n in self.counts.items() if n},
            "search_wall_seconds": self.search_wall_seconds,
            "driver_seconds": self.run_info.get("driver_seconds"),
            "strategy": self.run_info.get("strategy"),
            "seed": self.run_info.get("seed"),
            "config": self.run_info.get("config"),
            "final_hypervolume": self.hypervolume,
            "max_hypervolume": self.goal.max_hv,
            "best_of_first_objective_within_thresholds": self.best_within_thresholds,
            "pareto_optimal_trials": [int(i) for i in self.front["trial_index"]]
            if len(self.front) else [],
            "structures": self.by_structure.to_dict("records")
            if self.by_structure is not None and len(self.by_structure) else None,
            "search": self.status.to_json(),
            "cpu_count": os.cpu_count(),
            "versions": self.versions,
            "provenance": self.provenance,
        }


def summarize(experiment: Experiment, run_info: Mapping[str, Any] | None = None,
              config: SearchConfig | None = None, status: SearchStatus | None = None) -> RunSummary:
    """Every fact of the run, once. From `config` (the search's): the best value each
    objective can take, if it declares them (the hypervolume's maximum). `status`: a
    SearchStatus (default: as `run_info` records its driver's end, no driver running)."""
    table = results_table(experiment)
    best = {m.name: m.best for m in config.metrics.values()} if config else None
    goal = goal_of(experiment, best)
    front = pareto_front(table, goal)
    structures = trial_structures(experiment)
    return RunSummary(
        name=experiment.name, counts=trial_counts(experiment), table=table, goal=goal,
        parameters=list(experiment.search_space.parameters), front=front,
        trace=hypervolume_trace(experiment, goal), stopped=stopped_steps(experiment),
        failed=failed_trials(experiment), search_wall_seconds=search_wall_time(experiment),
        run_info=dict(run_info or {}), versions=versions(),
        provenance=provenance(at_start=(run_info or {}).get("code_at_start")),
        status=status or search_status(experiment, run_info),
        tags=tuple(getattr(m, "tag", m.name) for m in experiment.metrics.values()),
        structures=structures, by_structure=structures_table(table, front, structures, goal),
    )
