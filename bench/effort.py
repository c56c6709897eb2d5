"""What a benchmark run spent, and what it had reached when: for bench.compare.

Early stopping trades finished trials for time, so the comparison also looks at
- the hypervolume reached after each wall-clock minute of the run (from the time each
  completed trial ended, hypervolume.csv, and the run's start, STARTED_FILE);
- the training epochs really spent: the last val_acc step in each trial's log
  (RESULTS/logs/trials/N), stopped and failed trials included;
- how many trials were stopped early (experiment.csv).
"""

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd

STARTED_FILE = "started_at.txt"  # the run's start, ISO local time (as Ax's time_completed)
MINUTE_STEP = 0.25  # resolution of the HV-vs-minutes curve


def mark_start(folder):
    (Path(folder) / STARTED_FILE).write_text(dt.datetime.now().isoformat() + "\n")


def run_effort(folder):
    """{"stopped": trials EARLY_STOPPED, "epochs_trained": epochs in the trials' logs}."""
    from nas.metrics import trial_log

    folder = Path(folder)
    table = pd.read_csv(folder / "experiment.csv")
    stopped = int((table["trial_status"] == "EARLY_STOPPED").sum())
    epochs = 0
    trials = folder / "logs" / "trials"
    for log_dir in (trials.iterdir() if trials.is_dir() else []):
        if log_dir.name.isdigit():
            try:
                curve = trial_log(log_dir).curves().get("val_acc", [])
            except FileNotFoundError:  # the trial logged nothing
                curve = []
            epochs += int(max((step for step, _ in curve), default=0))
    return {"stopped": stopped, "epochs_trained": epochs}


def hv_by_minute(folder, minutes):
    """The hypervolume reached by each of `minutes` since the run started (NaN: no start
    recorded)."""
    folder = Path(folder)
    started = folder / STARTED_FILE
    if not started.exists():
        return np.full(len(minutes), np.nan)
    t0 = dt.datetime.fromisoformat(started.read_text().strip())
    hv = pd.read_csv(folder / "hypervolume.csv")
    at = [(dt.datetime.fromisoformat(str(t)) - t0).total_seconds() / 60
          for t in hv.get("time_completed", [])]
    curve = np.zeros(len(minutes))
    for minute, value in sorted(zip(at, hv["hypervolume"])):
        curve[np.asarray(minutes) >= minute] = value
    return curve


def minute_grid(wall_seconds):
    """0, MINUTE_STEP, ... up to the longest run."""
    longest = max([s for s in wall_seconds if not math.isnan(s)], default=60.0) / 60
    return np.arange(0, longest + MINUTE_STEP, MINUTE_STEP)


def band_plot(stats, group, x, xlabel, title, path, colors):
    """`stats` (columns group, x, median, min, max): per group a median line and a
    min..max band, as a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for name, s in stats.groupby(group, sort=False):
        color = colors.get(name)
        ax.fill_between(s[x], s["min"], s["max"], step="post", alpha=0.2, color=color,
                        label=f"{name}: min..max over seeds")
        ax.step(s[x], s["median"], where="post", color=color, lw=2.5, label=f"{name}: median")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("hypervolume (val_acc x num_params)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_minutes(out, table, write, run_dir, colors):
    """HV reached after each wall-clock minute, per run (`table`: bench.compare's, the
    run folders at run_dir(out, variant, seed)): OUT/hv_by_minute.csv, OUT/hv_vs_minute.png,
    and markdown lines: the median per variant at 1/4, 1/2, 3/4 and all of the longest run."""
    minutes = minute_grid(table["wall_seconds"])
    rows = []
    for r in table.itertuples():
        curve = hv_by_minute(run_dir(out, r.strategy, r.seed), minutes)
        rows += [{"variant": r.strategy, "seed": r.seed, "minute": m, "hypervolume": hv}
                 for m, hv in zip(minutes, curve)]
    traces = pd.DataFrame(rows).dropna(subset=["hypervolume"])
    write(out / "hv_by_minute.csv", traces.to_csv(index=False))
    if traces.empty:
        return []
    title = "Hypervolume reached vs wall-clock minutes"
    stats = (traces.groupby(["variant", "minute"])["hypervolume"]
             .agg(["median", "min", "max"]).reset_index())
    band_plot(stats, "variant", "minute", "wall-clock minutes since the run started", title,
              out / "hv_vs_minute.png", colors)
    marks = [minutes[int(round(f * (len(minutes) - 1)))] for f in (0.25, 0.5, 0.75, 1.0)]
    median = (traces[traces["minute"].isin(marks)]
              .pivot_table(index="variant", columns="minute", values="hypervolume",
                           aggfunc="median"))
    median.columns = [f"HV after {m:g} min" for m in median.columns]
    return [f"{title} (median over the seeds; plot: hv_vs_minute.png):", "",
            median.to_markdown(floatfmt=",.0f"), ""]
