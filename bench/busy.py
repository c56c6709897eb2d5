"""How busy a finished search kept its slots, from what it left in its log dir.

    python -m bench.busy RESULTS_DIR --slots 4      # a run of run_nas.py (its --results-dir)

- **busy training**: the trials' own training seconds (each job's `train_time` scalar, the
  seconds in Trainer.fit; mnist_train_nas.py logs it) summed, over slots x the search's
  span, from the first trial's launch to the last trial's end as the driver saw them (Ax's
  time_run_started and time_completed). What is not training is the driver's (a slot
  waiting for its next candidate) or the trial's own overhead (launch, data loading, the
  last validation, the poll that sees the end).
- **busy**: the same with each trial busy from its launch to its end as the driver saw it.
- **relaunch**: for the k-th launch (k past the first `slots`), its launch minus the
  (k - slots)-th trial end the driver saw (the end that freed its slot): the seconds a
  free slot waited. Median and total.
- **generation**: the seconds the driver spent making candidates, and how many of them,
  from nas/candidates.py's log (none for a driver that generated in its loop).
- **a trial's slot, piece by piece** (`trial_phases`): each completed trial's time from
  its launch to the driver seeing its end, split at the moments its logs give: the job's
  process started (the launcher's job.pid, by its mtime: copy a run with `cp -a`),
  training started (the `train_time` scalar's write time less `train_time`), training
  ended (that write), the driver saw the end (Ax's time_completed). As shares of slots x
  span, these pieces and the slots' idle time add up to 1: `launch` + `startup` +
  `training` + `end` + `idle`.
"""

import argparse
import json
import statistics
from pathlib import Path

from nas.candidates import read_generation_log
from nas.metrics import read_final_scalars
from nas.state.storage import STATE_FILE, load_state


def ran_trials(results_dir: Path) -> tuple[Path, list] | None:
    """(the log dir, the trials that were launched and ended) of the search saved in
    `results_dir`; None for a folder without a saved search."""
    logs = Path(results_dir) / "logs"
    if not (logs / STATE_FILE).exists():
        return None
    experiment, _ = load_state(logs / STATE_FILE)
    return logs, [t for t in experiment.trials.values() if t.time_run_started and t.time_completed]


def slot_use(results_dir: Path, slots: int) -> dict:
    """The figures of the module's docstring for the search in `results_dir`; NaN for a
    folder without a saved search."""
    saved = ran_trials(results_dir)
    if saved is None:
        return {k: float("nan") for k in ("search_span_s", "training_s", "busy_training", "busy",
                                          "relaunch_median_s", "relaunch_total_s", "generation_s")}
    logs, ran = saved
    launches = sorted(t.time_run_started.timestamp() for t in ran)
    ends = sorted(t.time_completed.timestamp() for t in ran)
    span = ends[-1] - launches[0] if ran else float("nan")
    training = sum(read_final_scalars(logs / "trials" / str(t.index)).get("train_time", 0.0)
                   for t in ran if t.status.name == "COMPLETED")
    busy = sum(t.time_completed.timestamp() - t.time_run_started.timestamp() for t in ran)
    waits = [launches[k] - ends[k - slots] for k in range(slots, len(launches))]
    generations = [g for g in read_generation_log(logs) if "ended" in g]
    return {"trials": len(ran), "search_span_s": span, "training_s": training,
            "busy_training": training / (slots * span) if span > 0 else float("nan"),
            "busy": busy / (slots * span) if span > 0 else float("nan"),
            "relaunch_median_s": statistics.median(waits) if waits else float("nan"),
            "relaunch_total_s": sum(waits),
            "generation_s": sum(g["ended"] - g["started"] for g in generations),
            "generations": len(generations)}


PHASES = ("launch", "startup", "training", "end")


def trial_phases(results_dir: Path, slots: int) -> dict:
    """`launch` (Ax's launch to the job's process), `startup` (process to training:
    interpreter or warm-start fork, data, model, trainer), `training` (Trainer.fit, its
    validations included), `end` (training's end to the driver seeing the job ended: the
    metrics written, the process exiting, the poll that sees it) of every completed trial
    with all four: median seconds per trial and share of slots x span; `idle` is the rest
    of the slots' time (a free slot waiting for its next trial, and the trials without
    these logs)."""
    from bench.overhead import job_span

    saved = ran_trials(results_dir)
    if saved is None or not saved[1]:
        return {}
    logs, ran = saved
    span = max(t.time_completed.timestamp() for t in ran) - min(
        t.time_run_started.timestamp() for t in ran)
    pieces: dict[str, list[float]] = {k: [] for k in PHASES}
    for t in ran:
        trial_dir = logs / "trials" / str(t.index)
        job = job_span(trial_dir) if t.status.name == "COMPLETED" else None
        training = read_final_scalars(trial_dir).get("train_time")
        if job is None or training is None:
            continue
        process, written = job
        launched, seen = t.time_run_started.timestamp(), t.time_completed.timestamp()
        for k, v in zip(PHASES, (process - launched, written - training - process, training,
                                 seen - written)):
            pieces[k].append(v)
    out = {"trials_split": len(pieces["training"]), "span_s": span}
    for k, values in pieces.items():
        out[f"{k}_median_s"] = statistics.median(values) if values else float("nan")
        out[f"{k}_share"] = sum(values) / (slots * span)
    out["idle_share"] = 1 - sum(out[f"{k}_share"] for k in PHASES)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--slots", type=int, required=True, help="the search's --max-pending")
    args = parser.parse_args(argv)
    print(json.dumps({**slot_use(args.results_dir, args.slots),
                      "phases": trial_phases(args.results_dir, args.slots)}, indent=1))


if __name__ == "__main__":
    main()
