"""Early stopping: options, Ax strategy decisions on made-up curves, and what the model
sees of partly trained trials (fast; the real search is in test_early_stopping_search.py)."""

import pandas as pd
import pytest
from ax.adapter.registry import Generators
from ax.core import Arm, Data
from ax.core.data_utils import DataLoaderConfig

from nas.early_stopping import EarlyStoppingSpecError, make_strategy, parse_spec
from nas.trial_data import MODEL_DATA, stopped_steps
from nas.orchestration import make_experiment
from nas.generation import make_generation_strategy
from nas.state.storage import StateStore, load_state
from conftest import save_snapshot, tutorial_config


def test_options():
    assert parse_spec("") == {"percentile": 50.0, "min_step": 1, "min_curves": 5}
    assert parse_spec("min_epoch=2")["min_step"] == 2  # the tutorial's word for a step
    assert parse_spec("threshold=0.9, min_curves=0")["threshold"] == 0.9
    for bad in ("percentile", "percentile=x", "speed=3", "percentile=100", "min_step=0"):
        with pytest.raises(EarlyStoppingSpecError, match="early_stopping") as error:
            parse_spec(bad)
        assert error.value.for_command_line().startswith("--early-stopping: ")


def curve_experiment(curves):
    """`curves`: {trial index: (status, planned epochs, [val_acc after epoch 1, 2, ...])}."""
    experiment = make_experiment(tutorial_config(), early_stopping=True)
    rows = []
    for i, (status, epochs, accs) in sorted(curves.items()):
        trial = experiment.new_trial()
        trial.add_arm(Arm(parameters=dict(hidden_size_1=16 + i, hidden_size_2=32,
                                          learning_rate=1e-3, epochs=epochs, dropout=0.1,
                                          batch_size=64)))
        trial.mark_running(no_runner_required=True)
        for epoch, acc in enumerate(accs, start=1):
            rows.append(dict(trial_index=i, arm_name=trial.arm.name, metric_name="val_acc",
                             metric_signature="val_acc", mean=acc, sem=float("nan"), step=epoch))
        if status != "RUNNING":
            rows.append(dict(trial_index=i, arm_name=trial.arm.name, metric_name="num_params",
                             metric_signature="num_params", mean=20_000.0 + i, sem=float("nan"),
                             step=0))
    experiment.attach_data(Data(df=pd.DataFrame(rows)))
    for i, (status, _, _) in curves.items():
        if status == "COMPLETED":
            experiment.trials[i].mark_completed()
        elif status == "EARLY_STOPPED":
            experiment.trials[i].mark_early_stopped()
    return experiment


COMPLETED = {i: ("COMPLETED", 3, [0.90 + i / 100, 0.93 + i / 100, 0.95 + i / 100])
             for i in range(5)}


def test_percentile_stops_a_poor_trial_at_the_same_epoch_but_not_a_finished_one():
    experiment = curve_experiment({
        **COMPLETED,
        5: ("RUNNING", 4, [0.80]),          # worst after epoch 1: stopped
        6: ("RUNNING", 4, [0.99]),          # best after epoch 1: runs on
        7: ("RUNNING", 1, [0.70]),          # worst, but it has trained its 1 epoch: done
        8: ("RUNNING", 4, [0.95, 0.90]),    # compared at epoch 2 with the epoch-2 values
    })
    strategy = make_strategy(experiment, parse_spec(""), "epochs")
    decisions = strategy.should_stop_trials_early({5, 6, 7, 8}, experiment)
    assert set(decisions) == {5, 8}
    # nothing new since: not decided again (the driver asks on every 0.25 s poll)
    assert strategy.should_stop_trials_early({6, 7}, experiment) == {}


def test_no_stopping_before_min_curves_trials_completed():
    experiment = curve_experiment({**{i: COMPLETED[i] for i in range(4)},
                                   4: ("RUNNING", 4, [0.50])})
    assert make_strategy(experiment, parse_spec(""), "epochs").should_stop_trials_early({4}, experiment) == {}
    assert set(make_strategy(experiment, parse_spec("min_curves=4"), "epochs")
               .should_stop_trials_early({4}, experiment)) == {4}


def test_threshold_strategy():
    experiment = curve_experiment({0: ("RUNNING", 2, [0.96]), 1: ("RUNNING", 2, [0.97])})
    strategy = make_strategy(experiment, parse_spec("threshold=0.965,min_curves=0"), "epochs")
    assert set(strategy.should_stop_trials_early({0, 1}, experiment)) == {0}


def training_trials(experiment, data_loader_config):
    """{trial index: val_acc} the BoTorch model of the search is fitted on."""
    adapter = Generators.BOTORCH_MODULAR(experiment=experiment, data=experiment.lookup_data(),
                                         data_loader_config=data_loader_config)
    obs = adapter.get_training_data().observation_data["mean"]["val_acc"].dropna()
    return {i: v for (i, *_), v in obs.items()}


