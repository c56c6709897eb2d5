"""bench.scale's figures of one run, from what it left in its folder: the probe's events
(bench/scale_probe.py) and the driver's hypervolume.csv.

- **Launches**: the driver's seconds between one `Orchestrator.run_trials` and the next,
  per category, are the cost of the trials that call started (divided among them when it
  started several). The first interval begins with the first generation (what comes before
  is startup: imports, [prepare], the warm-start server). After the last launch the driver
  only waits and polls: reported, not charged to a trial.
- **Per n**: n is the number of finished trials (completed, failed or stopped) when a
  trial was launched, the data its configuration was chosen from; a row per finished
  trial, with the mean cost of the trials launched at that n (none: empty) and the
  hypervolume after the n-th finished trial.
- **Utilization**: each trial is busy from Ax's time_run_started to its time_completed
  (the driver's clock: launch to the poll that saw it end); busy slot-seconds over slots x
  the wall time from the first trial's start to the last one's end. The same from the
  jobs' own clock (`job_utilization`: from the start to the end of the trial script's
  main, its trial_times.json) counts a job that ended but that the driver has not yet
  seen as idle, as its worker is; `detection_lag_s` is that wait. Beside them,
  `ideal_utilization`: what a driver that costs nothing would reach with the same trials
  (the jobs' own durations) started in the same order, each as soon as a slot is free;
  the gap to it is the driver's, the rest comes from the trials' spread in length at the
  search's end.
- **Busy training**: bench/busy.py's figure for a synthetic search: the jobs' own seconds
  (their trial_times.json, the simulated training) over slots x the search's span by
  Ax's times (the first launch to the last end the driver saw), the same fraction that
  bench.busy and bench.speed give of a real search.
- **Generation beside the loop** (a build that makes candidates in a thread,
  nas/candidates.py): its generations are not the main thread's, so they are not in the
  launches' costs (a slot that waits for one shows as "wait"); they come from the
  driver's logs/generation.jsonl instead: seconds per candidate made, per n (`beside_s`)
  and in the summary (`beside`). Startup then ends at the first of them.
- **Generation-bound from n**: slots free on average every (median trial length / slots)
  seconds; once making a candidate takes longer than that (the median of `beside_s`, or
  of `total_s` for a build that generates in its loop, over the last 5 n that have it),
  no driver can keep the slots full by making candidates ahead: hiding the generation's
  latency does not raise its throughput. The first such n (`generation_bound_from_n`), None if never.
- **Hypervolume fraction**: hypervolume.csv's hypervolume (reference point: the config's
  thresholds, DTLZ2's 1.1, 1.1) over BoTorch's DTLZ2(dim=6, num_objectives=2).max_hv.
"""

import heapq
import importlib.util
import json
import math
from pathlib import Path

import pandas as pd

EVENTS = "events.jsonl"
TRIAL_SCRIPT = Path(__file__).resolve().parent / "synthetic" / "trial.py"
TIMES_FILE = "trial_times.json"  # what trial.py writes in its log dir (its TIMES_FILE)
# the per-n table's cost columns: the probe's categories each sums (scale_probe.TARGETS)
COMPONENTS = {
    "fit_s": ("fit", "mll"),
    "acquisition_s": ("acquisition",),
    "generation_s": ("generation", "fit", "mll", "acquisition"),  # fit and acquisition included
    "save_s": ("save",),
    "poll_s": ("poll", "status", "fetch"),
    "launch_s": ("launch",),
    "rest_s": ("rest", "progress", "model_outside_generation"),
}
COST = ("generation_s", "save_s", "poll_s", "launch_s", "rest_s")  # disjoint: their sum
IDLE = {"wait_s": ("wait",)}  # sleeping until a trial ends: not a cost
FINISHED = ("COMPLETED", "FAILED", "EARLY_STOPPED")
LOG_DIR = Path("results") / "logs"  # the driver's --results-dir is the run's results/


