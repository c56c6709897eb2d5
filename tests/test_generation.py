"""The BoTorch node as the search runs it (nas/generation.py, nas/surrogate.py): several
free slots get distinct candidates from one model fit, none of them a pending trial's; the
model is fitted warm, from scratch again once the data doubled; Ax's own settings stay
one flag away."""

import numpy as np
import pytest
import torch

import nas.surrogate
from bench.generation import sobol_experiment
from nas.ax_compat import generation_node_name
from nas.generation import GENERATIONS, make_generation_strategy
from nas.surrogate import REFIT_GROWTH, WarmStartGP, fit_warm


@pytest.fixture(autouse=True)
def one_thread():
    """As the driver generates (nas/generation.py, GENERATION_THREADS): on a loaded
    machine a second OpenMP thread makes BoTorch many times slower."""
    from nas.generation import set_generation_threads

    threads = torch.get_num_threads()
    set_generation_threads()
    yield
    torch.set_num_threads(threads)


def botorch_ready(completed=12, pending=3, seed=0):
    """The tutorial's experiment (synthetic results) past its Sobol trials, with `pending`
    trials running, and the search's generation strategy moved on to BoTorch."""
    experiment = sobol_experiment(completed, seed=seed, pending=pending)
    strategy = make_generation_strategy(experiment, 48, 16, seed=seed)
    return experiment, strategy


@pytest.fixture
def counted_fits(monkeypatch):
    calls = []
    real = nas.surrogate.fit_gpytorch_mll

    def counting(mll, *args, **kwargs):
        calls.append(mll.model.train_inputs[0].shape[-2])
        return real(mll, *args, **kwargs)
    monkeypatch.setattr(nas.surrogate, "fit_gpytorch_mll", counting)
    monkeypatch.setattr(nas.surrogate, "_last_fits", {})
    return calls


def test_free_slots_get_distinct_candidates_from_one_fit_none_pending(counted_fits):
    experiment, strategy = botorch_ready()
    pending = [t.arm.parameters for t in experiment.trials.values() if t.status.is_running]
    runs = strategy.gen(experiment=experiment, num_trials=4)  # as Ax's Orchestrator asks
    arms = [arm.parameters for trial_runs in runs for run in trial_runs for arm in run.arms]
    assert len(runs) == 4 and len(arms) == 4
    assert {generation_node_name(run) for trial_runs in runs for run in trial_runs} == {
        strategy.current_node_name} and "BoTorch" in strategy.current_node_name
    keys = [tuple(sorted(a.items())) for a in arms]
    assert len(set(keys)) == 4  # distinct
    assert not set(keys) & {tuple(sorted(p.items())) for p in pending}  # none already running
    assert counted_fits == [12]  # one fit of the 12 observations for all four
    fitted = {name for outcomes, _ in nas.surrogate._last_fits for name in outcomes}
    assert fitted == set(experiment.metrics)  # Ax named the model's outcomes


def test_more_workers_than_sobol_trials_get_sobol_trials_until_botorch_can_start():
    """96 trials on 16 workers: Ax plans 12 Sobol trials (2 per parameter) and BoTorch once
    6 have results. The 4 other slots get Sobol trials too instead of waiting, and so does
    each slot freed before the 6th result; from there on, BoTorch."""
    from bench.generation import complete, new_experiment

    experiment = new_experiment()
    strategy = make_generation_strategy(experiment, 96, 16, seed=0)

    def launch(n):
        runs = strategy.gen(experiment=experiment, num_trials=n)
        for trial_runs in runs:
            for run in trial_runs:
                experiment.new_trial(generator_run=run).mark_running(no_runner_required=True)
        return [generation_node_name(run) for trial_runs in runs for run in trial_runs]

    assert launch(16) == ["GenerationStep_0_Sobol"] * 16  # every slot busy at once
    rng = np.random.default_rng(0)
    for done in range(1, 7):
        complete(experiment, experiment.trials[done - 1], rng)
        node = launch(1)
        assert len(experiment.trials) == 16 + done
        assert ("BoTorch" in node[0]) == (done == 6), (done, node)


def test_the_orchestrator_generates_for_all_free_slots_at_once():
    from nas.orchestration import make_orchestrator

    experiment, strategy = botorch_ready()
    assert make_orchestrator(experiment, strategy, 16).options.run_trials_in_batches


def gp(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, generator=g, dtype=torch.double)
    y = torch.stack([torch.sin(6 * x[:, 0]) + x[:, 1], x[:, 2] ** 2], dim=-1)
    return WarmStartGP(x, y + 0.01 * torch.randn(n, 2, generator=g, dtype=torch.double))


