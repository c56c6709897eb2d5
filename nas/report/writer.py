"""Evaluating the results: the tutorial's table, Pareto plot, diagnostics and contours.

Everything goes to `results_dir`, each file written atomically. The HTML plots load
plotly.js from `plotly.min.js` next to them (written once), so they open offline.
The diagnostics and contour plots come from a BoTorch model fitted on all completed
trials, as the tutorial's `gs.model` is, also when the search ended before Sobol gave
way to BoTorch (a short run). Everything is named as the search config names it: the
Pareto plot shows its two objectives (for three or more, one panel per pair), the
contour plots one per objective over the pair of parameters the config names in
[report] contour, else over the two that matter most to that objective's model (Ax's
feature importances).
"""

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from ax.adapter.base import Adapter
from ax.adapter.cross_validation import CVResult, compute_diagnostics, cross_validate
from ax.adapter.registry import Generators
from ax.core.experiment import Experiment
from ax.core.parameter import RangeParameter
from ax.plot.contour import plot_contour_plotly
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from nas.ax_compat import cv_dropdown_figure
from nas.config import SearchConfig
from nas.files import atomic_write_text
from nas.hierarchy import always_active
from nas.messages import error_line, log
from nas.report.hypervolume import format_value, hypervolume_figure
from nas.report.importance import importances, parallel_coordinates
from nas.report.index_page import page
from nas.report.learning_curves import learning_curves_figure
from nas.report.markup import figure_html, text
from nas.report.provenance import add_to_html, write_manifest
from nas.report.summary import RunSummary, SearchStatus, summarize
from nas.trial_data import completed_results

PLOTLY_JS = "plotly.min.js"


def pareto_figure(summary: RunSummary) -> Any:
    """The observed trials in objective space, coloured by trial index, with the Pareto
    frontier and the thresholds: one panel for two objectives (the second on the x axis),
    one panel per pair for three or more (the Pareto-optimal points over all objectives
    ringed in red)."""
    objectives, df = summary.goal.objectives, summary.table
    done = df.dropna(subset=[o.name for o in objectives])
    pairs = list(itertools.combinations(range(len(objectives)), 2))
    pairs = [(j, i) for i, j in pairs]  # x: the later objective, y: the earlier
    cols = min(len(pairs), 3)
    rows = -(-len(pairs) // cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.08, vertical_spacing=0.12)
    shown = [c for c in ["trial_index", *summary.parameters, *(o.name for o in objectives)]
             if c in done]
    # by column: 10x iterrows' speed; a parameter the trial does not have is left out
    hover = ["<br>".join(f"{c}: {v}" for c, v in zip(shown, values) if not _missing(v))
             for values in zip(*(done[c] for c in shown))]
    # in a conditional space, one colour per structure (which layers a trial has)
    groups = ([(label, (done["trial_index"].map(summary.structures) == label).to_numpy())
               for label in sorted(set(summary.structures.get(i)  # type: ignore[type-var]  # each has one
                                       for i in done["trial_index"]))]
              if summary.structures else [(None, slice(None))])
    for k, (x, y) in enumerate(pairs):
        row, col = k // cols + 1, k % cols + 1
        ox, oy = objectives[x], objectives[y]
        for g, (label, rows_of) in enumerate(groups):
            text = [h for h, keep in zip(hover, _mask(rows_of, len(hover))) if keep]
            marker = (dict(color=done["trial_index"], colorscale="Viridis", size=9,
                           showscale=k == 0, colorbar=dict(title="trial index"))
                      if label is None else dict(size=9, color=STRUCTURE_COLOURS[g % len(STRUCTURE_COLOURS)]))
            fig.add_trace(go.Scatter(
                x=done[ox.name][rows_of], y=done[oy.name][rows_of], mode="markers",
                name="trials" if label is None else label, text=text, legendgroup=str(g),
                showlegend=k == 0, hovertemplate="%{text}<extra></extra>", marker=marker,
            ), row=row, col=col)
        front = summary.front.sort_values(ox.name)
        fig.add_trace(go.Scatter(
            x=front[ox.name], y=front[oy.name], name="Pareto frontier", showlegend=k == 0,
            mode="lines" if len(objectives) == 2 else "markers",
            line=dict(shape="hv" if ox.minimize != oy.minimize else "vh", color="firebrick"),
            marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2, color="firebrick")),
        ), row=row, col=col)
        for o, add in ((oy, fig.add_hline), (ox, fig.add_vline)):
            ref = summary.goal.reference[objectives.index(o)]
            if ref is not None:
                add(ref, line_dash="dash", line_color="gray", row=row, col=col,
                    annotation_text=f"{o.name} {'<=' if o.minimize else '>='} {format_value(ref)}")
        fig.update_xaxes(title_text=ox.name, row=row, col=col)
        fig.update_yaxes(title_text=oy.name, row=row, col=col)
    title = ("Observed Pareto frontier" if len(objectives) == 2 else
             "Observed trials, one panel per pair of objectives (ringed: Pareto-optimal over all)")
    if summary.structures:
        title += ", coloured by structure"
    fig.update_layout(title=title, legend=dict(orientation="h", y=-0.15),
                      height=450 if rows == 1 else 380 * rows)
    return fig


