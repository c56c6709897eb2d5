"""Setting up the SearchSpace: the config's parameters, as Ax builds them from its own
parameter configs (`RangeParameterConfig` with bounds, `ChoiceParameterConfig` with
values; a parameter pinned with --fix is Ax's FixedParameter)."""

from ax.api.utils.instantiation.from_config import parameter_from_config
from ax.core import SearchSpace

from nas.config import SearchConfig


def make_search_space(config: SearchConfig) -> SearchSpace:
    """Ax's search space of `config`, parameters in the file's order."""
    return SearchSpace(parameters=[parameter_from_config(p) for p in config.parameters])
