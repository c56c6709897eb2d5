"""The results files: the tutorial's table, Pareto plot, diagnostics and contours.

Everything goes to `results_dir`, each file written atomically. The HTML plots load
plotly.js from `plotly.min.js` next to them (written once), so they open offline.
The diagnostics and contour plots come from a BoTorch model fitted on all observed
trials, as the tutorial's `gs.model` is, also when the search ended before Sobol gave
way to BoTorch (a short run).
"""

import json
import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from ax.adapter.cross_validation import compute_diagnostics, cross_validate
from ax.adapter.registry import Generators
from ax.core.base_trial import TrialStatus
from ax.plot.contour import plot_contour_plotly
from ax.plot.diagnostic import interact_cross_validation_plotly
from ax.service.utils.report_utils import exp_to_df
from plotly.offline import get_plotlyjs

from nas.early_stopping import MODEL_DATA, stopped_epochs
from nas.hypervolume import hypervolume_figure, hypervolume_trace
from nas.learning_curves import learning_curves_figure
from nas.index_page import search_wall_time, trial_counts, versions, write_index
from nas.optimization import NUM_PARAMS_THRESHOLD, VAL_ACC_THRESHOLD
from nas.files import atomic_write_text

PLOTLY_JS = "plotly.min.js"


def results_table(experiment):
    """The tutorial's `exp_to_df`, plus the failure reason of failed trials and the epoch
    an early-stopped trial reached (its val_acc is the one after that epoch)."""
    df = exp_to_df(experiment)
    reasons = {t.index: t.status_reason or "" for t in experiment.trials.values()}
    if any(reasons.values()):
        df["reason"] = df["trial_index"].map(reasons)
    stopped = stopped_epochs(experiment)
    if stopped:
        df["stopped_at_epoch"] = df["trial_index"].map(stopped).astype("Int64")
    return df


def pareto_mask(acc, params):
    """Observed points that no other point beats on both objectives."""
    acc, params = np.asarray(acc), np.asarray(params)
    dominated = [
        bool(np.any((acc >= a) & (params <= p) & ((acc > a) | (params < p))))
        for a, p in zip(acc, params)
    ]
    return ~np.array(dominated, dtype=bool)


PARAMS = ["hidden_size_1", "hidden_size_2", "learning_rate", "epochs", "dropout", "batch_size"]


def pareto_optimal(experiment):
    """The observed Pareto-optimal trials: index, hyperparameters and both objectives."""
    df = exp_to_df(experiment)
    if "val_acc" not in df or "num_params" not in df:
        return df.iloc[0:0]
    done = df.dropna(subset=["val_acc", "num_params"])
    front = done[pareto_mask(done["val_acc"], done["num_params"])]
    cols = ["trial_index", *[c for c in PARAMS if c in front], "val_acc", "num_params"]
    return front.sort_values("num_params")[cols]


def pareto_figure(df):
    """val_acc vs num_params of the completed trials, coloured by trial index,
    with the Pareto frontier and the objective thresholds."""
    done = df.dropna(subset=["val_acc", "num_params"])
    on_front = pareto_mask(done["val_acc"], done["num_params"])
    front = done[on_front].sort_values("num_params")
    hover = [
        "<br>".join(f"{c}: {r[c]}" for c in ["trial_index", *PARAMS] if c in r)
        for _, r in done.iterrows()
    ]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=done["num_params"], y=done["val_acc"], mode="markers", name="trials",
        text=hover, hovertemplate="%{text}<br>num_params: %{x}<br>val_acc: %{y:.4f}<extra></extra>",
        marker=dict(color=done["trial_index"], colorscale="Viridis", size=10,
                    showscale=True, colorbar=dict(title="trial index")),
    ))
    fig.add_trace(go.Scatter(
        x=front["num_params"], y=front["val_acc"], mode="lines", name="Pareto frontier",
        line=dict(shape="hv", color="firebrick"),
    ))
    fig.add_hline(y=VAL_ACC_THRESHOLD, line_dash="dash", line_color="gray",
                  annotation_text=f"val_acc >= {VAL_ACC_THRESHOLD}")
    fig.add_vline(x=NUM_PARAMS_THRESHOLD, line_dash="dash", line_color="gray",
                  annotation_text=f"num_params <= {NUM_PARAMS_THRESHOLD:,}",
                  annotation_position="bottom left")
    fig.update_layout(title="Observed Pareto frontier", xaxis_title="num_params",
                      yaxis_title="val_acc", legend=dict(orientation="h", y=-0.2))
    return fig


def fit_report_model(experiment):
    """A BoTorch model of both objectives on every completed trial (by its last epoch;
    not early-stopped or running trials' partly trained accuracy)."""
    return Generators.BOTORCH_MODULAR(experiment=experiment, data=experiment.lookup_data(),
                                      data_loader_config=MODEL_DATA)


