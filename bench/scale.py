"""The real driver at scale: seconds per new trial, worker utilization, memory and
hypervolume of a synthetic search, against the number of finished trials.

    python -m bench.scale --trials 24 --max-pending 8 --seconds 5 --seed 0      # minutes
    python -m bench.scale --trials 96 --max-pending 16 --seconds 60 --seed 0 1 2
    python -m bench.scale --trials 96 --max-pending 16 --seconds 60 --equal --seed 0   # waves
    python -m bench.scale --trials 200 --max-pending 16 --seconds 150 --seed 0 1 2
    python -m bench.scale --trials 500 --max-pending 16 --seconds 2 --seed 0    # cost curve
    python -m bench.scale --trials 500 --max-pending 16 --seconds 2 --stop-after 3600
    python -m bench.scale --trials 500 --max-pending 16 --seconds 2 --stop-after-trials 200
    python -m bench.scale --trials 96 --max-pending 16 --seconds 60 --repo ../old --repo .

The first is a try (a few minutes here); the next two are the live runs of results/scale/
(96 trials, 16 at a time, trials of ~60 s: 6 minutes per seed if the driver kept 16
workers busy, 96 x 60 s / 16; 200 trials of ~150 s: 31 minutes; longer where the driver
needs more than that per trial); the fourth is the per-trial cost curve of a 500-trial
search, its trials so short that the driver is the bottleneck (hours on 2 cores:
results/scale/500x16-2s reached 279 finished trials in 45 minutes); the fifth stops it an hour
after its driver's imports (Ctrl-C to the driver, which cancels its jobs and saves), its
tables ending at the n it reached; the sixth once its driver has seen 200 trials finished,
however long that takes on the machine. The last measures two builds on the same search,
interleaved per seed.

**What runs.** Each run is the real driver, run_nas.py of `--repo` (default: this
checkout; any checkout whose run_nas.py has `--config`), with Ax's Orchestrator, the
runner, TorchX local jobs (warm-started), saving and progress, on the search
bench/synthetic/search.toml: the tutorial's kinds of parameters, BoTorch's DTLZ2 (6
dimensions, 2 objectives, both minimized) as the objectives, and a simulated training
time, a sleep proportional to the mini-batch steps the configuration would train with a
mean of `--seconds` over the search space (bench/synthetic/trial.py), or `--seconds` for every
trial with `--equal` (slots then free in waves). The mean time enters as
a fixed argument of the trial command: each run gets a copy of the config, `search.toml`
in its folder, whose `args` hold `--seconds` (a config takes no new placeholders). Jobs
that sleep leave the cores to the driver, as on a cluster, where trials train elsewhere.

**How it is measured, without changing the engine.** The driver runs in a child process
through bench/scale_probe.py, which puts `--repo` first on sys.path, wraps the functions
that make up the driver's work with timers (the generation strategy's `gen`; within it
the model fit, `GeneratorSpec.fit` with BoTorch's `fit_gpytorch_mll`, and the acquisition
optimization, `Acquisition.optimize`; saving, `nas.state.storage.StateStore.write_snapshot`; polling,
`Orchestrator.poll_and_process_results`; launching, `Orchestrator.run_trials`; the sleep
between polls; its docstring has the list) and calls that checkout's `run_nas.main`. A
wrapper whose target a build lacks is skipped, and the run's summary lists it;
`--wrap CATEGORY=MODULE:NAME` times one more (e.g. a new build's save function as
`save=...`). bench/scale_analysis.py turns the events into the tables:

- driver seconds per new trial: everything the driver's main thread did between one
  launch and the next, split into generation (model fit, acquisition optimization and
  the rest of `gen`), saving, polling, launching and the rest (the loop's own work, the
  progress line), divided among the trials that launch started; sleeping while all slots
  are busy ("wait") is not a cost;
- worker utilization: busy slot-seconds / (slots x wall), each trial busy from Ax's
  time_run_started to its time_completed, initial design included, wall from the first
  trial's start to the last one's end; and the same by the jobs' own clock (each trial
  script's start and end, its trial_times.json), which counts a job that has ended but
  that the driver has not yet seen as idle, as its worker is: the driver polls only
  between rounds of generation, and the lag until it sees a job ended is reported too;
  and the utilization a driver costing nothing would reach with the same trials started
  in the same order, each on the first slot to free up (the jobs' own durations): below
  it, the driver's gaps; above it up to 100%, the trials' spread in length at the end;
- the driver's peak memory (resident set, the driver process alone; and the RSS at each
  launch);
- the hypervolume after each finished trial as a fraction of DTLZ2's optimum (BoTorch's
  `DTLZ2(dim=6, num_objectives=2).max_hv`, reference point 1.1, 1.1, the config's
  thresholds), from the driver's own results/hypervolume.csv. The search space cannot
  reach that optimum (epochs and batch have 4 levels, none at DTLZ2's 0.5): the summary
  gives the largest fraction it can reach, about 0.78.

**Outputs**, in `--out` (default results/scale/TRIALSxMAX_PENDING-SECONDSs):

    per_n.csv          one row per run and finished trial n: when it finished, the
                       hypervolume and its fraction then, the trials launched while n had
                       finished and their mean seconds per column (generation_s, of it
                       fit_s and acquisition_s; save_s, poll_s, launch_s, rest_s; total_s
                       their sum; wait_s idle), the driver's RSS at that launch; beside_s:
                       seconds per candidate made beside the loop (a build with
                       nas/candidates.py) when asked at n
    launches.csv       one row per run and launch: its trials, n, node (Sobol/BoTorch),
                       the seconds per column since the previous launch, RSS
    summary.json       per run: repo and its commit, exit status, utilization (Ax's
                       times, the jobs' own, a driver costing nothing), the slots busy
                       training (bench/busy.py's fraction), the lag until the driver saw a job end,
                       wall and driver seconds, startup and report seconds, the driver's
                       RSS (most at a launch; peak, the report included), CPU seconds,
                       final hypervolume and fraction and at 1/4, 1/2, 3/4 of the trials,
                       seconds per new trial (median and max over n, and near the
                       first, each quarter and the last n that launched trials), what
                       was timed and what skipped; the generations made beside the loop
                       (calls, candidates, seconds); plus the command, the settings, the
                       attainable fraction and the provenance of this code
    summary.md         the same, short, as markdown tables
    scale.png          per repo a panel of driver seconds per new trial vs n, a bar per n
                       stacked by component (median over seeds); below, the hypervolume
                       fraction vs n of every run
    provenance.json    the commit these files were made with, the command, the files
    runs/LABEL-seedN/  each run: its config copy, driver.log (the driver's console),
                       events.jsonl (the probe's), results/ (the driver's own results),
                       run.json (exit status, seconds, a stop asked for)

Each file records the command and the commit (JSON under "provenance", markdown at the
end, PNG in its footer and metadata, CSVs in provenance.json). An `--out` that holds files
is refused, so that two measurements never mix; `--replace` moves it aside first
(OUT.old-TIMESTAMP); `--report-only` runs nothing and writes the tables of the runs in
`--out` again, with this checkout's analysis. Arguments after `--` go to run_nas.py as they are (e.g.
`-- --strategy sobol`).
"""

