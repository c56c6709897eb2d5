"""Setting up Metrics: each metric of the config is read from a TensorBoard scalar of the
trial's log dir (the config's `tag`, by default the metric's name).

A job may log a metric at several steps (a learning curve); its last step is the
trial's result. The first objective is a learning curve that Ax reads while the trial
runs when early stopping is on (`CurveMetric`: Data rows with a "step" column, what Ax's
early-stopping strategies compare); every other metric, and the first one without
--early-stopping, is read once the trial completed (`NasMetric`).

Where a script puts its event files: anywhere under the trial's log dir. Every folder
holding event files is a run, as TensorBoard counts them (Lightning's
`TensorBoardLogger(save_dir=LOG_DIR)` writes `LOG_DIR/lightning_logs/version_0/`, a
`SummaryWriter` may write `LOG_DIR/train/` and `LOG_DIR/val/`). A run that ended before
another one began which logs some of the same tags is an earlier attempt of the trial (a
crashed `version_0`, then `version_1`) and is superseded: nothing of it is read, so a tag
the later attempt lacks is missing, not taken from the earlier one. Runs that log other
tags (a `trainer.test` after `trainer.fit`, a writer of final values opened at the end)
are parts of one attempt. Of the runs not superseded, each tag is read from the run that
logged it last, and from that run only (Ax would average the runs' values at a step).

With --early-stopping the Orchestrator fetches the curves of the running trials on
every poll (0.25 s). `TrialLog` keeps one TensorBoard event accumulator per run and parses
only what was appended since the last read, and nothing at all while a run's event files
are unchanged (same names, sizes and modification times).

A partly trained value is never modelled as a configuration's result: the generation
strategy fits only COMPLETED trials' curve metrics (nas/trial_data.py, `MODEL_DATA`).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ax.core.base_trial import BaseTrial
from ax.core.metric import Metric
from ax.metrics.tensorboard import RUN_METADATA_KEY
from tensorboard.backend.event_processing import plugin_event_accumulator as accumulator

from nas.ax_compat import LogMetric
from nas.config import SearchConfig

EVENT_PREFIX = "events.out.tfevents."
TOP_RUN = "."  # the run of the event files directly in the trial's log dir
_LOGS: dict[str, "TrialLog"] = {}  # log dir -> TrialLog: one reader per trial for the driver's lifetime


@dataclass(frozen=True)
class Run:
    """One folder of event files under a trial's log dir: `name` relative to it ("." for
    the dir itself), the wall times of its first and last events, and the last wall time
    of each scalar tag."""
    name: str
    started: float
    ended: float
    tags: dict[str, float]


class TrialLog:
    """One trial's TensorBoard log dir, its subfolders included, read incrementally.

    `reloads` counts the reads that parsed events (a test checks that an unchanged
    log costs none)."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.reloads = 0
        self._acc: dict[str, Any] = {}  # run name -> its event accumulator
        # run name -> {file name: (size, mtime_ns)} at the last read
        self._files: dict[str, dict[str, tuple[int, int]]] = {}

    def _stat(self) -> dict[str, dict[str, tuple[int, int]]]:
        """{run name: {event file name: (size, mtime_ns)}} of every folder under the dir."""
        runs = {}
        for folder, _, names in os.walk(self.log_dir):
            files = {}
            for name in names:
                if not name.startswith(EVENT_PREFIX):
                    continue
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:  # removed while we looked
                    continue
                files[name] = (st.st_size, st.st_mtime_ns)
            if files:
                runs[os.path.relpath(folder, self.log_dir)] = files
        return runs

    def accumulators(self) -> dict[str, Any]:
        """{run name: event accumulator} of every run, each reloaded if its event files
        changed since the last read."""
        runs = self._stat()
        if not runs:
            raise FileNotFoundError(f"no TensorBoard event file in {self.log_dir} or its subfolders")
        for name, files in runs.items():
            before = self._files.get(name)
            if files == before:
                continue
            grew = before is not None and all(
                f in files and files[f][0] >= size for f, (size, _) in before.items())
            if name not in self._acc or not grew:  # first read, or the log was replaced
                self._acc[name] = accumulator.EventAccumulator(
                    str(self.log_dir / name), size_guidance={accumulator.TENSORS: 0})
            self._acc[name].Reload()  # parses only events appended since the last Reload
            self.reloads += 1
            self._files[name] = files
        for gone in set(self._acc) - set(runs):
            del self._acc[gone], self._files[gone]
        return {name: self._acc[name] for name in sorted(runs)}

    def runs(self) -> list[Run]:
        """Every run with scalars, as `Run`s, in the order they started."""
        found = []
        for name, acc in self.accumulators().items():
            tags = {tag: acc.Tensors(tag)[-1].wall_time
                    for tag in self._tags(acc, "scalars") if acc.Tensors(tag)}
            if not tags:
                continue
            try:
                started = acc.FirstEventTimestamp()
            except ValueError:  # no event with a time
                started = min(tags.values())
            found.append(Run(name, started, max(started, *tags.values()), tags))
        return sorted(found, key=lambda run: (run.started, run.name))

    def superseded(self, runs: list[Run] | None = None) -> dict[str, str]:
        """{run name: the later run it was superseded by}: runs that ended before another
        one logging some of the same tags began, earlier attempts of the trial."""
        runs = self.runs() if runs is None else runs
        later = {}
        for run in runs:
            after = [other for other in runs if other is not run
                     and other.started > run.ended and set(other.tags) & set(run.tags)]
            if after:
                later[run.name] = after[-1].name
        return later

    def sources(self) -> dict[str, str]:
        """{tag: the run its values are read from}: of the runs not superseded, the one
        that logged the tag last."""
        runs = self.runs()
        ignored = self.superseded(runs)
        source: dict[str, tuple[str, float]] = {}
        for run in runs:
            if run.name in ignored:
                continue
            for tag, last in run.tags.items():
                if tag not in source or last >= source[tag][1]:
                    source[tag] = (run.name, last)
        return {tag: name for tag, (name, _) in source.items()}

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        """{tag: [(step, value), ...]} of every scalar logged so far, each from its run."""
        accs = self.accumulators()
        return {tag: [(e.step, _value(e)) for e in accs[run].Tensors(tag)]
                for tag, run in self.sources().items()}

    def describe(self) -> str:
        """Where the log dir's scalar tags are, one line: each run with its tags, the
        superseded ones marked; "no TensorBoard event file" if there is none."""
        try:
            runs = self.runs()
        except FileNotFoundError as e:
            return str(e)
        if not runs:
            return f"no scalar in the event files under {self.log_dir}"
        ignored = self.superseded(runs)
        parts = []
        for run in runs:
            where = "the log dir itself" if run.name == TOP_RUN else run.name
            note = f" (an earlier run than {ignored[run.name]}: not read)" if run.name in ignored else ""
            parts.append(f"{where}{note} holds {', '.join(map(repr, sorted(run.tags)))}")
        return "; ".join(parts)

    @staticmethod
    def _tags(acc: Any, plugin: str) -> Any:
        try:
            return acc.PluginTagToContent(plugin)
        except KeyError:  # nothing of this plugin logged (yet)
            return {}

    # the two methods of an EventMultiplexer that Ax's TensorboardMetric calls: each tag
    # under its one source run, so that Ax never averages two runs' values
    def PluginRunToTagToContent(self, plugin: str) -> dict[str, dict[str, Any]]:  # noqa: N802 (tensorboard's name)
        accs = self.accumulators()
        by_run: dict[str, dict[str, Any]] = {}
        for tag, run in self.sources().items():
            content = self._tags(accs[run], plugin)
            if tag in content:
                by_run.setdefault(run, {})[tag] = content[tag]
        return by_run

    def Tensors(self, run: str, tag: str) -> Any:  # noqa: N802
        return self.accumulators()[run].Tensors(tag)


