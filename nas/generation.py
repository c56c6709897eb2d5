"""Choosing the Generation Strategy: Ax's choice for the problem (Sobol to start, then
BoTorch; Sobol also fills the free slots until BoTorch has its first observations), with
the BoTorch node's settings this project measured.

`GENERATIONS` names two settings of the BoTorch node (`--generation`):
- "fast" (the default): Ax's model and acquisition function (a GP per outcome, qLogNEHVI,
  or the probability of feasibility while nothing is feasible), the model fitted warm
  (nas/surrogate.py), with a smaller acquisition optimization: 5 restarts from the best
  of 256 raw samples instead of 20 from 1,024 (docs/performance.md, "Generation" and
  "Levers tried", has what each costs and the hypervolume the search reached with it);
- "ax": Ax's defaults, as the tutorial has them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ax.adapter.registry import Generators
from ax.core.experiment import Experiment
from ax.generation_strategy.dispatch_utils import choose_generation_strategy_legacy
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.utils.common.constants import Keys

from nas.trial_data import MODEL_DATA

# Threads of the driver's torch (model fit and acquisition optimization). While the
# trials train, the cores are taken; a second OpenMP thread then makes a BoTorch
# candidate several times slower, not faster (docs/performance.md).
GENERATION_THREADS = 1


@dataclass(frozen=True)
class Generation:
    """Settings of the BoTorch node; None keeps Ax's default."""
    warm_fit: bool = False
    num_restarts: int | None = None
    raw_samples: int | None = None


GENERATIONS = {
    "fast": Generation(warm_fit=True, num_restarts=5, raw_samples=256),
    "ax": Generation(),
}
DEFAULT_GENERATION = "fast"


def set_generation_threads(threads: int = GENERATION_THREADS) -> None:
    """torch's global thread count in this process: a step of its own in run_nas.py,
    since it changes every later torch call of the driver."""
    import torch

    torch.set_num_threads(threads)


def make_generation_strategy(experiment: Experiment, total_trials: int, max_pending: int,
                             seed: int | None = None, strategy: str = "botorch",
                             generation: str = DEFAULT_GENERATION,
                             acqf_options: Mapping[str, Any] | None = None,
                             imported: int = 0) -> GenerationStrategy:
    """Ax's choice for this problem: Sobol to start, then BoTorch (or Sobol only), its
    BoTorch node set as `generation` (a name of GENERATIONS) says. `acqf_options` (e.g.
    {"num_restarts": 10, "raw_samples": 512}, for benchmarks) replace those of the
    acquisition optimizer. `imported`: completed trials an earlier search gave this one
    (nas/imports.py), which shorten the Sobol phase as Ax's warm start does."""
    gs = choose_generation_strategy_legacy(
        search_space=experiment.search_space,
        optimization_config=experiment.optimization_config,
        num_trials=total_trials,
        # BoTorch too keeps max_pending jobs busy, and the candidates made ahead for the
        # slots about to free (nas/candidates.py) are pending points as well: up to
        # another max_pending
        max_parallelism_override=2 * max_pending,
        # a free slot gets another Sobol trial while BoTorch still waits for its first
        # observations, instead of idling: with more workers than Sobol trials (12 here for
        # 6 parameters) the rest of the slots sat empty until 6 had finished. Only changes
        # searches with that many workers: with 4, the 9th Sobol trial starts as the 5th ends
        enforce_sequential_optimization=False,
        random_seed=seed,
        force_random_search=strategy == "sobol",
        num_completed_initialization_trials=imported,
        experiment=experiment,
    )
    settings = GENERATIONS[generation]
    optimizer = {k: v for k, v in (("num_restarts", settings.num_restarts),
                                   ("raw_samples", settings.raw_samples)) if v is not None}
    optimizer.update(acqf_options or {})
    for node in gs.nodes_by_name.values():
        for spec in node.generator_specs:
            if spec.generator_enum != Generators.BOTORCH_MODULAR:
                continue
            # a metric logged at several steps is a curve: model only completed trials' last step
            kwargs = {**spec.generator_kwargs, "data_loader_config": MODEL_DATA}
            if settings.warm_fit:
                from nas.surrogate import warm_surrogate_spec

                kwargs["surrogate_spec"] = warm_surrogate_spec()
            spec.generator_kwargs = kwargs
            if optimizer:
                spec.generator_gen_kwargs = {**spec.generator_gen_kwargs,
                                             **acqf_gen_kwargs(optimizer)}
    return gs


def acqf_gen_kwargs(acqf_options: Mapping[str, Any]) -> dict[str, Any]:
    """Gen kwargs of a BoTorch generator that set its acquisition optimizer's options."""
    return {"model_gen_options": {Keys.OPTIMIZER_KWARGS: dict(acqf_options)}}


def strategy_of(generation_strategy: GenerationStrategy) -> str:
    """"sobol" if every node of the strategy is Sobol (quasi-random), else "botorch"."""
    keys = {spec.generator_key for node in generation_strategy.nodes_by_name.values()
            for spec in node.generator_specs}
    return "sobol" if keys <= {"Sobol"} else "botorch"
