import math

import pytest
from ax.core import Arm, Experiment
from ax.metrics.tensorboard import RUN_METADATA_KEY
from torch.utils.tensorboard import SummaryWriter

from nas.metrics import make_metrics, read_final_scalars
from nas.search_space import make_search_space


def trial_with_log(log_dir):
    exp = Experiment(search_space=make_search_space(), metrics=make_metrics(), name="t")
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
