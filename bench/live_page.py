"""What keeping the results page current costs the driver: one update (the results files
without the model fits, as nas/state/lifecycle.py's LivePage writes them after each trial
that ended) on a search of 48 and of 500 trials, against the driver's per-trial budget.

    python -m bench.live_page                  # prints the figures, writes results/live_page.json

The experiments are the tutorial's config with made-up results (no training): all trials
but 4 ended (every 12th failed, with a reason), 4 running, each ended trial with a
learning curve of 1 to 4 steps, as a real search's. An update runs in the driver while
every slot is busy (never while a launch is due), so what it costs is its own time: a
trial that ends meanwhile is noticed that much later.
"""

import argparse
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from ax.core import Arm, Data

from nas.config import DEFAULT_CONFIG, load_config
from nas.generation import GENERATION_THREADS
from nas.orchestration import make_experiment
from nas.report.summary import search_status
from nas.report.writer import write_results

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {48: 3.0, 500: 9.0}  # the driver's seconds per trial it may spend, by search size
RUNNING = 4
T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def made_up_search(config, trials, seed=0):
    """An experiment of `config` (the tutorial's) with `trials` trials and made-up results."""
    rng = random.Random(seed)
    experiment = make_experiment(config)
    rows = []
    for i in range(trials):
        params = dict(hidden_size_1=rng.randint(16, 128), hidden_size_2=rng.randint(16, 128),
                      learning_rate=10 ** rng.uniform(-4, -2), epochs=rng.randint(1, 4),
                      dropout=rng.uniform(0, 0.5), batch_size=rng.choice([32, 64, 128, 256]))
        trial = experiment.new_trial().add_arm(Arm(parameters=params))
        trial.mark_running(no_runner_required=True)
        trial._time_run_started = T0 + dt.timedelta(seconds=10 * i)
        if i >= trials - RUNNING:
            continue
        if i % 12 == 11:
            trial.mark_failed(reason=f"exit code 1: made-up failure of trial {i}")
            continue
        acc = rng.uniform(0.9, 0.98)
        for step in range(1, params["epochs"] + 1):
            rows.append(dict(trial_index=i, arm_name=trial.arm.name, metric_name="val_acc",
                             metric_signature="val_acc", sem=0.0, step=float(step),
                             mean=acc - 0.01 * (params["epochs"] - step)))
        h1, h2 = params["hidden_size_1"], params["hidden_size_2"]
        rows.append(dict(trial_index=i, arm_name=trial.arm.name, metric_name="num_params",
                         metric_signature="num_params", mean=784.0 * h1 + h1 * h2 + 10 * h2,
                         sem=0.0, step=0.0))
        trial.mark_completed()
        trial._time_completed = T0 + dt.timedelta(seconds=10 * i + 40)
    experiment.attach_data(Data(df=pd.DataFrame(rows)))
    return experiment


def update_seconds(experiment, config, out, repeats):
    """Seconds of each of `repeats` live updates (after one uncounted warm-up)."""
    info = {"strategy": "botorch", "seed": 0, "trials": len(experiment.trials),
            "driver": {"pid": 1, "host": "bench", "started": T0.isoformat()}}
    times = []
    for k in range(repeats + 1):
        start = time.perf_counter()
        write_results(experiment, out, config, run_info=info, models=False,
                      status=search_status(experiment, info, driver=info["driver"]))
        if k:
            times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "results" / "live_page.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(GENERATION_THREADS)  # as in the driver
    config = load_config(DEFAULT_CONFIG, {})
    figures, load = {}, [round(x, 2) for x in os.getloadavg()]
    for trials, budget in BUDGET.items():
        experiment = made_up_search(config, trials)
        with tempfile.TemporaryDirectory() as out:
            times = update_seconds(experiment, config, out, args.repeats)
        median = statistics.median(times)
        figures[trials] = {"median_seconds": round(median, 3), "max_seconds": round(max(times), 3),
                           "budget_seconds": budget, "share_of_budget": round(median / budget, 3)}
        print(f"{trials} trials: an update takes {median:.2f} s (median of {len(times)}; max "
              f"{max(times):.2f} s), {median / budget:.0%} of the driver's {budget:g} s a trial")
    from nas.report.provenance import provenance, versions

    Path(args.out).write_text(json.dumps({
        "what": __doc__.splitlines()[0], "command": "python -m bench.live_page",
        "updates": figures, "load_before": load,
        "load_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(),
        "versions": versions(), "provenance": provenance()}, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
