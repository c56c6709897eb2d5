from ax.core.types import ComparisonOp

from nas.metrics import NasMetric
from nas.optimization import make_optimization_config


def test_directions_and_thresholds():
    config = make_optimization_config()
    weights = dict(config.objective.metric_weights)
    assert weights["val_acc"] > 0 and weights["num_params"] < 0  # maximize / minimize
    thresholds = {t.metric_names[0]: t for t in config.objective_thresholds}
    assert set(thresholds) == {"val_acc", "num_params"}
    acc, params = thresholds["val_acc"], thresholds["num_params"]
    assert (acc.op, acc.bound, acc.relative) == (ComparisonOp.GEQ, 0.94, False)
    assert (params.op, params.bound, params.relative) == (ComparisonOp.LEQ, 80_000, False)


def test_metrics_know_their_direction():
    from nas.metrics import make_metrics

    metrics = {m.name: m for m in make_metrics()}
    assert isinstance(metrics["val_acc"], NasMetric) and metrics["val_acc"].lower_is_better is False
    assert metrics["num_params"].lower_is_better is True
    assert not NasMetric.is_available_while_running()
