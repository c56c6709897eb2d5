"""results/index.html: the whole search on one page that opens offline from disk.

At the top, a line saying where the search stands (running under which driver, with
how many of its trials done and which run for how long; finished; or stopped, and why)
and when the page was written. Then, in this order: a summary (trial counts, wall time,
versions, the reference point, the final hypervolume, the Pareto-optimal
configurations), the Pareto plot, the hypervolume-vs-trial plot, the learning curves,
the trials table (Ax's exp_to_df), the cross-validation diagnostics (numbers and plot),
a contour plot per objective, and the failed trials with their reasons; titled and
labelled with the search config's names. A page written while the search runs leaves
the two that need model fits (CV, contours) for the end.

The figures are the same plotly figures as the separate HTML files, embedded as
divs; the page loads plotly.js once from plotly.min.js beside it (no CDN, no network).
Each plot sits in a `<div class="plot" data-plot="NAME">` (the browser test checks that
every one of them rendered).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from nas.report.hypervolume import format_hv, format_value
from nas.report.markup import figure_html, text
from nas.report.provenance import describe
from nas.report.text import duration, status_text

if TYPE_CHECKING:
    from nas.report.summary import RunSummary, SearchStatus

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; font-size: 14px; margin: 0.5em 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; }
table.kv th { text-align: left; }
table.kv td { text-align: left; }
.scroll { max-height: 480px; overflow: auto; border: 1px solid #eee; }
.scroll th { position: sticky; top: 0; }
.note { color: #666; font-style: italic; }
.plot { min-height: 450px; }
td.reason { text-align: left; font-family: monospace; white-space: pre-wrap; max-width: 700px; }
p.status { padding: 0.5em 1em; border-left: 5px solid #888; background: #f6f6f6; }
p.status[data-state="running"] { border-color: #2a6fdb; background: #eef4fd; }
p.status[data-state="finished"] { border-color: #2e8b57; background: #eef8f1; }
p.status[data-state="stopped"] { border-color: #d9822b; background: #fdf4ea; }
"""
MODELS_AT_THE_END = ('<p class="note">Made when the search ends: the model fits they need would '
                     'hold up the driver while it runs. <code>run_nas.py --report</code> (same '
                     '--results-dir / --log-dir / --config) makes them now.</p>')


def kv_table(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{text(str(k))}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def df_table(df: pd.DataFrame, scroll: bool = False, **kwargs: Any) -> str:
    # large whole numbers (a parameter count, say) with thousands separators, not 1.322e+04
    whole = [c for c in df.columns if df[c].dtype.kind == "f" and df[c].notna().any()
             and (df[c].dropna() % 1 == 0).all() and df[c].abs().max() >= 1000]
    df = df.assign(**{c: [f"{v:,.0f}" if pd.notna(v) else "" for v in df[c]] for c in whole})
    table = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0,
                       **kwargs)
    return f'<div class="scroll">{table}</div>' if scroll else table


def plot_div(name: str, fig: Any, user_strings: Iterable[Any] = ()) -> str:
    if fig is None:
        return '<p class="note">Not available: fewer than two completed trials to fit a model on.</p>'
    inner = figure_html(fig, user_strings, full_html=False, include_plotlyjs=False,
                        div_id=f"plot-{name}", config={"displaylogo": False})
    return f'<div class="plot" data-plot="{name}">{inner}</div>'


def imported_text(summary: RunSummary) -> str:
    """"; 3 imported from earlier searches", as the table's imported_from says."""
    if "imported_from" not in summary.table:
        return ""
    n = int((summary.table["imported_from"] != "").sum())
    return f"; {n} imported from earlier searches (the table's imported_from)"


def status_html(status: SearchStatus, generated: str) -> str:
    """The line atop the page (nas.report.text.status_text), coloured by its state."""
    return (f'<p class="status" id="status" data-state="{status.state}">'
            f'{text(status_text(status, generated))}</p>')


