"""Hypervolume of the observed, feasible points after each completed trial.

The reference point is the objective thresholds, (val_acc 0.94, num_params 80,000):
only configurations with val_acc >= 0.94 and num_params <= 80,000 count. BoTorch's
`Hypervolume` assumes maximization, so num_params enters negated. The unit is
accuracy x parameters; `hv_fraction` divides by the largest possible value, the box
from the reference point to (val_acc 1, num_params 0), to give a number in [0, 1].

Trials are taken in the order they completed (by `time_completed`), which with
parallel trials differs from their index order; failed trials add nothing.
"""

import math

import pandas as pd
import torch
from ax.core.base_trial import TrialStatus
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from nas.optimization import NUM_PARAMS_THRESHOLD, VAL_ACC_THRESHOLD

REF_POINT = (VAL_ACC_THRESHOLD, NUM_PARAMS_THRESHOLD)
MAX_HV = (1.0 - VAL_ACC_THRESHOLD) * NUM_PARAMS_THRESHOLD
COLUMNS = ["completed", "trial_index", "time_completed", "val_acc", "num_params", "feasible",
           "hypervolume", "hv_fraction"]


def hypervolume(points):
    """Hypervolume of (val_acc, num_params) pairs against REF_POINT; infeasible ones add 0."""
    y = torch.tensor([[acc, -params] for acc, params in points], dtype=torch.double)
    ref = torch.tensor([REF_POINT[0], -REF_POINT[1]], dtype=torch.double)
    if len(y):
        y = y[(y >= ref).all(dim=-1)]
    if not len(y):
        return 0.0
    return float(Hypervolume(ref_point=ref).compute(y[is_non_dominated(y)]))


def observed_objectives(experiment):
    """{trial_index: (val_acc, num_params)} of the trials with both metrics observed."""
    df = experiment.lookup_data().df
    if df.empty:
        return {}
    df = df[df["metric_name"].isin(["val_acc", "num_params"])]
    wide = df.pivot_table(index="trial_index", columns="metric_name", values="mean")
    if not {"val_acc", "num_params"} <= set(wide.columns):
        return {}
    wide = wide.dropna(subset=["val_acc", "num_params"])
    return {int(i): (float(r["val_acc"]), float(r["num_params"])) for i, r in wide.iterrows()}


def hypervolume_trace(experiment):
    """One row per completed trial, in completion order: the hypervolume after it."""
    objectives = observed_objectives(experiment)
    completed = [t for t in experiment.trials.values()
                 if t.status == TrialStatus.COMPLETED and t.index in objectives]
    completed.sort(key=lambda t: (t.time_completed is None, t.time_completed or 0, t.index))
    rows, points = [], []
    for n, trial in enumerate(completed, start=1):
        acc, params = objectives[trial.index]
        points.append((acc, params))
        hv = hypervolume(points)
        rows.append({
            "completed": n,
            "trial_index": trial.index,
            "time_completed": trial.time_completed,
            "val_acc": acc,
            "num_params": params,
            "feasible": acc >= REF_POINT[0] and params <= REF_POINT[1],
            "hypervolume": hv,
            "hv_fraction": hv / MAX_HV,
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def current_hypervolume(experiment):
    """The hypervolume of every completed trial so far (0 before the first feasible one)."""
    objectives = observed_objectives(experiment)
    done = [objectives[t.index] for t in experiment.trials.values()
            if t.status == TrialStatus.COMPLETED and t.index in objectives]
    return hypervolume(done)


def format_hv(hv):
    return "n/a" if hv is None or math.isnan(hv) else f"{hv:,.0f} ({hv / MAX_HV:.1%})"


def hypervolume_figure(trace):
    """The hypervolume after each completed trial (a step line), with the trial's point."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(trace):
        hover = [f"trial {r.trial_index}<br>val_acc {r.val_acc:.4f}<br>num_params {r.num_params:,.0f}"
                 f"<br>{'feasible' if r.feasible else 'outside the reference box'}"
                 for r in trace.itertuples()]
        fig.add_trace(go.Scatter(
            x=trace["completed"], y=trace["hypervolume"], mode="lines+markers",
            name="hypervolume", line=dict(shape="hv"), text=hover,
            hovertemplate="after %{x} completed trials: HV %{y:,.0f}<br>%{text}<extra></extra>",
            marker=dict(size=8, color=["seagreen" if f else "lightgray" for f in trace["feasible"]],
                        line=dict(width=1, color="black")),
        ))
    fig.update_layout(
        title=f"Hypervolume of the observed feasible points (reference point: val_acc "
              f"{REF_POINT[0]}, num_params {REF_POINT[1]:,}; max {MAX_HV:,.0f})",
        xaxis_title="completed trials (in completion order)", yaxis_title="hypervolume",
        yaxis=dict(rangemode="tozero"), showlegend=False,
    )
    return fig
