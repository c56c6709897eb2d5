"""The learning curves of the search: val_acc after each epoch, one line per trial.

From the experiment's data (Ax fetched the curves from the trials' logs, nas/metrics.py),
so the figure shows what early stopping saw. Early-stopped trials are drawn dashed in
red and end at the epoch they reached; completed trials solid, by trial index.
"""

import plotly.graph_objects as go
from ax.core.base_trial import TrialStatus

from nas.early_stopping import METRIC


def curves(experiment):
    """{trial index: [(epoch, val_acc), ...]} of every trial with a curve."""
    df = experiment.lookup_data().full_df
    if df.empty or "step" not in df:
        return {}
    df = df[(df["metric_name"] == METRIC) & df["step"].notna()].sort_values("step")
    return {int(i): list(zip(g["step"].astype(int), g["mean"])) for i, g in df.groupby("trial_index")}


def learning_curves_figure(experiment):
    """None if no trial has a curve."""
    by_trial = curves(experiment)
    if not by_trial:
        return None
    fig = go.Figure()
    for index, points in sorted(by_trial.items()):
        trial = experiment.trials[index]
        stopped = trial.status == TrialStatus.EARLY_STOPPED
        epochs = trial.arm.parameters.get("epochs")
        label = (f"trial {index}: stopped after epoch {points[-1][0]} of {epochs}" if stopped
                 else f"trial {index} ({trial.status.name.lower()}, {epochs} epochs)")
        fig.add_trace(go.Scatter(
            x=[e for e, _ in points], y=[v for _, v in points], mode="lines+markers", name=label,
            line=dict(dash="dash", color="firebrick", width=1.5) if stopped else dict(width=1.5),
            marker=dict(symbol="x" if stopped else "circle", size=7),
            hovertemplate=f"{label}<br>epoch %{{x}}: val_acc %{{y:.4f}}<extra></extra>",
        ))
    fig.update_layout(title="Validation accuracy after each epoch (dashed red: stopped early)",
                      xaxis=dict(title="epoch", dtick=1), yaxis_title="val_acc",
                      legend=dict(font=dict(size=10)))
    return fig
