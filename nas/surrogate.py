"""The search's BoTorch model: Ax's default GP, its hyperparameters fitted warm.

Ax fits its GP (a `SingleTaskGP` with Ax's default transforms) from the same initial
hyperparameters at every new candidate. With hundreds of observations that fit is most
of a candidate's cost (16 s of L-BFGS at 500 observations here, ~200 iterations), though
one more observation hardly moves the optimum. `WarmStartGP` is that same GP; only its
fitting routine, registered with Ax's `fit_botorch_model` dispatcher (the extension point
Ax offers for a model's fitting), differs: it starts from the hyperparameters of the last
fit (a few iterations), and fits from Ax's initial values again whenever the data have
doubled since the last such fit, so that a poor optimum found early is not kept.
"""

from dataclasses import dataclass

from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec
from ax.generators.torch.botorch_modular.utils import ModelConfig, fit_botorch_model
from ax.storage.botorch_modular_registry import register_model
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP

REFIT_GROWTH = 2.0  # a fit from the initial values once the observations grew this much


class WarmStartGP(SingleTaskGP):
    """Ax's default GP; `fit_warm` fits it."""


@dataclass
class _LastFit:
    hyperparameters: dict  # name -> tensor, of the fitted model's parameters
    observations_at_scratch_fit: int


_last_fits = {}  # (input dims, outputs) -> _LastFit: one model shape per search


def _shape(model):
    return model.train_inputs[0].shape[-1], model.num_outputs


@fit_botorch_model.register(WarmStartGP)
def fit_warm(model, mll_class, mll_options=None):
    """Fit `model`, warm-started from the last fit of a model of its shape."""
    mll = mll_class(likelihood=model.likelihood, model=model, **(mll_options or {}))
    observations = model.train_inputs[0].shape[-2]
    last = _last_fits.get(_shape(model))
    warm = last is not None and observations < REFIT_GROWTH * last.observations_at_scratch_fit
    if warm:
        params = dict(model.named_parameters())
        for name, value in last.hyperparameters.items():
            if name in params and params[name].shape == value.shape:
                params[name].data.copy_(value)
    fit_gpytorch_mll(mll)
    _last_fits[_shape(model)] = _LastFit(
        {name: p.detach().clone() for name, p in model.named_parameters()},
        last.observations_at_scratch_fit if warm else observations)


def warm_surrogate_spec() -> SurrogateSpec:
    """Ax's default surrogate, with `WarmStartGP` as its model class."""
    return SurrogateSpec(model_configs=[ModelConfig(botorch_model_class=WarmStartGP)])


register_model(WarmStartGP)  # the saved generation strategy names it
