"""Setting up the SearchSpace: the config's parameters and parameter constraints, as Ax
builds them from its own configs (`RangeParameterConfig` with bounds,
`ChoiceParameterConfig` with values, and with `dependent_parameters` a hierarchical
space; `DerivedParameterConfig` with an expression; a parameter pinned with --fix is
Ax's FixedParameter) and constraint strings ("head <= width_1"), the way Ax's
`Client.configure_experiment` does.

`build_search_space` is also the config's check (nas/config.py): a space Ax refuses is
refused when the file is read, before anything starts."""

from collections.abc import Sequence
from typing import Any, Protocol

from ax.api.utils.instantiation.from_config import parameter_from_config
from ax.core import SearchSpace
from ax.core.parameter_constraint import ParameterConstraint, validate_constraint_parameters


def build_search_space(parameters: Sequence[Any], constraints: Sequence[str] = ()) -> SearchSpace:
    """Ax's search space of Ax parameter configs, in their order, and constraint strings;
    Ax's own exceptions if it refuses them."""
    built = [parameter_from_config(p) for p in parameters]
    parsed = [ParameterConstraint(inequality=text) for text in constraints]
    for constraint in parsed:  # as Ax's experiment_from_struct checks them
        validate_constraint_parameters(
            parameters=[p for p in built if p.name in constraint.constraint_dict])
    return SearchSpace(parameters=built, parameter_constraints=parsed)


class SpaceConfig(Protocol):
    """What the space is made of: a nas.config.SearchConfig (not imported here, as
    nas.config imports this module to have Ax check a config's space)."""

    @property
    def parameters(self) -> Sequence[Any]: ...

    @property
    def parameter_constraints(self) -> Sequence[str]: ...


def make_search_space(config: SpaceConfig) -> SearchSpace:
    """Ax's search space of a nas.config.SearchConfig."""
    return build_search_space(config.parameters, config.parameter_constraints)