import argparse
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEARCH = ROOT / "bench" / "synthetic" / "search.toml"
PROBE = ROOT / "bench" / "scale_probe.py"
STACK = [("fit_s", "model fit"), ("acquisition_s", "acquisition optimization"),
         ("generation_other_s", "generation, other"), ("save_s", "saving"),
         ("poll_s", "polling"), ("launch_s", "launching"), ("rest_s", "rest")]


class BadInput(Exception):
    """A bad command line: one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise BadInput(f"{message} (see --help)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    driver_args = []
    if "--" in argv:
        at = argv.index("--")
        argv, driver_args = argv[:at], argv[at + 1:]
    p = OneLineParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=24, help="trials per search (default: %(default)s)")
    p.add_argument("--max-pending", type=int, default=8,
                   help="trials running at once: the workers (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=5.0,
                   help="mean simulated training time of a trial, s (default: %(default)s)")
    p.add_argument("--equal", action="store_true",
                   help="every trial takes --seconds (default: proportional to its steps)")
    p.add_argument("--seed", type=int, nargs="+", action="extend",
                   help="seeds of the search, one run each (repeatable; default: 0)")
    p.add_argument("--repo", nargs="+", action="extend",
                   help="checkouts whose driver runs (repeatable; default: this one)")
    p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                   help="passed to run_nas.py (pins a parameter)")
    p.add_argument("--wrap", action="append", default=[], metavar="CATEGORY=MODULE:NAME",
                   help="time one more function (bench/scale_probe.py)")
    p.add_argument("--stop-after", type=float, metavar="SECONDS",
                   help="stop a search that runs longer, counted from the end of its "
                        "driver's imports (Ctrl-C to the driver: it cancels its jobs and "
                        "saves); its tables end at the n it reached")
    p.add_argument("--stop-after-trials", type=int, metavar="N",
                   help="stop a search once its driver has seen N trials finished (counted "
                        "at its launches; Ctrl-C as --stop-after): its tables end at n = N, "
                        "or a few more that finished before the driver stopped")
    p.add_argument("--out", help="output folder (default: results/scale/TRIALSxPENDING-SECONDSs)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: write the tables of the runs already in --out/runs "
                        "again (with this checkout's analysis), in the order they ran")
    p.add_argument("--replace", action="store_true",
                   help="move an --out that holds files aside (OUT.old-TIMESTAMP) first")
    args = p.parse_args(argv)
    args.driver_args = driver_args
    args.seed = args.seed or [0]
    args.repo = [Path(r).resolve() for r in (args.repo or [ROOT])]
    if args.trials < 1 or args.max_pending < 1:
        raise BadInput(f"--trials and --max-pending must be at least 1 (got {args.trials}, "
                       f"{args.max_pending})")
    if args.stop_after is not None and not (math.isfinite(args.stop_after) and args.stop_after > 0):
        raise BadInput(f"--stop-after must be a number of seconds > 0, got {args.stop_after}")
    if args.stop_after_trials is not None and not 1 <= args.stop_after_trials < args.trials:
        raise BadInput(f"--stop-after-trials must be at least 1 and below --trials "
                       f"({args.trials}), got {args.stop_after_trials}")
    if not (math.isfinite(args.seconds) and args.seconds >= 0):
        raise BadInput(f"--seconds must be a number >= 0, got {args.seconds}")
    for text in args.wrap:
        category, _, target = text.partition("=")
        if not category or ":" not in target:
            raise BadInput(f"--wrap {text!r}: expected CATEGORY=MODULE:NAME, e.g. "
                           "save=nas.state.storage:StateStore.write_snapshot")
    for repo in args.repo:
        check_repo(repo)
    name = f"{args.trials}x{args.max_pending}-{args.seconds:g}s" + ("-equal" if args.equal else "")
    args.out = Path(args.out or ROOT / "results" / "scale" / name).resolve()
    return args


def check_repo(repo: Path) -> None:
    """A checkout whose run_nas.py takes --config (the builds with search configs)."""
    driver = repo / "run_nas.py"
    if not driver.is_file():
        raise BadInput(f"--repo {repo}: no run_nas.py there; give a checkout of this project")
    sources = [driver, repo / "nas" / "cli.py", repo / "nas" / "cli" / "__init__.py"]
    if not any('"--config"' in p.read_text() for p in sources if p.is_file()):
        raise BadInput(f"--repo {repo}: its run_nas.py has no --config option (a build "
                       "before search configs); bench.scale needs one with it")


def prepare_out(out: Path, replace: bool) -> None:
    """An empty `out`; one holding files is refused, or moved aside with `replace`."""
    if out.exists() and any(out.iterdir()):
        if not replace:
            raise BadInput(f"--out {out} holds an earlier measurement; give another --out, "
                           "or --replace to move it aside")
        aside = out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        out.rename(aside)
        print(f"moved the earlier {out} aside to {aside}", flush=True)
    out.mkdir(parents=True, exist_ok=True)


# -- the config copy ---------------------------------------------------------------------

def toml_text(data: dict) -> str:
    """TOML of a config's plain values (tables of strings, numbers, lists, inline tables);
    the standard library reads TOML but does not write it."""
    def key(k):
        return k if k.replace("-", "").replace("_", "").isalnum() and k.isascii() else json.dumps(k)

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a TOML basic string
        if isinstance(v, list):
            return "[" + ", ".join(map(value, v)) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"no TOML for {v!r}")

    lines = [f"{key(k)} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, entries in data.items():
        if isinstance(entries, dict):
            lines += ["", f"[{key(table)}]", *(f"{key(k)} = {value(v)}" for k, v in entries.items())]
    return "\n".join(lines) + "\n"


def write_config(folder: Path, seconds: float, equal: bool = False) -> Path:
    """bench/synthetic/search.toml with `--seconds` (and `--equal`) in its trial args and
    its script's absolute path, as FOLDER/search.toml."""
    data = tomllib.loads(SEARCH.read_text())
    args = list(data["trial"]["args"])
    args[args.index("--seconds") + 1] = f"{seconds:g}"
    if equal:
        args.append("--equal")
    data["trial"]["args"] = args
    data["trial"]["script"] = str((SEARCH.parent / data["trial"]["script"]).resolve())
    text = toml_text(data)
    assert tomllib.loads(text) == data, "the config copy does not read back the same"
    path = folder / "search.toml"
    path.write_text(f"# made by bench.scale from {SEARCH}, --seconds {seconds:g}\n" + text)
    return path


