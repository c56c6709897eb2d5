"""A real search of a variable-depth network (1 to 3 layers, a width per layer that
exists): trials of different depths run, each job gets exactly its active parameters on
its command line, and a driver killed with SIGKILL midway resumes with nothing lost."""

import json

import pandas as pd
import pytest

from conftest import ROOT, run_driver, start_driver
from test_resilience import finished_trials_of, wait_for

SCRIPT = ROOT / "tests" / "scripts" / "layers_trial.py"
CONFIG = f"""name = "layers"
[trial]
script = "{SCRIPT}"
args = ["--log-dir", "{{log_dir}}", "--seconds", "1", "--layers", "{{width_1}}", "{{width_2}}", "{{width_3}}"]
omit = ["layer_2", "layer_3"]
[search]
trials = 8
max_pending = 2
[parameters]
width_1 = {{ parameter_type = "int", bounds = [16, 128], scaling = "log" }}
layer_2 = {{ parameter_type = "bool", values = [false, true], is_ordered = true, dependent_parameters = {{ true = ["width_2", "layer_3"] }} }}
width_2 = {{ parameter_type = "int", bounds = [16, 128], scaling = "log" }}
layer_3 = {{ parameter_type = "bool", values = [false, true], is_ordered = true, dependent_parameters = {{ true = ["width_3"] }} }}
width_3 = {{ parameter_type = "int", bounds = [16, 128], scaling = "log" }}
lr = {{ parameter_type = "float", bounds = [1e-3, 1e-1], scaling = "log" }}
[optimization]
objective = "accuracy, -params"
outcome_constraints = ["params <= 150000"]
"""


def expected_argv(trial_dir, params):
    widths = [params[w] for w in ("width_1", "width_2", "width_3") if w in params]
    return ["--log-dir", str(trial_dir), "--seconds", "1", "--layers", *map(str, widths),
            "--lr", str(params["lr"])]


