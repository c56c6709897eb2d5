"""The structure of a conditional search space: which parameter is active under which
value of which parent.

Ax's `ChoiceParameterConfig(dependent_parameters={value: [names]})` makes a hierarchical
search space; in Ax 1.3.1 it must be a tree: a parameter depends on one value of one
parent only (`depth = 1|2|3` with `{2 = [w2], 3 = [w2, w3]}` is refused, as `w2` would be
reached from two paths). Variable depth is declared as nested switches instead:
`layer_2: true -> [width_2, layer_3]`, `layer_3: true -> [width_3]`. A trial has only its
active parameters: the roots (parameters no other one lists) and, recursively, those its
parents' values switch on.

Pure functions over Ax's parameter configs (`dependent_parameters`) or Ax's parameters of
a search space (`dependents`), used by the config's checks (nas/config.py) and the report
(which structures won).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def dependents(parameter: Any) -> Mapping[Any, Sequence[str]]:
    """{value: [names]} of a parent, {} for any other parameter (an Ax parameter config
    or an Ax parameter)."""
    if getattr(parameter, "is_hierarchical", False):
        return parameter.dependents
    return getattr(parameter, "dependent_parameters", None) or {}


def parents(parameters: Iterable[Any]) -> dict[str, tuple[str, Any]]:
    """{name: (parent name, the parent's value under which it is active)} of every
    dependent parameter; the first such place when a name is listed more than once (which
    `tree_problem` refuses)."""
    found: dict[str, tuple[str, Any]] = {}
    for parameter in parameters:
        for value, names in dependents(parameter).items():
            for name in names:
                found.setdefault(name, (parameter.name, value))
    return found


def tree_problem(parameters: Iterable[Any]) -> str | None:
    """Why the dependents do not form a tree, or None: a name listed under two values or
    two parents, or a parameter its own ancestor."""
    parameters = list(parameters)
    seen: dict[str, str] = {}
    for parameter in parameters:
        for value, names in dependents(parameter).items():
            for name in names:
                place = f"{parameter.name} = {plain(value)}"
                if name in seen:
                    return f"{name} is listed under {seen[name]} and under {place}"
                seen[name] = place
    up = parents(parameters)
    for name in up:
        chain, node = [name], name
        while node in up:
            node = up[node][0]
            if node in chain:
                return f"{name} depends on itself ({' -> '.join([*chain, node])})"
            chain.append(node)
    return None


def always_active(parameters: Iterable[Any]) -> list[str]:
    """The roots: parameters no other one lists, present in every trial."""
    parameters = list(parameters)
    below = parents(parameters)
    return [p.name for p in parameters if p.name not in below]


def condition(name: str, parameters: Iterable[Any]) -> str | None:
    """"layer_2 = true and layer_3 = true": what makes `name` active, None for a root."""
    up = parents(parameters)
    steps = []
    while name in up:
        name, value = up[name]
        steps.append(f"{name} = {plain(value)}")
    return " and ".join(reversed(steps)) or None


def structure(parameterization: Mapping[str, Any], parameters: Iterable[Any]) -> str:
    """A trial's structure: the values of its parameters that switch others on or off, as
    "layer_2=true, layer_3=false" ("" in a space without such parameters)."""
    return ", ".join(f"{p.name}={plain(parameterization[p.name])}" for p in parameters
                     if dependents(p) and p.name in parameterization)


def plain(value: Any) -> str:
    """A parameter value as a config file writes it (true, not True)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
