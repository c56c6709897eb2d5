"""The cost of a BoTorch candidate, and a simulated search to compare generation options.

Both run on the real search space and optimization config with a synthetic objective
(`synthetic_val_acc`, exact `num_params`), so no training is needed:

    python -m bench.generation                 # seconds per candidate at 10/24/47 observations
    python -m bench.generation --compare 0 1 2 # final hypervolume, Ax's vs fewer restarts
    python -m bench.generation --compare 0 1 2 --problem dtlz2 --trials 96 --max-pending 16 \
        --generations fast --options "" "num_restarts=3,raw_samples=128"

The synthetic accuracy is a smooth made-up function of the six hyperparameters in the
range a 1..4 epoch MLP reaches on MNIST (0.85..0.98), plus noise. It exercises model fit
and acquisition optimization like the real search; it is not MNIST.

`--problem dtlz2` simulates bench.scale's search instead (bench/synthetic: DTLZ2 with the
tutorial's kinds of parameters) without its jobs: trials end in the order of their
simulated training times, the slots that free up get their candidates from one `gen`
call as in the driver, and the result is the hypervolume fraction of DTLZ2's optimum at
each quarter of the trials, so that a generation setting's search quality at 100s of
trials can be compared in minutes per seed instead of hours.

`--options` are the acquisition optimizer's: num_restarts and raw_samples, any other key
(e.g. maxiter_alternating) going to BoTorch's optimize_acqf_mixed_alternating options.
"""

import argparse
import heapq
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ax.adapter.registry import Generators
from ax.core import Arm, Data, GeneratorRun
from ax.core.utils import extract_pending_observations
from ax.generation_strategy.generator_spec import GeneratorSpec

from bench import scale_analysis
from nas.report.hypervolume import current_hypervolume
from nas.orchestration import make_experiment
from nas.generation import GENERATIONS, GENERATION_THREADS, acqf_gen_kwargs, make_generation_strategy
from nas.config import DEFAULT_CONFIG, load_config
from nas.runner import make_runner

OBSERVATIONS = (10, 24, 47)
PENDING = 3  # trials still running when a candidate is generated (max_pending - 1)


def num_params(p):
    h1, h2 = p["hidden_size_1"], p["hidden_size_2"]
    return 784 * h1 + h1 * h2 + 10 * h2


def synthetic_val_acc(p, rng):
    steps = p["epochs"] * 60000 / p["batch_size"]
    lr_miss = (math.log10(p["learning_rate"]) + 2.5) ** 2  # best near 3e-3
    acc = (0.985 - 0.05 * math.exp(-p["hidden_size_1"] / 40) - 0.02 * math.exp(-p["hidden_size_2"] / 30)
           - 0.02 * lr_miss * 2000 / (2000 + steps) - 0.01 * p["dropout"] ** 2
           - 0.02 * 500 / (500 + steps))
    return acc + rng.normal(0, 0.002)


def new_experiment(tmp="/tmp/bench-generation"):
    """The tutorial's experiment (nas/tutorial.toml), its runner's jobs never started."""
    config = load_config(DEFAULT_CONFIG)
    return make_experiment(config, make_runner(config, "local_cwd", tmp, ".", tmp))


def complete(experiment, trial, rng):
    """Attach synthetic metrics to a running trial and mark it completed."""
    arm = trial.arm
    values = {"val_acc": synthetic_val_acc(arm.parameters, rng), "num_params": num_params(arm.parameters)}
    sigs = {m.name: m.signature for m in experiment.metrics.values()}
    df = pd.DataFrame([
        {"trial_index": trial.index, "arm_name": arm.name, "metric_name": k,
         "metric_signature": sigs[k], "mean": float(v), "sem": float("nan")}
        for k, v in values.items()
    ])
    experiment.attach_data(Data(df=df))
    trial.mark_completed()


def add_trial(experiment, parameters):
    trial = experiment.new_trial(generator_run=GeneratorRun(arms=[Arm(parameters=parameters)]))
    trial.mark_running(no_runner_required=True)
    return trial


