"""The objectives' metrics: read `val_acc` and `num_params` from a trial's TensorBoard log.

The job writes both once, after training (mnist_train_nas.py), so they are not
available while the trial runs. The log lives at the trial's run metadata
`tb_log_dir`, which the runner sets to `<log_dir>/<trial_index>`.
"""

from pathlib import Path

from ax.metrics.tensorboard import RUN_METADATA_KEY, TensorboardMetric
from tensorboard.backend.event_processing import plugin_event_multiplexer as event_multiplexer


class NasMetric(TensorboardMetric):
    """A `TensorboardMetric` over one trial's log dir (the tutorial's MyTensorboardMetric)."""

    def __init__(self, name, tag, lower_is_better):
        super().__init__(name=name, tag=tag, lower_is_better=lower_is_better)

    @classmethod
    def is_available_while_running(cls):
        return False

    def _get_event_multiplexer_for_trial(self, trial):
        log_dir = Path(trial.run_metadata[RUN_METADATA_KEY])
        if not any(log_dir.glob("events.out.tfevents.*")):
            raise FileNotFoundError(f"no TensorBoard event file in {log_dir}")
        mul = event_multiplexer.EventMultiplexer()
        mul.AddRunsFromDirectory(str(log_dir))
        mul.Reload()
        return mul


def make_metrics():
    return [
        NasMetric(name="val_acc", tag="val_acc", lower_is_better=False),
        NasMetric(name="num_params", tag="num_params", lower_is_better=True),
    ]


def read_final_scalars(log_dir):
    """{tag: last value} of the scalars in a trial's log dir; {} if it has none."""
    mul = event_multiplexer.EventMultiplexer()
    mul.AddRunsFromDirectory(str(log_dir))
    mul.Reload()
    values = {}
    for run, tags in mul.PluginRunToTagToContent("scalars").items():
        for tag in tags:
            events = mul.Tensors(run, tag)
            if events:
                proto = events[-1].tensor_proto
                values[tag] = proto.double_val[0] if proto.double_val else proto.float_val[0]
    return values
