"""Setting up the OptimizationConfig: the config's objective and outcome constraints, parsed
by Ax (`optimization_config_from_string`, what `Client.configure_optimization` uses).

A constraint on an objective becomes its threshold: the hypervolume's reference point, so
that only configurations within every threshold count (nas/report/hypervolume.py).
"""

from typing import cast

from ax.api.utils.instantiation.from_string import optimization_config_from_string
from ax.core.optimization_config import MultiObjectiveOptimizationConfig

from nas.config import SearchConfig


def make_optimization_config(config: SearchConfig) -> MultiObjectiveOptimizationConfig:
    """Ax's optimization config of `config` (nas/config.py checked that it has several
    objectives and absolute bounds)."""
    return cast(MultiObjectiveOptimizationConfig,
                optimization_config_from_string(config.objective, list(config.outcome_constraints)))
