"""bench.scale's instrument: run a checkout's driver (run_nas.py) in this process, with
timers around the calls that make up its work, and write what they measured.

    python bench/scale_probe.py --repo CHECKOUT --events FILE [--wrap CATEGORY=MODULE:NAME]
                                -- RUN_NAS_ARGS...

Run by path, so that nothing of this checkout is imported: CHECKOUT goes first on
sys.path, and its `run_nas.main` runs with RUN_NAS_ARGS; the engine is not changed, only
the functions of TARGETS are replaced by timed wrappers (the same function, called
through). A target that this checkout, Ax or BoTorch does not have is skipped and listed
as skipped. `--wrap` adds one (e.g. a new save function of another build).

Every moment of the driver's main thread is charged to one category: that of the
innermost timed call running then, "rest" outside all of them. A model fit or
acquisition optimization outside the generation strategy's `gen` (the report's
cross-validation) is charged to "model_outside_generation", anything inside the report
writer to "report". Calls on other threads are summed apart ("background"): they do not
hold the driver up. FILE gets one JSON object per line:

  start     when this process began, the targets wrapped and skipped, the driver's
            argv, the checkout
  startup   cumulative seconds per category when the first generation began
  gen       each call of the generation strategy's gen: its seconds, the categories
            inside it, trials generated, completed trials (the model's data), node
  launch    each Orchestrator.run_trials: the trials it started, cumulative seconds per
            category, finished / completed / running trials then, the driver's RSS
  end       cumulative seconds, background seconds, the driver's exit status, peak RSS
            and CPU seconds, and every trial's status, start and end (Ax's
            time_run_started and time_completed, as Unix times) and log dir

Only the standard library is imported before the targets, so that modules imported later
bind the wrappers (`from time import sleep` included); references to a wrapped function
held by modules imported before are replaced too.
"""

import argparse
import functools
import importlib
import json
import os
import resource
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

# (category, "module:qualified name") of every function timed. Ax's classes are those of
# the installed Ax, the same for every checkout; the `nas.` ones are this project's.
TARGETS = [
    # idle: the orchestrator's sleep between polls, and any other sleep of the driver
    ("wait", "time:sleep"),
    # ... and a loop that sleeps until the next poll or a candidate made beside it is ready
    ("wait", "nas.candidates:CandidateMaker.wait_ready"),
    # generation: the orchestrator asks the generation strategy for the next trial(s)
    ("generation", "ax.generation_strategy.generation_strategy:GenerationStrategy.gen"),
    # model fit: the adapter built (or updated) on the data, transforms and the GP's fit
    ("fit", "ax.generation_strategy.generator_spec:GeneratorSpec.fit"),
    # the GP's marginal-likelihood optimization inside it (Ax's binding of BoTorch's)
    ("mll", "ax.generators.torch.botorch_modular.utils:fit_gpytorch_mll"),
    # acquisition optimization: BoTorch's multi-start optimizer of the acquisition value
    ("acquisition", "ax.generators.torch.botorch_modular.acquisition:Acquisition.optimize"),
    # polling: trial statuses (the runner), metric fetching, early stopping
    ("poll", "ax.orchestration.orchestrator:Orchestrator.poll_and_process_results"),
    ("status", "ax.orchestration.orchestrator:Orchestrator.poll_trial_status"),
    ("fetch", "ax.core.experiment:Experiment.fetch_trials_data_results"),
    # launching: the runner submits the new trials' jobs, Ax marks them running
    ("launch", "ax.orchestration.orchestrator:Orchestrator.run_trials"),
    # saving the search state: this project's JSON file
    ("save", "nas.state.storage:StateStore.write_snapshot"),
    ("save", "nas.state.lifecycle:StateSaver.save"),
    # ... and Ax's SQL store, which the orchestrator calls through these private methods
    # (Ax has no public hook there; without db_settings they return at once)
    *(("save", f"ax.storage.sqa_store.with_db_settings_base:WithDBSettingsBase.{name}")
      for name in ("_maybe_save_experiment_and_generation_strategy",
                   "_save_experiment_to_db_if_possible",
                   "_save_or_update_trials_and_generation_strategy_if_possible",
                   "_save_or_update_trial_in_db_if_possible",
                   "_save_or_update_trials_in_db_if_possible",
                   "_save_generation_strategy_to_db_if_possible",
                   "_update_generation_strategy_in_db_if_possible")),
    # the console's progress line (part of "rest" in bench.scale's table)
    ("progress", "nas.cli.progress:Progress.update"),
    # the results written after the search: not a cost per trial
    ("report", "nas.report.writer:write_results"),
]
MODEL_PARTS = ("fit", "mll", "acquisition")
FINISHED = ("COMPLETED", "FAILED", "EARLY_STOPPED")
MAIN_THREAD = threading.get_ident()


