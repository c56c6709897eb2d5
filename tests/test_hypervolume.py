"""The hypervolume: BoTorch's routine on the observed feasible points, per completed trial,
against the config's thresholds (or Ax's inferred reference point where it has none)."""

import pytest
from ax.service.utils.best_point import get_trace

from conftest import tutorial_config
from fake_experiment import fake_experiment
from nas.report.hypervolume import Goal, Objective, current_hypervolume, goal_of, hypervolume_trace

BEST = {"val_acc": 1.0, "num_params": 0.0}  # the tutorial's config declares these


def tutorial_goal():
    """The tutorial's goal: val_acc >= 0.94 up, num_params <= 80,000 down."""
    return Goal((Objective("val_acc", False, 0.94, 1.0), Objective("num_params", True, 80_000, 0.0)),
                (0.94, 80_000), ())


def hypervolume(points):
    return tutorial_goal().hypervolume([{"val_acc": a, "num_params": p} for a, p in points])


def test_one_point_is_the_box_to_the_reference_point():
    assert hypervolume([(0.99, 20_000)]) == pytest.approx((0.99 - 0.94) * (80_000 - 20_000))


def test_two_points_count_their_union_once():
    # (0.99, 40k) and (0.97, 10k): 0.05 x 40k + 0.03 x 30k
    assert hypervolume([(0.99, 40_000), (0.97, 10_000)]) == pytest.approx(2000 + 900)


def test_dominated_and_infeasible_points_add_nothing():
    base = hypervolume([(0.99, 40_000), (0.97, 10_000)])
    more = [(0.99, 40_000), (0.97, 10_000), (0.98, 50_000),  # dominated
            (0.93, 1_000), (0.999, 90_000)]  # below 0.94 / above 80k
    assert hypervolume(more) == pytest.approx(base)
    assert hypervolume([]) == 0.0 and hypervolume([(0.5, 1)]) == 0.0
    assert hypervolume([(1.0, 0)]) == pytest.approx(tutorial_goal().max_hv) == pytest.approx(4800)


def test_the_experiments_goal_is_the_configs():
    goal = goal_of(fake_experiment([(0, 0.99, 40_000, 1)]), BEST)
    assert goal == tutorial_goal()
    assert "the objective thresholds" in goal.describe()


def test_trace_follows_completion_order_not_trial_index():
    # trial 1 finishes first, then 2, then 0; trial 3 failed, trial 4 still runs
    exp = fake_experiment([(0, 0.99, 40_000, 30), (1, 0.95, 60_000, 10), (2, 0.97, 10_000, 20)],
                          failed=[3], running=[4])
    trace = hypervolume_trace(exp, goal_of(exp, BEST))
    assert list(trace["trial_index"]) == [1, 2, 0]
    assert list(trace["completed"]) == [1, 2, 3]
    expected = [hypervolume([(0.95, 60_000)]),
                hypervolume([(0.95, 60_000), (0.97, 10_000)]),
                hypervolume([(0.95, 60_000), (0.97, 10_000), (0.99, 40_000)])]
    assert list(trace["hypervolume"]) == pytest.approx(expected)
    assert expected[0] < expected[1] < expected[2]
    assert list(trace["hv_fraction"]) == pytest.approx([e / 4800 for e in expected])
    assert current_hypervolume(exp) == pytest.approx(expected[-1])


def test_final_value_agrees_with_ax_own_trace():
    """Ax computes the same hypervolume its own way (trial-index order)."""
    exp = fake_experiment([(0, 0.99, 40_000, 30), (1, 0.95, 60_000, 10), (2, 0.97, 10_000, 20),
                           (3, 0.90, 5_000, 40), (4, 0.985, 70_000, 50)])
    ax_trace = get_trace(exp)
    final = hypervolume_trace(exp, goal_of(exp))["hypervolume"].iloc[-1]
    assert final == pytest.approx(ax_trace[4], rel=1e-6)


def test_no_feasible_point_means_zero():
    exp = fake_experiment([(0, 0.90, 40_000, 1), (1, 0.99, 100_000, 2)])
    trace = hypervolume_trace(exp, goal_of(exp))
    assert list(trace["hypervolume"]) == [0.0, 0.0] and not trace["feasible"].any()


def test_without_thresholds_the_reference_point_is_axs_inferred_one():
    """A config with no thresholds: Ax's `infer_reference_point_from_experiment` gives the
    reference point (a nadir below every observed Pareto point), and the page says so."""
    results = [(0, 0.99, 40_000, 1), (1, 0.95, 10_000, 2), (2, 0.97, 20_000, 3)]
    exp = fake_experiment(results, config=tutorial_config(), thresholds=False)
    goal = goal_of(exp)
    assert goal.inferred == ("val_acc", "num_params") and None not in goal.reference
    acc_ref, params_ref = goal.reference
    assert acc_ref < 0.95 and params_ref > 40_000  # every observed point is inside the box
    assert all(goal.feasible({"val_acc": a, "num_params": p}) for _, a, p, _ in results)
    assert "inferred by Ax" in goal.describe() and goal.max_hv is None
    trace = hypervolume_trace(exp, goal)
    assert trace["hypervolume"].iloc[-1] > trace["hypervolume"].iloc[0] > 0


def test_trace_keeps_only_the_front_yet_equals_the_hypervolume_of_every_point_so_far():
    """The trace measures only the feasible non-dominated points (nas/report/hypervolume.py);
    with ties, dominated and infeasible points it gives the same numbers as measuring all."""
    import random

    rng = random.Random(0)
    exp = fake_experiment([(i, rng.choice([0.93, 0.95, 0.97, 0.98]),
                            rng.choice([10_000, 30_000, 60_000, 90_000]), rng.random() * 100)
                           for i in range(60)])
    trace = hypervolume_trace(exp, goal_of(exp, BEST))
    mean = exp.lookup_data().df.set_index(["trial_index", "metric_name"])["mean"]
    so_far = [(mean[(i, "val_acc")], mean[(i, "num_params")]) for i in trace["trial_index"]]
    assert list(trace["hypervolume"]) == [hypervolume(so_far[:n]) for n in range(1, 61)]
