"""Watching a search while it runs: the line that says where it stands, the page
the driver keeps current without the model fits, and `run_nas.py --report`."""

import datetime as dt
import json

from conftest import (
    files_outside_trials, report_command, results_files, run_driver, tutorial_config,
)
from fake_experiment import T0, fake_experiment
from nas.report.text import status_text
from nas.report.summary import search_status
from nas.report.writer import write_results

DRIVER = {"pid": 4242, "host": "here", "started": "2026-01-01T11:59:00"}
WRITTEN = "2026-01-01T12:01:40"


def section(html, name):
    start = html.index(f'<section id="{name}">')
    return html[start:html.index("</section>", start)]


def a_search():
    """2 completed, 1 failed, 2 running since T0 (fake_experiment)."""
    return fake_experiment([(0, 0.97, 30_000, 5), (1, 0.96, 9_000, 6)], failed=[2], running=[3, 4])


def test_the_status_line_says_where_the_search_stands():
    experiment, now = a_search(), T0 + dt.timedelta(seconds=100)
    info = {"trials": 8, "driver": DRIVER}

    running = search_status(experiment, info, driver=DRIVER, now=now)
    assert (running.state, running.done, running.total) == ("running", 3, 8)
    assert status_text(running, WRITTEN) == (
        "Running under the driver pid 4242 (started 2026-01-01 11:59:00): 3 of 8 trials done; "
        "running: trial 3 for 1m 40s, trial 4 for 1m 40s. Written 2026-01-01 12:01:40; reload "
        "for the latest.")
    seen = search_status(experiment, info, driver=DRIVER, saved_at="2026-01-01T12:01:30", now=now)
    assert status_text(seen, WRITTEN).endswith(
        "Written 2026-01-01 12:01:40 by run_nas.py --report, from the state saved at "
        "2026-01-01 12:01:30; reload for the latest.")
    elsewhere = search_status(experiment, info, now=now,
                              driver={**DRIVER, "host": "node7", "checked": False})
    assert "pid 4242 (started 2026-01-01 11:59:00) on node7, as its saved state says" in \
        status_text(elsewhere, WRITTEN)

    for trial in list(experiment.trials.values())[3:]:
        trial.mark_completed(unsafe=True)
    finished = search_status(experiment, {**info, "ended": "finished"})
    assert status_text(finished, WRITTEN) == \
        "Finished: 5 of 8 trials done. Written 2026-01-01 12:01:40."


def test_a_stopped_search_says_why_and_how_to_resume():
    experiment = a_search()
    stopped = search_status(experiment, {"trials": 8, "ended": "interrupted (SIGTERM)"},
                            now=T0 + dt.timedelta(seconds=5))
    assert stopped.state == "stopped"
    assert status_text(stopped, WRITTEN) == (
        "Stopped (interrupted (SIGTERM)): 3 of 8 trials done; running the same command again "
        "resumes the search. When its state was saved: trial 3 for 0m 05s, trial 4 for 0m 05s. "
        "Written 2026-01-01 12:01:40.")
    killed = search_status(experiment, {"trials": 8, "driver": DRIVER})  # no end recorded
    assert killed.state == "stopped" and "without recording how it ended" in killed.why


def test_the_page_kept_current_leaves_the_model_fits_for_the_end(tmp_path):
    experiment = a_search()
    info = {"strategy": "botorch", "seed": 0, "trials": 8, "driver": DRIVER}
    files, summary = write_results(experiment, tmp_path, tutorial_config(), run_info=info,
                                   status=search_status(experiment, info, driver=DRIVER),
                                   models=False)
    names = {p.name for p in files.values()}
    assert {"index.html", "experiment.csv", "pareto_frontier.html", "hypervolume.csv",
            "run_summary.json", "provenance.json"} <= names
    assert not {"cv_diagnostics.json", "cross_validation.html", "contour_val_acc.html"} & names
    html = (tmp_path / "index.html").read_text()
    top = html[html.index("<h1>"):html.index("<nav>")]
    assert 'data-state="running"' in top and "Running under the driver pid 4242" in top
    assert "3 of 8 trials done; running: trial 3 for" in top
    for name in ("cv", "contours"):
        assert "Made when the search ends" in section(html, name)
        assert "run_nas.py --report" in section(html, name)
    assert "2 completed, 1 failed, 2 running" in section(html, "summary")
    assert "hypervolume so far" in section(html, "summary")
    search = json.loads((tmp_path / "run_summary.json").read_text())["search"]
    assert (search["state"], search["done"], search["total"]) == ("running", 3, 8)
    assert [index for index, _ in search["running"]] == [3, 4]