def sobol_experiment(n_completed, seed=0, pending=PENDING):
    """`n_completed` Sobol trials with synthetic data plus `pending` running ones."""
    experiment = new_experiment()
    rng = np.random.default_rng(seed)
    sobol = Generators.SOBOL(experiment=experiment, seed=seed)
    for params in sobol.gen(n=n_completed + pending).arms:
        add_trial(experiment, params.parameters)
    for trial in list(experiment.trials.values())[:n_completed]:
        complete(experiment, trial, rng)
    return experiment


def time_candidate(experiment, acqf_options=None):
    """(fit seconds, acquisition seconds) for one BoTorch candidate, the way Ax's default
    BoTorch node makes it (`--generation ax`: a fit from scratch; `acqf_options` set the
    acquisition's restarts and raw samples)."""
    gen_kwargs = acqf_gen_kwargs(acqf_options) if acqf_options else {}
    spec = GeneratorSpec(generator_enum=Generators.BOTORCH_MODULAR, generator_gen_kwargs=gen_kwargs)
    t0 = time.perf_counter()
    spec.fit(experiment=experiment, data=experiment.lookup_data())
    t1 = time.perf_counter()
    spec.gen(n=1, pending_observations=extract_pending_observations(experiment))
    return t1 - t0, time.perf_counter() - t1


def generation_costs(repeats=2, observations=OBSERVATIONS, threads=(GENERATION_THREADS,),
                     acqf_options=None):
    """{threads: {n: {"fit": median s, "acqf": median s, "total": median s}}}.

    The thread counts alternate within each repeat, so they see the same load."""
    runs = {t: {n: [] for n in observations} for t in threads}
    experiments = {n: sobol_experiment(n) for n in observations}
    try:
        for _ in range(repeats):
            for n in observations:
                for t in threads:
                    torch.set_num_threads(t)
                    runs[t][n].append(time_candidate(experiments[n], acqf_options))
    finally:
        torch.set_num_threads(GENERATION_THREADS)
    return {t: {n: {"fit": float(np.median([f for f, _ in r])),
                    "acqf": float(np.median([a for _, a in r])),
                    "total": float(np.median([f + a for f, a in r]))}
                for n, r in by_n.items()}
            for t, by_n in runs.items()}


def simulate_search(seed, acqf_options=None, total=48, max_pending=4, generation="ax"):
    """The default search (Sobol then BoTorch, `max_pending` at a time, each finished
    trial replaced) on the synthetic objective, the BoTorch node set as `generation`
    (nas/generation.py); returns (hypervolume, generation seconds)."""
    experiment = new_experiment()
    gs = make_generation_strategy(experiment, total, max_pending, seed=seed,
                                  generation=generation, acqf_options=acqf_options)
    rng = np.random.default_rng(seed)
    running, gen_seconds = [], 0.0
    while len(experiment.trials) < total or running:
        if len(running) < max_pending and len(experiment.trials) < total:
            t = time.perf_counter()
            gr = gs.gen(experiment=experiment, n=1)[0][0]
            gen_seconds += time.perf_counter() - t
            running.append(add_trial(experiment, gr.arms[0].parameters))
        else:
            complete(experiment, running.pop(0), rng)
    return current_hypervolume(experiment), gen_seconds


SYNTHETIC = Path(__file__).resolve().parent / "synthetic"
TOP_LEVEL_OPTIONS = ("num_restarts", "raw_samples")  # the rest go under "options"


