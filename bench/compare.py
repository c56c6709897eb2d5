"""Bayesian optimization (botorch) against quasi-random search (sobol), measured.

    python -m bench.compare --seeds 3                 # 2 x 3 searches of 48 trials
    python -m bench.compare --seeds 1 --trials 4 --fix epochs=1   # a quick try
    python -m bench.compare --variants botorch,botorch-es --seeds 6 --out results/early_stopping
                                                      # early stopping off vs on
    python -m bench.compare --variants botorch,layers --seeds 3 --out results/architecture
                                                      # 2 hidden layers vs 1..3 searched
    python -m bench.compare --variants botorch --variant "budget=--time-budget 300s" \
        --seeds 3 --out results/search_control        # a variant given by its own flags

For every seed, run_nas.py runs once per variant (VARIANTS: --strategy sobol, --strategy
botorch, botorch with --early-stopping, botorch on the variable-depth search of
examples/mnist_layers, whose objectives, thresholds and best values are the tutorial's, so
its hypervolume is measured in the same box; or one given on the command line as
--variant NAME=FLAGS, run_nas.py's FLAGS split as a shell would), the same budget and
everything else equal (same seed, so the same initial Sobol points in the same space), each
in its own results folder under
OUT/runs/VARIANT-seedN/ (its console output in driver.log there). A run that ended with
exit 0 (its wall_seconds.txt written) is kept as it is: not run again, not timed again.
One that was interrupted is resumed (run_nas.py resumes a saved search) and timed from
the resume. Then, from each run's hypervolume.csv:

    OUT/comparison.csv     one row per run: final hypervolume, HV after 25/50/75% of
                           the trials, trials run (not ABANDONED or CANDIDATE), completed/failed/
                           early-stopped trials, training epochs spent (bench/effort.py),
                           wall time, how the search ended (run_summary.json: "finished",
                           or why it stopped), Pareto-optimal trials by number of hidden
                           layers (run_summary.json); the slots busy training, the
                           median wait of a free slot and the search's span
                           (bench/busy.py)
    OUT/summary.md         the same per variant (median, min, max) as markdown
    OUT/hv_traces.csv      every run's HV after each completed trial (long format)
    OUT/hv_vs_trial.html   the plot: median HV per variant, band from min to max
    OUT/hv_vs_trial.png    the same plot as an image (matplotlib)
    OUT/hv_by_minute.csv   every run's HV reached after each wall-clock minute
    OUT/hv_vs_minute.png   the plot of that: median and min..max per variant
    OUT/provenance.json    the commit (and dirty flag) these files were made with
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.busy import PHASES, slot_use, trial_phases
from bench.effort import band_plot, mark_start, run_effort, write_minutes
from bench.plots import band, plotly_figure

ROOT = Path(__file__).resolve().parent.parent
LAYERS_CONFIG = "examples/mnist_layers/search.toml"  # relative to ROOT, the runs' cwd
VARIANTS = {"sobol": ["--strategy", "sobol"], "botorch": ["--strategy", "botorch"],
            "botorch-es": ["--strategy", "botorch", "--early-stopping"],
            "layers": ["--strategy", "botorch", "--config", LAYERS_CONFIG]}
STRATEGIES = ("sobol", "botorch")  # the default variants
# bench/busy.py's: the slots busy training, the median wait of a free slot, the search's span
SLOT_COLUMNS = ("busy_training", "relaunch_median_s", "search_span_s")
# and a trial's slot piece by piece (bench.busy.trial_phases): shares of slots x span
PHASE_COLUMNS = (*(f"{k}_share" for k in PHASES), "idle_share", "startup_median_s")
WALL_FILE = "wall_seconds.txt"  # in a run's folder, once it ended with exit 0
COLORS = {"sobol": "#1f77b4", "botorch": "#d62728", "botorch-es": "#2ca02c",
          "layers": "#9467bd"}
# for variants given on the command line, in their order (plotly needs a colour per name)
MORE_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # it names a folder: OUT/runs/NAME-seedN
# run_summary.json's "search" "why" of a search that a time budget or global stopping ended:
# it ended as a finished one does (exit 0, results written), only sooner, by design
STOPPED_BY_DESIGN = "stopped by "
# Hidden layers of each structure the variable-depth search reports (run_summary.json's
# "structures", labelled by its nested switches); a search without structures is the
# tutorial's, whose every trial has FLAT_LAYERS.
LAYERS_OF_STRUCTURE = {"layer_2=false": 1, "layer_2=true, layer_3=false": 2,
                       "layer_2=true, layer_3=true": 3}
FLAT_LAYERS = 2
DEPTH_COLUMNS = {1: "pareto_1_layer", 2: "pareto_2_layers", 3: "pareto_3_layers"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="seeds per strategy (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST..FIRST+SEEDS-1")
    p.add_argument("--trials", type=int, default=48, help="trials per search (default: %(default)s)")
    p.add_argument("--max-pending", type=int, default=4, help="default: %(default)s")
    p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                   help="passed on to run_nas.py (e.g. epochs=1 for a quick try)")
    p.add_argument("--data-dir", default=os.environ.get("PATH_DATASETS", "."))
    p.add_argument("--out", default="results/comparison", help="default: %(default)s")
    p.add_argument("--variants", default=None,
                   help=f"comma-separated, of {', '.join(VARIANTS)} (default: "
                        f"{','.join(STRATEGIES)}, unless --variant is given)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                   help="a variant of your own: run_nas.py with FLAGS (split as a shell would), "
                        "e.g. \"budget=--time-budget 150s\"; repeatable, run after --variants'")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing; rebuild the table and plot from the runs in OUT/runs")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.trials < 1:
        p.error("--seeds and --trials must be at least 1")
    default = "" if args.variant and args.variants is None else ",".join(STRATEGIES)
    args.variants = [v.strip() for v in (args.variants or default).split(",") if v.strip()]
    if set(args.variants) - set(VARIANTS):
        p.error(f"--variants: choose from {', '.join(VARIANTS)}")
    args.flags = {name: VARIANTS[name] for name in args.variants}
    for given in args.variant:
        try:
            name, flags = parse_variant(given)
        except ValueError as e:
            p.error(f"--variant {given!r}: {e}")
        if name in args.flags or name in VARIANTS:
            p.error(f"--variant {given!r}: {name} is already a variant "
                    f"(built in: {', '.join(VARIANTS)})")
        args.flags[name] = flags
        args.variants.append(name)
    if not args.variants:
        p.error("no variant: give --variants or --variant")
    return args


def parse_variant(text: str) -> tuple[str, list[str]]:
    """NAME=FLAGS as (NAME, run_nas.py's arguments). FLAGS are split as a shell would
    (shlex), so a quoted value with spaces stays one argument. Flags the comparison sets
    for every variant alike (--seed, --trials, ...) are refused: a variant that changed
    them would not be compared under the same budget."""
    name, sep, flags = text.partition("=")
    name = name.strip()
    if not sep or not VARIANT_NAME.fullmatch(name):
        raise ValueError("expected NAME=FLAGS, NAME of letters, digits, '.', '_', '-'")
    argv = shlex.split(flags)
    if not argv:
        raise ValueError("no flags: a variant that is run_nas.py's default needs none of "
                         "its own; use the built-in botorch")
    fixed = {"--seed", "--trials", "--max-pending", "--results-dir", "--data-dir"}
    if clash := sorted({a.split("=", 1)[0] for a in argv} & fixed):
        raise ValueError(f"{', '.join(clash)} is set by bench.compare for every variant")
    return name, argv


def colors_of(variants: list[str]) -> dict[str, str]:
    """A colour per variant: the built-in ones keep theirs, the others take MORE_COLORS."""
    more = iter(MORE_COLORS * (len(variants) // len(MORE_COLORS) + 1))
    return {v: COLORS.get(v) or next(more) for v in variants}


def max_hypervolume():
    """The tutorial's largest hypervolume: the box from its thresholds to the best values
    its config declares (val_acc 1, num_params 0). The variable-depth search (the layers
    variant) declares the same thresholds and best values, so the same box holds for it."""
    from nas.config import DEFAULT_CONFIG, load_config
    from nas.orchestration import make_experiment
    from nas.report.hypervolume import goal_of

    config = load_config(DEFAULT_CONFIG)
    return goal_of(make_experiment(config), {m.name: m.best for m in config.metrics.values()}).max_hv


def run_dir(out, strategy, seed):
    return Path(out) / "runs" / f"{strategy}-seed{seed}"


def finished_seconds(folder):
    """The wall time of a run that went to its end, else None."""
    wall = Path(folder) / WALL_FILE
    return float(wall.read_text()) if wall.exists() else None


def pareto_by_depth(folder: Path) -> dict[str, float]:
    """The run's Pareto-optimal trials by number of hidden layers ({DEPTH_COLUMNS name:
    count}), from its run_summary.json: whether searching the depth pays shows in which
    depths end up on the front, not only in the hypervolume. NaN each without a summary."""
    path = Path(folder) / "run_summary.json"
    counts = {column: float("nan") for column in DEPTH_COLUMNS.values()}
    if not path.exists():
        return counts
    summary = json.loads(path.read_text())
    counts = dict.fromkeys(DEPTH_COLUMNS.values(), 0)
    structures = summary.get("structures")
    if not structures:  # a flat search: the tutorial's, the same depth in every trial
        counts[DEPTH_COLUMNS[FLAT_LAYERS]] = len(summary.get("pareto_optimal_trials") or [])
        return counts
    for record in structures:
        depth = LAYERS_OF_STRUCTURE.get(record["structure"])
        if depth is None:  # a count silently dropped would make the table lie
            raise ValueError(f"{path}: structure {record['structure']!r} has no known number "
                             f"of hidden layers (LAYERS_OF_STRUCTURE)")
        counts[DEPTH_COLUMNS[depth]] += int(record["pareto_optimal"])
    return counts


def how_it_ended(folder: Path) -> str:
    """run_summary.json's "search" "why" (a time budget, global stopping, an interruption),
    or its state ("finished"): whether a run with fewer trials than the budget stopped by
    design or was cut short, which the trial counts alone do not tell."""
    path = Path(folder) / "run_summary.json"
    if not path.exists():
        return "unknown (no run_summary.json)"
    search = json.loads(path.read_text()).get("search") or {}
    return search.get("why") or search.get("state") or "unknown (no search state)"


def run_one(args, strategy, seed):
    """run_nas.py as a child process; returns (exit status, wall seconds)."""
    folder = run_dir(args.out, strategy, seed)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "run_nas.py"), *args.flags[strategy], "--seed", str(seed),
           "--trials", str(args.trials), "--max-pending", str(args.max_pending),
           *(f for fix in args.fix for f in ("--fix", fix)), "--data-dir", str(args.data_dir),
           "--results-dir", str(folder)]
    start = time.time()
    mark_start(folder)
    with open(folder / "driver.log", "a") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        status = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    seconds = time.time() - start
    if status == 0:
        (folder / WALL_FILE).write_text(f"{seconds:.1f}\n")
    return status, seconds


def load_runs(out, seeds, trials, variants=STRATEGIES, slots=4):
    """(per-run rows, long HV traces) from every run's results folder. `slots`: the runs'
    --max-pending, for bench/busy.py's figures."""
    rows, traces = [], []
    for seed in seeds:
        for strategy in variants:
            folder = run_dir(out, strategy, seed)
            hv_file = folder / "hypervolume.csv"
            if not hv_file.exists():
                continue
            hv = pd.read_csv(hv_file)
            exp = pd.read_csv(folder / "experiment.csv")
            status = exp["trial_status"].value_counts()
            completed, failed = int(status.get("COMPLETED", 0)), int(status.get("FAILED", 0))
            effort = run_effort(folder)
            ended = how_it_ended(folder)
            # a run stopped before its budget (abandoned trials, not all run) is known
            # only up to its last completed trial; a finished one stays flat after it. One
            # that its time budget or global stopping ended (exit 0) is finished: what it
            # has when it stops is its result, as the budget's is for the others
            finished = (completed + failed + effort["stopped"] >= trials
                        or (ended.startswith(STOPPED_BY_DESIGN)
                            and finished_seconds(folder) is not None))
            # HV after n completed trials, n = 1..trials
            curve = np.zeros(trials)
            for n, value in zip(hv["completed"], hv["hypervolume"]):
                if n <= trials:
                    curve[n - 1:] = value
            if not finished:
                curve[completed:] = np.nan
            for n in range(1, trials + 1):
                traces.append({"strategy": strategy, "seed": seed, "completed": n,
                               "hypervolume": curve[n - 1]})
            row = {"strategy": strategy, "seed": seed, "finished": finished,
                   "trials_run": int((~exp["trial_status"].isin(["ABANDONED", "CANDIDATE"])).sum()),
                   "completed": completed, "failed": failed, **effort,
                   "feasible": int(hv["feasible"].sum()) if len(hv) else 0}
            for frac in (0.25, 0.5, 0.75):
                n = max(int(round(frac * trials)), 1)
                row[f"hv_at_{n}"] = curve[n - 1]
            row["final_hv"] = curve[-1]  # NaN for a run cut short
            row["last_hv"] = float(hv["hypervolume"].iloc[-1]) if len(hv) else 0.0
            row["final_hv_fraction"] = curve[-1] / max_hypervolume()
            row["wall_seconds"] = finished_seconds(folder) or float("nan")
            row["ended"] = ended
            row.update(pareto_by_depth(folder))
            use = slot_use(folder, slots)
            row.update({k: use[k] for k in SLOT_COLUMNS})
            phases = trial_phases(folder, slots)
            row.update({k: phases.get(k, float("nan")) for k in PHASE_COLUMNS})
            rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(traces)


