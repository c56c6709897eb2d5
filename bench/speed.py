"""Side-by-side speed benchmark of the search's pieces, medians over repeats.

    python -m bench.speed                 # epochs, per-trial overhead, generation: minutes
    python -m bench.speed --full          # plus the whole default search (48 trials)
    python -m bench.speed --full --repo /path/to/other/checkout   # the search of another build

Epoch times run in this process with one torch thread (as each trial has), the three
pipelines interleaved in every repeat so that they share the machine's load:
  tutorial  the tutorial's data pipeline (torchvision MNIST, ToTensor/Normalize per sample,
            DataLoader) and one Lightning step per mini-batch (automatic optimization)
  ours      the job's pipeline: the driver's uint8 tensor file, normalized once, sliced in
            memory, mini-batches grouped per Lightning step (mnist_train_nas.py)
  bare      a plain PyTorch loop over the same preloaded normalized tensors, same model/Adam
Wall and CPU seconds of the training epoch are both reported; on a shared machine the CPU
time of a single-threaded loop is the steadier figure. Writes results/benchmark.json.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # as in the job: CPU only

from bench.busy import slot_use, trial_phases
from bench.overhead import idle_gaps, load, median, trial_overhead

ROOT = Path(__file__).resolve().parents[1]
# library versions recorded with the figures
VERSIONS = ["torch", "pytorch-lightning", "ax-platform", "botorch", "gpytorch", "torchx",
            "torchvision", "torchmetrics"]
MAX_PENDING = 4  # the default search's trials at once (nas/tutorial.toml), for bench/busy.py
MODEL = dict(hidden_size_1=32, hidden_size_2=32, learning_rate=1e-3, dropout=0.2)  # job defaults


def model_args():
    """MnistModel's arguments for MODEL."""
    return [MODEL["hidden_size_1"], MODEL["hidden_size_2"]], MODEL["learning_rate"], MODEL["dropout"]


# -- epoch time -------------------------------------------------------------------------

