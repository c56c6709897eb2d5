"""nas/ax_compat.py against the installed Ax and TorchX: each use of a private name works
on real objects, or this test names the one an upgrade broke."""

import importlib.metadata

import pytest
from ax.core import Arm

from conftest import tutorial_config, tutorial_runner
from nas import ax_compat
from nas.generation import make_generation_strategy
from nas.orchestration import make_experiment


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A tutorial experiment with one generated trial and its data, and its strategy."""
    import pandas as pd
    from ax.core.data import Data

    runner = tutorial_runner(tmp_path_factory.mktemp("trials"))
    experiment = make_experiment(tutorial_config(), runner)
    strategy = make_generation_strategy(experiment, 4, 2, seed=0)
    trial = experiment.new_trial(generator_run=strategy.gen_single_trial(experiment))
    experiment.attach_data(Data(df=pd.DataFrame([
        {"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": name,
         "metric_signature": name, "mean": value, "sem": 0.0}
        for name, value in (("val_acc", 0.9), ("num_params", 1000.0))])))
    return experiment, strategy, trial


def broke(what, error):
    versions = {p: importlib.metadata.version(p) for p in ax_compat.CHECKED_WITH}
    return (f"nas/ax_compat.py: {what} no longer works with {versions} (checked with "
            f"{ax_compat.CHECKED_WITH}): {type(error).__name__}: {error}")


def test_experiment_and_trial_properties(search):
    experiment, _, trial = search
    try:
        properties = ax_compat.experiment_properties(experiment)
        properties["probe"] = 1
        assert ax_compat.experiment_properties(experiment)["probe"] == 1
        assert isinstance(ax_compat.trial_properties(trial), dict)
    except (AttributeError, TypeError) as e:
        pytest.fail(broke("experiment_properties / trial_properties", e))


def test_data_rows_generator_runs_and_node_names(search):
    experiment, strategy, trial = search
    try:
        rows = ax_compat.data_rows(experiment.lookup_data())
        runs = ax_compat.generator_runs(strategy)
        names = {ax_compat.generation_node_name(run) for run in trial.generator_runs}
    except AttributeError as e:
        pytest.fail(broke("data_rows / generator_runs / generation_node_name", e))
    assert {(r.metric_name, r.mean) for r in rows} == {("val_acc", 0.9), ("num_params", 1000.0)}
    assert runs and runs[-1] is trial.generator_runs[0]
    assert len(names) == 1 and "Sobol" in names.pop()


def test_the_torchx_runner_can_be_read_and_replaced(search):
    experiment, _, trial = search
    runner = experiment.runner
    try:
        original = ax_compat.torchx_runner(runner)
        assert hasattr(original, "run") and hasattr(original, "dryrun")
        ax_compat.set_torchx_runner(runner, "stand-in")
        assert ax_compat.torchx_runner(runner) == "stand-in"
        ax_compat.set_torchx_runner(runner, original)
    except AttributeError as e:
        pytest.fail(broke("torchx_runner / set_torchx_runner", e))
    info = runner.dryrun(trial)  # Ax's run submits through the replaced runner
    assert "mnist_train_nas.py" in str(info)


def test_metrics_read_through_event_reader(tmp_path, search):
    """Ax's TensorboardMetric still asks its private hook, which LogMetric answers."""
    from ax.metrics.tensorboard import RUN_METADATA_KEY
    from torch.utils.tensorboard import SummaryWriter

    experiment, _, _ = search
    with SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("val_acc", 0.97, 1)
    trial = experiment.new_trial().add_arm(Arm(parameters=dict(
        hidden_size_1=32, hidden_size_2=32, learning_rate=0.001, epochs=1, dropout=0.1,
        batch_size=32)))
    trial.update_run_metadata({RUN_METADATA_KEY: str(tmp_path)})
    result = experiment.metrics["val_acc"].fetch_trial_data(trial)
    assert result.is_ok(), broke("LogMetric's hook", result)
    assert result.unwrap().df["mean"].tolist() == pytest.approx([0.97])


def test_the_cv_plot_in_the_metrics_order(search):
    from ax.adapter.cross_validation import cross_validate
    from ax.adapter.registry import Generators

    experiment, strategy, _ = search
    for _ in range(2):  # a model needs a few completed trials
        trial = experiment.new_trial(generator_run=strategy.gen_single_trial(experiment))
        trial.mark_running(no_runner_required=True)
        import pandas as pd
        from ax.core.data import Data

        experiment.attach_data(Data(df=pd.DataFrame([
            {"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": name,
             "metric_signature": name, "mean": value + trial.index, "sem": 0.0}
            for name, value in (("val_acc", 0.9), ("num_params", 1000.0))])))
        trial.mark_completed()
    experiment.trials[0].mark_running(no_runner_required=True).mark_completed()
    cv = cross_validate(adapter=Generators.BOTORCH_MODULAR(experiment=experiment,
                                                           data=experiment.lookup_data()))
    try:
        fig = ax_compat.cv_dropdown_figure(cv, ["num_params", "val_acc"])
    except (ImportError, AttributeError, TypeError) as e:
        pytest.fail(broke("cv_dropdown_figure", e))
    labels = [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["num_params", "val_acc"]