def summarize(table):
    """Per variant: median (min..max) of each number over the seeds."""
    cols = [c for c in table.columns if c.startswith("hv_at_") or c in
            ("final_hv", "last_hv", "final_hv_fraction", "completed", "failed", "stopped",
             "epochs_trained", "feasible", "wall_seconds", "trials_run",
             *DEPTH_COLUMNS.values(), *SLOT_COLUMNS, *PHASE_COLUMNS)]
    out = []
    for strategy in table["strategy"].unique():
        t = table[table["strategy"] == strategy]
        if t.empty:
            continue
        row = {"strategy": strategy, "runs": len(t)}
        for c in cols:
            fmt = ("{:.3f}" if c in ("final_hv_fraction", "busy_training") or c.endswith("_share")
                   else "{:.2f}" if c in ("relaunch_median_s", "startup_median_s") else "{:,.0f}")
            row[c] = (f"{fmt.format(t[c].median())} ({fmt.format(t[c].min())}.."
                      f"{fmt.format(t[c].max())})")
        out.append(row)
    return pd.DataFrame(out)


def head_to_head(traces, base="sobol", other="botorch"):
    """Seeds on which `other`'s HV is above / equal to / below `base`'s, after the most
    completed trials that both runs of the seed reached (the budget, unless one stopped)."""
    known = traces.dropna(subset=["hypervolume"])
    diffs, at = [], []
    for seed, runs in known.groupby("seed"):
        if not {base, other} <= set(runs["strategy"]):
            continue
        n = min(runs[runs["strategy"] == s]["completed"].max() for s in (base, other))
        hv = runs[runs["completed"] == n].set_index("strategy")["hypervolume"]
        diffs.append(hv[other] - hv[base])
        at.append(int(n))
    if not diffs:
        return None
    diff = pd.Series(diffs)
    return {"better": int((diff > 0).sum()), "equal": int((diff == 0).sum()),
            "worse": int((diff < 0).sum()), "seeds": len(diff),
            "median_difference": float(diff.median()), "at_trials": at}