@pytest.fixture(scope="module")
def layers_run(tmp_path_factory):
    """The search, its driver SIGKILLed once a trial finished, then run again to the end."""
    tmp = tmp_path_factory.mktemp("layers")
    config = tmp / "layers.toml"
    config.write_text(CONFIG)
    results = tmp / "r"
    args = ["--config", config, "--seed", 3, "--results-dir", results]
    driver = start_driver(*args, out=tmp / "first.txt")
    wait_for(lambda: driver.poll() is not None or finished_trials_of(results, "accuracy"),
             what="a finished trial")
    driver.kill()
    driver.wait()
    done_before = finished_trials_of(results, "accuracy")
    again = run_driver(*args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Resuming the search" in again.stdout
    return results, done_before


def test_every_trial_ran_once_with_exactly_its_active_parameters(layers_run):
    from nas.state.storage import STATE_FILE, load_state

    results, done_before = layers_run
    assert done_before, "the kill came after a trial finished"
    experiment, _ = load_state(results / "logs" / STATE_FILE)
    completed = [t for t in experiment.trials.values() if t.status.name == "COMPLETED"]
    assert len(completed) == 8
    depths = set()
    for trial in completed:
        trial_dir = results / "logs" / "trials" / str(trial.index)
        params = trial.arm.parameters
        received = json.loads((trial_dir / "argv.json").read_text())
        assert received == expected_argv(trial_dir, params), (trial.index, params)
        assert len(list(trial_dir.glob("events.out.tfevents.*"))) == 1  # trained once
        depths.add(1 + params["layer_2"] + params.get("layer_3", False))
        assert set(params) <= {"width_1", "layer_2", "width_2", "layer_3", "width_3", "lr"}
        if not params["layer_2"]:
            assert "width_2" not in params and "layer_3" not in params
    assert len(depths) >= 2, depths  # trials of different depths ran


def test_the_table_leaves_inactive_cells_empty_and_the_report_shows_structures(layers_run):
    results, _ = layers_run
    df = pd.read_csv(results / "experiment.csv")
    shallow = df[df["layer_2"] == False]  # noqa: E712 (a column of bools)
    assert len(shallow) and shallow["width_2"].isna().all() and shallow["width_3"].isna().all()
    summary = json.loads((results / "run_summary.json").read_text())
    structures = {row["structure"]: row for row in summary["structures"]}
    assert sum(row["completed"] for row in structures.values()) == 8
    assert sum(row["pareto_optimal"] for row in structures.values()) == \
        len(summary["pareto_optimal_trials"])
    assert set(structures) <= {"layer_2=false", "layer_2=true, layer_3=false",
                               "layer_2=true, layer_3=true"}
    html = (results / "index.html").read_text()
    assert "Structures (the values of the parameters that switch others on)" in html
    assert "coloured by structure" in (results / "pareto_frontier.html").read_text()
    assert (results / "contour_accuracy.html").exists()  # over parameters every trial has


def test_the_mnist_layers_example_searches_2_trials_of_1_epoch(tmp_path, data_dir):
    """examples/mnist_layers: the tutorial's job with 1 to 3 hidden layers, its data
    prepared as the tutorial's is; each job's model has the layers its trial has."""
    from nas.metrics import read_final_scalars

    results = tmp_path / "r"
    proc = run_driver("--config", ROOT / "examples" / "mnist_layers" / "search.toml",
                      "--trials", 2, "--max-pending", 2, "--fix", "epochs=1", "--seed", 1,
                      "--data-dir", data_dir, "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(results / "experiment.csv")
    assert (df["trial_status"] == "COMPLETED").all() and len(df) == 2
    for _, row in df.iterrows():
        widths = [int(row[w]) for w in ("width_1", "width_2", "width_3") if pd.notna(row.get(w))]
        assert len(widths) == 1 + bool(row["layer_2"]) + (row.get("layer_3") is True)
        sizes = [784, *widths, 10]  # the tutorial's count: weights, no biases
        logged = read_final_scalars(results / "logs" / "trials" / str(int(row["trial_index"])))
        assert logged["num_params"] == sum(a * b for a, b in zip(sizes, sizes[1:]))
        assert row["val_acc"] == pytest.approx(logged["val_acc"])


def test_the_report_of_a_search_whose_trials_never_had_a_layer(tmp_path):
    """No completed trial has width_3 (no trial switched layer_3 on, as in a short search):
    Ax's contour has no value to hold width_3 at and raised KeyError, which ended run_nas.py
    with exit 1 after the last trial; the report now leaves the contours out."""
    import datetime as dt

    from ax.core import Arm, Data

    from nas.config import load_config
    from nas.orchestration import make_experiment
    from nas.report.writer import write_results

    config = load_config(ROOT / "examples" / "mnist_layers" / "search.toml")
    experiment = make_experiment(config)
    common = dict(learning_rate=1e-3, epochs=1, dropout=0.1, batch_size=64)
    arms = [dict(width_1=32, layer_2=False), dict(width_1=64, layer_2=False),
            dict(width_1=48, layer_2=True, width_2=32, layer_3=False)]
    rows = []
    for i, params in enumerate(arms):
        trial = experiment.new_trial()
        trial.add_arm(Arm(parameters={**params, **common}))
        trial.mark_running(no_runner_required=True)
        trial._time_run_started = dt.datetime(2026, 1, 1, 12, 0, i)
        rows += [dict(trial_index=i, arm_name=trial.arm.name, metric_name=name,
                      metric_signature=name, mean=value, sem=0.0)
                 for name, value in (("val_acc", 0.9 + i / 100), ("num_params", 30_000.0 + i))]
        trial.mark_completed()
    experiment.attach_data(Data(df=pd.DataFrame(rows)))
    files, summary = write_results(experiment, tmp_path, config)
    names = {p.name for p in files.values()}
    assert {"cv_diagnostics.json", "cross_validation.html", "index.html"} <= names
    assert not any(name.startswith("contour_") for name in names)
    assert {r["structure"] for r in json.loads((tmp_path / "run_summary.json").read_text())
            ["structures"]} == {"layer_2=false", "layer_2=true, layer_3=false"}
