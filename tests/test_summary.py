"""The run's facts (nas/report/summary.py) and every results file rendered from them, on made-up
experiments: no trial, no completed trial, one completed trial, failures."""

import datetime as dt
import io
import json
import re

import pandas as pd
import pytest
from ax.core import Data

from conftest import tutorial_config
from fake_experiment import T0, fake_experiment
from nas.cli.console import print_failed_reasons, print_summary
from test_hypervolume import hypervolume
from nas.report.writer import write_results
from nas.report.summary import pareto_front, summarize

RUN_INFO = {"strategy": "botorch", "seed": 3, "driver_seconds": 12.0}


def written(experiment, tmp_path):
    files, summary = write_results(experiment, tmp_path, tutorial_config(), run_info=RUN_INFO)
    for path in files.values():
        assert path.exists() and path.parent == tmp_path, path
    return files, summary


def section(html, name):
    start = html.index(f'<section id="{name}">')
    return html[start:html.index("</section>", start)]


def test_every_trial_stopped_early(tmp_path):
    """Stopped trials have val_acc curves but never logged num_params (a real Slurm search
    with certain stopping crashed here)."""
    experiment = fake_experiment([], running=[0, 1])
    experiment.attach_data(Data(df=pd.DataFrame([
        dict(trial_index=i, arm_name=f"{i}_0", metric_name="val_acc", metric_signature="val_acc",
             mean=0.8 + i / 100, sem=0.0, step=1.0) for i in (0, 1)])))
    for trial in experiment.trials.values():
        trial.mark_early_stopped()
    files, summary = written(experiment, tmp_path)
    assert summary.counts["EARLY_STOPPED"] == 2 and summary.stopped == {0: 1, 1: 1}
    table = pd.read_csv(tmp_path / "experiment.csv")
    assert table["num_params"].isna().all() and list(table["stopped_at_step"]) == [1, 1]
    assert summary.hypervolume == 0.0 and summary.best_within_thresholds is None


def test_no_trial_at_all(tmp_path):
    files, summary = written(fake_experiment([]), tmp_path)
    assert summary.total == 0 and summary.hypervolume == 0.0
    assert summary.best_within_thresholds is None and summary.search_wall_seconds is None
    data = json.loads((tmp_path / "run_summary.json").read_text())
    assert data["trials"] == {} and data["pareto_optimal_trials"] == []
    html = (tmp_path / "index.html").read_text()
    assert "0 completed, 0 failed, 0 running, 0 abandoned (0 in all)" in section(html, "summary")
    assert "No completed trial yet." in section(html, "summary")
    assert "cv_diagnostics.json" not in {p.name for p in files.values()}  # no model to fit


def test_no_completed_trial(tmp_path):
    experiment = fake_experiment([], failed=[0, 1], running=[2])
    files, summary = written(experiment, tmp_path)
    assert (summary.counts["COMPLETED"], summary.counts["FAILED"], summary.counts["RUNNING"]) \
        == (0, 2, 1)
    data = json.loads((tmp_path / "run_summary.json").read_text())
    assert data["trials"] == {"failed": 2, "running": 1}
    assert data["final_hypervolume"] == 0.0 and data["best_of_first_objective_within_thresholds"] is None
    df = pd.read_csv(tmp_path / "experiment.csv")
    assert list(df["trial_status"]) == ["FAILED", "FAILED", "RUNNING"]
    assert list(pd.read_csv(tmp_path / "hypervolume.csv")["completed"]) == []
    html = (tmp_path / "index.html").read_text()
    assert "0 completed, 2 failed, 1 running, 0 abandoned (3 in all)" in section(html, "summary")
    assert "contour_val_acc.html" not in {p.name for p in files.values()}