def test_partly_trained_accuracy_is_not_modelled():
    experiment = curve_experiment({
        **COMPLETED,
        5: ("RUNNING", 4, [0.97]),
        6: ("EARLY_STOPPED", 4, [0.50]),
    })
    # Ax's default fits the running and early-stopped trials' last epoch as their result
    assert {5, 6} <= set(training_trials(experiment, DataLoaderConfig()))
    # the search's model: completed trials only, each by its accuracy after the last epoch
    gs = make_generation_strategy(experiment, total_trials=48, max_pending=4, seed=0)
    [config] = [spec.generator_kwargs["data_loader_config"] for node in gs._nodes
                for spec in node.generator_specs if "data_loader_config" in spec.generator_kwargs]
    assert config == MODEL_DATA
    got = training_trials(experiment, config)
    assert got == pytest.approx({i: COMPLETED[i][2][-1] for i in range(5)})


def test_saved_state_keeps_the_model_data_config_and_stopped_trials(tmp_path):
    experiment = curve_experiment({**COMPLETED, 5: ("EARLY_STOPPED", 4, [0.50, 0.6])})
    gs = make_generation_strategy(experiment, total_trials=48, max_pending=4, seed=0)
    save_snapshot(tmp_path / "state.json", experiment, gs)
    experiment, gs = load_state(tmp_path / "state.json")
    configs = [spec.generator_kwargs.get("data_loader_config") for node in gs._nodes
               for spec in node.generator_specs]
    assert MODEL_DATA in configs
    assert stopped_steps(experiment) == {5: 2}
    assert experiment.metrics["val_acc"].is_available_while_running()


@pytest.mark.parametrize("spec", ["speed=3", "percentile=150"])
def test_bad_early_stopping_option_exits_2_with_one_line(spec, tmp_path, capsys):
    import run_nas

    with pytest.raises(SystemExit) as e:
        run_nas.main(["--early-stopping", spec, "--results-dir", str(tmp_path)])
    assert e.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--early-stopping" in line


def test_early_stopping_flag(tmp_path):
    from nas.cli import parse_args

    assert parse_args(["--results-dir", str(tmp_path)]).options.early_stopping is None
    assert parse_args(["--early-stopping", "--results-dir", str(tmp_path)]).options.early_stopping == parse_spec("")
    args = parse_args(["--early-stopping", "threshold=0.99,min_curves=0", "--results-dir", str(tmp_path)])
    assert args.options.early_stopping["threshold"] == 0.99


def test_resume_kills_a_stopped_trials_job_that_outlived_the_driver(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from nas.jobs.processes import PID_FILE, is_running, stop_untracked_jobs

    experiment = curve_experiment({**COMPLETED, 5: ("EARLY_STOPPED", 4, [0.5])})
    log_dir = tmp_path / "trials" / "5"
    log_dir.mkdir(parents=True)
    # stands in for the job: a process whose command line holds its log dir
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(log_dir)],
                           start_new_session=True)
    try:
        (log_dir / PID_FILE).write_text(str(job.pid))
        # right after exec, /proc/<pid>/cmdline can still be empty
        while str(log_dir).encode() not in Path(f"/proc/{job.pid}/cmdline").read_bytes():
            time.sleep(0.05)
        assert stop_untracked_jobs(tmp_path / "trials", experiment) == [job.pid]
        assert job.wait(timeout=10) == -9 and not is_running(job.pid)
        assert log_dir.is_dir()  # its curve stays for the report
    finally:
        job.kill()


