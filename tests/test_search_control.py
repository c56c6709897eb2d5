"""Search control: a time budget (the running trials finish, or are stopped), Ax's global
stopping when the front stops improving, importing an earlier search's trials, and the
refusals of bad values. Real searches of tests/scripts/steady_trial.py, whose trials last
a known time on any machine."""

import json

import pandas as pd
import pytest

from conftest import ROOT, run_driver

SCRIPT = ROOT / "tests" / "scripts" / "steady_trial.py"


def config(folder, seconds=3, search="", parameters="", args=""):
    path = folder / "search.toml"
    path.write_text(f"""name = "steady"
[trial]
script = "{SCRIPT}"
args = ["--log-dir", "{{log_dir}}", "--seconds", "{seconds}"{args}]
[search]
max_pending = 2
{search}
[parameters]
x = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
y = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
{parameters}
[optimization]
objective = "score, -cost"
outcome_constraints = ["score >= 0.5", "cost <= 2"]
""")
    return path


def state(results):
    from nas.state.storage import STATE_FILE, load_state

    experiment, _ = load_state(results / "logs" / STATE_FILE)
    return experiment


def summary(results):
    return json.loads((results / "run_summary.json").read_text())


def test_a_spent_budget_starts_no_trial_and_a_larger_one_goes_on(tmp_path):
    path = config(tmp_path, search='trials = 6\ntime_budget = "6s"')
    results = tmp_path / "r"
    first = run_driver("--config", path, "--results-dir", results, "--seed", 0)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    experiment = state(results)
    # a candidate made for a slot about to free stays a CANDIDATE, not launched
    # (docs/resilience.md, "Candidates made ahead")
    starts = [t.time_run_started for t in experiment.trials.values() if t.status.name != "CANDIDATE"]
    assert 1 <= len(starts) < 6 and None not in starts
    # the budget's clock starts before the first launch: no launch after it is spent
    assert (max(starts) - min(starts)).total_seconds() <= 6
    why = summary(results)["search"]["why"]
    assert why.startswith("stopped by its time budget (6s) after ") and why.endswith(" of 6 trials")
    assert summary(results)["search"]["state"] == "stopped"
    assert "Stopped by its time budget" in (results / "index.html").read_text()
    assert "run the same command with a larger --time-budget to go on" in first.stdout

    again = run_driver("--config", path, "--results-dir", results, "--seed", 0)  # same budget
    assert again.returncode == 0 and "no new trial starts" in again.stdout
    assert len(state(results).trials) == len(experiment.trials)  # nothing launched, nothing made

    more = run_driver("--config", path, "--results-dir", results, "--seed", 0,
                      "--time-budget", "10m")
    assert more.returncode == 0, more.stdout[-2000:] + more.stderr[-2000:]
    assert summary(results)["search"]["state"] == "finished"
    assert (pd.read_csv(results / "experiment.csv")["trial_status"] == "COMPLETED").sum() == 6


def test_the_stop_option_cancels_the_running_trials(tmp_path):
    from nas.jobs.processes import job_pid

    path = config(tmp_path, seconds=120, search="trials = 4")
    results = tmp_path / "r"
    proc = run_driver("--config", path, "--results-dir", results, "--time-budget", "3s",
                      "--time-budget-stop")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    experiment = state(results)
    assert experiment.trials and {t.status.name for t in experiment.trials.values()} == {"ABANDONED"}
    assert all("time budget spent" in (t.status_reason or "") for t in experiment.trials.values())
    for index in experiment.trials:
        assert job_pid(results / "logs" / "trials" / str(index)) is None  # no job runs on
    assert summary(results)["search"]["why"].startswith("stopped by its time budget (3s)")