def read_events(folder: Path) -> list[dict]:
    path = Path(folder) / EVENTS
    if not path.exists():
        raise FileNotFoundError(f"{path}: no events (the probe never started)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def components(totals: dict) -> dict:
    """Seconds per table column from seconds per probe category."""
    columns = {**COMPONENTS, **IDLE}
    return {col: sum(totals.get(c, 0.0) for c in cats) for col, cats in columns.items()}


def launches(events: list[dict]) -> pd.DataFrame:
    """One row per run_trials call that started trials: its trials, the finished and
    completed trials then, and the driver's seconds per column since the previous one."""
    previous = next((e["totals"] for e in events if e["kind"] == "startup"), {})
    node, rows = None, []
    for e in events:
        if e["kind"] == "gen":
            node = e.get("node")
        if e["kind"] != "launch" or not e["trials"]:
            continue  # a call that started nothing: its time goes to the next one
        delta = {k: v - previous.get(k, 0.0) for k, v in e["totals"].items()}
        previous = e["totals"]
        rows.append({"t": e["t"], "trials": " ".join(map(str, e["trials"])), "k": len(e["trials"]),
                     "finished": e["finished"], "completed": e["completed"],
                     "running": e["running"], "node": node, "rss_mb": e.get("rss_mb"),
                     **components(delta), "mll_s": delta.get("mll", 0.0)})
    table = pd.DataFrame(rows)
    if len(table):
        table["total_s"] = table[list(COST)].sum(axis=1)
    return table


def trial_table(events: list[dict]) -> pd.DataFrame:
    """Every trial's status, start and end as Ax saw them (the probe's end record) and as
    its job did (trial_times.json in its log dir; NaN where it wrote none), Unix times."""
    end = next((e for e in events if e["kind"] == "end"), None)
    if end is None:
        raise ValueError("the probe wrote no end record (the driver was killed?)")
    trials = pd.DataFrame(end["trials"], columns=["index", "status", "started", "ended", "log_dir"])
    own = [job_times(d) for d in trials["log_dir"]]
    trials["job_started"] = [t.get("started", math.nan) for t in own]
    trials["job_ended"] = [t.get("ended", math.nan) for t in own]
    return trials


def job_times(log_dir) -> dict:
    try:
        return json.loads((Path(log_dir) / TIMES_FILE).read_text())
    except (TypeError, OSError, ValueError):  # no log dir, not ended, not this trial script
        return {}


def utilization(trials: pd.DataFrame, slots: int, start="started", end="ended",
                prefix="") -> dict:
    """Busy slot-seconds / (slots x wall), each trial busy from its `start` to its `end`."""
    ran = trials.dropna(subset=[start, end])
    if ran.empty:
        return {f"{prefix}utilization": math.nan, f"{prefix}busy_slot_s": 0.0,
                f"{prefix}wall_s": math.nan}
    busy = float((ran[end] - ran[start]).sum())
    wall = float(ran[end].max() - ran[start].min())
    return {f"{prefix}utilization": busy / (slots * wall) if wall > 0 else math.nan,
            f"{prefix}busy_slot_s": busy, f"{prefix}wall_s": wall}


def ideal_utilization(trials: pd.DataFrame, slots: int) -> float:
    """Utilization of the same trials, in the order they started, each on the first slot
    to free up and for its job's own duration (Ax's where the job wrote none): what a
    driver that costs nothing and sees every end at once would reach."""
    ran = trials.dropna(subset=["started", "ended"]).sort_values(["started", "index"])
    if ran.empty:
        return math.nan
    own = ran["job_ended"] - ran["job_started"]
    durations = own.where(own.notna(), ran["ended"] - ran["started"]).tolist()
    free = [0.0] * slots  # when each slot is next free
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    wall = max(free)
    return sum(durations) / (slots * wall) if wall > 0 else math.nan


def problem():
    from botorch.test_functions.multi_objective import DTLZ2

    return DTLZ2(dim=6, num_objectives=2)  # its ref_point, 1.1 each, is the config's thresholds


def max_hv() -> float:
    return float(problem().max_hv)


def trial_module():
    """bench/synthetic/trial.py as a module (its DTLZ2 mapping, simulated training time and
    attainable front): a script, not a module of the package, as the jobs run it."""
    spec = importlib.util.spec_from_file_location("scale_trial", TRIAL_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def attainable_fraction() -> float:
    """The largest fraction this search space can reach (trial.py: attainable_front)."""
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    hv = Hypervolume(ref_point=-problem().ref_point)  # BoTorch maximizes: -f
    return float(hv.compute(-trial_module().attainable_front())) / max_hv()


def beside_generations(folder: Path) -> list[dict]:
    """The generations a thread made beside the loop (nas/candidates.py's log), those that
    ended; [] for a build that generates in its loop."""
    from nas.candidates import read_generation_log

    return [g for g in read_generation_log(Path(folder) / LOG_DIR) if "ended" in g]


def beside_summary(generations: list[dict]) -> dict:
    """Calls, candidates made, seconds in all, and the median and largest seconds per
    candidate of one call."""
    if not generations:
        return {}
    per = [(g["ended"] - g["started"]) / g["made"] for g in generations if g.get("made")]
    return {"calls": len(generations), "candidates": sum(g.get("made", 0) for g in generations),
            "seconds": sum(g["ended"] - g["started"] for g in generations),
            "per_candidate_median_s": float(pd.Series(per).median()) if per else math.nan,
            "per_candidate_max_s": max(per, default=math.nan)}


def per_n(trials: pd.DataFrame, launched: pd.DataFrame, hypervolume: pd.DataFrame | None,
          t0: float, beside: list[dict] | None = None) -> pd.DataFrame:
    """One row per finished trial n = 1..: when it finished, the hypervolume then, the
    mean driver seconds per trial launched while n trials had finished, and the seconds
    per candidate that generations beside the loop, asked while n had finished, took."""
    done = trials[trials["status"].isin(FINISHED)].sort_values(["ended", "index"])
    hv_after = {}  # trial index -> the hypervolume once it completed (completion order)
    if hypervolume is not None:
        hv_after = dict(zip(hypervolume["trial_index"], hypervolume["hypervolume"]))
    rows, hv, top = [], 0.0, max_hv()
    for n, trial in enumerate(done.itertuples(), start=1):
        hv = hv_after.get(trial.index, hv)  # a failed trial leaves it as it was
        row = {"n": n, "trial_index": int(trial.index), "status": trial.status,
               "finished_at_s": trial.ended - t0,
               "hypervolume": hv if hypervolume is not None else math.nan,
               "hv_fraction": hv / top if hypervolume is not None else math.nan}
        at = launched[launched["finished"] == n] if len(launched) else launched
        k = int(at["k"].sum()) if len(at) else 0
        row["launched"] = k
        for col in [*COMPONENTS, "total_s", *IDLE]:
            row[col] = float(at[col].sum()) / k if k else math.nan
        row["rss_mb"] = float(at["rss_mb"].iloc[-1]) if k and at["rss_mb"].notna().any() else math.nan
        made = [g for g in beside or () if g.get("completed") == n and g.get("made")]
        row["beside_s"] = (sum(g["ended"] - g["started"] for g in made)
                           / sum(g["made"] for g in made)) if made else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def analyze(folder: Path, slots: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(per-n table, launches table, summary) of the run in `folder` (its events and
    results/hypervolume.csv)."""
    folder = Path(folder)
    events = read_events(folder)
    start = next(e for e in events if e["kind"] == "start")
    end = next((e for e in events if e["kind"] == "end"), None)
    trials = trial_table(events)
    launched = launches(events)
    hv_file = folder / "results" / "hypervolume.csv"
    hypervolume = pd.read_csv(hv_file) if hv_file.exists() else None
    t0 = float(trials["started"].min()) if trials["started"].notna().any() else start["t"]
    if len(launched):
        launched.insert(0, "t_s", launched.pop("t") - t0)
    beside = beside_generations(folder)
    table = per_n(trials, launched, hypervolume, t0, beside)
    startup = next((e for e in events if e["kind"] == "startup"), None)
    startup_s = (startup["t"] - start["began"]) if startup else \
        (min(g["started"] for g in beside) - start["began"]) if beside else math.nan
    ax_times = utilization(trials, slots)
    job_times_ = utilization(trials, slots, "job_started", "job_ended", prefix="job_")
    last = next((e for e in reversed(events) if e["kind"] == "launch"), None)
    after = components({k: v - last["totals"].get(k, 0.0) for k, v in end["totals"].items()}) \
        if last else {}
    summary = {
        "exit_status": end["status"], "engine": start.get("engine"),
        "wrapped": start["wrapped"], "skipped": start["skipped"],
        "trials_finished": len(table),
        "trials_completed": int((trials["status"] == "COMPLETED").sum()),
        "trials_failed": int((trials["status"] == "FAILED").sum()),
        **ax_times, **job_times_,
        "busy_training": job_times_["job_busy_slot_s"] / (slots * ax_times["wall_s"])
        if ax_times["wall_s"] > 0 and not math.isnan(job_times_["job_utilization"]) else math.nan,
        "beside": beside_summary(beside),
        "ideal_utilization": ideal_utilization(trials, slots),
        "detection_lag_s": lag_summary(trials),
        "driver_s": end["t"] - start["began"],
        "startup_s": startup_s,
        "report_s": end["totals"].get("report", 0.0),
        "after_last_launch_s": after,
        "background_s": end.get("background", {}),
        "peak_rss_mb": end["peak_rss_mb"],  # the whole process, the report's fits included
        "search_rss_mb": float(launched["rss_mb"].max()) if len(launched) else math.nan,
        "driver_cpu_s": end["cpu_s"],
        "final_hypervolume": float(table["hypervolume"].iloc[-1]) if len(table) else math.nan,
        "final_hv_fraction": float(table["hv_fraction"].iloc[-1]) if len(table) else math.nan,
        "hv_fraction_at": {int(n): float(table["hv_fraction"].iloc[n - 1])
                           for n in quarter_marks(len(table))},
        "per_new_trial": cost_summary(table),
        **generation_bound_from(table, trials, slots),
    }
    return table, launched, summary


def generation_bound_from(table: pd.DataFrame, trials: pd.DataFrame, slots: int) -> dict:
    """The seconds between two slots freeing (median trial length / slots) and the first n
    from which making one candidate takes longer (module docstring)."""
    own = (trials["job_ended"] - trials["job_started"]).dropna()
    if own.empty:  # the jobs' own times are not there (a committed run): Ax's
        own = (trials["ended"] - trials["started"]).dropna()
    if own.empty or table.empty:
        return {"slot_free_every_s": math.nan, "generation_bound_from_n": None}
    every = float(own.median()) / slots
    column = "beside_s" if table["beside_s"].notna().any() else "total_s"  # per_n has both
    cost = table.set_index("n")[column].dropna().rolling(5, min_periods=1).median()
    over = cost[cost > every]
    return {"slot_free_every_s": every,
            "generation_bound_from_n": int(over.index[0]) if len(over) else None}


def lag_summary(trials: pd.DataFrame) -> dict:
    """How long after a job ended the driver marked its trial ended: median and max, s."""
    lag = (trials["ended"] - trials["job_ended"]).dropna()
    return {"median": float(lag.median()), "max": float(lag.max())} if len(lag) else {}


def quarter_marks(count: int) -> list[int]:
    """n at 1/4, 1/2, 3/4 and all of `count` finished trials."""
    return sorted({max(1, round(count * q)) for q in (0.25, 0.5, 0.75, 1.0)}) if count else []


def cost_summary(table: pd.DataFrame) -> dict:
    """Driver seconds per new trial: the median and maximum over n, and near the first,
    each quarter and the last of the n at which trials were launched (the median over
    the 5 such n around it)."""
    costed = table[table["launched"] > 0].reset_index(drop=True)
    if costed.empty:
        return {}
    cols = [*COMPONENTS, "total_s", "beside_s"]
    out = {"median": {c: float(costed[c].median()) for c in cols},
           "max": {c: float(costed[c].max()) for c in cols}, "near_n": {}}
    for at in sorted({min(len(costed) - 1, round(q * (len(costed) - 1))) for q in (0, 0.25, 0.5, 0.75, 1)}):
        near = costed.iloc[max(0, at - 2):at + 3]
        out["near_n"][int(costed["n"][at])] = {c: float(near[c].median()) for c in cols}
    return out

