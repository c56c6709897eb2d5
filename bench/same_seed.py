"""Two searches run at the same seed, side by side: do they propose the same trials?

    python -m bench.same_seed results-before/ results-after/

The quasi-random (Sobol) trials depend only on the seed, so two builds that run the same
search must propose them identically, with the same parameter count (a function of the
hidden sizes). Later trials depend on the measured accuracies, which vary from run to
run (a job draws its own initial weights), so they are compared only in aggregate:
counts, hypervolume, wall time and the mini-batch steps trained, from each run's
experiment.csv and run_summary.json.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

PARAMETERS = ["hidden_size_1", "hidden_size_2", "learning_rate", "epochs", "dropout", "batch_size"]


def compare(before, after):
    """(rows of the Sobol trials both ran, with `same` = identical parameters and size)."""
    a, b = (pd.read_csv(Path(d) / "experiment.csv").set_index("trial_index") for d in (before, after))
    sobol = a.index[a["generation_method"] == "Sobol"].intersection(b.index)
    same = [(a.loc[i, PARAMETERS] == b.loc[i, PARAMETERS]).all()
            and a.loc[i, "num_params"] == b.loc[i, "num_params"] for i in sobol]
    return pd.DataFrame({"trial_index": sobol, "same": same})


def training_steps(table):
    """Mini-batch steps the search trained (MNIST's 60,000 training images per epoch):
    what a search's wall time mostly depends on, and BoTorch's picks vary it."""
    return int((table["epochs"] * np.ceil(60_000 / table["batch_size"])).sum())


def facts(results_dir):
    table = pd.read_csv(Path(results_dir) / "experiment.csv")
    summary = json.loads((Path(results_dir) / "run_summary.json").read_text())
    commit = summary.get("provenance", {}).get("commit", "(not recorded)")
    return {"results": str(results_dir), "commit": commit, "trials": summary["trials"],
            "wall s": round(summary["driver_seconds"]),
            "final HV": round(summary["final_hypervolume"], 1),
            "training steps": training_steps(table)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    args = p.parse_args(argv)
    rows = compare(args.before, args.after)
    print(pd.DataFrame([facts(args.before), facts(args.after)]).to_string(index=False))
    print(f"Sobol trials with identical parameters and num_params: "
          f"{int(rows['same'].sum())} of {len(rows)}")
    if not rows["same"].all():
        print("differing:", rows.loc[~rows["same"], "trial_index"].tolist())


if __name__ == "__main__":
    main()
