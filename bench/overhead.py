"""The time around a trial's training, for bench/speed.py: per-trial overhead of a real
local TorchX job (cold and warm), and the idle gaps between jobs in a full search."""

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def load():
    return [round(x, 2) for x in os.getloadavg()]


def trial_overhead(cache, model, repeats=3, batch_size=256, poll=0.05, warm=False):
    """Runs the real TorchX component (local_cwd, through the launcher as in a search) one
    trial at a time and splits its wall time: launch -> process started (the launcher's
    job.pid) -> the job's main() entered (cold: interpreter and imports; warm: hand-off
    and fork) -> first training step -> last step -> metrics readable (job exited,
    TensorBoard scalars read as the runner does); the job's times from its --timings file.
    `warm`: the jobs fork from a warm-start server (nas/jobs/warm_start.py), as in a search;
    a first, uncounted trial waits for the server's imports. `model`: its hyperparameters."""
    from torchx.runner import get_runner

    from nas.component import trainer
    from nas.jobs.local_launch import PID_FILE
    from nas.metrics import read_final_scalars
    from nas.jobs.warm_start import WarmServer, address_file

    phases = {k: [] for k in ("launch_to_process", "process_to_main", "main_to_first_step", "training",
                              "last_step_to_metrics_written", "metrics_written_to_exit_seen",
                              "exit_seen_to_readable", "launch_to_first_step",
                              "last_step_to_readable")}
    with tempfile.TemporaryDirectory() as tmp, get_runner() as runner:
        server = WarmServer(tmp, ROOT / "mnist_train_nas.py") if warm else None
        for i in range(-1 if warm else 0, repeats):
            job = {"script": str(ROOT / "mnist_train_nas.py"), "python": sys.executable,
                   "args": ["--log_path", "{log_dir}", "--data_cache", str(cache)],
                   "launcher": str(ROOT / "nas" / "jobs" / "local_launch.py"),
                   "warm_start": str(address_file(tmp))}
            app = trainer(log_path=tmp, trial_idx=i + 1, job_settings=job, epochs=1,
                          batch_size=batch_size, **model)
            app.roles[0].args += ["--timings", f"{tmp}/{i + 1}.timings.json"]  # the job's last flag
            t_launch = time.time()
            handle = runner.run(app, scheduler="local_cwd", cfg={"log_dir": f"{tmp}/torchx"})
            while not (status := runner.status(handle)).is_terminal():
                time.sleep(poll)
            t_exit = time.time()
            values = read_final_scalars(f"{tmp}/{i + 1}")
            t_read = time.time()
            assert status.state.name == "SUCCEEDED" and "val_acc" in values, status
            if i < 0:
                continue
            t = json.loads(Path(f"{tmp}/{i + 1}.timings.json").read_text())
            started = Path(f"{tmp}/{i + 1}/{PID_FILE}").stat().st_mtime
            for k, v in {
                "launch_to_process": started - t_launch,
                "process_to_main": t["main"] - started,
                "main_to_first_step": t["first_step"] - t["main"],
                "training": t["last_step"] - t["first_step"],
                "last_step_to_metrics_written": t["metrics_written"] - t["last_step"],
                "metrics_written_to_exit_seen": t_exit - t["metrics_written"],
                "exit_seen_to_readable": t_read - t_exit,
                "launch_to_first_step": t["first_step"] - t_launch,
                "last_step_to_readable": t_read - t["last_step"],
            }.items():
                phases[k].append(v)
            print(f"  {'warm' if warm else 'cold'} trial {i + 1}/{repeats}: launch->first step "
                  f"{phases['launch_to_first_step'][-1]:.1f}s, last step->readable "
                  f"{phases['last_step_to_readable'][-1]:.2f}s (load {load()[0]})", flush=True)
        if server:
            server.stop()
    return {k: median(v) for k, v in phases.items()}


def idle_gaps(log_dir, max_pending=4):
    """How long a free slot waits beyond generation. The driver is one loop, so launch
    i (after the first `max_pending`) can start preparing once both the (i - max_pending
    + 1)-th job has ended and launch i - 1 is done; idle = start - that - its generation
    time (fit + gen of its generator run). Job spans from `job_span`."""
    sys.path.insert(0, str(ROOT))
    from nas.state.storage import STATE_FILE, StateError, load_state

    try:
        experiment, _ = load_state(log_dir / STATE_FILE)
    except StateError:  # a build that saved its state in another format
        return {}
    spans = {i: job_span(log_dir / "trials" / str(i)) for i in sorted(experiment.trials)}
    if None in spans.values():
        return {}
    starts = [spans[i][0] for i in sorted(spans)]
    ends = sorted(end for _, end in spans.values())
    gaps, gen = [], []
    for i in range(max_pending, len(starts)):
        gr = experiment.trials[i].generator_runs[0]
        g = (gr.fit_time or 0) + (gr.gen_time or 0)
        ready = max(ends[i - max_pending], starts[i - 1])
        gen.append(g)
        gaps.append(starts[i] - ready - g)
    return {"idle_gap_median_s": median(gaps), "idle_gap_max_s": max(gaps, default=float("nan")),
            "generation_median_s": median(gen), "generation_total_s": sum(gen)}


def job_span(trial_dir):
    """(started, metrics written) of a local trial's job: the launcher's job.pid, written
    as the process starts, and the last TensorBoard event; builds before the launcher
    wrote both in a timings.json. None if neither is there."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    old = trial_dir / "timings.json"
    if old.exists():
        t = json.loads(old.read_text())
        return t["start"], t["metrics_written"]
    pid_file, acc = trial_dir / "job.pid", EventAccumulator(str(trial_dir))
    if not pid_file.exists():
        return None
    acc.Reload()
    written = [e.wall_time for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    return (pid_file.stat().st_mtime, max(written)) if written else None
