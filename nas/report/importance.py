"""Seeing what matters: parallel coordinates of the trials and each objective's parameter
importances, on index.html (with the model plots: at the end, and by --report).

- Parallel coordinates, one per objective (the lines coloured by it): Ax's
  `ParallelCoordinatesPlot`. In a conditional space Ax 1.3.1 leaves out every trial that
  lacks a parameter (it drops rows with an empty cell: a 1-layer trial has no width_2),
  so there the same plot is drawn here with each parameter a trial does not have on an
  "absent" tick below its axis, and every completed trial shown.
- Importances: Ax's `SensitivityAnalysisPlot` on the report's model (Sobol indices of the
  model's prediction), one per objective: the measure that also picks the contour pair.
"""

from typing import Any

import pandas as pd

ABSENT = "absent"  # the tick of a parameter a trial does not have


def parallel_coordinates(experiment: Any, summary: Any, metric: str) -> Any:
    """The plotly figure of the completed trials' parameters and `metric`."""
    if not summary.structures:
        from ax.analysis.plotly.parallel_coordinates import ParallelCoordinatesPlot

        fig = ParallelCoordinatesPlot(metric_name=metric).compute(experiment=experiment).get_figure()
    else:
        fig = _with_absent_values(summary, metric)
    fig.update_layout(title=f"The completed trials' parameters and {metric}", margin=dict(t=120))
    return fig


def importances(experiment: Any, model: Any, metric: str) -> Any:
    """The plotly figure of Ax's sensitivity analysis of `metric`'s model. Ax's estimate
    draws from torch's global generator besides its own seeded samples, so it is drawn
    here from a fixed seed (torch's generator put back after): the driver's page and a
    --report of the same state show the same importances."""
    import torch
    from ax.analysis.plotly.sensitivity import SensitivityAnalysisPlot

    with torch.random.fork_rng():
        torch.manual_seed(0)
        card = SensitivityAnalysisPlot(metric_name=metric).compute(experiment=experiment,
                                                                    adapter=model)
    fig = card.get_figure()
    fig.update_layout(title=f"Importance of each parameter to {metric} (the model's Sobol "
                            "indices)", yaxis_title="parameter")
    return fig


def _with_absent_values(summary: Any, metric: str) -> Any:
    """Ax's figure for a conditional space: every completed trial, an absent parameter on
    its own tick."""
    import plotly.graph_objects as go

    df = summary.table
    done = df[(df["trial_status"] == "COMPLETED") & df[metric].notna()]
    dimensions = [_dimension(done[name], name) for name in summary.parameters if name in done]
    dimensions.append({"label": metric, "values": done[metric].tolist()})
    return go.Figure(go.Parcoords(
        line={"color": done[metric], "colorscale": "Viridis", "showscale": True},
        dimensions=dimensions, labelangle=-45))


def _dimension(series: pd.Series, name: str) -> dict[str, Any]:
    present = series.dropna()
    gaps = len(present) < len(series)  # some trial does not have it: an "absent" tick
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present) \
        and not any(isinstance(v, bool) for v in present)
    if numeric and len(present):
        low, high = float(present.min()), float(present.max())
        absent = low - 0.1 * ((high - low) or 1.0)
        values = [absent if pd.isna(v) else float(v) for v in series]
        ticks = sorted({low, high})
        return {"label": name, "values": values, "range": [absent if gaps else low, high],
                "tickvals": [absent] * gaps + ticks,
                "ticktext": [ABSENT] * gaps + [f"{t:.4g}" for t in ticks]}
    labels = sorted({str(v) for v in present})
    codes = {label: i + 1 for i, label in enumerate(labels)}
    values = [0 if pd.isna(v) else codes[str(v)] for v in series]
    return {"label": name, "values": values, "range": [0 if gaps else 1, max(len(labels), 1)],
            "tickvals": [0] * gaps + list(codes.values()), "ticktext": [ABSENT] * gaps + labels}
