"""Where a Slurm trial's time goes, from a search that just ran through Slurm.

    python -m bench.slurm_phases RESULTS_DIR        # within MinJobAge (300 s) of its end

For each trial job (found by the slurm-<id>.out in its log dir), in whole seconds:
  queue_wait     Slurm's submit -> start (longer while every core is taken)
  start_up       Slurm's start -> the job's TensorBoard log opened: batch script, srun,
                 interpreter, cold imports (torch, Lightning), data loaded, model built
                 (the first event file's name holds its creation time)
  training       the job's own train_time (its TensorBoard scalar)
  finish         last event written -> Slurm's end time (metrics flushed, exit, srun)
Slurm's times come from `squeue --json`. Also `sbatch_s`: the median time of
`sbatch --wrap true` here, what each launch costs the driver. Medians over the trials;
prints one JSON object.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def slurm_jobs():
    out = subprocess.run(["squeue", "--json"], capture_output=True, text=True, check=True)
    return {str(j["job_id"]): j for j in json.loads(out.stdout)["jobs"]}


def trial_phases(trials_dir, jobs):
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's, at import
    from nas.metrics import read_final_scalars

    phases = []
    for trial in sorted(p for p in Path(trials_dir).iterdir() if p.name.isdigit()):
        ids = [p.name[6:-4] for p in trial.glob("slurm-*.out") if p.name[6:-4].isdigit()]
        events = sorted(trial.glob("events.out.tfevents.*"))
        if len(ids) != 1 or ids[0] not in jobs or not events:
            continue
        job = jobs[ids[0]]
        opened = min(int(p.name.split(".")[3]) for p in events)
        written = max(p.stat().st_mtime for p in events)
        phases.append({
            "queue_wait": job["start_time"] - job["submit_time"],
            "start_up": opened - job["start_time"],
            "training": read_final_scalars(trial).get("train_time", float("nan")),
            "finish": job["end_time"] - written,
        })
    return phases


def submission_latency(repeats=5):
    seconds = []
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:
        for _ in range(repeats):
            start = time.perf_counter()
            job = subprocess.run(["sbatch", "--parsable", f"--chdir={folder}", "--wrap", "true"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            seconds.append(time.perf_counter() - start)
            subprocess.run(["scancel", job], capture_output=True)
    return statistics.median(seconds)


def main(argv=None):
    results = Path((argv or sys.argv[1:])[0])
    phases = trial_phases(results / "logs" / "trials", slurm_jobs())
    if not phases:
        sys.exit("no trial job of that search is still known to Slurm (MinJobAge is 300 s): "
                 "run this right after the search")
    report = {"trials": len(phases), "sbatch_s": round(submission_latency(), 3)}
    for name in phases[0]:
        report[f"{name}_median_s"] = round(statistics.median(p[name] for p in phases), 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
