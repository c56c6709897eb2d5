"""results/index.html and hypervolume.csv of the small real run (see conftest.small_run)."""

import re
import shutil

import pandas as pd
import pytest

from conftest import run_driver
from test_hypervolume import hypervolume

SECTIONS = ["summary", "pareto", "hypervolume", "curves", "trials", "cv", "contours", "matters",
            "failed"]
PLOTS = ["pareto", "hypervolume", "curves", "cv", "contour_val_acc", "contour_num_params",
         "parallel_val_acc", "importance_val_acc", "parallel_num_params", "importance_num_params"]


def test_index_has_every_section_in_order_and_loads_plotly_locally(small_run):
    results, proc = small_run
    html = (results / "index.html").read_text()
    assert str(results / "index.html") in proc.stdout  # listed in the summary
    positions = [html.index(f'<section id="{s}">') for s in SECTIONS]
    assert positions == sorted(positions)
    assert re.findall(r'data-plot="(\w+)"', html) == PLOTS
    assert '<script src="plotly.min.js"></script>' in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "a remote resource"
    assert html.count("Plotly.newPlot(") == len(PLOTS)


def test_summary_numbers(small_run):
    results, _ = small_run
    html = (results / "index.html").read_text()
    summary = html[html.index('<section id="summary">'):html.index('<section id="pareto">')]
    assert "2 completed, 0 failed, 0 running, 0 abandoned" in summary
    assert "val_acc 0.94" in summary and "num_params 80,000" in summary
    assert "ax-platform 1.3" in summary and "botorch 0.18" in summary
    assert "botorch (seed 0)" in summary
    trace = pd.read_csv(results / "hypervolume.csv")
    assert f"{trace['hypervolume'].iloc[-1]:,.0f} (" in summary
    # the Pareto-optimal table holds the non-dominated trials
    df = pd.read_csv(results / "experiment.csv")
    front = summary[summary.index("Pareto-optimal"):]
    listed = {int(i) for i in re.findall(r"<tr>\s*<td>(\d+)</td>", front)}  # first column
    expected = {int(row["trial_index"]) for _, row in df.iterrows()
                if not ((df["val_acc"] > row["val_acc"]) & (df["num_params"] < row["num_params"])).any()}
    assert listed == expected and listed


def test_hypervolume_trace_matches_the_trials(small_run):
    results, proc = small_run
    trace = pd.read_csv(results / "hypervolume.csv")
    df = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    assert list(trace["completed"]) == [1, 2]
    assert sorted(trace["trial_index"]) == [0, 1]
    points = []
    for row in trace.itertuples():
        points.append((df.loc[row.trial_index, "val_acc"], df.loc[row.trial_index, "num_params"]))
        assert row.val_acc == pytest.approx(points[-1][0])
        assert row.hypervolume == pytest.approx(hypervolume(points))
    assert ("Hypervolume (reference point val_acc 0.94 (maximized), num_params 80,000 "
            "(minimized): the objective thresholds)") in proc.stdout


def test_resume_rewrites_the_page_and_refuses_another_strategy(small_run, data_dir, tmp_path):
    results = tmp_path / "results"  # a copy: the other tests read the run as it ended
    shutil.copytree(small_run[0], results)
    page = results / "index.html"
    before = page.stat().st_mtime_ns
    args = ["--trials", 2, "--max-pending", 2, "--fix", "epochs=1", "--seed", 0,
            "--data-dir", data_dir, "--results-dir", results]
    other = run_driver(*args, "--strategy", "sobol")
    assert other.returncode == 2
    assert "uses --strategy botorch" in other.stderr and "--fresh" in other.stderr
    assert page.stat().st_mtime_ns == before
    again = run_driver(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming" in again.stdout
    assert page.stat().st_mtime_ns > before
    assert "2 completed, 0 failed" in page.read_text()
