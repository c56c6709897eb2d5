"""The worked example (examples/spirals): a script that shares nothing with the tutorial's
job (plain PyTorch, dashed flags, TensorBoard tags with slashes, its own metric names),
searched from its own config with 2 real trials; and --check on it."""

import json
import re
import shutil

import pandas as pd
import pytest

from conftest import ROOT, run_driver

EXAMPLE = ROOT / "examples" / "spirals"
# the tutorial's names (its thresholds are numbers, which plot data may hold by chance)
TUTORIAL_WORDS = re.compile(r"val_acc|num_params|hidden_size|learning_rate|batch_size|mnist", re.I)


@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    """The example's search, small: 2 trials, 2 at a time; (results dir, finished process)."""
    results = tmp_path_factory.mktemp("spirals")
    proc = run_driver("--config", EXAMPLE / "search.toml", "--trials", 2, "--max-pending", 2,
                      "--seed", 0, "--results-dir", results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results, proc


def weights(width, depth):
    """The example's model: [Linear(width) -> activation] x depth -> Linear(2), biases too."""
    return (2 * width + width) + (depth - 1) * (width * width + width) + (width * 2 + 2)


def test_both_trials_complete_with_the_values_the_script_logged(example_run):
    results, _ = example_run
    df = pd.read_csv(results / "experiment.csv")
    assert len(df) == 2 and (df["trial_status"] == "COMPLETED").all()
    for _, row in df.iterrows():
        assert 0.3 < row["accuracy"] <= 1
        assert row["weights"] == weights(row["width"], row["depth"])
        assert row["activation"] in ("relu", "tanh") and 1e-6 <= row["weight-decay"] <= 1e-2


def without_provenance(text):
    """A results file's text without its provenance record (which lists changed files)."""
    text = re.sub(r'<meta name="provenance" content="[^"]*">', "", text)
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data.pop("provenance", None)
        data.get("config", {}).pop("path", None)
        text = json.dumps(data)
    return text


def test_every_results_file_names_its_metrics_and_parameters_none_of_the_tutorials(example_run):
    results, proc = example_run
    columns = pd.read_csv(results / "experiment.csv").columns
    for name in ("width", "depth", "lr", "weight-decay", "activation", "accuracy", "weights"):
        assert name in columns
    files = [p for p in results.iterdir() if p.is_file() and p.suffix in (".csv", ".html", ".json")
             and p.name != "provenance.json"]  # the record of the code, with its file names
    assert {"contour_accuracy.html", "contour_weights.html", "learning_curves.html"} <= {
        p.name for p in files}
    for path in files:
        assert not TUTORIAL_WORDS.search(without_provenance(path.read_text())), path.name
    assert not TUTORIAL_WORDS.search(proc.stdout)
    summary = json.loads((results / "run_summary.json").read_text())
    assert [o["name"] for o in summary["objectives"]] == ["accuracy", "weights"]
    assert summary["name"] == "spirals"
    best = summary["best_of_first_objective_within_thresholds"]
    if best:
        assert best["metric"] == "accuracy" and best["weights"] <= 2000
    html = (results / "index.html").read_text()
    assert "<title>spirals: NAS report</title>" in html
    assert "accuracy 0.8 (maximized), weights 2,000 (minimized)" in html
    assert "start cold" not in proc.stdout  # the script has main(argv): its jobs forked warm


def test_check_passes_the_right_tags_and_names_a_wrong_one(tmp_path, main_in_process):
    code, out, err = main_in_process("--config", EXAMPLE / "search.toml", "--check",
                                     "--results-dir", tmp_path / "right")
    assert code == 0, out + err
    assert re.search(r"ok +accuracy: tag 'eval/accuracy' = 0\.\d+", out)
    assert re.search(r"ok +weights: tag 'model/weights' = \d+", out)
    assert not (tmp_path / "right" / "logs" / "search_state.json").exists()  # not a search

    copy = tmp_path / "spirals"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    config = copy / "search.toml"
    config.write_text(config.read_text().replace('tag = "eval/accuracy"', 'tag = "val/acc"'))
    code, out, err = main_in_process("--config", config, "--check",
                                     "--results-dir", tmp_path / "wrong")
    assert code != 0
    (line,) = [l for l in out.splitlines() if "MISSING" in l]
    assert "accuracy: tag 'val/acc' not in the trial's TensorBoard log" in line
    assert ("and its subfolders: the log dir itself holds 'eval/accuracy', 'model/latency_us', "
            "'model/weights', 'train/loss'") in line
    assert "ok       weights" in out
    assert not (tmp_path / "wrong" / "logs" / "search_state.json").exists()


def script_config(folder, name, code):
    """NAME.py holding `code` and NAME.toml, a 2-trial search of it over one float x."""
    (folder / f"{name}.py").write_text(code)
    config = folder / f"{name}.toml"
    config.write_text(f'[trial]\nscript = "{name}.py"\n[search]\ntrials = 2\n[parameters]\n'
                      'x = { parameter_type = "float", bounds = [0.0, 1.0] }\n'
                      '[optimization]\nobjective = "a, -b"\n')
    return config


def test_a_failing_script_is_reported_by_check(tmp_path, main_in_process):
    config = script_config(tmp_path, "crash", 'import sys\nsys.exit("boom: no GPU here")\n')
    code, out, _ = main_in_process("--config", config, "--check", "--results-dir", tmp_path / "r")
    assert code != 0
    (line,) = [l for l in out.splitlines() if "FAILED" in l]
    assert "exit code 1" in line and "boom: no GPU here" in line


def test_a_script_without_main_starts_cold_and_says_so_once(tmp_path, caplog):
    from nas.config import load_config
    from nas.jobs.warm_start import why_not_warm
    from nas.state.lifecycle import start_warm_server

    config = script_config(tmp_path, "plain", "print('no main here')\n")
    with caplog.at_level("INFO", logger="nas"):
        assert start_warm_server("local_cwd", load_config(config).script, tmp_path / "trials") is None
    assert caplog.messages == ["note: plain.py has no top-level main(argv) function: its "
                               "trials start cold, each importing its libraries itself"]
    assert why_not_warm(ROOT / "mnist_train_nas.py") is None
    assert why_not_warm(EXAMPLE / "train.py") is None
