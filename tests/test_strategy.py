"""--strategy sobol|botorch: the baseline and Ax's default, same budget and settings."""

import pytest

from conftest import tutorial_config
from nas.cli import parse_args
from nas.orchestration import make_experiment
from nas.generation import make_generation_strategy, strategy_of


def test_flag_defaults_to_botorch_and_accepts_sobol(tmp_path):
    assert parse_args(["--results-dir", str(tmp_path)]).options.strategy == "botorch"
    assert parse_args(["--strategy", "sobol", "--results-dir", str(tmp_path)]).options.strategy == "sobol"


def test_bad_strategy_exits_2_with_one_line(tmp_path, main_in_process):
    code, _, err = main_in_process("--strategy", "random", "--results-dir", tmp_path / "r")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--strategy" in err


@pytest.mark.parametrize("strategy", ["botorch", "sobol"])
def test_generation_strategy(strategy):
    experiment = make_experiment(tutorial_config())
    gs = make_generation_strategy(experiment, 48, 4, seed=0, strategy=strategy)
    assert strategy_of(gs) == strategy
    keys = [spec.generator_key for node in gs.nodes_by_name.values() for spec in node.generator_specs]
    assert keys[0] == "Sobol"  # both start with the same quasi-random points
    assert ("BoTorch" in keys) == (strategy == "botorch"), keys


def test_same_seed_same_first_points():
    """Everything else equal: with one seed both strategies begin at the same configurations."""
    points = {}
    for strategy in ("botorch", "sobol"):
        experiment = make_experiment(tutorial_config())
        gs = make_generation_strategy(experiment, 48, 4, seed=3, strategy=strategy)
        # Ax 1.3: one list of generator runs per trial
        runs = gs.gen(experiment=experiment, n=4)
        points[strategy] = [arm.parameters for trial in runs for run in trial for arm in run.arms]
    assert len(points["sobol"]) == 4
    assert points["botorch"] == points["sobol"]
