import math

import pytest
from ax.core import Arm
from ax.metrics.tensorboard import RUN_METADATA_KEY
from torch.utils.tensorboard import SummaryWriter

from conftest import tutorial_config
from nas.metrics import read_final_scalars, trial_log
from nas.orchestration import make_experiment


def trial_with_log(log_dir, curves_while_running=True):
    exp = make_experiment(tutorial_config(), early_stopping=curves_while_running)
    trial = exp.new_trial().add_arm(Arm(parameters=dict(
        hidden_size_1=32, hidden_size_2=32, learning_rate=0.001, epochs=1, dropout=0.1,
        batch_size=32)))
    trial.update_run_metadata({RUN_METADATA_KEY: str(log_dir)})
    return exp, trial


def write_scalars(log_dir, values):
    with SummaryWriter(str(log_dir)) as w:
        for tag, value in values.items():
            w.add_scalar(tag, value, 0)


def test_metrics_read_the_trial_log(tmp_path):
    write_scalars(tmp_path, {"val_acc": 0.9731, "num_params": 52_000, "train_time": 3.0})
    exp, trial = trial_with_log(tmp_path)
    got = {}
    for metric in exp.metrics.values():
        df = metric.fetch_trial_data(trial).unwrap().df
        got[metric.name] = float(df["mean"].iloc[-1])
    assert got["val_acc"] == pytest.approx(0.9731, abs=1e-6)
    assert got["num_params"] == 52_000
    assert read_final_scalars(tmp_path)["val_acc"] == pytest.approx(0.9731, abs=1e-6)


def test_missing_log_is_an_error_not_a_value(tmp_path):
    exp, trial = trial_with_log(tmp_path / "nothing-here")
    result = exp.metrics["val_acc"].fetch_trial_data(trial)
    assert result.is_err()
    assert "no TensorBoard event file" in str(result.unwrap_err().exception)


def test_corrupt_event_file_yields_no_values(tmp_path):
    (tmp_path / "events.out.tfevents.123.host").write_bytes(b"\x00garbage" * 50)
    assert not math.isfinite(read_final_scalars(tmp_path).get("val_acc", math.nan))


def write_curve(writer, accs, first_epoch=1):
    """The job's per-epoch log: val_acc at step = epoch, flushed at once."""
    for epoch, acc in enumerate(accs, start=first_epoch):
        writer.add_scalar("val_acc", acc, epoch)
        writer.add_scalar("train_loss", 1.0 / epoch, epoch)
    writer.flush()


def test_val_acc_is_a_curve_read_while_the_trial_runs(tmp_path):
    exp, trial = trial_with_log(tmp_path)
    metric = exp.metrics["val_acc"]
    assert metric.is_available_while_running()
    assert not exp.metrics["num_params"].is_available_while_running()
    plain, _ = trial_with_log(tmp_path, curves_while_running=False)  # without --early-stopping
    assert not plain.metrics["val_acc"].is_available_while_running()
    with SummaryWriter(str(tmp_path)) as w:
        write_curve(w, [0.90])
        df = metric.fetch_trial_data(trial).unwrap().full_df
        assert df["step"].tolist() == [1] and df["mean"].tolist() == pytest.approx([0.90])
        write_curve(w, [0.93, 0.95], first_epoch=2)
        df = metric.fetch_trial_data(trial).unwrap().full_df
        assert df["step"].tolist() == [1, 2, 3]
        assert df["mean"].tolist() == pytest.approx([0.90, 0.93, 0.95])
        w.add_scalar("num_params", 52_000, 0)
    # the objective is the accuracy after the last epoch
    data = metric.fetch_trial_data(trial).unwrap()
    assert data.df["mean"].tolist() == pytest.approx([0.95])
    assert read_final_scalars(tmp_path)["val_acc"] == pytest.approx(0.95)


def test_an_unchanged_log_is_not_parsed_again(tmp_path):
    exp, trial = trial_with_log(tmp_path)
    metric = exp.metrics["val_acc"]
    log = trial_log(tmp_path)
    with SummaryWriter(str(tmp_path)) as w:
        write_curve(w, [0.90])
        metric.fetch_trial_data(trial).unwrap()
        parsed = log.reloads
        for _ in range(3):  # the driver's next polls
            assert len(metric.fetch_trial_data(trial).unwrap().full_df) == 1
        assert log.reloads == parsed
        write_curve(w, [0.93], first_epoch=2)
        assert len(metric.fetch_trial_data(trial).unwrap().full_df) == 2
        assert log.reloads == parsed + 1