def test_comparison_reports_time_epochs_and_stopped_trials(tmp_path):
    """bench.compare with early stopping as a variant, from made-up run folders."""
    import datetime as dt

    from torch.utils.tensorboard import SummaryWriter

    from bench.compare import main

    t0 = dt.datetime(2026, 1, 1, 12, 0, 0)
    runs = {  # variant -> [(status, epochs in its log, HV after it, minutes after start)]
        "botorch": [("COMPLETED", 4, 100, 1.0), ("COMPLETED", 4, 300, 2.0)],
        "botorch-es": [("EARLY_STOPPED", 1, None, 0.5), ("COMPLETED", 4, 200, 1.5)],
    }
    for variant, trials in runs.items():
        folder = tmp_path / "runs" / f"{variant}-seed0"
        (folder / "logs" / "trials").mkdir(parents=True)
        (folder / "started_at.txt").write_text(t0.isoformat())
        (folder / "wall_seconds.txt").write_text("150\n")
        for i, (status, epochs, _, _) in enumerate(trials):
            with SummaryWriter(str(folder / "logs" / "trials" / str(i))) as w:
                for epoch in range(1, epochs + 1):
                    w.add_scalar("val_acc", 0.9, epoch)
        pd.DataFrame({"trial_index": [0, 1], "trial_status": [t[0] for t in trials]}).to_csv(
            folder / "experiment.csv", index=False)
        done = [(i, t) for i, t in enumerate(trials) if t[0] == "COMPLETED"]
        pd.DataFrame({
            "completed": range(1, len(done) + 1), "trial_index": [i for i, _ in done],
            "time_completed": [str(t0 + dt.timedelta(minutes=t[3])) for _, t in done],
            "hypervolume": [t[2] for _, t in done], "feasible": True,
        }).to_csv(folder / "hypervolume.csv", index=False)
    assert main(["--seeds", "1", "--trials", "2", "--report-only", "--variants",
                 "botorch,botorch-es", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("strategy")
    assert table.loc["botorch-es", "stopped"] == 1 and table.loc["botorch", "stopped"] == 0
    assert table.loc["botorch-es", "epochs_trained"] == 5
    assert table.loc["botorch", "epochs_trained"] == 8
    assert table.loc["botorch-es", "finished"] and table.loc["botorch-es", "final_hv"] == 200
    minutes = pd.read_csv(tmp_path / "hv_by_minute.csv")
    es = minutes[minutes["variant"] == "botorch-es"].set_index("minute")["hypervolume"]
    assert es[1.25] == 0 and es[1.5] == 200
    assert (tmp_path / "hv_vs_minute.png").stat().st_size > 5_000
    assert "botorch-es's hypervolume is higher than botorch's on 0 of 1 seeds" in (
        tmp_path / "summary.md").read_text()


def test_stopped_trials_in_console_table_and_curves():
    import io

    from nas.report.learning_curves import learning_curves_figure
    from nas.cli.progress import Progress
    from nas.report.summary import results_table

    experiment = curve_experiment({**COMPLETED, 5: ("EARLY_STOPPED", 4, [0.50, 0.6])})
    experiment.trials[5]._status_reason = "worse than the 50th percentile\n- Progressions: [2]"
    out = io.StringIO()
    Progress(8, experiment=experiment, stream=out, tty=False, last_step="epochs").update(experiment)
    lines = out.getvalue().splitlines()
    assert lines[0] == "  trial 5 EARLY_STOPPED after step 2 of 4: worse than the 50th percentile"
    assert "5/8 completed, 1 stopped early, 0 failed, 0 running" in lines[1]
    table = results_table(experiment).set_index("trial_index")
    assert table.loc[5, "trial_status"] == "EARLY_STOPPED"
    assert table.loc[5, "stopped_at_step"] == 2 and pd.isna(table.loc[0, "stopped_at_step"])
    fig = learning_curves_figure(experiment, last_step="epochs")
    stopped = [t for t in fig.data if t.line.dash == "dash"]
    assert [t.name for t in stopped] == ["trial 5: stopped after step 2 of 4"]
    assert list(stopped[0].x) == [1, 2] and len(fig.data) == 6


def test_initial_design_trials_are_not_stopped():
    """Ax moves from Sobol to BoTorch only once enough Sobol trials COMPLETED: stopping them
    would stall the search. With Sobol alone (--strategy sobol) they can be stopped."""
    from nas.early_stopping import stoppable

    for strategy, expected in (("botorch", False), ("sobol", True)):
        experiment = make_experiment(tutorial_config(), early_stopping=True)
        gs = make_generation_strategy(experiment, total_trials=8, max_pending=3, seed=0,
                                      strategy=strategy)
        [[run]] = gs.gen(experiment=experiment, n=1)
        trial = experiment.new_trial(generator_run=run)
        assert stoppable(trial, gs._curr) is expected
        assert stoppable(trial, None)  # no strategy given: any trial


def test_val_acc_is_read_while_running_only_with_early_stopping():
    """Without a strategy nothing reads a running trial's curve, and Ax would fetch it on
    every poll; a search saved without it can't be resumed
    with --early-stopping, and says so in one line."""
    from nas.orchestration import SearchMismatch, make_orchestrator, reads_curves_while_running

    plain = make_experiment(tutorial_config())
    assert not reads_curves_while_running(plain)
    assert reads_curves_while_running(make_experiment(tutorial_config(), early_stopping=True))
    gs = make_generation_strategy(plain, total_trials=8, max_pending=2, seed=0)
    with pytest.raises(SearchMismatch, match="started without early_stopping.*fresh=True") as e:
        make_orchestrator(plain, gs, max_pending=2, early_stopping=parse_spec(""))
    assert "started without --early-stopping" in e.value.for_command_line()