def test_global_stopping_ends_a_search_whose_front_stopped_improving(tmp_path):
    """Every trial gives the same point (the script's x and y are fixed, the searched ones
    left off its command line): the hypervolume never improves after the first."""
    path = config(tmp_path, seconds=0, args=', "--x", "0.5", "--y", "0.5"',
                  search="trials = 20\n[search.global_stopping]\nmin_trials = 4\nwindow_size = 2\n"
                         "improvement_bar = 0.05")
    path.write_text(path.read_text().replace('args = [', 'omit = ["x", "y"]\nargs = ['))
    results = tmp_path / "r"
    proc = run_driver("--config", path, "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    trials = len(state(results).trials)
    assert 4 <= trials < 20
    why = summary(results)["search"]["why"]
    assert why.startswith("stopped by global stopping: "), why
    assert "--ignore-global-stopping goes on" in proc.stdout
    again = run_driver("--config", path, "--results-dir", results)
    assert again.returncode == 0 and len(state(results).trials) == trials
    assert "it ends again at once unless global stopping is ignored (--ignore-global-stopping)" \
        in again.stdout
    going = run_driver("--config", path, "--results-dir", results, "--ignore-global-stopping",
                       "--trials", trials + 1)
    assert going.returncode == 0 and len(state(results).trials) == trials + 1


def test_a_new_search_imports_an_earlier_ones_trials(tmp_path):
    from nas.ax_compat import generation_node_name

    (tmp_path / "a").mkdir()
    first = config(tmp_path / "a", seconds=0, search="trials = 6")
    first.write_text(first.read_text().replace("bounds = [0.0, 1.0] }\ny", "bounds = [0.0, 0.5] }\ny"))
    earlier = tmp_path / "a" / "r"
    proc = run_driver("--config", first, "--results-dir", earlier, "--seed", 0)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    (tmp_path / "b").mkdir()  # x widened, z added: the earlier trials had z = 0.25
    second = config(tmp_path / "b", seconds=0, search="trials = 8",
                    parameters='z = { parameter_type = "float", bounds = [0.0, 1.0] }',
                    args=', "--label", "{z}"')
    results = tmp_path / "b" / "r"
    proc = run_driver("--config", second, "--results-dir", results, "--seed", 0,
                      "--import-from", earlier / "logs", "--import-fix", "z=0.25")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"imported 6 completed trials from {earlier / 'logs'} (they count toward the " \
           "8-trial budget)" in proc.stdout
    df = pd.read_csv(results / "experiment.csv").set_index("trial_index")
    assert len(df) == 8 and (df["trial_status"] == "COMPLETED").all()
    imported = df[df["imported_from"].notna() & (df["imported_from"] != "")]
    assert list(imported.index) == list(range(6))
    assert all(f"{earlier / 'logs'} trial {i}" == imported.loc[i, "imported_from"] for i in range(6))
    assert (imported["z"] == 0.25).all()
    old = pd.read_csv(earlier / "experiment.csv").set_index("trial_index")
    assert list(imported["score"]) == pytest.approx(list(old["score"]))
    experiment = state(results)
    made_by = {generation_node_name(run) for run in experiment.trials[6].generator_runs}
    assert all("BoTorch" in name for name in made_by), made_by  # not Sobol: enough imported
    assert "6 imported from earlier searches" in (results / "index.html").read_text()


@pytest.mark.parametrize("change, words", [
    ({"search": 'trials = 2\ntime_budget = "soon"'},
     "[search] time_budget 'soon': expected a duration such as \"90s\", \"30m\", \"1.5h\""),
    ({"search": "trials = 2\n[search.global_stopping]\nmin_trials = 3\nwindow_size = -1"},
     "[search.global_stopping] window_size must be a whole number >= 1, got -1"),
])
def test_bad_search_control_in_a_config_is_one_line(tmp_path, main_in_process, change, words):
    path = config(tmp_path, **change)
    code, out, err = main_in_process("--config", path, "--results-dir", tmp_path / "r")
    assert code == 2 and out == "" and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_bad_import_dirs_and_budgets_on_the_command_line_are_one_line(tmp_path, main_in_process):
    path = config(tmp_path, search="trials = 2")
    code, _, err = main_in_process("--config", path, "--results-dir", tmp_path / "r",
                                   "--time-budget", "0s")
    assert code == 2 and "--time-budget '0s': expected a duration" in err
    code, _, err = main_in_process("--config", path, "--results-dir", tmp_path / "r",
                                   "--import-from", tmp_path / "nothing")
    assert code == 2 and f"--import-from {tmp_path / 'nothing'}: no saved search there" in err
    damaged = tmp_path / "damaged" / "logs"
    damaged.mkdir(parents=True)
    (damaged / "search_state.json").write_text('{"experiment": ')
    code, _, err = main_in_process("--config", path, "--results-dir", tmp_path / "r",
                                   "--import-from", damaged)
    assert code == 2 and f"--import-from {damaged}: the saved search" in err and "truncated" in err
    assert len(err.strip().splitlines()) == 1
    trials = tmp_path / "r" / "logs" / "trials"
    assert not trials.exists() or not any(trials.iterdir())  # nothing started
