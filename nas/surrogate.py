"""The search's BoTorch model: Ax's default GP, its hyperparameters fitted warm.

Ax fits its GP (a `SingleTaskGP` with Ax's default transforms) from the same initial
hyperparameters at every new candidate. With hundreds of observations that fit is most
of a candidate's cost (16.5 s of L-BFGS at 500 observations, ~200 iterations: `python -m
bench.generation`, docs/performance.md), though
one more observation hardly moves the optimum. `WarmStartGP` is that same GP; only its
fitting routine, registered with Ax's `fit_botorch_model` dispatcher (the extension point
Ax offers for a model's fitting), differs: it starts from the hyperparameters of the last
fit of the same outcome (a few iterations), and fits from Ax's initial values again
whenever the data have doubled since the last such fit, so that a poor optimum found early
is not kept. Ax fits one GP per outcome, so the model knows its outcomes' names (from the
dataset Ax builds it from): a fit started from another outcome's hyperparameters (a noisy
accuracy's for a deterministic parameter count) took longer than one from scratch.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec
from ax.generators.torch.botorch_modular.utils import ModelConfig, fit_botorch_model
from ax.storage.botorch_modular_registry import register_model
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import OutcomeTransform
from botorch.utils.datasets import SupervisedDataset
from botorch.utils.types import DEFAULT, _DefaultType
from gpytorch.likelihoods import Likelihood
from gpytorch.means import Mean
from gpytorch.mlls import MarginalLogLikelihood
from gpytorch.module import Module
from torch import Tensor

REFIT_GROWTH = 2.0  # a fit from the initial values once the observations grew this much


class WarmStartGP(SingleTaskGP):
    """Ax's default GP, named by its outcomes; `fit_warm` fits it. The arguments are
    SingleTaskGP's, spelled out: Ax reads a model class's argument names to decide which
    parts (outcome transform, likelihood, ...) it passes."""

    def __init__(self, train_X: Tensor, train_Y: Tensor, train_Yvar: Tensor | None = None,
                 likelihood: Likelihood | None = None, covar_module: Module | None = None,
                 mean_module: Mean | None = None,
                 outcome_transform: OutcomeTransform | _DefaultType | None = DEFAULT,
                 input_transform: InputTransform | None = None,
                 outcomes: Iterable[str] = ()) -> None:
        super().__init__(train_X, train_Y, train_Yvar=train_Yvar, likelihood=likelihood,
                         covar_module=covar_module, mean_module=mean_module,
                         outcome_transform=outcome_transform, input_transform=input_transform)
        self.outcomes = tuple(outcomes)

    @classmethod
    def construct_inputs(cls, training_data: SupervisedDataset, **kwargs: Any) -> dict[str, Any]:
        """SingleTaskGP's inputs, and the names of the outcomes Ax fits this model to."""
        return {**super().construct_inputs(training_data, **kwargs),
                "outcomes": tuple(training_data.outcome_names)}


@dataclass
class _LastFit:
    hyperparameters: dict[str, Tensor]  # name -> tensor, of the fitted model's parameters
    observations_at_scratch_fit: int


# (outcome names, input dims) -> _LastFit: one model per outcome
_last_fits: dict[tuple[tuple[str, ...], int], _LastFit] = {}


def _key(model: WarmStartGP) -> tuple[tuple[str, ...], int]:
    return model.outcomes, model.train_inputs[0].shape[-1]


@fit_botorch_model.register(WarmStartGP)
def fit_warm(model: WarmStartGP, mll_class: type[MarginalLogLikelihood],
             mll_options: dict[str, Any] | None = None) -> None:
    """Fit `model`, warm-started from the last fit of its outcomes' model."""
    mll = mll_class(likelihood=model.likelihood, model=model, **(mll_options or {}))
    observations = model.train_inputs[0].shape[-2]
    last = _last_fits.get(_key(model))
    warm = last is not None and observations < REFIT_GROWTH * last.observations_at_scratch_fit
    if warm and last is not None:
        params = dict(model.named_parameters())
        for name, value in last.hyperparameters.items():
            if name in params and params[name].shape == value.shape:
                params[name].data.copy_(value)
    fit_gpytorch_mll(mll)
    _last_fits[_key(model)] = _LastFit(
        {name: p.detach().clone() for name, p in model.named_parameters()},
        last.observations_at_scratch_fit if warm and last is not None else observations)


def warm_surrogate_spec() -> SurrogateSpec:
    """Ax's default surrogate, with `WarmStartGP` as its model class."""
    return SurrogateSpec(model_configs=[ModelConfig(botorch_model_class=WarmStartGP)])


register_model(WarmStartGP)  # the saved generation strategy names it