class Clock:
    """Charges each moment of the main thread to the innermost timed call then running."""

    def __init__(self):
        self.totals = defaultdict(float)
        self.background = defaultdict(float)
        self.stack = []  # (category, start, totals at start)
        self.last = time.perf_counter()

    def label(self):
        categories = [c for c, _, _ in self.stack]
        if not categories:
            return "rest"
        if "report" in categories:
            return "report"
        if categories[-1] in MODEL_PARTS and "generation" not in categories:
            return "model_outside_generation"
        return categories[-1]

    def charge(self):
        now = time.perf_counter()
        self.totals[self.label()] += now - self.last
        self.last = now

    def enter(self, category):
        self.charge()
        self.stack.append((category, self.last, dict(self.totals)))

    def exit(self):
        """(seconds of the call, seconds per category within it)."""
        self.charge()
        _, start, before = self.stack.pop()
        return self.last - start, {k: v - before.get(k, 0.0) for k, v in self.totals.items()
                                   if v - before.get(k, 0.0) > 0}

    def snapshot(self):
        self.charge()
        return dict(self.totals)


class Probe:
    def __init__(self, events_path):
        self.clock = Clock()
        self.file = open(events_path, "a", buffering=1)
        self.orchestrator = None
        self.started_generating = False

    def write(self, kind, **fields):
        self.file.write(json.dumps({"kind": kind, "t": time.time(), **fields}, default=str) + "\n")

    def timed(self, category, fn):
        hook = getattr(self, f"after_{category}", None)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if threading.get_ident() != MAIN_THREAD:
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.clock.background[category] += time.perf_counter() - start
            if category == "generation" and not self.started_generating:
                self.started_generating = True
                self.write("startup", totals=self.clock.snapshot())
            self.clock.enter(category)
            try:
                result = fn(*args, **kwargs)
            finally:
                seconds, inside = self.clock.exit()
            if hook is not None:
                try:
                    hook(args, kwargs, result, seconds, inside)
                except Exception as e:  # a record lost, never the driver's run
                    self.write("probe_error", category=category, error=repr(e))
            return result

        return wrapper

    def after_generation(self, args, kwargs, result, seconds, inside):
        strategy = args[0]
        experiment = kwargs.get("experiment", args[1] if len(args) > 1 else None)
        self.write("gen", seconds=seconds, inside=inside, trials=len(result),
                   completed=count(experiment, ("COMPLETED",)),
                   node=getattr(strategy, "current_node_name", None))

    def after_launch(self, args, kwargs, result, seconds, inside):
        self.orchestrator = orchestrator = args[0]
        experiment = orchestrator.experiment
        self.write("launch", trials=sorted(int(i) for i in (result or {})), seconds=seconds,
                   totals=self.clock.snapshot(), finished=count(experiment, FINISHED),
                   completed=count(experiment, ("COMPLETED",)),
                   running=count(experiment, ("RUNNING",)), rss_mb=rss_mb())

    def end(self, status):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        trials = []
        if self.orchestrator is not None:
            for trial in self.orchestrator.experiment.trials.values():
                trials.append({"index": trial.index, "status": trial.status.name,
                               "started": stamp(trial.time_run_started),
                               "ended": stamp(trial.time_completed),
                               # where the trial logs (Ax's TensorBoard metric key)
                               "log_dir": (trial.run_metadata or {}).get("tb_log_dir")})
        self.write("end", status=status, totals=self.clock.snapshot(),
                   background=dict(self.clock.background), peak_rss_mb=usage.ru_maxrss / 1024,
                   cpu_s=usage.ru_utime + usage.ru_stime, trials=trials)
        self.file.close()