def matplotlib_figure(traces, title, path, colors=COLORS):
    band_plot(band(traces), "strategy", "completed", "completed trials", title, path, colors)


def write_report(args, seeds):
    from plotly.offline import get_plotlyjs

    from nas.files import atomic_write_text
    from nas.report.provenance import add_to_html, describe, provenance, write_manifest

    out, record = Path(args.out), provenance()
    table, traces = load_runs(out, seeds, args.trials, args.variants, args.max_pending)
    if table.empty:
        print("no finished run to compare", file=sys.stderr)
        return None
    table = table.sort_values(["seed", "strategy"])
    atomic_write_text(out / "comparison.csv", table.to_csv(index=False))
    atomic_write_text(out / "hv_traces.csv", traces.to_csv(index=False))
    summary = summarize(table)
    runs = ", ".join(f"{s} {int((table['strategy'] == s).sum())}" for s in args.variants)
    fixed = f", {', '.join(args.fix)}" if args.fix else ""
    title = (f"Hypervolume vs completed trials ({args.trials} trials{fixed}, "
             f"{args.max_pending} at a time; runs: {runs})")
    md = [f"# {title}", "", "Median (min..max) over the seeds:", "",
          summary.to_markdown(index=False), "", "Every run:", "",
          table.to_markdown(index=False, floatfmt=",.4g"), "",
          f"Made with {describe(record)} (every file: provenance.json).", ""]
    stopped = table[~table["finished"]]
    if len(stopped):
        md += ["Stopped before the budget (known up to their last completed trial; final_hv "
               "empty, last_hv is the HV there): "
               + ", ".join(f"{r.strategy} seed {r.seed} after {r.completed} trials"
                           for r in stopped.itertuples()), ""]
    by_design = table[table["finished"] & table["ended"].str.startswith(STOPPED_BY_DESIGN)]
    if len(by_design):
        md += ["Ended before the trial budget by design (finished: final_hv is the HV they "
               "ended with): " + "; ".join(f"{r.strategy} seed {r.seed}, {r.trials_run} trials "
                                           f"run: {r.ended}" for r in by_design.itertuples()), ""]
    given = [v for v in args.variants if v not in VARIANTS]
    pairs = [("sobol", "botorch"), ("botorch", "botorch-es"), ("botorch", "layers"),
             *((args.variants[0], v) for v in given if v != args.variants[0])]
    for base, other in pairs:
        h2h = head_to_head(traces, base, other)
        if not h2h:
            continue
        where = ("at the full budget" if all(n == args.trials for n in h2h["at_trials"])
                 else "after " + ", ".join(map(str, h2h["at_trials"])) + " completed trials")
        if where == "at the full budget" and {base, other} & set(by_design["strategy"]):
            where = "at the end of each run (the trial budget, or where it was stopped by design)"
        md += [f"{other}'s hypervolume is higher than {base}'s on {h2h['better']} of "
               f"{h2h['seeds']} seeds, equal on {h2h['equal']}, lower on {h2h['worse']}, "
               f"{where} (median difference {h2h['median_difference']:,.0f}).", ""]
    colors = colors_of(args.variants)
    md += write_minutes(out, table, atomic_write_text, run_dir, colors)
    atomic_write_text(out / "summary.md", "\n".join(md))
    if not (out / "plotly.min.js").exists():
        atomic_write_text(out / "plotly.min.js", get_plotlyjs())
    fig = plotly_figure(traces, title, colors)
    atomic_write_text(out / "hv_vs_trial.html",
                      add_to_html(fig.to_html(include_plotlyjs="directory"), record))
    matplotlib_figure(traces, title, out / "hv_vs_trial.png", colors)
    made = ["comparison.csv", "hv_traces.csv", "summary.md", "hv_vs_trial.html",
            "hv_vs_trial.png", "hv_by_minute.csv", "hv_vs_minute.png"]
    write_manifest(out, [out / n for n in made if (out / n).exists()], record, atomic_write_text)
    print("\n".join(md))
    return table


def build_botorch_kernel() -> None:
    from bench import build_botorch_kernel as build

    build()


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if not args.report_only:
        runs = [(seed, s) for seed in seeds for s in args.variants]
        kernel_built = False
        for i, (seed, strategy) in enumerate(runs, start=1):
            folder = run_dir(args.out, strategy, seed)
            print(f"[{i}/{len(runs)}] {strategy} seed {seed}: {folder}", flush=True)
            if (kept := finished_seconds(folder)) is not None:
                print(f"    kept: finished before, in {kept:.0f}s", flush=True)
                continue
            if not kernel_built:
                # before a run is timed: else the first run (or the first since another
                # interpreter path built it) pays the kernel's compilation in its first
                # candidate (bench/__init__.py)
                build_botorch_kernel()
                kernel_built = True
            status, seconds = run_one(args, strategy, seed)
            print(f"    exit {status} after {seconds:.0f}s", flush=True)
            if status != 0:
                print(f"    see {run_dir(args.out, strategy, seed) / 'driver.log'}", flush=True)
    table = write_report(args, seeds)
    return 0 if table is not None else 1


if __name__ == "__main__":
    sys.exit(main())
