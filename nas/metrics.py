"""Setting up Metrics: each metric of the config is read from a TensorBoard scalar of the
trial's log dir (the config's `tag`, by default the metric's name).

A job may log a metric at several steps (a learning curve); its last step is the
trial's result. The first objective is a learning curve that Ax reads while the trial
runs when early stopping is on (`CurveMetric`: Data rows with a "step" column, what Ax's
early-stopping strategies compare); every other metric, and the first one without
--early-stopping, is read once the trial completed (`NasMetric`).

With --early-stopping the Orchestrator fetches the curves of the running trials on
every poll (0.25 s). `TrialLog` keeps one TensorBoard event accumulator per trial log
dir and parses only what was appended since the last read, and nothing at all while the
event files are unchanged (same names, sizes and modification times).

A partly trained value is never modelled as a configuration's result: the generation
strategy fits only COMPLETED trials' curve metrics (nas/early_stopping.py, `MODEL_DATA`).
"""

from pathlib import Path

from ax.metrics.tensorboard import RUN_METADATA_KEY, TensorboardMetric
from tensorboard.backend.event_processing import plugin_event_accumulator as accumulator

from nas.config import SearchConfig

EVENT_FILES = "events.out.tfevents.*"
_LOGS = {}  # log dir -> TrialLog: one reader per trial for the driver's lifetime


class TrialLog:
    """One trial's TensorBoard log dir, read incrementally.

    `reloads` counts the reads that parsed events (a test checks that an unchanged
    log costs none)."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.reloads = 0
        self._acc = None
        self._files = {}  # name -> (size, mtime_ns) at the last read

    def _stat(self):
        files = {}
        for path in self.log_dir.glob(EVENT_FILES):
            try:
                st = path.stat()
            except OSError:  # removed while we looked
                continue
            files[path.name] = (st.st_size, st.st_mtime_ns)
        return files

    def accumulator(self):
        """The event accumulator, reloaded if the event files changed since the last read."""
        files = self._stat()
        if not files:
            raise FileNotFoundError(f"no TensorBoard event file in {self.log_dir}")
        if files != self._files:
            grew = all(name in files and files[name][0] >= size
                       for name, (size, _) in self._files.items())
            if self._acc is None or not grew:  # first read, or the log was replaced
                self._acc = accumulator.EventAccumulator(
                    str(self.log_dir), size_guidance={accumulator.TENSORS: 0})
            self._acc.Reload()  # parses only events appended since the last Reload
            self.reloads += 1
            self._files = files
        return self._acc

    def curves(self):
        """{tag: [(step, value), ...]} of every scalar logged so far."""
        acc = self.accumulator()
        return {tag: [(e.step, _value(e)) for e in acc.Tensors(tag)]
                for tag in self._tags(acc, "scalars")}

    @staticmethod
    def _tags(acc, plugin):
        try:
            return acc.PluginTagToContent(plugin)
        except KeyError:  # nothing of this plugin logged (yet)
            return {}

    # the two methods of an EventMultiplexer that Ax's TensorboardMetric calls
    def PluginRunToTagToContent(self, plugin):  # noqa: N802 (tensorboard's name)
        tags = self._tags(self.accumulator(), plugin)
        return {".": tags} if tags else {}

    def Tensors(self, run, tag):  # noqa: N802
        return self.accumulator().Tensors(tag)


def _value(event):
    proto = event.tensor_proto
    return proto.double_val[0] if proto.double_val else proto.float_val[0]


def trial_log(log_dir):
    """The one `TrialLog` of this log dir."""
    key = str(Path(log_dir).resolve())
    if key not in _LOGS:
        _LOGS[key] = TrialLog(key)
    return _LOGS[key]


class NasMetric(TensorboardMetric):
    """A `TensorboardMetric` over one trial's log dir (the tutorial's MyTensorboardMetric),
    read when the trial completed."""

    def __init__(self, name, tag, lower_is_better):
        super().__init__(name=name, tag=tag, lower_is_better=lower_is_better)

    @classmethod
    def is_available_while_running(cls):
        return False

    def _get_event_multiplexer_for_trial(self, trial):
        log = trial_log(trial.run_metadata[RUN_METADATA_KEY])
        log.accumulator()  # no event file yet: an error Ax reports, not an empty curve
        return log


class CurveMetric(NasMetric):
    """A learning curve: read while the trial runs, one row per logged step."""

    @classmethod
    def is_available_while_running(cls):
        return True


def make_metrics(config: SearchConfig, curves_while_running: bool = False) -> list[NasMetric]:
    """The config's metrics, objectives first. `curves_while_running` (--early-stopping
    only): the first objective is a `CurveMetric`. Ax's Orchestrator fetches such a metric
    for every running trial on every poll (4 a second) and attaches the rows to the
    experiment; without a strategy nothing reads them, so a search without early stopping
    does not pay for that (docs/performance.md)."""
    first = config.objectives[0]
    return [(CurveMetric if curves_while_running and spec.name == first else NasMetric)(
                name=spec.name, tag=spec.tag, lower_is_better=spec.lower_is_better)
            for spec in config.metrics.values()]


def read_final_scalars(log_dir):
    """{tag: last value} of the scalars in a trial's log dir; {} if it has none."""
    try:
        curves = trial_log(log_dir).curves()
    except FileNotFoundError:
        return {}
    return {tag: points[-1][1] for tag, points in curves.items() if points}


def read_curves(log_dir):
    """{tag: [(step, value), ...]} of a trial's log dir; {} if it has no log."""
    try:
        return trial_log(log_dir).curves()
    except FileNotFoundError:
        return {}