# -- running -----------------------------------------------------------------------------

RUN_FILE = "run.json"  # in each run's folder: what run_one returned


def label_of(repo: Path, taken: set) -> str:
    """A short, unique name of a checkout: folder name and short commit."""
    try:
        short = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        short = "nogit"
    label, i = f"{repo.name}-{short}", 2
    while label in taken:
        label, i = f"{repo.name}-{short}-{i}", i + 1
    taken.add(label)
    return label


def run_one(args: argparse.Namespace, repo: Path, label: str, seed: int) -> dict:
    """One search by the probed driver of `repo`; its folder and exit status."""
    folder = args.out / "runs" / f"{label}-seed{seed}"
    folder.mkdir(parents=True)
    config = write_config(folder, args.seconds, args.equal)
    cmd = [sys.executable, str(PROBE), "--repo", str(repo), "--events", str(folder / "events.jsonl"),
           *(w for text in args.wrap for w in ("--wrap", text)), "--",
           "--config", str(config), "--trials", str(args.trials),
           "--max-pending", str(args.max_pending), "--seed", str(seed),
           *(f for text in args.fix for f in ("--fix", text)),
           "--results-dir", str(folder / "results"), *args.driver_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.time()
    with open(folder / "driver.log", "w") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        driver = subprocess.Popen(cmd, cwd=repo, stdout=log, stderr=subprocess.STDOUT, env=env)
        stopped = None
        if args.stop_after is not None or args.stop_after_trials is not None:
            stopped = stop_after(driver, folder / "events.jsonl", args.stop_after,
                                 args.stop_after_trials)
        status = driver.wait()
    run = {"run": folder.name, "label": label, "repo": str(repo), "seed": seed,
           "status": status, "seconds": time.time() - start,
           "stopped_after_s": args.stop_after if stopped == "seconds" else None,
           "stopped_after_trials": args.stop_after_trials if stopped == "trials" else None}
    (folder / RUN_FILE).write_text(json.dumps(run) + "\n")  # for --report-only
    return {**run, "folder": folder}


def runs_in(out: Path) -> list[dict]:
    """The runs already in `out`/runs, in the order they ran (their folders' creation), as
    run_one returns them: from its RUN_FILE, or for a run without one (an older
    bench.scale) repo from the probe's start record, exit status from its end record (None
    if it has none: the driver was killed), never stopped."""
    runs = []
    folders = sorted((f for f in (out / "runs").glob("*-seed*") if f.is_dir()),
                     key=lambda f: (f / "driver.log").stat().st_mtime if (f / "driver.log").exists()
                     else f.stat().st_mtime)
    for folder in folders:
        if (folder / RUN_FILE).is_file():
            runs.append({**json.loads((folder / RUN_FILE).read_text()), "folder": folder})
            continue
        label, _, seed = folder.name.rpartition("-seed")
        events = folder / "events.jsonl"
        records = [json.loads(line) for line in events.read_text().splitlines()
                   if line.strip()] if events.exists() else []
        start = next((r for r in records if r["kind"] == "start"), {})
        end = next((r for r in records if r["kind"] == "end"), {})
        runs.append({"run": folder.name, "label": label, "repo": start.get("repo", ""),
                     "seed": int(seed) if seed.isdigit() else seed, "folder": folder,
                     "status": end.get("status"), "seconds": math.nan,
                     "stopped_after_s": None, "stopped_after_trials": None})
    if not runs:
        raise BadInput(f"--report-only: no runs in {out / 'runs'}; run the searches first")
    return runs


def stop_after(driver: subprocess.Popen, events: Path, seconds: float | None,
               trials: int | None = None) -> str | None:
    """Ctrl-C to `driver` once it has run `seconds` since its imports (the probe's "start"
    event, written once the driver's modules are loaded), so that the imports, which took
    over 16 s on a loaded machine, count for nothing; or once it has seen `trials` trials
    finished (the count of the probe's latest "launch" event), which the work decides, not
    the machine's speed. What stopped it, "seconds" or "trials"; None if the driver ended
    first."""
    started, finished, read = None, 0, 0
    while driver.poll() is None:
        if events.exists():
            with open(events, "rb") as f:
                f.seek(read)
                text = f.read()
            text = text[:text.rfind(b"\n") + 1]  # whole lines: the last may be half written
            read += len(text)
            for line in text.decode().splitlines():
                event = json.loads(line)
                if event.get("kind") == "start":
                    started = event["t"]
                elif event.get("kind") == "launch":
                    finished = event["finished"]
        for why, reached in (("seconds", seconds is not None and started is not None
                              and time.time() - started >= seconds),
                             ("trials", trials is not None and finished >= trials)):
            if reached:
                driver.send_signal(signal.SIGINT)
                return why
        time.sleep(0.5)
    return None


# -- outputs -----------------------------------------------------------------------------

def analyze_runs(runs: list[dict], slots: int) -> tuple:
    """(per-n table, launches table, summary per run) of every run, the run's name in a
    first column."""
    from nas.report.provenance import git_state

    from bench.scale_analysis import analyze

    tables, launched, summaries = [], [], []
    for run in runs:
        summary = {k: run[k] for k in ("run", "label", "repo", "seed", "stopped_after_s",
                                       "stopped_after_trials")}
        summary["commit"] = git_state(run["repo"])
        summary["driver_log"] = str(run["folder"] / "driver.log")
        log = Path(summary["driver_log"]).read_text()
        summary["warm_start"] = "start cold" not in log
        if run["status"] != 0:  # the driver's own one-line error is its last line
            summary["driver_error"] = (log.strip().splitlines() or [""])[-1]
        try:
            table, launches, figures = analyze(run["folder"], slots)
        except (OSError, ValueError, KeyError, StopIteration) as e:
            summary.update(exit_status=run["status"], error=f"{type(e).__name__}: {e}")
            summaries.append(summary)
            continue
        summary.update(figures)
        for frame in (table, launches):
            frame.insert(0, "run", run["run"])
        tables.append(table)
        launched.append(launches)
        summaries.append(summary)
    import pandas as pd

    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(),
            pd.concat(launched, ignore_index=True) if launched else pd.DataFrame(), summaries)


