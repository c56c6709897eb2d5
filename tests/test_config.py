"""The search config file (nas/config.py): its values reach Ax's objects, Ax does the
parsing, and a bad file is refused before anything starts: exit 2, one line naming the
file and the problem, nothing written."""

import math
import textwrap

import pytest
from ax.core import ChoiceParameter, FixedParameter, ParameterType, RangeParameter

import run_nas
from conftest import ROOT, run_driver, tutorial_config
from nas.config import DEFAULT_CONFIG, ConfigError, load_config
from nas.optimization import make_optimization_config
from nas.orchestration import make_experiment
from nas.search_space import make_search_space

GOOD = """
name = "toy"
[trial]
script = "train.py"
args = ["--log-path", "{log_dir}", "--data-dir", "{data_dir}"]
[search]
trials = 6
max_pending = 3
[parameters]
lr = { parameter_type = "float", bounds = [1e-4, 1e-2], scaling = "log" }
width = { parameter_type = "int", bounds = [16, 128], scaling = "log" }
batch-size = { parameter_type = "int", values = [32, 64, 128, 256], is_ordered = true }
"opt.name" = { parameter_type = "str", values = ["adam", "sgd"], is_ordered = false }
[optimization]
objective = "accuracy, -params"
outcome_constraints = ["accuracy >= 0.94", "params <= 80000", "latency <= 5"]
[metrics]
accuracy = { tag = "val/acc" }
"""


def write_config(folder, text=GOOD, script=True):
    if script:
        (folder / "train.py").write_text("def main(argv=None):\n    pass\n")
    path = folder / "search.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_files_values_reach_ax(tmp_path):
    config = load_config(write_config(tmp_path))
    space = make_search_space(config).parameters
    assert list(space) == ["lr", "width", "batch-size", "opt.name"]  # the file's order
    lr, width, batch, opt = space.values()
    assert isinstance(lr, RangeParameter) and (lr.lower, lr.upper, lr.log_scale) == (1e-4, 1e-2, True)
    assert lr.parameter_type == ParameterType.FLOAT
    assert isinstance(width, RangeParameter) and width.parameter_type == ParameterType.INT
    assert isinstance(batch, ChoiceParameter) and batch.is_ordered and batch.values == [32, 64, 128, 256]
    assert opt.parameter_type == ParameterType.STRING and opt.values == ["adam", "sgd"]
    optimization = make_optimization_config(config)
    assert optimization.objective.metric_names == ["accuracy", "params"]
    assert [w for _, w in optimization.objective.metric_weights] == [1.0, -1.0]
    thresholds = {t.metric_names[0]: (t.op.name, t.bound) for t in optimization.objective_thresholds}
    assert thresholds == {"accuracy": ("GEQ", 0.94), "params": ("LEQ", 80000.0)}
    assert [str(c) for c in optimization.outcome_constraints] == ["OutcomeConstraint(latency <= 5)"]
    assert config.trials == 6 and config.max_pending == 3 and config.name == "toy"
    assert config.script == tmp_path / "train.py"


def test_metrics_read_their_tags_in_the_objectives_direction(tmp_path):
    experiment = make_experiment(load_config(write_config(tmp_path)))
    metrics = experiment.metrics
    assert list(metrics) == ["accuracy", "params", "latency"]
    assert (metrics["accuracy"].tag, metrics["accuracy"].lower_is_better) == ("val/acc", False)
    assert (metrics["params"].tag, metrics["params"].lower_is_better) == ("params", True)
    assert experiment.name == "toy"


def test_the_tutorials_search_is_the_shipped_file():
    config = tutorial_config()
    assert config.path == DEFAULT_CONFIG and DEFAULT_CONFIG.parent == ROOT / "nas"
    assert config.script == ROOT / "mnist_train_nas.py"
    space = make_search_space(config).parameters
    assert list(space) == ["hidden_size_1", "hidden_size_2", "learning_rate", "epochs",
                           "dropout", "batch_size"]
    assert (space["epochs"].lower, space["epochs"].upper) == (1, 4)
    thresholds = {t.metric_names[0]: t.bound
                  for t in make_optimization_config(config).objective_thresholds}
    assert thresholds == {"val_acc": 0.94, "num_params": 80000}


def test_fix_pins_a_parameter_to_one_value(tmp_path):
    config = load_config(write_config(tmp_path), {"width": "32", "batch-size": "64"})
    space = make_search_space(config).parameters
    assert isinstance(space["width"], FixedParameter) and space["width"].value == 32
    assert space["batch-size"].value == 64 and config.fixed == {"width": 32, "batch-size": 64}
    assert config.fingerprint() != load_config(tmp_path / "search.toml").fingerprint()
    with pytest.raises(ConfigError, match="fix depth=3: no parameter 'depth'.*width"):
        load_config(tmp_path / "search.toml", {"depth": "3"})
    with pytest.raises(ConfigError, match=r"fix width=wide: width takes integers in \[16, 128\]"):
        load_config(tmp_path / "search.toml", {"width": "wide"})