def epoch_times(cache, data_dir, batch_sizes=(32, 256), repeats=3, seed=0):
    import pytorch_lightning as pl
    import torch
    import torch.nn.functional as F

    from mnist_data import Grouped, cached_loaders, tutorial_loaders
    from mnist_train_nas import MnistModel, group_size, make_trainer

    torch.set_num_threads(1)

    class TutorialModel(MnistModel):
        """The job's module trained as in the tutorial: Lightning optimizes, one mini-batch
        per step (the job's own model, layers and optimizer; only the step differs)."""

        def __init__(self, *args):
            super().__init__(*args)
            self.automatic_optimization = True

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.nll_loss(self(x), y)
            self.last_loss = loss.detach()
            return loss

    class EpochClock(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.t = (time.perf_counter(), time.process_time())

        def on_train_epoch_end(self, trainer, module):
            self.wall, self.cpu = time.perf_counter() - self.t[0], time.process_time() - self.t[1]

    def lightning(model_cls, train, val):
        pl.seed_everything(seed, verbose=False)
        model, clock = model_cls(*model_args()), EpochClock()
        make_trainer(1, callbacks=[clock]).fit(model, train, val)
        return clock.wall, clock.cpu, model.val_acc

    def bare(train, val):
        pl.seed_everything(seed, verbose=False)
        model = MnistModel(*model_args())
        optimizer = torch.optim.Adam(model.parameters(), lr=MODEL["learning_rate"])
        x, y, bs = train.x, train.y, train.batch_size
        t = (time.perf_counter(), time.process_time())
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = order[i:i + bs]
            loss = F.nll_loss(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        wall, cpu = time.perf_counter() - t[0], time.process_time() - t[1]
        model.eval()
        with torch.inference_mode():
            correct = sum(int((model(vx).argmax(1) == vy).sum()) for vx, vy in val)
        return wall, cpu, correct / len(val.x)

    runs = {bs: {k: [] for k in ("tutorial", "ours", "bare")} for bs in batch_sizes}
    for r in range(repeats):
        for bs in batch_sizes:
            train, val = cached_loaders(cache, bs)
            runs[bs]["tutorial"].append(lightning(TutorialModel, *tutorial_loaders(data_dir, bs)))
            runs[bs]["ours"].append(lightning(MnistModel, Grouped(train, group_size(bs)), val))
            runs[bs]["bare"].append(bare(train, val))
            print(f"  epoch repeat {r + 1}/{repeats} batch {bs}: "
                  + ", ".join(f"{k} {v[-1][0]:.2f}s" for k, v in runs[bs].items())
                  + f" (load {load()[0]})", flush=True)
    out = {}
    for bs, by in runs.items():
        out[bs] = {k: {"wall_s": median([w for w, _, _ in v]), "cpu_s": median([c for _, c, _ in v]),
                       "val_acc": v[0][2]} for k, v in by.items()}
        for unit, i in (("wall_s", 0), ("cpu_s", 1)):  # ratio within each repeat, then median
            out[bs][f"ours_over_bare_{unit}"] = median([o[i] / b[i] for o, b in zip(by["ours"], by["bare"])])
        out[bs]["val_acc_diff_ours_vs_tutorial"] = abs(by["ours"][0][2] - by["tutorial"][0][2])
    return out


# -- generation -----------------------------------------------------------------------

def generation(repeats=1, threads=(1,)):
    from bench.generation import generation_costs

    return generation_costs(repeats, threads=threads)


# -- full search ------------------------------------------------------------------------

# where the layouts of earlier builds had the functions bench/scale_probe.py times
OLD_LAYOUT_WRAPS = ["save=nas.storage:save_state", "save=nas.lifecycle:StateSaver.save",
                    "progress=nas.progress:Progress.update", "report=nas.report:write_results"]


def full_run(repo, data_dir, seed=0):
    """The default search (48 trials) of `repo`'s run_nas.py in a fresh results dir, run
    through bench/scale_probe.py: wall time, the mini-batch steps its trials trained, the
    final hypervolume (computed here, the same way for every build: the tutorial's goal),
    the driver's CPU seconds and where its time went (generation: model fit, acquisition;
    saving, polling, progress, report, the rest), and the idle gap between a job ending
    and the next one starting beyond its generation time."""
    import math

    import pandas as pd

    results = Path(tempfile.mkdtemp(prefix="bench-full-"))
    events = results / "driver_events.jsonl"
    wraps = [f for w in OLD_LAYOUT_WRAPS for f in ("--wrap", w)]
    t0 = time.time()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scale_probe.py"), "--repo",
                           str(repo), "--events", str(events), *wraps, "--", "--seed", str(seed),
                           "--data-dir", str(data_dir), "--results-dir", str(results)],
                          cwd=repo, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"run_nas.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    df = pd.read_csv(results / "experiment.csv")
    done = df[df["trial_status"] == "COMPLETED"].dropna(subset=["val_acc", "num_params"])
    from nas.report.provenance import git_state

    end = [json.loads(line) for line in events.read_text().splitlines()][-1]
    out = {"repo": str(repo), "commit": git_state(repo), "seed": seed, "wall_s": wall,
           "trials_completed": len(done),
           "steps": int(sum(e * math.ceil(60000 / b) for e, b in zip(df["epochs"], df["batch_size"]))),
           "hypervolume": tutorial_goal().hypervolume(
               done[["val_acc", "num_params"]].to_dict("records")),
           "driver_cpu_s": end["cpu_s"],
           "driver_s": {k: round(v, 1) for k, v in end["totals"].items()},
           "results_dir": str(results), "load_after": load()}
    out.update(idle_gaps(results / "logs"))  # bench/overhead.py
    from nas.state.storage import StateError

    try:  # bench/busy.py's figures, as bench.compare and bench.scale give them
        out["slots"] = slot_use(results, MAX_PENDING)
        out["slot_phases"] = trial_phases(results, MAX_PENDING)
    except StateError:  # a build that saved its state in another format
        pass
    return out


def tutorial_goal():
    """The tutorial's objectives and thresholds (nas/tutorial.toml), as the report has them."""
    from nas.config import DEFAULT_CONFIG, load_config
    from nas.orchestration import make_experiment
    from nas.report.hypervolume import goal_of

    config = load_config(DEFAULT_CONFIG)
    return goal_of(make_experiment(config), {m.name: m.best for m in config.metrics.values()})


# -- report -----------------------------------------------------------------------------

def table(res):
    lines = [f"machine: {res['cpu_count']} CPUs, load average before {res['load_before']}, "
             f"after {res['load_after']}", ""]
    if "epoch" in res:
        lines.append("epoch time, median s (wall / CPU)   tutorial        ours            bare          ours/bare (wall, CPU)  |val_acc ours-tutorial|")
        for bs, e in res["epoch"].items():
            cells = "  ".join(f"{e[k]['wall_s']:6.2f} / {e[k]['cpu_s']:5.2f}" for k in ("tutorial", "ours", "bare"))
            lines.append(f"  batch {bs:<4}                         {cells}   {e['ours_over_bare_wall_s']:.2f}x, "
                         f"{e['ours_over_bare_cpu_s']:.2f}x          {e['val_acc_diff_ours_vs_tutorial']:.4f}")
    if "overhead" in res:
        o = res["overhead"]
        lines += ["", "per-trial overhead, median s (1-epoch batch-256 trial, TorchX local_cwd)",
                  f"  {'':32s} {'cold':>6s} {'warm':>6s}   (warm: forked from nas/jobs/warm_start.py)"]
        lines += [f"  {k:32s} {v:6.2f} {o['warm'][k]:6.2f}" for k, v in o["cold"].items()]
    if "generation" in res:
        lines += ["", "generation, median s per BoTorch candidate (synthetic data, 3 pending)"]
        for t, by_n in res["generation"].items():
            for n, c in by_n.items():
                lines.append(f"  threads {t}  observations {n:>2}   fit {c['fit']:5.2f}  "
                             f"acquisition {c['acqf']:5.2f}  total {c['total']:5.2f}")
    for f in res.get("full", []):
        lines += ["", f"full search ({f['repo']}, seed {f['seed']}): {f['wall_s']:.0f} s wall, "
                      f"{f['trials_completed']} trials completed, {f.get('steps', 0):,} steps, "
                      f"hypervolume {f['hypervolume']:.1f}"]
        if "driver_s" in f:
            lines.append(f"  driver: {f['driver_cpu_s']:.0f} CPU-s; seconds by part: "
                         + ", ".join(f"{k} {v:.0f}" for k, v in sorted(f["driver_s"].items())))
        if "idle_gap_median_s" in f:
            lines.append(f"  gap between a job ending and the next starting, beyond generation: "
                         f"median {f['idle_gap_median_s']:.2f} s, max {f['idle_gap_max_s']:.2f} s; "
                         f"generation median {f['generation_median_s']:.2f} s")
        if "slots" in f:
            u, ph = f["slots"], f.get("slot_phases", {})
            lines.append(f"  slots busy training {u['busy_training']:.3f} (bench/busy.py), a free "
                         f"slot's median wait {u['relaunch_median_s']:.2f} s; slots' time: "
                         + ", ".join(f"{k} {ph.get(f'{k}_share', float('nan')):.3f}"
                                     for k in ("launch", "startup", "training", "end", "idle")))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="repeats of epochs and trials")
    p.add_argument("--gen-repeats", type=int, default=1)
    p.add_argument("--gen-threads", type=int, nargs="+", default=[1],
                   help="torch threads for generation to compare (default: 1, as the driver)")
    p.add_argument("--skip", nargs="*", default=[], choices=["epoch", "overhead", "generation"])
    p.add_argument("--full", action="store_true", help="also run the whole default search")
    p.add_argument("--repo", nargs="+", default=[str(ROOT)],
                   help="checkouts whose run_nas.py --full runs (default: this one)")
    p.add_argument("--seed", type=int, nargs="+", default=[0],
                   help="seed of the epoch timings; --full runs each repo at each seed")
    p.add_argument("--data-dir", default=os.environ.get("PATH_DATASETS", "."))
    p.add_argument("--out", default=str(ROOT / "results" / "benchmark.json"))
    args = p.parse_args(argv)
    os.chdir(ROOT)  # the TorchX component runs mnist_train_nas.py from the working dir
    sys.path.insert(0, str(ROOT))

    from bench import build_botorch_kernel
    from mnist_data import prepare
    from nas.report.provenance import provenance, versions

    res = {"cpu_count": os.cpu_count(), "versions": versions(VERSIONS), "load_before": load(),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "provenance": provenance()}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "mnist_uint8.npz"
        prepare(args.data_dir, cache)  # the tutorial's [prepare] command
        if "epoch" not in args.skip:
            print("epoch times ...", flush=True)
            res["epoch"] = epoch_times(cache, args.data_dir, repeats=args.repeats, seed=args.seed[0])
        if "overhead" not in args.skip:
            print("per-trial overhead ...", flush=True)
            res["overhead"] = {start: trial_overhead(cache, MODEL, args.repeats, warm=start == "warm")
                               for start in ("cold", "warm")}
    if "generation" not in args.skip:
        print("generation ...", flush=True)
        res["generation"] = generation(args.gen_repeats, tuple(args.gen_threads))
    if args.full:
        build_botorch_kernel()
        res["full"] = []
        for seed in args.seed:
            for repo in args.repo:
                print(f"full search of {repo}, seed {seed} ...", flush=True)
                res["full"].append(full_run(Path(repo).resolve(), args.data_dir, seed))
    res["load_after"] = load()
    print("\n" + table(res))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