def count(experiment, statuses):
    if experiment is None:
        return None
    return sum(t.status.name in statuses for t in experiment.trials.values())


def stamp(when):
    return None if when is None else when.timestamp()


def rss_mb():
    """The driver's resident memory now (Linux; None elsewhere)."""
    try:
        resident = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident * os.sysconf("SC_PAGE_SIZE") / 2**20


def resolve(target):
    """(owner, attribute name, function) of "module:Qualified.name"; raises if absent."""
    module_name, _, qualname = target.partition(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    raw = owner.__dict__[name] if isinstance(owner, type) and name in owner.__dict__ \
        else getattr(owner, name)
    return owner, name, raw


def install(probe, targets):
    """Wrap every target that exists; ([wrapped], [(target, why skipped)])."""
    wrapped, skipped = [], []
    for category, target in targets:
        try:
            owner, name, raw = resolve(target)
        except Exception as e:  # not in this checkout or this Ax
            skipped.append((target, f"{type(e).__name__}: {e}"))
            continue
        if isinstance(raw, staticmethod):
            setattr(owner, name, staticmethod(probe.timed(category, raw.__func__)))
        elif callable(raw) and not isinstance(raw, classmethod):
            timed = probe.timed(category, raw)
            setattr(owner, name, timed)
            if not isinstance(owner, type):  # a module's function: rebind earlier imports of it
                rebind(raw, timed)
        else:
            skipped.append((target, f"not a function ({type(raw).__name__})"))
            continue
        wrapped.append(f"{category}={target}")
    return wrapped, skipped


def rebind(original, replacement):
    """Modules that imported `original` by name (`from m import f`) call `replacement`."""
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not namespace:
            continue
        for key, value in list(namespace.items()):
            if value is original:
                namespace[key] = replacement


def parse_args(argv):
    if "--" not in argv:
        sys.exit("scale_probe.py: error: give the driver's arguments after --")
    split = argv.index("--")
    p = argparse.ArgumentParser(prog="scale_probe.py", description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True, help="the checkout whose run_nas.py runs")
    p.add_argument("--events", required=True, help="the JSON-lines file to append to")
    p.add_argument("--wrap", action="append", default=[], metavar="CATEGORY=MODULE:NAME")
    args = p.parse_args(argv[:split])
    extra = []
    for text in args.wrap:
        category, _, target = text.partition("=")
        if not category or ":" not in target:
            p.error(f"--wrap {text!r}: expected CATEGORY=MODULE:NAME, e.g. "
                    "save=nas.state.storage:save_trial")
        extra.append((category, target))
    return args, extra, argv[split + 1:]


def main(argv=None):
    began = time.time()
    args, extra, driver_args = parse_args(sys.argv[1:] if argv is None else argv)
    repo = Path(args.repo).resolve()
    # this file's folder is sys.path[0]: the checkout's packages must come first instead
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(repo)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    probe = Probe(args.events)
    wrapped, skipped = install(probe, TARGETS + extra)
    import nas  # imported by the targets: it must be the checkout's, not an installed copy

    engine = Path(nas.__file__).resolve()
    probe.write("start", began=began, repo=str(repo), engine=str(engine), argv=driver_args,
                wrapped=wrapped, skipped=[{"target": t, "why": why} for t, why in skipped])
    if repo not in engine.parents:
        probe.end(2)
        sys.exit(f"scale_probe.py: error: `import nas` found {engine}, not the checkout {repo}")
    for target, why in skipped:
        print(f"scale_probe: not timed (absent here): {target} ({why})", flush=True)
    sys.argv = [str(repo / "run_nas.py"), *driver_args]
    import run_nas

    status = 0
    try:
        run_nas.main()
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except BaseException:
        status = 1
        raise
    finally:
        probe.end(status)
    sys.exit(status)


if __name__ == "__main__":
    main()