STRUCTURE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                     "#7f7f7f", "#bcbd22", "#17becf")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _mask(rows: Any, n: int) -> Any:
    return [True] * n if isinstance(rows, slice) else rows


def fit_report_model(experiment: Experiment) -> Adapter:
    """A BoTorch model of every metric on every completed trial (by its last step; not
    early-stopped or running trials' partly trained values)."""
    return Generators.BOTORCH_MODULAR(experiment=experiment, data=completed_results(experiment))


class ResultsWriter:
    """Writes files into one results folder, each with the run's provenance inside
    (JSON: a "provenance" key; HTML: a <meta name="provenance">); CSV files get it from
    provenance.json beside them, which lists every file written."""

    def __init__(self, out: str | Path, record: dict[str, Any], user_strings: Iterable[Any] = ()) -> None:
        self.files: dict[str, Path]
        self.out, self.record, self.files = Path(out), record, {}
        self.user_strings = user_strings  # escaped wherever a figure holds them

    def text(self, what: str, name: str, text: str) -> None:
        self.files[what] = self.out / name
        atomic_write_text(self.files[what], text)

    def html(self, what: str, name: str, text: str) -> None:
        self.text(what, name, add_to_html(text, self.record))

    def figure(self, what: str, name: str, fig: Any) -> None:
        # a fixed div id (plotly's default is a random one): the same figure, the same file
        self.html(what, name, figure_html(fig, self.user_strings, include_plotlyjs="directory",
                                          full_html=True, div_id=f"plot-{Path(name).stem}"))

    def json(self, what: str, name: str, data: Mapping[str, Any]) -> None:
        self.text(what, name, json.dumps({**data, "provenance": self.record}, indent=2,
                                         default=float))

    def manifest(self) -> None:
        self.files["provenance"] = write_manifest(self.out, self.files.values(), self.record,
                                                  atomic_write_text)