def write_figure(fig, path):
    atomic_write_text(path, fig.to_html(include_plotlyjs="directory", full_html=True))


def write_results(experiment, results_dir, run_info=None):
    """Write every results file, the one-page report index.html last;
    returns {description: path}."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / PLOTLY_JS).exists():
        atomic_write_text(out / PLOTLY_JS, get_plotlyjs())
    files, figures = {}, {}
    trace = hypervolume_trace(experiment)
    diagnostics = _write_results(experiment, out, files, figures, trace)
    files["run summary"] = out / "run_summary.json"
    atomic_write_text(files["run summary"],
                      json.dumps(run_summary(experiment, trace, run_info or {}), indent=2))
    files["report page"] = out / "index.html"
    write_index(files["report page"], experiment, figures=figures, diagnostics=diagnostics,
                trace=trace, run_info=run_info or {})
    return files


def run_summary(experiment, trace, run_info):
    """The run in a few numbers: counts, wall time, hypervolume, best model under the
    parameter threshold, versions."""
    front = pareto_optimal(experiment)
    small = front[front["num_params"] <= NUM_PARAMS_THRESHOLD] if len(front) else front
    best = small.sort_values("val_acc").tail(1).to_dict("records") if len(small) else []
    return {
        "trials": trial_counts(experiment),
        "search_wall_seconds": search_wall_time(experiment),
        "driver_seconds": run_info.get("driver_seconds"),
        "strategy": run_info.get("strategy"),
        "seed": run_info.get("seed"),
        "final_hypervolume": float(trace["hypervolume"].iloc[-1]) if len(trace) else 0.0,
        "best_val_acc_under_80k_params": {
            k: (v.item() if hasattr(v, "item") else v) for k, v in best[0].items()} if best else None,
        "pareto_optimal_trials": [int(i) for i in front.get("trial_index", [])],
        "cpu_count": os.cpu_count(),
        "versions": versions(),
    }


def _write_results(experiment, out, files, figures, trace):

    df = results_table(experiment)
    if "val_acc" not in df:  # no trial has data yet
        df = df.assign(val_acc=float("nan"), num_params=float("nan"))
    files["table (CSV)"] = out / "experiment.csv"
    atomic_write_text(files["table (CSV)"], df.to_csv(index=False))
    files["table (HTML)"] = out / "experiment.html"
    atomic_write_text(files["table (HTML)"], table_html(df, experiment.name))

    files["Pareto plot"] = out / "pareto_frontier.html"
    figures["pareto"] = pareto_figure(df)
    write_figure(figures["pareto"], files["Pareto plot"])

    files["hypervolume (CSV)"] = out / "hypervolume.csv"
    atomic_write_text(files["hypervolume (CSV)"], trace.to_csv(index=False))
    files["hypervolume plot"] = out / "hypervolume.html"
    figures["hypervolume"] = hypervolume_figure(trace)
    write_figure(figures["hypervolume"], files["hypervolume plot"])

    figures["curves"] = learning_curves_figure(experiment)
    if figures["curves"] is not None:
        files["learning curves"] = out / "learning_curves.html"
        write_figure(figures["curves"], files["learning curves"])

    completed = [t for t in experiment.trials.values() if t.status == TrialStatus.COMPLETED]
    if len(completed) < 2:
        return None  # nothing to fit a model on
    model = fit_report_model(experiment)
    cv = cross_validate(adapter=model)
    diagnostics = {name: dict(by_metric) for name, by_metric in compute_diagnostics(cv).items()}
    files["CV diagnostics"] = out / "cv_diagnostics.json"
    atomic_write_text(files["CV diagnostics"], json.dumps(diagnostics, indent=2, default=float))
    files["CV plot"] = out / "cross_validation.html"
    figures["cv"] = interact_cross_validation_plotly(cv)
    write_figure(figures["cv"], files["CV plot"])
    for metric in ("val_acc", "num_params"):
        fig = plot_contour_plotly(model, "hidden_size_1", "hidden_size_2", metric,
                                  lower_is_better=metric == "num_params")
        fig.update_layout(title=f"{metric} over hidden_size_1 x hidden_size_2 (model mean and SE)",
                          margin=dict(t=90))
        files[f"contour {metric}"] = out / f"contour_{metric}.html"
        figures[f"contour_{metric}"] = fig
        write_figure(fig, files[f"contour {metric}"])
    return diagnostics


def table_html(df, title):
    body = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0,
                      classes="results")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}: trials</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table.results {{ border-collapse: collapse; font-size: 14px; }}
table.results th, table.results td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
table.results th {{ background: #f3f3f3; position: sticky; top: 0; }}
</style></head>
<body><h1>{title}: {len(df)} trials</h1>
{body}
</body></html>
"""