def failed_html(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p>None: no trial failed or was abandoned.</p>"
    rows = "".join(
        f'<tr><td>{r.trial_index}</td><td>{r.status}</td><td class="reason">{text(r.reason)}</td></tr>'
        for r in df.itertuples())
    return f"<table><tr><th>trial</th><th>status</th><th>reason</th></tr>{rows}</table>"


def diagnostics_html(diagnostics: Mapping[str, Mapping[str, float]] | None) -> str:
    if not diagnostics:
        return '<p class="note">Not available: fewer than two completed trials to fit a model on.</p>'
    df = pd.DataFrame(diagnostics).T  # rows: diagnostic, columns: metric
    df.index.name = "diagnostic"
    return df_table(df.reset_index())


def pareto_html(summary: RunSummary) -> str:
    front = summary.pareto_optimal
    if not len(front):
        return '<p class="note">No completed trial yet.</p>'
    within = [summary.goal.feasible(dict(row)) for _, row in front.iterrows()]
    front = front.assign(in_reference_box=within)
    if summary.structures:  # an empty cell: a parameter the trial does not have
        front.insert(1, "structure", front["trial_index"].map(summary.structures))
    return df_table(front)


def structures_html(summary: RunSummary) -> str:
    """Which structures won: completed and Pareto-optimal trials of each (conditional
    spaces only)."""
    if summary.by_structure is None or not len(summary.by_structure):
        return ""
    return ("<h3>Structures (the values of the parameters that switch others on)</h3>"
            + df_table(summary.by_structure))


def page(summary: RunSummary, figures: Mapping[str, Any],
         diagnostics: Mapping[str, Mapping[str, float]] | None, models: bool = True) -> str:
    """The page's HTML, from a nas.report.summary.RunSummary, the figures
    nas/report/writer.py made and the CV diagnostics (None: no model). `models`: False
    when the model fits were left for the end (the page kept current while it runs)."""
    run_info, hv, goal = summary.run_info, summary.hypervolume, summary.goal
    name = text(summary.name)
    user_strings = summary.user_strings

    def plot(key: str, fig: Any) -> str:
        return plot_div(key, fig, user_strings)

    generated = summary.provenance["generated"].replace("T", " ")
    strategy = run_info.get("strategy", "n/a")
    maximum = (f" of the maximum {format_value(goal.max_hv)} (the box from the reference point "
               "to the best values the config declares)" if goal.max_hv else "")
    facts = kv_table([
        ("trials", ", ".join(f"{summary.counts[s]} {s.lower()}" for s in
                             ("COMPLETED", "EARLY_STOPPED", "FAILED", "RUNNING", "ABANDONED")
                             if s != "EARLY_STOPPED" or summary.counts[s])
         + f" ({summary.total} in all)" + imported_text(summary)),
        ("objectives", text(", ".join(f"{o.name} ({'minimized' if o.minimize else 'maximized'})"
                                             for o in goal.objectives))),
        ("strategy", text(f"{strategy} (seed {run_info.get('seed')})")),
        ("wall time", f"{duration(summary.search_wall_seconds)} from the first trial's start "
                      f"to the last trial's end; this run of the driver: "
                      f"{duration(run_info.get('driver_seconds'))}"),
        ("reference point", text(goal.describe())),
        ("hypervolume so far" if summary.status.state == "running" else "final hypervolume",
         f"{format_hv(hv, goal.max_hv)}{maximum}; observed feasible points"),
        ("config", text(str((run_info.get("config") or {}).get("path", "n/a")))),
        ("versions", text(", ".join(f"{k} {v}" for k, v in summary.versions.items()))),
        ("generated", generated),
        ("made with", text(describe(summary.provenance))),
    ])
    table = summary.table  # with the step each early-stopped trial reached
    first = goal.names[0]
    contours = [key for key in figures if key.startswith("contour_")]
    matters = [key for key in figures if key.startswith(("parallel_", "importance_"))]
    sections = [
        ("summary", "Summary", facts + "<h3>Pareto-optimal configurations (observed)</h3>"
         + pareto_html(summary) + structures_html(summary)),
        ("pareto", "Pareto frontier", plot("pareto", figures.get("pareto"))),
        ("hypervolume", "Hypervolume after each completed trial",
         plot("hypervolume", figures.get("hypervolume"))
         + '<p>Trace: <a href="hypervolume.csv">hypervolume.csv</a></p>'),
        ("curves", f"Learning curves ({first} at each step)",
         plot("curves", figures.get("curves"))
         if figures.get("curves") is not None else '<p class="note">No curve logged yet.</p>'),
        ("trials", f"All trials ({len(table)})",
         df_table(table, scroll=True) + '<p>As CSV: <a href="experiment.csv">experiment.csv</a></p>'),
        ("cv", "Cross-validation diagnostics",
         diagnostics_html(diagnostics) + plot("cv", figures.get("cv")) if models
         else MODELS_AT_THE_END),
        ("contours", "Contour plots (model mean and SE of each objective over two parameters)",
         "".join(plot(key, figures[key]) for key in contours) if contours
         else plot_div("contours", None) if models else MODELS_AT_THE_END),
        ("matters", "What matters (parallel coordinates of the trials, each objective's "
         "parameter importances)",
         "".join(plot(key, figures[key]) for key in matters) if matters
         else plot_div("matters", None) if models else MODELS_AT_THE_END),
        ("failed", "Failed trials", failed_html(summary.failed)),
    ]
    nav = "".join(f'<a href="#{key}">{text(title.split(" (")[0])}</a>'
                  for key, title, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{text(title)}</h2>\n{content}</section>'
                     for key, title, content in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{name}: NAS report</title>
<style>{CSS}</style>
<script src="plotly.min.js"></script>
</head><body>
<h1>{name}: multi-objective search report</h1>
{status_html(summary.status, summary.provenance["generated"])}
<nav>{nav}</nav>
{body}
</body></html>
"""