def write_results(experiment: Experiment, results_dir: str | Path, config: SearchConfig,
                  run_info: Mapping[str, Any] | None = None, status: SearchStatus | None = None,
                  models: bool = True) -> tuple[dict[str, Path], RunSummary]:
    """Write every results file, the one-page report index.html last, then the
    provenance manifest; returns ({description: path}, the RunSummary they render).
    From `config` (the search's): its metrics' best values, its contour pair, its last step.
    `status`: where the search stands (nas.report.summary.search_status). `models`: False
    leaves out what needs model fits (CV diagnostics and plot, contour plots): the page
    kept current while the search runs, then says they come at the end."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / PLOTLY_JS).exists():
        atomic_write_text(out / PLOTLY_JS, get_plotlyjs())
    summary = summarize(experiment, run_info, config, status)
    write = ResultsWriter(out, summary.provenance, summary.user_strings)
    figures: dict[str, Any] = {}
    df = summary.table
    write.text("table (CSV)", "experiment.csv", df.to_csv(index=False))
    write.html("table (HTML)", "experiment.html", table_html(df, experiment.name))

    figures["pareto"] = pareto_figure(summary)
    write.figure("Pareto plot", "pareto_frontier.html", figures["pareto"])
    write.text("hypervolume (CSV)", "hypervolume.csv", summary.trace.to_csv(index=False))
    figures["hypervolume"] = hypervolume_figure(summary.trace, summary.goal)
    write.figure("hypervolume plot", "hypervolume.html", figures["hypervolume"])
    figures["curves"] = learning_curves_figure(experiment, config.last_step)
    if figures["curves"] is not None:
        write.figure("learning curves", "learning_curves.html", figures["curves"])

    diagnostics = (write_model_results(experiment, summary, write, figures, config.contour)
                   if models else None)
    write.json("run summary", "run_summary.json", summary.to_json())
    write.html("report page", "index.html", page(summary, figures, diagnostics, models))
    write.manifest()
    return write.files, summary


def write_model_results(experiment: Experiment, summary: RunSummary, write: ResultsWriter,
                        figures: dict[str, Any],
                        contour: tuple[str, str] | None = None) -> dict[str, dict[str, float]] | None:
    """CV diagnostics and contour plots of a model fitted on the completed trials;
    the diagnostics, or None with fewer than two completed trials."""
    if summary.counts["COMPLETED"] < 2:
        return None  # nothing to fit a model on
    model = fit_report_model(experiment)
    # in trial order: Ax's folds come in an order that follows Python's string hashing,
    # which differs by process, and sums in another order differ in their last digits
    cv = sorted(cross_validate(adapter=model),
                key=lambda r: (r.observed.features.trial_index, r.observed.arm_name))
    diagnostics = {name: dict(by_metric) for name, by_metric in compute_diagnostics(cv).items()}
    write.json("CV diagnostics", "cv_diagnostics.json", diagnostics)
    figures["cv"] = cv_figure(cv, list(experiment.metrics))
    write.figure("CV plot", "cross_validation.html", figures["cv"])
    # Ax's contour holds every other parameter of the space at its mean (mode) over the
    # trials; one that no trial has yet (a layer no trial switched on) has none, and Ax
    # raises KeyError, ending the search's last report with exit 1: no contours then
    seen = model.get_training_data(filter_in_design=True).arm_data.columns
    if set(experiment.search_space.parameters) - set(seen):
        return diagnostics
    for objective in summary.goal.objectives:
        pair = contour or most_important_pair(model, experiment, objective.name)
        if pair is None:
            continue
        fig = plot_contour_plotly(model, pair[0], pair[1], objective.name,
                                  lower_is_better=objective.minimize)
        how = "" if contour else " (the two parameters that matter most to its model)"
        fig.update_layout(title=f"{objective.name} over {pair[0]} x {pair[1]}{how}: model "
                                "mean and SE", margin=dict(t=90))
        key = f"contour_{file_name(objective.name)}"
        figures[key] = fig
        write.figure(f"contour {objective.name}", f"{key}.html", fig)
    for objective in summary.goal.objectives:  # what matters (nas/report/importance.py)
        for kind, make in (("parallel", lambda m: parallel_coordinates(experiment, summary, m)),
                           ("importance", lambda m: importances(experiment, model, m))):
            try:
                fig = make(objective.name)
            except Exception as e:  # an analysis Ax cannot make of this data: said, not fatal
                log.warning(f"note: no {kind} plot of {objective.name} "
                            f"({error_line(e, 200)})")
                continue
            key = f"{kind}_{file_name(objective.name)}"
            figures[key] = fig
            write.figure(f"{kind} {objective.name}", f"{key}.html", fig)
    return diagnostics


def cv_figure(cv: list[CVResult], metrics: Sequence[str]) -> Any:
    """Ax's `interact_cross_validation_plotly`, its dropdown in the order of `metrics`
    (nas/ax_compat.py: Ax's order differs by process)."""
    fig = cv_dropdown_figure(cv, metrics)
    fig["layout"]["margin"].b = fig["layout"]["margin"].b or 90  # as the public function
    fig["layout"]["title"] = "Cross-validation"
    return fig


def most_important_pair(model: Adapter, experiment: Experiment, metric: str) -> tuple[str, ...] | None:
    """The two range parameters that matter most to `metric`'s model (Ax's feature
    importances: the GP's inverse lengthscales), of those every trial has (a contour over
    a layer some trials lack would show values they never had), or None with fewer than
    two."""
    roots = always_active(experiment.search_space.parameters.values())
    ranges = [name for name, p in experiment.search_space.parameters.items()
              if isinstance(p, RangeParameter) and name in roots]  # every trial has them
    if len(ranges) < 2:
        return None
    try:
        importance = model.feature_importances(experiment.metrics[metric].signature)
    except Exception:  # a model without lengthscales: the first two, in the config's order
        return tuple(ranges[:2])
    ranked = sorted(ranges, key=lambda name: -float(importance.get(name, 0.0)))
    return tuple(ranked[:2])


def file_name(name: str) -> str:
    """A metric's name as part of a file name (names may hold dots, slashes, ...)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def table_html(df: pd.DataFrame, title: str) -> str:
    body = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0,
                      classes="results")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{text(title)}: trials</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table.results {{ border-collapse: collapse; font-size: 14px; }}
table.results th, table.results td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
table.results th {{ background: #f3f3f3; position: sticky; top: 0; }}
</style></head>
<body><h1>{text(title)}: {len(df)} trials</h1>
{body}
</body></html>
"""
