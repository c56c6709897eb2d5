"""The results files: the tutorial's table, Pareto plot, diagnostics and contours.

Everything goes to `results_dir`, each file written atomically. The HTML plots load
plotly.js from `plotly.min.js` next to them (written once), so they open offline.
The diagnostics and contour plots come from a BoTorch model fitted on all observed
trials, as the tutorial's `gs.model` is, also when the search ended before Sobol gave
way to BoTorch (a short run).
"""

import json
from pathlib import Path

import plotly.graph_objects as go
from ax.adapter.cross_validation import compute_diagnostics, cross_validate
from ax.adapter.registry import Generators
from ax.plot.contour import plot_contour_plotly
from ax.plot.diagnostic import interact_cross_validation_plotly
from plotly.offline import get_plotlyjs

from nas.early_stopping import completed_results
from nas.files import atomic_write_text
from nas.report.hypervolume import hypervolume_figure
from nas.report.index_page import page
from nas.report.learning_curves import learning_curves_figure
from nas.optimization import NUM_PARAMS_THRESHOLD, VAL_ACC_THRESHOLD
from nas.report.provenance import add_to_html, write_manifest
from nas.report.summary import PARAMS, summarize

PLOTLY_JS = "plotly.min.js"


def pareto_figure(df, front):
    """val_acc vs num_params of the trials with both, coloured by trial index, with the
    Pareto frontier (`front`: nas.report.summary.pareto_front) and the objective thresholds."""
    done = df.dropna(subset=["val_acc", "num_params"])
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
    return Generators.BOTORCH_MODULAR(experiment=experiment, data=completed_results(experiment))


class ResultsWriter:
    """Writes files into one results folder, each with the run's provenance inside
    (JSON: a "provenance" key; HTML: a <meta name="provenance">); CSV files get it from
    provenance.json beside them, which lists every file written."""

    def __init__(self, out, record):
        self.out, self.record, self.files = Path(out), record, {}

    def text(self, what, name, text):
        self.files[what] = self.out / name
        atomic_write_text(self.files[what], text)

    def html(self, what, name, text):
        self.text(what, name, add_to_html(text, self.record))

    def figure(self, what, name, fig):
        self.html(what, name, fig.to_html(include_plotlyjs="directory", full_html=True))

    def json(self, what, name, data):
        self.text(what, name, json.dumps({**data, "provenance": self.record}, indent=2,
                                         default=float))

    def manifest(self):
        self.files["provenance"] = write_manifest(self.out, self.files.values(), self.record,
                                                  atomic_write_text)


def write_results(experiment, results_dir, run_info=None):
    """Write every results file, the one-page report index.html last, then the
    provenance manifest; returns ({description: path}, the RunSummary they render)."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / PLOTLY_JS).exists():
        atomic_write_text(out / PLOTLY_JS, get_plotlyjs())
    summary = summarize(experiment, run_info)
    write = ResultsWriter(out, summary.provenance)
    figures = {}
    df = summary.table
    write.text("table (CSV)", "experiment.csv", df.to_csv(index=False))
    write.html("table (HTML)", "experiment.html", table_html(df, experiment.name))

    figures["pareto"] = pareto_figure(df, summary.front)
    write.figure("Pareto plot", "pareto_frontier.html", figures["pareto"])
    write.text("hypervolume (CSV)", "hypervolume.csv", summary.trace.to_csv(index=False))
    figures["hypervolume"] = hypervolume_figure(summary.trace)
    write.figure("hypervolume plot", "hypervolume.html", figures["hypervolume"])
    figures["curves"] = learning_curves_figure(experiment)
    if figures["curves"] is not None:
        write.figure("learning curves", "learning_curves.html", figures["curves"])

    diagnostics = write_model_results(experiment, summary, write, figures)
    write.json("run summary", "run_summary.json", summary.to_json())
    write.html("report page", "index.html", page(summary, figures, diagnostics))
    write.manifest()
    return write.files, summary


def write_model_results(experiment, summary, write, figures):
    """CV diagnostics and contour plots of a model fitted on the completed trials;
    the diagnostics, or None with fewer than two completed trials."""
    if summary.counts["COMPLETED"] < 2:
        return None  # nothing to fit a model on
    model = fit_report_model(experiment)
    cv = cross_validate(adapter=model)
    diagnostics = {name: dict(by_metric) for name, by_metric in compute_diagnostics(cv).items()}
    write.json("CV diagnostics", "cv_diagnostics.json", diagnostics)
    figures["cv"] = interact_cross_validation_plotly(cv)
    write.figure("CV plot", "cross_validation.html", figures["cv"])
    for metric in ("val_acc", "num_params"):
        fig = plot_contour_plotly(model, "hidden_size_1", "hidden_size_2", metric,
                                  lower_is_better=metric == "num_params")
        fig.update_layout(title=f"{metric} over hidden_size_1 x hidden_size_2 (model mean and SE)",
                          margin=dict(t=90))
        figures[f"contour_{metric}"] = fig
        write.figure(f"contour {metric}", f"contour_{metric}.html", fig)
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