class FakeOrchestrator:
    """What LivePage looks at: the experiment, the running trials, max_pending."""

    def __init__(self, experiment, max_pending):
        self.experiment = experiment
        self.options = type("Options", (), {"max_pending_trials": max_pending})()

    @property
    def running_trials(self):
        return [t for t in self.experiment.trials.values() if t.status.is_running]


def test_the_page_is_written_when_a_trial_ended_and_no_launch_is_due(caplog):
    from nas.state.lifecycle import LivePage

    experiment = fake_experiment([(0, 0.97, 30_000, 5)], running=[1])
    orchestrator, written = FakeOrchestrator(experiment, max_pending=2), []
    live = LivePage(lambda e: written.append(len(e.trials)), total_trials=3, max_pending=2)
    live.on_change(orchestrator)
    assert written == []  # a slot free and a trial to run: the launch comes first
    experiment.new_trial().mark_running(no_runner_required=True)  # launched
    live.on_change(orchestrator)
    live.on_change(orchestrator)  # the next poll: nothing ended since
    assert written == [3]
    experiment.trials[1].mark_failed(reason="boom")  # ended; all 3 launched: nothing due
    live.on_change(orchestrator)
    assert written == [3, 3]

    def fail(experiment):
        raise OSError(28, "No space left on device")

    live.write = fail
    with caplog.at_level("WARNING", logger="nas"):
        experiment.trials[2].mark_completed(unsafe=True)
        live.on_change(orchestrator)
        experiment.new_trial().mark_running(no_runner_required=True).mark_failed(reason="again")
        live.on_change(orchestrator)  # the same problem again: said once
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum(m.startswith("note: the results page could not be updated (OSError: [Errno "
                            "28] No space left on device); the search goes on") for m in said) == 1


def test_a_real_search_keeps_its_page_current_and_records_its_run(live_search):
    from nas.orchestration import saved_run_info
    from nas.state.storage import STATE_FILE, load_state

    run = live_search
    assert run.returncode == 0, run.console[-3000:]
    assert run.running_after_copy  # the copy was taken before the search ended
    first = (run.first / "index.html").read_text()
    assert f"Running under the driver pid {run.pid} (started " in first
    assert "1 of 2 trials done; running: trial 1 for" in first
    assert "1 completed, 0 failed, 1 running" in section(first, "summary")
    assert "Made when the search ends" in section(first, "cv")
    final = (run.results / "index.html").read_text()
    assert 'data-state="finished"' in final and "Finished: 2 of 2 trials done." in final
    assert 'data-plot="cv"' in final  # the model fits, at the end
    experiment, _ = load_state(run.results / "logs" / STATE_FILE)
    info = saved_run_info(experiment)
    assert info["ended"] == "finished" and info["trials"] == 2 and info["driver"]["pid"] == run.pid
    summary = json.loads((run.results / "run_summary.json").read_text())
    assert summary["driver_seconds"] == info["driver_seconds"]  # the files are the saved state's