def test_one_completed_trial(tmp_path):
    experiment = fake_experiment([(1, 0.97, 30_000, 40)], failed=[0])
    experiment.trials[0]._time_completed = T0 + dt.timedelta(seconds=10)  # failed at 10 s
    files, summary = written(experiment, tmp_path)
    data = json.loads((tmp_path / "run_summary.json").read_text())
    assert data["trials"] == {"completed": 1, "failed": 1}
    assert data["final_hypervolume"] == pytest.approx(hypervolume([(0.97, 30_000)]))
    assert data["best_of_first_objective_within_thresholds"]["trial_index"] == 1
    assert data["best_of_first_objective_within_thresholds"]["val_acc"] == pytest.approx(0.97)
    assert data["pareto_optimal_trials"] == [1]
    assert data["search_wall_seconds"] == 40 and data["driver_seconds"] == 12.0
    assert (data["strategy"], data["seed"]) == ("botorch", 3)
    trace = pd.read_csv(tmp_path / "hypervolume.csv")
    assert list(trace["trial_index"]) == [1]
    html = (tmp_path / "index.html").read_text()
    summary_html = section(html, "summary")
    assert "1 completed, 1 failed, 0 running, 0 abandoned (2 in all)" in summary_html
    assert re.findall(r"<tr>\s*<td>(\d+)</td>", summary_html[summary_html.index("Pareto"):]) \
        == ["1"]
    assert "cross_validation.html" not in {p.name for p in files.values()}  # 2 needed


def test_failed_trials_section_shows_each_reason(tmp_path):
    experiment = fake_experiment([(0, 0.97, 30_000, 5)], failed=[1, 2])
    experiment.trials[2]._status_reason = "exit code 1: <ValueError> & co"
    written(experiment, tmp_path)
    failed = section((tmp_path / "index.html").read_text(), "failed")
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(\w+)</td>\s*<td[^>]*>([^<]*)</td>", failed)
    assert rows == [("1", "FAILED", "exit code 1: boom 1"),
                    ("2", "FAILED", "exit code 1: &lt;ValueError&gt; &amp; co")]
    reasons = pd.read_csv(tmp_path / "experiment.csv").set_index("trial_index")["reason"]
    assert reasons[1] == "exit code 1: boom 1"


def test_no_failure_says_so(tmp_path):
    written(fake_experiment([(0, 0.97, 30_000, 5)]), tmp_path)
    assert "None: no trial failed" in section((tmp_path / "index.html").read_text(), "failed")


def test_pareto_front_is_botorch_non_dominated_over_completed_trials():
    # 1 dominates 0; 2 and 1 trade off; 3 equals 2 (both kept); 4 failed, 5 running
    experiment = fake_experiment([(0, 0.95, 50_000, 1), (1, 0.97, 40_000, 2),
                                  (2, 0.96, 10_000, 3), (3, 0.96, 10_000, 4)],
                                 failed=[4], running=[5])
    summary = summarize(experiment)
    front = pareto_front(summary.table, summary.goal)
    assert list(front["trial_index"]) == [2, 3, 1]  # by num_params, then index
    assert set(front["trial_status"]) == {"COMPLETED"}


def test_console_renders_the_same_facts(tmp_path):
    experiment = fake_experiment([(0, 0.97, 30_000, 5), (1, 0.99, 90_000, 8)], failed=[2],
                                 running=[3])
    files, summary = written(experiment, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    print_summary(summary, 6, 42.4, files, stream=out)
    print_failed_reasons(summary, stream=err)
    text = out.getvalue()
    assert "Done in 42s: 2 completed, 1 failed, 1 running, 0 abandoned (of 6)" in text
    assert f"{hypervolume([(0.97, 30_000)]):,.0f}" in text
    front = text[text.index("Pareto-optimal"):text.index("Results:")].splitlines()[1:]
    assert [line.split()[0] for line in front[1:]] == ["0", "1"]  # header, then by num_params
    assert str(tmp_path / "index.html") in text and str(tmp_path / "provenance.json") in text
    assert err.getvalue() == "  trial 2 FAILED: exit code 1: boom 2\n"


def test_early_stopped_trials_are_counted_on_the_page(tmp_path):
    experiment = fake_experiment([(0, 0.97, 30_000, 5)], running=[1])
    trial = experiment.trials[1]
    experiment.attach_data(Data(df=pd.DataFrame([dict(  # its partly trained accuracy
        trial_index=1, arm_name=trial.arm.name, metric_name="val_acc",
        metric_signature="val_acc", mean=0.5, sem=0.0)])))
    trial.mark_early_stopped()
    files, summary = written(experiment, tmp_path)
    assert summary.counts["EARLY_STOPPED"] == 1
    assert json.loads((tmp_path / "run_summary.json").read_text())["trials"] == {
        "completed": 1, "early_stopped": 1}
    assert ("1 completed, 1 early_stopped, 0 failed, 0 running, 0 abandoned (2 in all)"
            in section((tmp_path / "index.html").read_text(), "summary"))
    assert list(summary.front["trial_index"]) == [0]  # completed trials only
