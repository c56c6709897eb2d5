"""Hypervolume of the observed, feasible points after each completed trial.

The reference point is the objectives' thresholds (the config's constraints on its
objectives): only configurations within every threshold count. An objective without a
threshold gets Ax's inferred one (`infer_reference_point_from_experiment`: the nadir of the
observed Pareto front, widened), and the report says so. Points that break an outcome
constraint on another metric count for nothing. BoTorch's `Hypervolume` assumes
maximization, so minimized objectives enter negated; the unit is the product of the
objectives' units. Where the config declares every objective's `best` value, the largest
possible hypervolume is the box from the reference point to those values, and
`hv_fraction` divides by it.

Trials are taken in the order they completed (by `time_completed`), which with
parallel trials differs from their index order; failed trials add nothing.
"""

import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
import torch
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.optimization_config import MultiObjectiveOptimizationConfig
from ax.core.outcome_constraint import ComparisonOp
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from nas.trial_data import completed_results, inferred_reference


@dataclass(frozen=True)
class Objective:
    name: str
    minimize: bool
    threshold: float | None  # from the config; None: none given
    best: float | None = None  # the best value it can take (config [metrics] best)

    @property
    def sign(self) -> float:
        return -1.0 if self.minimize else 1.0


@dataclass(frozen=True)
class Goal:
    """What the hypervolume measures: the objectives, the reference point (one value per
    objective) and the outcome constraints on other metrics [(metric, op, bound)]."""
    objectives: tuple
    reference: tuple
    inferred: tuple  # names of the objectives whose reference value Ax inferred
    constraints: tuple = ()

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def max_hv(self) -> float | None:
        """The largest possible hypervolume, if every objective declares its best value."""
        if any(o.best is None for o in self.objectives) or None in self.reference:
            return None
        return math.prod(abs(o.best - r) for o, r in zip(self.objectives, self.reference))

    def feasible(self, point: Mapping[str, float]) -> bool:
        """Within the reference box and every outcome constraint ({metric: value})."""
        return None not in self.reference and self.within(point, self.objectives)

    def within(self, point: Mapping[str, float], objectives: Iterable[Objective]) -> bool:
        """Within the reference values of `objectives` (one without a reference value
        passes) and every outcome constraint ({metric: value})."""
        chosen = set(objectives)
        inside = all(o.sign * point[o.name] >= o.sign * r
                     for o, r in zip(self.objectives, self.reference)
                     if o in chosen and r is not None)
        return inside and all(op(point.get(m, math.nan), bound) for m, op, bound in self.constraints)

    def dominates(self, a: Mapping[str, float], b: Mapping[str, float]) -> bool:
        """`a` is at least as good as `b` in every objective ({metric: value} each)."""
        return all(o.sign * a[o.name] >= o.sign * b[o.name] for o in self.objectives)

    def hypervolume(self, points: Iterable[Mapping[str, float]]) -> float:
        """Hypervolume of `points` ({metric: value} each); infeasible ones add 0."""
        kept = [p for p in points if self.feasible(p)]
        if not kept:
            return 0.0
        y = torch.tensor([[o.sign * p[o.name] for o in self.objectives] for p in kept],
                         dtype=torch.double)
        ref = torch.tensor([o.sign * r for o, r in zip(self.objectives, self.reference)],
                           dtype=torch.double)
        return float(Hypervolume(ref_point=ref).compute(y[is_non_dominated(y)]))

    def describe(self) -> str:
        """`val_acc 0.94 (maximized), num_params 80,000 (minimized)` and where it came from."""
        parts = [f"{o.name} {format_value(r)} ({'minimized' if o.minimize else 'maximized'})"
                 for o, r in zip(self.objectives, self.reference)]
        text = ", ".join(parts)
        if self.inferred:
            return (f"{text}; inferred by Ax from the observed Pareto front for "
                    f"{', '.join(self.inferred)} (the config gives no threshold; it moves as "
                    "trials complete)")
        return f"{text}: the objective thresholds"


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


OPS = {ComparisonOp.GEQ: operator.ge, ComparisonOp.LEQ: operator.le}


def objectives_of(experiment: Experiment, best: Mapping[str, float | None] | None = None) -> list[Objective]:
    """The experiment's objectives in order, with their thresholds; `best`: {name: value}."""
    config = cast(MultiObjectiveOptimizationConfig, experiment.optimization_config)
    thresholds = {t.metric_names[0]: t.bound for t in config.objective_thresholds}
    weights = [w for _, w in config.objective.metric_weights]
    return [Objective(name, weight < 0, thresholds.get(name), (best or {}).get(name))
            for name, weight in zip(config.objective.metric_names, weights)]