@pytest.mark.parametrize("fix, allowed", [
    ("epochs=0", "epochs takes integers in [1, 4]"),
    ("epochs=1.5", "epochs takes integers in [1, 4]"),
    ("batch_size=33", "batch_size takes one of 32, 64, 128, 256"),
    ("dropout=-1", "dropout takes numbers in [0.0, 0.5]"),
    ("learning_rate=fast", "learning_rate takes numbers in [0.0001, 0.01]"),
])
def test_fix_outside_the_space_is_refused_before_anything_starts(tmp_path, main_in_process, fix,
                                                                   allowed):
    results = tmp_path / "r"
    code, out, err = main_in_process("--fix", fix, "--trials", 2, "--results-dir", results)
    assert code == 2 and out == ""
    assert err == f"run_nas.py: error: --fix {fix}: {allowed} ({DEFAULT_CONFIG})\n"
    assert not results.exists()


def test_fix_outside_the_space_is_refused_on_a_resume(tmp_path, main_in_process):
    """A saved search resumed with a bad --fix: refused as on a new one, the state untouched."""
    from nas.state.storage import STATE_FILE

    state = tmp_path / "r" / "logs" / STATE_FILE
    state.parent.mkdir(parents=True)
    state.write_text("{}")  # never read: the config is checked first
    code, _, err = main_in_process("--fix", "epochs=9", "--results-dir", tmp_path / "r")
    assert code == 2 and "--fix epochs=9: epochs takes integers in [1, 4]" in err
    assert state.read_text() == "{}"


BAD = [  # (change to GOOD, words the one line must hold)
    (("[search]", "[search\n"), ["not valid TOML", "line"]),
    (("trials = 6", "trails = 6"), ["unknown key 'trails' in [search]", "did you mean 'trials'"]),
    (("scaling = \"log\" }\nwidth", "scale = \"log\" }\nwidth"),
     ["unknown key 'scale' in parameter 'lr'", "did you mean 'scaling'"]),
    (("bounds = [16, 128]", "bounds = [128, 16]"), ["parameter 'width'", "strictly larger"]),
    (("bounds = [1e-4, 1e-2]", "bounds = [0.0, 1e-2]"), ["parameter 'lr'", "log"]),
    (('values = ["adam", "sgd"]', "values = []"), ["parameter 'opt.name'", "ChoiceParameter"]),
    (('objective = "accuracy, -params"', 'objective = "accuracy,, -params"'),
     ["objective 'accuracy,, -params'", "Ax cannot parse"]),
    (('"latency <= 5"', '"latency <= "'), ["outcome constraint 'latency <= '", "Ax cannot parse"]),
    (('script = "train.py"', 'script = "nope.py"'), ["script 'nope.py' not found"]),
    (('"{data_dir}"', '"{datadir}"'), ["unknown placeholder {datadir}", "{data_dir}"]),
    (('objective = "accuracy, -params"', 'objective = "accuracy"'), ["single objective"]),
    (("width = {", "job_settings = {"), ["parameter name 'job_settings' is reserved"]),
    (('accuracy = { tag = "val/acc" }', 'acuracy = { tag = "val/acc" }'),
     ["[metrics] 'acuracy'", "did you mean 'accuracy'"]),
]


@pytest.mark.parametrize("change, words", BAD, ids=[w[0] for _, w in BAD])
def test_a_bad_config_exits_2_with_one_line_and_writes_nothing(change, words, tmp_path, capsys):
    folder = tmp_path / "search"
    folder.mkdir()
    path = write_config(folder, GOOD.replace(*change))
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as stop:
        run_nas.main(["--config", str(path), "--results-dir", str(tmp_path / "results")])
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(path) in line and "Traceback" not in line
    for word in words:
        assert word in line
    assert sorted(tmp_path.rglob("*")) == before  # no results or log dir, no lock file


def test_the_command_line_says_it_the_same_way(tmp_path):
    path = write_config(tmp_path, GOOD.replace("bounds = [16, 128]", "bounds = [128, 16]"))
    proc = run_driver("--config", path, "--results-dir", tmp_path / "results", timeout=120)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("run_nas.py: error: ") and "strictly larger" in line
    assert not (tmp_path / "results").exists()


def test_a_config_without_a_trial_budget_needs_trials(tmp_path, capsys):
    path = write_config(tmp_path, GOOD.replace("trials = 6\n", ""))
    with pytest.raises(SystemExit):
        run_nas.main(["--config", str(path), "--results-dir", str(tmp_path / "r")])
    assert "no trial budget" in capsys.readouterr().err
    from nas.cli import parse_args

    assert parse_args(["--config", str(path), "--trials", "3",
                       "--results-dir", str(tmp_path / "r")]).options.trials == 3