def simulate_dtlz2_search(seed, acqf_options=None, total=96, max_pending=16, generation="fast",
                          seconds=60.0):
    """bench.scale's synthetic search without jobs: `max_pending` slots, each trial ending
    after its simulated training time, the free slots filled by one `gen` call; returns
    ({n finished: hypervolume fraction at each quarter and the end}, generation seconds)."""
    trial_module = scale_analysis.trial_module()
    config = load_config(SYNTHETIC / "search.toml")
    tmp = "/tmp/bench-generation-dtlz2"
    experiment = make_experiment(config, make_runner(config, "local_cwd", tmp, ".", tmp))
    gs = make_generation_strategy(experiment, total, max_pending, seed=seed,
                                  generation=generation, acqf_options=acqf_options)
    sigs = {m.name: m.signature for m in experiment.metrics.values()}
    max_hv = scale_analysis.max_hv()
    running, now, gen_seconds, fractions = [], 0.0, 0.0, {}
    marks = {max(1, round(total * q)) for q in (0.25, 0.5, 0.75, 1.0)}
    finished = 0
    while finished < total:
        free = min(max_pending - len(running), total - len(experiment.trials))
        if free > 0:
            t = time.perf_counter()
            runs = gs.gen(experiment=experiment, num_trials=free, n=1)
            gen_seconds += time.perf_counter() - t
            for (gr, *_) in runs:
                trial = add_trial(experiment, gr.arms[0].parameters)
                p = {k.replace("-", "_"): v for k, v in trial.arm.parameters.items()}
                ends = now + trial_module.simulated_seconds(p["epochs"], p["batch"], seconds)
                heapq.heappush(running, (ends, trial.index, trial, p))
            continue
        now, _, trial, p = heapq.heappop(running)
        f1, f2 = trial_module.objectives([trial_module.unit_point(**p)])[0].tolist()
        experiment.attach_data(Data(df=pd.DataFrame([
            {"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": k,
             "metric_signature": sigs[k], "mean": v, "sem": float("nan"), "step": float(p["epochs"])}
            for k, v in (("f1", f1), ("f2", f2))])))
        trial.mark_completed()
        finished += 1
        if finished in marks:
            fractions[finished] = current_hypervolume(experiment) / max_hv
    return fractions, gen_seconds


def parse_options(text):
    """"num_restarts=10,raw_samples=512,maxiter_alternating=4" -> the optimizer's options
    (keys other than num_restarts and raw_samples under "options"); "" -> None."""
    if not text:
        return None
    pairs = {k: int(v) for k, v in (kv.split("=") for kv in text.split(","))}
    options = {k: v for k, v in pairs.items() if k in TOP_LEVEL_OPTIONS}
    if extra := {k: v for k, v in pairs.items() if k not in TOP_LEVEL_OPTIONS}:
        options["options"] = extra
    return options


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compare", type=int, nargs="*", metavar="SEED",
                   help="simulate the search at these seeds with each of --options")
    p.add_argument("--options", nargs="+", default=["", "num_restarts=10,raw_samples=512"],
                   help='acquisition optimizer options to compare ("" = Ax defaults)')
    p.add_argument("--generations", nargs="+", default=["ax"], choices=tuple(GENERATIONS),
                   help="settings of the BoTorch node to compare (nas/generation.py)")
    p.add_argument("--problem", choices=("tutorial", "dtlz2"), default="tutorial",
                   help="the tutorial's search space with a made-up accuracy, or bench.scale's "
                        "DTLZ2 search (default: %(default)s)")
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--max-pending", type=int, default=4)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    if args.compare is None:
        for opts in args.options:
            costs = generation_costs(args.repeats, threads=args.threads,
                                     acqf_options=parse_options(opts))
            for t, by_n in costs.items():
                for n, c in by_n.items():
                    print(f"{opts or 'Ax defaults':32s} threads {t} n={n:2d} fit {c['fit']:.2f}s "
                          f"acqf {c['acqf']:.2f}s total {c['total']:.2f}s", flush=True)
        return
    torch.set_num_threads(GENERATION_THREADS)
    for seed in args.compare:
        for generation in args.generations:
            for opts in args.options:
                if args.problem == "dtlz2":
                    fractions, sec = simulate_dtlz2_search(seed, parse_options(opts), args.trials,
                                                           args.max_pending, generation)
                    hv = " ".join(f"{n}: {f:.3f}" for n, f in sorted(fractions.items()))
                    print(f"seed {seed} {generation} {opts or 'its options':32s} hypervolume "
                          f"fraction {hv} generation {sec:.0f}s", flush=True)
                    continue
                hv, sec = simulate_search(seed, parse_options(opts), args.trials,
                                          args.max_pending, generation)
                print(f"seed {seed} {generation} {opts or 'its options':32s} hypervolume "
                      f"{hv:.1f} generation {sec:.0f}s", flush=True)


if __name__ == "__main__":
    main()