def stopped_text(summary: dict) -> str | None:
    """"stopped after 20 s" / "stopped after 6 finished trials" for a run that
    --stop-after / --stop-after-trials cut short, else None."""
    if summary.get("stopped_after_s"):
        return f"stopped after {summary['stopped_after_s']:g} s"
    if summary.get("stopped_after_trials"):
        return f"stopped after {summary['stopped_after_trials']} finished trials"
    return None


def why_failed(summary: dict) -> str | None:
    """What went wrong in a run, in a few words, or None if nothing did. A run that
    --stop-after (or --stop-after-trials) cut short exits as interrupted (130): asked for,
    not a failure, unless it was stopped before it had anything to summarize."""
    from nas.state.lifecycle import EXIT_INTERRUPTED

    stopped = stopped_text(summary)
    exited_as_asked = summary.get("exit_status") in ((0, EXIT_INTERRUPTED) if stopped else (0,))
    if exited_as_asked and not summary.get("error"):
        return None
    if stopped and exited_as_asked:
        return (f"{stopped} with nothing to summarize ({summary['error']}): let it run "
                f"longer")
    return summary.get("driver_error") or summary.get("error")


def markdown(summaries: list[dict], settings: dict, record: dict, command: str) -> str:
    from nas.report.provenance import describe

    lines = [f"# bench.scale: {settings['trials']} trials, {settings['max_pending']} at a time, "
             f"trials of ~{settings['seconds']:g} s", "",
             "| run | exit | utilization: Ax's times, jobs' own, a driver costing nothing "
             "| slots busy training | detection lag s: median, max "
             "| wall s | driver RSS MB: search, peak | final HV fraction "
             "| s per new trial: median | max |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        cost, lag = s.get("per_new_trial", {}), s.get("detection_lag_s", {})
        stopped = f" ({stopped_text(s)})" if stopped_text(s) else ""
        lines.append(f"| {s['run']}{stopped} | {s.get('exit_status')} | {fmt(s.get('utilization'), '.1%')}, "
                     f"{fmt(s.get('job_utilization'), '.1%')}, "
                     f"{fmt(s.get('ideal_utilization'), '.1%')} "
                     f"| {fmt(s.get('busy_training'), '.1%')} "
                     f"| {fmt(lag.get('median'), '.1f')}, {fmt(lag.get('max'), '.1f')} "
                     f"| {fmt(s.get('wall_s'), '.0f')} | {fmt(s.get('search_rss_mb'), '.0f')}, "
                     f"{fmt(s.get('peak_rss_mb'), '.0f')} "
                     f"| {fmt(s.get('final_hv_fraction'), '.3f')} "
                     f"| {fmt(cost.get('median', {}).get('total_s'), '.2f')} "
                     f"| {fmt(cost.get('max', {}).get('total_s'), '.2f')} |")
    lines += ["", f"Hypervolume fraction: of DTLZ2's max_hv {settings['max_hv']:.4f}; this "
              f"search space reaches at most {settings['attainable_hv_fraction']:.3f}.", ""]
    for s in summaries:
        near = s.get("per_new_trial", {}).get("near_n", {})
        if not near:
            continue
        lines += [f"## {s['run']}: driver seconds per new trial near n (median)", "",
                  "| n | generation | of it fit | of it acquisition | saving | polling "
                  "| launching | rest | total | made beside the loop, s per candidate |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for n, c in near.items():
            lines.append(f"| {n} | " + " | ".join(fmt(c.get(k), '.2f') for k in (
                "generation_s", "fit_s", "acquisition_s", "save_s", "poll_s", "launch_s",
                "rest_s", "total_s", "beside_s")) + " |")
        if s.get("beside"):
            b = s["beside"]
            lines += ["", f"Made beside the loop (logs/generation.jsonl; not in the totals, "
                          f"which are the loop's own): {b['calls']} generations, "
                          f"{b['candidates']} candidates, {b['seconds']:.0f} s in all, "
                          f"{b['per_candidate_median_s']:.2f} s per candidate (median; "
                          f"at most {b['per_candidate_max_s']:.2f})."]
        every, bound = s.get("slot_free_every_s"), s.get("generation_bound_from_n")
        lines += ["", f"A slot frees every {fmt(every, '.1f')} s on average (median trial / "
                      f"slots); a candidate takes longer to make "
                      + (f"from n = {bound} on: from there the generation's throughput, not "
                         f"its latency, bounds the slots' use." if bound else "at no n.")]
        at = ", ".join(f"{n}: {v:.3f}" for n, v in s.get("hv_fraction_at", {}).items())
        lines += ["", f"HV fraction after n finished trials: {at}. Startup "
                  f"{fmt(s.get('startup_s'), '.1f')} s, report {fmt(s.get('report_s'), '.1f')} s, "
                  f"driver CPU {fmt(s.get('driver_cpu_s'), '.0f')} s."
                  + (f" Not timed (absent in this build): "
                     f"{', '.join(x['target'] for x in s['skipped'])}." if s.get("skipped") else ""),
                  ""]
        if s.get("error"):
            lines += [f"Not analyzed: {s['error']}", ""]
    lines += [f"Command: `{command}`", "", f"Made with {describe(record)}.", ""]
    return "\n".join(lines)


def fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def plot(table, summaries: list[dict], settings: dict, path: Path, footer: str) -> None:
    """Per repo: seconds per new trial vs n, a bar stacked by component at each n that
    launched trials (median over its seeds); below: every run's hypervolume fraction vs n."""
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(s["label"] for s in summaries if "final_hv_fraction" in s))
    fig, axes = plt.subplots(len(labels) + 1, 1, figsize=(12, 3.6 * (len(labels) + 1)),
                             dpi=110, sharex=True, squeeze=False)
    axes = axes[:, 0]
    runs_of = {lab: [s["run"] for s in summaries if s["label"] == lab] for lab in labels}
    colors = plt.get_cmap("tab10").colors
    for ax, lab in zip(axes, labels):
        rows = table[table["run"].isin(runs_of[lab]) & (table["launched"] > 0)].copy()
        rows["generation_other_s"] = (rows["generation_s"] - rows["fit_s"]
                                      - rows["acquisition_s"]).clip(lower=0)
        med = rows.groupby("n")[[c for c, _ in STACK]].median()
        bottom = pd.Series(0.0, index=med.index)
        for (column, text), color in zip(STACK, colors):  # a bar per n that launched trials
            ax.bar(med.index, med[column], bottom=bottom, width=0.8, color=color, label=text)
            bottom += med[column]
        util = ", ".join(f"{s['utilization']:.0%} ({s['job_utilization']:.0%})"
                         for s in summaries if s["label"] == lab)
        ax.set_title(f"{lab}: driver seconds per new trial (median of {len(runs_of[lab])} "
                     f"run(s)); worker utilization {util} (jobs' own times)", fontsize=10)
        launched = rows.groupby("n")["launched"].median()
        for n, k in launched.items():  # the trials each bar's mean is over
            if k > 1:
                ax.annotate(f"x{k:g}", (n, bottom[n]), ha="center", va="bottom", fontsize=7)
        ax.set_ylabel("seconds per new trial")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax = axes[-1]
    for i, lab in enumerate(labels):
        for run in runs_of[lab]:
            rows = table[table["run"] == run]
            ax.step(rows["n"], rows["hv_fraction"], where="post", color=colors[i % 10], lw=1.5,
                    label=run)
    ax.axhline(settings["attainable_hv_fraction"], color="gray", ls="--", lw=1,
               label="the most this search space reaches")
    ax.set_ylim(0, 1)
    ax.set_xlabel("finished trials n")
    ax.set_ylabel("hypervolume / DTLZ2 max_hv")
    ax.set_title(f"Hypervolume fraction ({settings['trials']} trials, {settings['max_pending']} "
                 f"at a time, trials of ~{settings['seconds']:g} s)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.text(0.01, 0.005, footer, fontsize=6, color="gray")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, metadata={"Description": footer})
    plt.close(fig)


def write_outputs(args: argparse.Namespace, runs: list[dict], command: str) -> list[dict]:
    from nas.files import atomic_write_text
    from nas.report.provenance import describe, provenance, write_manifest

    from bench.scale_analysis import attainable_fraction, max_hv

    out, record = args.out, {**provenance(), "command": command}
    settings = {"trials": args.trials, "max_pending": args.max_pending, "seconds": args.seconds,
                "seeds": args.seed, "repos": [str(r) for r in args.repo], "fix": args.fix,
                "driver_args": args.driver_args, "max_hv": max_hv(),
                "attainable_hv_fraction": attainable_fraction()}
    table, launched, summaries = analyze_runs(runs, args.max_pending)
    written = []

    def write(name, text):
        atomic_write_text(out / name, text)
        written.append(out / name)

    write("per_n.csv", table.to_csv(index=False))
    write("launches.csv", launched.to_csv(index=False))
    write("summary.json", json.dumps({"command": command, "settings": settings, "runs": summaries,
                                      "provenance": record}, indent=2, default=str) + "\n")
    write("summary.md", markdown(summaries, settings, record, command))
    if len(table):
        plot(table, summaries, settings, out / "scale.png", f"{command}  |  {describe(record)}")
        written.append(out / "scale.png")
    write_manifest(out, written, record, atomic_write_text)
    return summaries


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv)
        runs = runs_in(args.out) if args.report_only else None
        if not args.report_only:
            prepare_out(args.out, args.replace)
    except BadInput as e:
        print(f"python -m bench.scale: error: {e}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from bench import build_botorch_kernel

    build_botorch_kernel()
    command = shlex.join(["python", "-m", "bench.scale", *argv])
    if runs is not None:
        return report(args, runs, command)
    taken = set()
    repos = [(repo, label_of(repo, taken)) for repo in args.repo]
    plan = [(seed, repo, label) for seed in args.seed for repo, label in repos]  # interleaved
    runs = []
    try:
        for i, (seed, repo, label) in enumerate(plan, start=1):
            print(f"[{i}/{len(plan)}] {label} seed {seed}: {args.trials} trials, "
                  f"{args.max_pending} at a time, ~{args.seconds:g} s each ...", flush=True)
            run = run_one(args, repo, label, seed)
            print(f"    exit {run['status']} after {run['seconds']:.0f} s "
                  f"({run['folder'] / 'driver.log'})", flush=True)
            runs.append(run)
    except KeyboardInterrupt:
        print("python -m bench.scale: interrupted; the runs so far are in "
              f"{args.out / 'runs'}, no summary written", file=sys.stderr)
        return 130
    return report(args, runs, command)


def report(args: argparse.Namespace, runs: list[dict], command: str) -> int:
    """Write the tables of `runs`, print the summary; 1 if a run failed."""
    summaries = write_outputs(args, runs, command)
    print((args.out / "summary.md").read_text())
    print(f"wrote {args.out}")
    failed = [f"{s['run']}: {why}" for s in summaries if (why := why_failed(s))]
    if failed:
        why = "; ".join(failed)
        print(f"python -m bench.scale: error: {why}; see driver.log in "
              f"{args.out / 'runs'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