def test_a_replaced_log_is_read_anew(tmp_path):
    """A trial's log dir moved aside and written again (a re-run trial index)."""
    with SummaryWriter(str(tmp_path / "t")) as w:
        write_curve(w, [0.90, 0.91])
    assert [s for s, _ in trial_log(tmp_path / "t").curves()["val_acc"]] == [1, 2]
    (tmp_path / "t").rename(tmp_path / "t.stale")
    with SummaryWriter(str(tmp_path / "t")) as w:
        write_curve(w, [0.50])
    assert trial_log(tmp_path / "t").curves()["val_acc"] == [(1, pytest.approx(0.50))]


def test_event_files_in_subfolders_are_read(tmp_path):
    """Lightning's TensorBoardLogger(save_dir=LOG_DIR) writes LOG_DIR/lightning_logs/version_0/;
    a SummaryWriter per purpose writes LOG_DIR/train/ and LOG_DIR/val/: all of it is read."""
    write_scalars(tmp_path / "a" / "lightning_logs" / "version_0", {"val_acc": 0.97, "num_params": 52_000})
    exp, trial = trial_with_log(tmp_path / "a")
    assert exp.metrics["val_acc"].fetch_trial_data(trial).unwrap().df["mean"].tolist() == \
        pytest.approx([0.97])
    assert trial_log(tmp_path / "a").sources() == {"val_acc": "lightning_logs/version_0",
                                                   "num_params": "lightning_logs/version_0"}
    with SummaryWriter(str(tmp_path / "b" / "train")) as train, \
            SummaryWriter(str(tmp_path / "b" / "val")) as val:  # open side by side
        train.add_scalar("train_loss", 0.3, 1)
        val.add_scalar("val_acc", 0.91, 1)
        train.add_scalar("num_params", 1000, 1)
    assert read_final_scalars(tmp_path / "b") == pytest.approx(
        {"train_loss": 0.3, "val_acc": 0.91, "num_params": 1000})


def test_an_earlier_attempt_is_superseded_not_mixed_in(tmp_path):
    """version_0 crashed after one epoch, version_1 ran anew: its values only, never the
    mean of both at a step (what Ax does with two runs of a tag); a tag the later attempt
    lacks is missing, not taken from the earlier one."""
    runs = tmp_path / "t" / "lightning_logs"
    with SummaryWriter(str(runs / "version_0")) as w:  # ended long before version_1 began
        w.add_scalar("val_acc", 0.50, 1, walltime=1000.0)
        w.add_scalar("num_params", 9_999, 1, walltime=1000.0)
    with SummaryWriter(str(runs / "version_1")) as w:
        write_curve(w, [0.90, 0.93])
    exp, trial = trial_with_log(tmp_path / "t")
    df = exp.metrics["val_acc"].fetch_trial_data(trial).unwrap().full_df
    assert df["step"].tolist() == [1, 2] and df["mean"].tolist() == pytest.approx([0.90, 0.93])
    values = read_final_scalars(tmp_path / "t")
    assert values["val_acc"] == pytest.approx(0.93) and "num_params" not in values
    assert exp.metrics["num_params"].fetch_trial_data(trial).is_err()
    from nas.runner import missing_metrics

    reason = missing_metrics(tmp_path / "t", exp.metrics.values())
    assert "logged no finite num_params" in reason
    assert ("lightning_logs/version_0 (an earlier run than lightning_logs/version_1: not read) "
            "holds 'num_params', 'val_acc'") in reason
    assert "lightning_logs/version_1 holds 'train_loss', 'val_acc'" in reason


def test_a_later_run_of_other_tags_adds_to_the_attempt(tmp_path):
    """trainer.test after trainer.fit: a second run that logs other tags is part of the
    same attempt, not a new one."""
    runs = tmp_path / "lightning_logs"
    with SummaryWriter(str(runs / "version_0")) as w:
        w.add_scalar("val_acc", 0.95, 1, walltime=1000.0)
    with SummaryWriter(str(runs / "version_1")) as w:
        w.add_scalar("num_params", 40_000, 0)
    assert read_final_scalars(tmp_path) == pytest.approx({"val_acc": 0.95, "num_params": 40_000})
    assert trial_log(tmp_path).superseded() == {}


def test_only_the_changed_run_is_parsed_again(tmp_path):
    with SummaryWriter(str(tmp_path / "train")) as train, \
            SummaryWriter(str(tmp_path / "val")) as val:
        train.add_scalar("train_loss", 0.5, 1)
        train.flush()
        write_curve(val, [0.9])
        log = trial_log(tmp_path)
        log.curves()
        parsed = log.reloads
        log.curves()
        assert log.reloads == parsed  # nothing changed: nothing parsed
        write_curve(val, [0.92], first_epoch=2)
        assert log.curves()["val_acc"][-1] == (2, pytest.approx(0.92))
        assert log.reloads == parsed + 1  # the one run that grew