def _value(event: Any) -> float:
    proto = event.tensor_proto
    return proto.double_val[0] if proto.double_val else proto.float_val[0]


def trial_log(log_dir: str | Path) -> TrialLog:
    """The one `TrialLog` of this log dir."""
    key = str(Path(log_dir).resolve())
    if key not in _LOGS:
        _LOGS[key] = TrialLog(key)
    return _LOGS[key]


class NasMetric(LogMetric):
    """A `TensorboardMetric` over one trial's log dir (the tutorial's MyTensorboardMetric),
    read when the trial completed."""

    def __init__(self, name: str, tag: str, lower_is_better: bool | None) -> None:
        super().__init__(name=name, tag=tag, lower_is_better=lower_is_better)

    @classmethod
    def is_available_while_running(cls) -> bool:
        return False

    def event_reader(self, trial: BaseTrial) -> TrialLog:
        log = trial_log(trial.run_metadata[RUN_METADATA_KEY])
        log.accumulators()  # no event file yet: an error Ax reports, not an empty curve
        return log


class CurveMetric(NasMetric):
    """A learning curve: read while the trial runs, one row per logged step."""

    @classmethod
    def is_available_while_running(cls) -> bool:
        return True


def make_metrics(config: SearchConfig, curves_while_running: bool = False) -> list[Metric]:
    """The config's metrics, objectives first. `curves_while_running` (--early-stopping
    only): the first objective is a `CurveMetric`. Ax's Orchestrator fetches such a metric
    for every running trial on every poll (4 a second) and attaches the rows to the
    experiment; without a strategy nothing reads them, so a search without early stopping
    does not pay for that (docs/performance.md)."""
    first = config.objectives[0]
    return [(CurveMetric if curves_while_running and spec.name == first else NasMetric)(
                name=spec.name, tag=spec.tag, lower_is_better=spec.lower_is_better)
            for spec in config.metrics.values()]


def read_final_scalars(log_dir: str | Path) -> dict[str, float]:
    """{tag: last value} of the scalars in a trial's log dir; {} if it has none."""
    try:
        curves = trial_log(log_dir).curves()
    except FileNotFoundError:
        return {}
    return {tag: points[-1][1] for tag, points in curves.items() if points}
