"""bench.compare's interactive plot: hypervolume vs completed trials, median and
min..max band over the seeds per strategy (the matplotlib twin is bench.effort.band_plot)."""


def band(traces):
    """Median, min and max HV per strategy and completed-trial count."""
    return (traces.groupby(["strategy", "completed"])["hypervolume"]
            .agg(["median", "min", "max"]).reset_index())


def plotly_figure(traces, title, colors):
    """Median HV per strategy after each completed trial, a band from min to max."""
    import plotly.graph_objects as go

    fig = go.Figure()
    stats = band(traces)
    for strategy in stats["strategy"].unique():
        s = stats[stats["strategy"] == strategy]
        color = colors[strategy]
        fig.add_trace(go.Scatter(x=s["completed"], y=s["max"], mode="lines", line=dict(width=0),
                                 showlegend=False, hoverinfo="skip", line_shape="hv"))
        fig.add_trace(go.Scatter(x=s["completed"], y=s["min"], mode="lines", line=dict(width=0),
                                 fill="tonexty", fillcolor=_rgba(color, 0.2), line_shape="hv",
                                 name=f"{strategy}: min..max over seeds"))
        fig.add_trace(go.Scatter(x=s["completed"], y=s["median"], mode="lines", line_shape="hv",
                                 line=dict(color=color, width=3), name=f"{strategy}: median"))
    fig.update_layout(title=title, xaxis_title="completed trials",
                      yaxis_title="hypervolume (val_acc x num_params)", yaxis_rangemode="tozero")
    return fig


def _rgba(hex_color, alpha):
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