def record_fit_starts(monkeypatch):
    """The lengthscales each later model fit starts from, in order."""
    starts = []
    real = nas.surrogate.fit_gpytorch_mll

    def recording(mll, *args, **kwargs):
        starts.append(mll.model.covar_module.lengthscale.detach().clone())
        return real(mll, *args, **kwargs)
    monkeypatch.setattr(nas.surrogate, "fit_gpytorch_mll", recording)
    return starts


def test_the_fit_starts_from_the_last_one_and_from_scratch_once_the_data_doubled(
        counted_fits, monkeypatch):
    from gpytorch.mlls import ExactMarginalLogLikelihood

    starts = record_fit_starts(monkeypatch)
    first = gp(20)
    default = first.covar_module.lengthscale.detach().clone()
    fit_warm(first, ExactMarginalLogLikelihood)
    fitted = first.covar_module.lengthscale.detach().clone()
    second = gp(21)
    fit_warm(second, ExactMarginalLogLikelihood)
    third = gp(int(REFIT_GROWTH * 20))
    fit_warm(third, ExactMarginalLogLikelihood)
    assert torch.equal(starts[0], default)  # the first fit: Ax's initial values
    assert torch.equal(starts[1], fitted)  # one observation more: where the last fit ended
    assert torch.equal(starts[2], gp(40).covar_module.lengthscale.detach())  # doubled: anew


def test_each_outcomes_model_starts_from_its_own_last_fit(monkeypatch):
    """Ax fits one GP per outcome, all of one shape: a model must not start from another
    outcome's hyperparameters."""
    from botorch.utils.datasets import SupervisedDataset
    from gpytorch.mlls import ExactMarginalLogLikelihood

    monkeypatch.setattr(nas.surrogate, "_last_fits", {})
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 3, generator=g, dtype=torch.double)
    ys = {"smooth": torch.sin(2 * x[:, :1]), "wiggly": torch.sin(25 * x[:, 1:2])}

    def model(name, n):  # as Ax builds it: from a dataset naming its outcome
        data = SupervisedDataset(x[:n], ys[name][:n], feature_names=["a", "b", "c"],
                                 outcome_names=[name])
        return WarmStartGP(**WarmStartGP.construct_inputs(data))

    fitted = {}
    for name in ys:
        m = model(name, 20)
        fit_warm(m, ExactMarginalLogLikelihood)
        fitted[name] = m.covar_module.lengthscale.detach().clone()
    assert not torch.allclose(fitted["smooth"], fitted["wiggly"])
    starts = record_fit_starts(monkeypatch)
    for name in ys:
        fit_warm(model(name, 21), ExactMarginalLogLikelihood)
    assert torch.equal(starts[0], fitted["smooth"]) and torch.equal(starts[1], fitted["wiggly"])


def test_a_warm_fit_is_as_good_as_one_from_scratch(monkeypatch):
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    monkeypatch.setattr(nas.surrogate, "_last_fits", {})
    fit_warm(gp(60, seed=1), ExactMarginalLogLikelihood)
    warm = gp(61, seed=2)
    fit_warm(warm, ExactMarginalLogLikelihood)
    scratch = gp(61, seed=2)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(scratch.likelihood, scratch))

    def mll(model):
        model.train()
        out = model(*model.train_inputs)
        return ExactMarginalLogLikelihood(model.likelihood, model)(out, model.train_targets).sum()
    assert mll(warm).item() >= mll(scratch).item() - 0.02 * abs(mll(scratch).item())


def test_axs_own_settings_are_one_flag_away(tmp_path):
    from nas.cli import parse_args

    experiment, _ = botorch_ready(completed=2, pending=0)
    fast = make_generation_strategy(experiment, 48, 4, seed=0)
    ax = make_generation_strategy(experiment, 48, 4, seed=0, generation="ax")

    def botorch_spec(gs):
        return next(s for n in gs.nodes_by_name.values() for s in n.generator_specs
                    if s.generator_key == "BoTorch")
    assert "surrogate_spec" in botorch_spec(fast).generator_kwargs
    assert "surrogate_spec" not in botorch_spec(ax).generator_kwargs
    assert "model_gen_options" not in botorch_spec(ax).generator_gen_kwargs
    assert set(GENERATIONS) == {"fast", "ax"}
    assert parse_args(["--results-dir", str(tmp_path)]).options.generation == "fast"
    assert parse_args(["--generation", "ax", "--results-dir", str(tmp_path)]).options.generation == "ax"