def one_line(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


def test_report_beside_a_running_driver_writes_the_page_and_leaves_the_search_alone(live_search):
    run = live_search
    report = run.report_during
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert report.stdout.startswith(f"--report on {run.results / 'logs'}: Running under the "
                                    f"driver pid {run.pid} (started ")
    assert run.log_after == run.log_before  # state, its previous copy, the lock: as they were
    page = (run.during / "index.html").read_text()
    top = page[page.index("<h1>"):page.index("<nav>")]
    assert 'data-state="running"' in top and "1 of 2 trials done; running: trial 1 for" in top
    assert "by run_nas.py --report, from the state saved at" in top
    # --report fits the models (the live page leaves them for the end); one completed trial
    # is too few to fit on, and the page says so instead of "Made when the search ends"
    for name in ("cv", "contours"):
        assert "fewer than two completed trials to fit a model on" in section(page, name)
    # the driver went on to its end, unaffected
    assert run.returncode == 0, run.console[-3000:]
    assert "Done in" in run.console and "2 completed, 0 failed" in run.console
    assert "Finished: 2 of 2 trials done." in (run.final / "index.html").read_text()


def test_report_on_a_finished_search_writes_the_drivers_files(live_search):
    run = live_search
    report = run.report_after
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert f"--report on {run.results / 'logs'}: Finished: 2 of 2 trials done." in report.stdout
    driver_files, report_files = results_files(run.final), results_files(run.results)
    assert "cv_diagnostics.json" in driver_files and "learning_curves.html" in driver_files
    assert report_files.keys() == driver_files.keys()
    for name in driver_files:
        assert report_files[name] == driver_files[name], name
    generated = [json.loads((d / "provenance.json").read_text())["generated"]
                 for d in (run.final, run.results)]
    assert all(generated)  # the one thing allowed to differ


def test_report_without_a_saved_search_exits_2_with_one_line(tmp_path, main_in_process):
    code, _, err = main_in_process(*report_command(tmp_path / "r"))
    assert code == 2
    assert [line for line in err.splitlines() if line.strip()] == [
        f"run_nas.py: error: no saved search in {tmp_path / 'r' / 'logs'} (no search_state.json): "
        "--report reads the state a search saves; give the --results-dir / --log-dir the "
        "search ran with"]
    assert not (tmp_path / "r").exists()  # nothing written


def test_report_on_a_truncated_state_exits_2_with_the_resumes_line(tmp_path, mnist_cache):
    from test_lifecycle import damage, saved_search

    results = tmp_path / "r"
    state_file = saved_search(results, mnist_cache)
    state_file.write_bytes(damage(state_file, "truncated"))
    before = files_outside_trials(results)
    proc = run_driver(*report_command(results), timeout=120)
    assert proc.returncode == 2
    [line] = one_line(proc)
    assert line.startswith(f"run_nas.py: error: the saved search {state_file} is truncated")
    assert "--fresh" in line
    assert files_outside_trials(results) == before  # no results file, the state as it was


def test_report_goes_with_no_flag_that_starts_or_changes_a_search():
    import pytest

    from nas.cli import UsageError, parse_args

    for flag in ("--fresh", "--check", "--dry-run"):
        with pytest.raises(UsageError, match=f"--report reads a saved search; it does not go "
                                             f"with {flag}"):
            parse_args(["--report", flag])


def test_the_driver_is_the_process_the_lock_file_names_holding_the_lock(tmp_path):
    import os
    import socket
    import subprocess

    from nas.state.ownership import own_log_dir
    from nas.state.watch import running_driver

    here = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01T12:00:00"}
    lock = tmp_path / "driver.lock"
    assert running_driver(tmp_path, {"driver": here}) is None  # no lock file
    lock.write_text(f"{os.getpid()}\n")  # a live process that does not hold the lock
    assert running_driver(tmp_path, {"driver": here}) is None
    with own_log_dir(tmp_path):  # this process drives (a notebook's kernel, say)
        assert running_driver(tmp_path, {"driver": here}) == {**here, "checked": True}
    assert running_driver(tmp_path, {"driver": here}) is None  # released
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock.write_text(f"{gone.pid}\n")
    assert running_driver(tmp_path, {"driver": here}) is None
    there = {**here, "host": "another-node"}  # cannot be checked from here
    assert running_driver(tmp_path, {"driver": there}) == {**there, "checked": False}
    assert running_driver(tmp_path, {"driver": there, "ended": "finished"}) is None