def goal_of(experiment: Experiment, best: Mapping[str, float | None] | None = None) -> Goal:
    """The Goal of `experiment`: its thresholds, Ax's inferred values where it has none."""
    objectives = objectives_of(experiment, best)
    assert experiment.optimization_config is not None  # a search's experiment has one
    constraints = tuple((c.metric_names[0], OPS[c.op], c.bound)
                        for c in experiment.optimization_config.outcome_constraints
                        if len(c.metric_names) == 1)
    missing = tuple(o.name for o in objectives if o.threshold is None)
    inferred = infer_reference(experiment) if missing else {}
    reference = tuple(o.threshold if o.threshold is not None else inferred.get(o.name)
                      for o in objectives)
    return Goal(tuple(objectives), reference, missing, constraints)


def infer_reference(experiment: Experiment) -> dict[str, float]:
    """{objective: Ax's inferred reference value}; {} before Ax can infer one (no
    completed trial yet)."""
    return {t.metric_names[0]: float(t.bound) for t in inferred_reference(experiment) or []}


def observed(experiment: Experiment, names: Iterable[str]) -> dict[int, dict[str, float]]:
    """{trial_index: {metric: value}} of the COMPLETED trials with every metric in `names`
    observed (its last step)."""
    df = completed_results(experiment).df
    if df.empty:
        return {}
    wide = df.pivot_table(index="trial_index", columns="metric_name", values="mean")
    if not set(names) <= set(wide.columns):
        return {}
    wide = wide.dropna(subset=list(names))
    return {int(i): {k: float(v) for k, v in r.items() if pd.notna(v)} for i, r in wide.iterrows()}


def hypervolume_trace(experiment: Experiment, goal: Goal) -> pd.DataFrame:
    """One row per completed trial, in completion order: the hypervolume after it."""
    points = observed(experiment, goal.names)
    completed = [t for t in experiment.trials.values()
                 if t.status == TrialStatus.COMPLETED and t.index in points]
    completed.sort(key=lambda t: (t.time_completed is None, t.time_completed or 0, t.index))
    max_hv = goal.max_hv
    front: list[dict[str, float]]
    rows, front, hv = [], [], 0.0  # front: the feasible non-dominated points so far
    for n, trial in enumerate(completed, start=1):
        point = points[trial.index]
        # a point outside the box or (weakly) dominated leaves the hypervolume as it was;
        # so only the front is kept and measured (500 trials: 0.6 s -> 0.05 s a trace;
        # docs/performance.md)
        if goal.feasible(point) and not any(goal.dominates(p, point) for p in front):
            front = [p for p in front if not goal.dominates(point, p)] + [point]
            hv = goal.hypervolume(front)
        rows.append({"completed": n, "trial_index": trial.index,
                     "time_completed": trial.time_completed,
                     **{name: point[name] for name in goal.names},
                     "feasible": goal.feasible(point), "hypervolume": hv,
                     "hv_fraction": hv / max_hv if max_hv else math.nan})
    columns = ["completed", "trial_index", "time_completed", *goal.names, "feasible",
               "hypervolume", "hv_fraction"]
    return pd.DataFrame(rows, columns=columns)


def current_hypervolume(experiment: Experiment, goal: Goal | None = None) -> float:
    """The hypervolume of every completed trial so far (0 before the first feasible one)."""
    goal = goal or goal_of(experiment)
    return goal.hypervolume(list(observed(experiment, goal.names).values()))


def format_hv(hv: float | None, max_hv: float | None = None) -> str:
    if hv is None or math.isnan(hv):
        return "n/a"
    text = f"{hv:,.0f}" if abs(hv) >= 100 else f"{hv:.4g}"
    return f"{text} ({hv / max_hv:.1%})" if max_hv else text


def hypervolume_figure(trace: pd.DataFrame, goal: Goal) -> Any:
    """The hypervolume after each completed trial (a step line), with the trial's point."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(trace):
        hover = ["<br>".join([f"trial {index}",
                              *(f"{n} {v:.4g}" for n, v in zip(goal.names, values)),
                              "feasible" if feasible else "outside the reference box"])
                 for index, feasible, *values in zip(trace["trial_index"], trace["feasible"],
                                                     *(trace[n] for n in goal.names))]
        fig.add_trace(go.Scatter(
            x=trace["completed"], y=trace["hypervolume"], mode="lines+markers",
            name="hypervolume", line=dict(shape="hv"), text=hover,
            hovertemplate="after %{x} completed trials: HV %{y:,.4g}<br>%{text}<extra></extra>",
            marker=dict(size=8, color=["seagreen" if f else "lightgray" for f in trace["feasible"]],
                        line=dict(width=1, color="black")),
        ))
    ref = ", ".join(f"{o.name} {format_value(r)}" for o, r in zip(goal.objectives, goal.reference))
    top = f"; max {format_value(goal.max_hv)}" if goal.max_hv else ""
    fig.update_layout(
        title=f"Hypervolume of the observed feasible points (reference point: {ref}{top})",
        xaxis_title="completed trials (in completion order)", yaxis_title="hypervolume",
        yaxis=dict(rangemode="tozero"), showlegend=False,
    )
    return fig
