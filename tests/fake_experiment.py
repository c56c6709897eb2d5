"""A real Ax experiment of the tutorial's config with made-up results, for fast tests."""

import datetime as dt

import pandas as pd
from ax.api.utils.instantiation.from_string import optimization_config_from_string
from ax.core import Arm, Data

from conftest import tutorial_config
from nas.orchestration import make_experiment

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def fake_experiment(results, failed=(), running=(), config=None, thresholds=True):
    """`results`: [(trial_index, val_acc, num_params, completed_after_seconds)].
    Trials listed in `failed` fail, those in `running` stay running. `thresholds`: False
    drops the objective thresholds (a config without constraints on its objectives)."""
    experiment = make_experiment(config or tutorial_config())
    if not thresholds:
        experiment.optimization_config = optimization_config_from_string("val_acc, -num_params")
    indices = sorted({r[0] for r in results} | set(failed) | set(running))
    rows = []
    for i in indices:
        trial = experiment.new_trial()
        trial.add_arm(Arm(parameters=dict(hidden_size_1=16 + i, hidden_size_2=32, learning_rate=1e-3,
                                          epochs=1, dropout=0.1, batch_size=64)))
        trial.mark_running(no_runner_required=True)
        trial._time_run_started = T0
    for i, acc, params, seconds in results:
        trial = experiment.trials[i]
        for name, value in (("val_acc", acc), ("num_params", params)):
            rows.append(dict(trial_index=i, arm_name=trial.arm.name, metric_name=name,
                             metric_signature=name, mean=float(value), sem=0.0))
        trial.mark_completed()
        trial._time_completed = T0 + dt.timedelta(seconds=seconds)
    for i in failed:
        experiment.trials[i].mark_failed(reason=f"exit code 1: boom {i}")
    if rows:
        experiment.attach_data(Data(df=pd.DataFrame(rows)))
    return experiment
