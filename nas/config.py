"""The search config file: which script a trial runs, what is searched, what is optimized.

A TOML file (read with the standard library's `tomllib`) whose keys are Ax's own names, so
that Ax parses and checks them: each `[parameters]` entry becomes an Ax
`RangeParameterConfig` (with `bounds`), `ChoiceParameterConfig` (with `values`, and
`dependent_parameters` for a conditional space: nas/hierarchy.py) or
`DerivedParameterConfig` (with `expression_str`); the top-level `parameter_constraints`
are the strings Ax's `Client.configure_experiment` takes ("head <= width_1"), and
`[optimization]` holds the strings Ax's `Client.configure_optimization` takes (a comma
separates objectives, `-` minimizes, a constraint on an objective is its threshold).
A parameter's value reaches the script as `parameter_args` writes it, or where `[trial]
args` names it (`"{width_1}"`); an argument naming a parameter the trial does not have
is left out.
README, "Search your own model", documents the format; nas/tutorial.toml is the
tutorial's search written in it.

`load_config` reads and checks a file and raises `ConfigError` with one line naming the
file and what is wrong; nothing here writes a file or starts a job. The Ax objects are
built from a `SearchConfig` by nas/search_space.py, nas/optimization.py and nas/metrics.py.
"""

import dataclasses
import difflib
import hashlib
import json
import string
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from nas.errors import NasError
from nas.hierarchy import always_active, condition, dependents, plain, tree_problem
from nas.messages import one_line, option

DEFAULT_CONFIG = Path(__file__).resolve().parent / "tutorial.toml"
DEFAULT_PARAMETER_ARGS = "--{name} {value}"
DEFAULT_MAX_PENDING = 4
DICT_SOURCE = "the config dict"  # a config given as a dict, in messages

# what a placeholder in the config stands for (README: "Search your own model")
TRIAL_PLACEHOLDERS = {
    "log_dir": "the trial's own TensorBoard log dir",
    "trial_index": "the trial's index",
    "data_dir": "--data-dir, else $PATH_DATASETS",
    "cache_dir": "the search's folder for what [prepare] makes (LOG_DIR/cache)",
    "gpus": "GPUs per trial job (--gpu, default 0)",
}
PARAMETER_PLACEHOLDERS = {"name": "the parameter's name", "value": "its value in this trial"}
PREPARE_PLACEHOLDERS = {"python": "the driver's Python interpreter",
                        "data_dir": TRIAL_PLACEHOLDERS["data_dir"],
                        "cache_dir": TRIAL_PLACEHOLDERS["cache_dir"]}

TABLES = {  # table -> its keys; [parameters] and [metrics] hold one entry per name
    "trial": ("script", "args", "parameter_args", "omit", "last_step"),
    "prepare": ("command", "creates"),
    "search": ("trials", "max_pending", "seed", "time_budget", "global_stopping"),
    "parameters": None,
    "optimization": ("objective", "outcome_constraints"),
    "metrics": None,
    "report": ("contour",),
}
TOP_KEYS = ("name", "parameter_constraints", *TABLES)
# the trial component's own arguments (nas/component.py's `trainer`, whose other keyword
# arguments are the trial's parameters): no parameter may take these names
RESERVED_NAMES = ("log_path", "trial_idx", "job_settings")
METRIC_KEYS = ("tag", "best")
# [search.global_stopping]: Ax's ImprovementGlobalStoppingStrategy's arguments. Ax's own
# default waits for no trial to run before it stops a search, which with several trials
# running at once hardly ever happens: false here unless the config says
GLOBAL_STOPPING_KEYS = ("min_trials", "window_size", "improvement_bar",
                        "inactive_when_pending_trials")
GLOBAL_STOPPING_DEFAULTS = {"window_size": 5, "improvement_bar": 0.1,
                            "inactive_when_pending_trials": False}


class ConfigError(NasError):
    """A config file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the search: read from the TensorBoard scalar `tag` of each trial.
    `lower_is_better`: from the objective's sign (None for a metric only constrained).
    `best`: the best value it can take, if declared (the hypervolume's maximum)."""
    name: str
    tag: str
    lower_is_better: bool | None
    best: float | None = None


@dataclass(frozen=True)
class SearchConfig:
    """A checked search config; paths absolute. `path`: its file, None for a dict;
    `folder`: where its relative paths start (the file's folder, or the current one)."""
    path: Path | None
    folder: Path
    name: str
    script: Path
    args: tuple[str, ...]
    parameter_args: str
    last_step: str | int | None  # a parameter name or a number: the last step a trial logs
    prepare: tuple[str, ...] | None
    prepare_creates: tuple[str, ...]  # files [prepare] makes: it is skipped while all exist
    trials: int | None
    max_pending: int
    seed: int | None
    parameters: tuple  # Ax's Range/Choice/DerivedParameterConfig, in file order (--fix applied)
    objective: str
    outcome_constraints: tuple[str, ...]
    metrics: dict = field(default_factory=dict)  # name -> MetricSpec: objectives first
    contour: tuple[str, str] | None = None
    fixed: dict = field(default_factory=dict)  # name -> value pinned on the command line
    parameter_constraints: tuple[str, ...] = ()  # Ax's strings, e.g. "head <= width_1"
    raw: dict | None = None  # the dict it was declared by, None for a file
    time_budget: float | None = None  # seconds of wall time for the whole search (nas/budget.py)
    global_stopping: dict | None = None  # Ax's ImprovementGlobalStoppingStrategy's arguments
    omit: tuple[str, ...] = ()  # parameters parameter_args does not pass (structural switches)

    @property
    def source(self) -> str:
        """Where it came from, for messages: its file, or that it was a dict."""
        return str(self.path) if self.path else DICT_SOURCE

    @property
    def objectives(self) -> list[str]:
        return [m.name for m in self.metrics.values() if m.lower_is_better is not None]

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def always_active(self) -> list[str]:
        """The parameters every trial has (all of them in a space without dependents)."""
        return always_active(self.parameters)

    def fingerprint(self) -> str:
        """What makes two configs the same search: the trial command, the parameters and
        fixes, the metrics and the optimization (not the budget or the seed)."""
        same: dict[str, Any]
        same = {"script": str(self.script), "args": self.args, "parameter_args": self.parameter_args,
                "parameters": [dataclasses.asdict(p) for p in self.parameters],
                "objective": self.objective, "outcome_constraints": self.outcome_constraints,
                "metrics": [dataclasses.asdict(m) for m in self.metrics.values()]}
        # only when used, so that the searches saved before they existed keep their print
        if self.parameter_constraints:
            same["parameter_constraints"] = self.parameter_constraints
        if self.omit:
            same["omit"] = self.omit
        for parameter in same["parameters"]:
            if parameter.get("dependent_parameters") is None:
                parameter.pop("dependent_parameters", None)
            else:  # as text: JSON keys are strings, and sorting needs one kind of key
                parameter["dependent_parameters"] = {
                    plain(k): list(v) for k, v in parameter["dependent_parameters"].items()}
        text = json.dumps(same, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def script_of(path: str | Path) -> Path | None:
    """The training script the config file `path` names, without checking the rest of it
    (which imports Ax); None if it names none that exists. What the driver can start on
    before the whole check."""
    try:
        reader = _Reader(Path(path).expanduser().resolve())
        return reader.script(reader.table(reader.toml(), "trial"))
    except ConfigError:
        return None


def load_config(path: str | Path | dict[str, Any],
                fixed: dict[str, Any] | None = None) -> SearchConfig:
    """Read and check the config file `path`, or a dict in the file's shape (its relative
    paths from the current directory); `fixed`: {parameter: value, or its text} pinned as
    --fix pins them. Raises ConfigError."""
    if isinstance(path, dict):
        reader, raw = _Reader(None), path
    else:
        path = Path(path).expanduser().resolve()
        reader = _Reader(path)
        raw = reader.toml()
    file = reader.path
    fixed = {name: value if isinstance(value, str) else plain(value)
             for name, value in (fixed or {}).items()}
    reader.keys(raw, TOP_KEYS, "the top level")
    tables = {name: reader.table(raw, name) for name in TABLES}
    for name, keys in TABLES.items():
        if keys is not None:
            reader.keys(tables[name], keys, f"[{name}]")

    trial = tables["trial"]
    script = reader.script(trial)
    args = tuple(reader.strings(trial, "args", "trial", default=[]))
    parameter_args = trial.get("parameter_args", DEFAULT_PARAMETER_ARGS)
    if not isinstance(parameter_args, str) or "{value}" not in parameter_args:
        reader.fail(f'[trial] parameter_args must be a string holding {{value}}, e.g. '
                    f'"{DEFAULT_PARAMETER_ARGS}" or "{{name}}={{value}}"; got {parameter_args!r}')
    reader.placeholders(parameter_args, PARAMETER_PLACEHOLDERS, "[trial] parameter_args")

    prepare = None
    if "command" in tables["prepare"]:
        prepare = tuple(reader.strings(tables["prepare"], "command", "prepare"))
        if not prepare:
            reader.fail("[prepare] command is empty; give the command as a list of words, "
                        'e.g. ["{python}", "prepare.py"]')
        for word in prepare:
            reader.placeholders(word, PREPARE_PLACEHOLDERS, "[prepare] command")
    creates = tuple(reader.strings(tables["prepare"], "creates", "prepare", default=[]))
    for word in creates:
        reader.placeholders(word, PREPARE_PLACEHOLDERS, "[prepare] creates")

    search = tables["search"]
    trials = reader.whole(search, "trials", "search", minimum=1)
    max_pending = reader.whole(search, "max_pending", "search", minimum=1)
    seed = reader.whole(search, "seed", "search", minimum=None)
    time_budget = reader.duration(search.get("time_budget"))
    global_stopping = reader.global_stopping(search.get("global_stopping"))

    declared = [reader.parameter(name, entry) for name, entry in tables["parameters"].items()]
    if not declared:
        reader.fail("[parameters] is empty; declare at least one parameter to search")
    names = [p.name for p in declared]
    for name in fixed or {}:
        if name not in names:
            reader.fail(f"{option('fix')} {name}={fixed[name]}: no parameter {name!r} in [parameters]; "
                        f"the parameters are {', '.join(names)}", prefix=False)
    reader.structure(declared)
    parameters = reader.fix(declared, fixed or {})
    constraints = reader.constraints(raw.get("parameter_constraints", []), parameters, fixed or {})
    reader.ax_space(parameters, constraints)
    roots = always_active(parameters)

    for arg in args:
        reader.placeholders(arg, {**TRIAL_PLACEHOLDERS, **{n: "" for n in names}}, "[trial] args")
        for field_name in _fields(arg):
            if field_name in TRIAL_PLACEHOLDERS and field_name in names:
                reader.fail(f"[trial] args {arg!r}: {{{field_name}}} is both a placeholder "
                            f"({TRIAL_PLACEHOLDERS[field_name]}) and a parameter; rename the "
                            "parameter")
    omit = tuple(reader.strings(trial, "omit", "trial", default=[]))
    for name in omit:
        if name not in names:
            reader.fail(f"[trial] omit names {name!r}, not a parameter; the parameters are "
                        f"{', '.join(names)}")

    objective, outcome_constraints, metric_directions = reader.optimization(tables["optimization"])
    metrics = reader.metrics(tables["metrics"], metric_directions)

    last_step = trial.get("last_step")
    if last_step is not None and not (
            (isinstance(last_step, str) and last_step in roots)
            or (type(last_step) is int and last_step >= 1)):
        reader.fail(f"[trial] last_step {last_step!r} is neither a parameter every trial has "
                    f"({', '.join(roots)}) nor a whole number >= 1")

    contour = tables["report"].get("contour")
    if contour is not None:
        ranges = [p.name for p in parameters if hasattr(p, "bounds")
                  and p.name not in (fixed or {}) and p.name in roots]
        if (not isinstance(contour, list) or len(contour) != 2 or len(set(contour)) != 2
                or not set(contour) <= set(ranges)):
            reader.fail(f"[report] contour {contour!r} must name two different range "
                        "parameters (with bounds) that every trial has, from: "
                        f"{', '.join(ranges) or 'none'}")
        contour = tuple(contour)

    name = raw.get("name", file.stem if file else "search")
    if not isinstance(name, str) or not name.strip():
        reader.fail(f"name must be a non-empty string, got {name!r}")

    return SearchConfig(
        path=file, folder=reader.folder, name=name, script=script, args=args, parameter_args=parameter_args,
        last_step=last_step, prepare=prepare, prepare_creates=creates, trials=trials,
        max_pending=max_pending or DEFAULT_MAX_PENDING, seed=seed,
        parameters=tuple(parameters), objective=objective,
        outcome_constraints=tuple(outcome_constraints), metrics=metrics, contour=contour,
        fixed={p.name: p.values[0] for p in parameters if p.name in (fixed or {})},
        parameter_constraints=tuple(constraints), omit=omit, time_budget=time_budget,
        global_stopping=global_stopping,
        raw=None if file else _plain_data(raw),
    )


def parse_fix(text: str) -> tuple[str, str]:
    """`--fix NAME=VALUE` -> (NAME, VALUE text); ConfigError if there is no `=`."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ConfigError(f"{option('fix')} {text!r}: expected NAME=VALUE, e.g. {option('fix')} epochs=1")
    return name.strip(), value.strip()


class _Reader:
    """Checks of one file; every failure is a ConfigError naming the file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: a dict
        self.folder = path.parent if path else Path.cwd()
        self.source = str(path) if path else DICT_SOURCE

    def fail(self, problem: str, prefix: bool = True) -> NoReturn:
        raise ConfigError(f"{self.source}: {problem}" if prefix else f"{problem} ({self.source})")

    def toml(self) -> dict[str, Any]:
        assert self.path is not None  # a file's reader
        try:
            with open(self.path, "rb") as f:
                return tomllib.load(f)
        except FileNotFoundError:
            self.fail(f"no such config file; give {option('config')} an existing .toml file")
        except OSError as e:
            self.fail(f"cannot be read ({e.strerror})")
        except tomllib.TOMLDecodeError as e:
            self.fail(f"not valid TOML: {e}")  # tomllib's message names line and column

    def table(self, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            self.fail(f"{name} must be a table ([{name}]), got {value!r}")
        return value

    def keys(self, table: Iterable[str], valid: Sequence[str], where: str) -> None:
        for key in table:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(valid)}"
                self.fail(f"unknown key {key!r} in {where}; {hint}")

    def strings(self, table: Mapping[str, Any], key: str, where: str,
                default: list[str] | None = None) -> list[str]:
        value = table.get(key, default)
        if value is None:
            self.fail(f"[{where}] needs {key}")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"[{where}] {key} must be a list of strings, got {value!r}")
        return value

    def whole(self, table: Mapping[str, Any], key: str, where: str, minimum: int | None) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if type(value) is not int or (minimum is not None and value < minimum):
            wanted = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
            self.fail(f"[{where}] {key} must be {wanted}, got {value!r}")
        return value

    def placeholders(self, text: str, valid: Collection[str], where: str) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as e:  # a lone { or }
            self.fail(f"{where} {text!r}: {e}; write a literal brace as {{{{ or }}}}")
        for name in fields:
            if name not in valid:
                self.fail(f"{where} {text!r}: unknown placeholder {{{name}}}; "
                          f"valid: {', '.join('{' + v + '}' for v in valid)}")

    def script(self, trial: Mapping[str, Any]) -> Path:
        script = trial.get("script")
        if not isinstance(script, str) or not script:
            self.fail("[trial] needs script, the training script a trial runs "
                      "(a path relative to this file)")
        resolved = (self.folder / script).resolve()
        if not resolved.is_file():
            self.fail(f"[trial] script {script!r} not found: no file {resolved}")
        return resolved

    def parameter(self, name: str, entry: Any) -> Any:
        """Ax's parameter config of one [parameters] entry, checked by Ax itself."""
        from ax.api.configs import ChoiceParameterConfig, DerivedParameterConfig, RangeParameterConfig
        from ax.api.utils.instantiation.from_config import parameter_from_config

        where = f"parameter {name!r}"
        if name in RESERVED_NAMES:
            self.fail(f"parameter name {name!r} is reserved for the trial component "
                      f"({', '.join(RESERVED_NAMES)}); rename it and its flag with "
                      "[trial] parameter_args, or pass it in args")
        if not isinstance(entry, dict):
            self.fail(f"{where} must be a table, e.g. {{ parameter_type = \"float\", "
                      "bounds = [0.0, 1.0] }}")
        forms = [key for key in ("bounds", "values", "expression_str") if key in entry]
        if len(forms) > 1:
            self.fail(f"{where} has {' and '.join(forms)}: a range has bounds, a choice "
                      "values, a derived parameter expression_str; keep one")
        kind = {"values": ChoiceParameterConfig, "expression_str": DerivedParameterConfig}.get(
            forms[0] if forms else "bounds", RangeParameterConfig)
        valid = [f.name for f in dataclasses.fields(kind) if f.name != "name"]
        self.keys(entry, valid, where)
        if not forms:
            self.fail(f"{where} needs bounds = [low, high] (a range), values = [...] "
                      "(a choice) or expression_str = \"...\" (derived from others)")
        if "parameter_type" not in entry:
            types = '"float", "int"' + (', "str", "bool"' if kind is ChoiceParameterConfig else "")
            self.fail(f"{where} needs parameter_type ({types})")
        values = dict(entry)
        if "bounds" in values:
            bounds = values["bounds"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                self.fail(f"{where}: bounds must be [low, high], got {bounds!r}")
            values["bounds"] = tuple(bounds)
        if "dependent_parameters" in values:
            values["dependent_parameters"] = self.dependents(where, values)
        config = kind(name=name, **values)
        try:
            parameter_from_config(config)  # Ax's checks: bounds order, log scale, choices
        except Exception as e:
            self.fail(f"{where}: {one_line(e)}")
        return config

    def duration(self, value: Any) -> float | None:
        """[search] time_budget as seconds, or None."""
        from nas.budget import EXAMPLES, parse_duration

        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError:
            self.fail(f"[search] time_budget {value!r}: expected a duration such as {EXAMPLES}")

    def global_stopping(self, table: Any) -> dict[str, Any] | None:
        """[search.global_stopping], checked (`global_stopping_options`); None without one."""
        if table is None:
            return None
        try:
            return global_stopping_options(table, "[search.global_stopping]")
        except ValueError as e:
            self.fail(str(e))

    def dependents(self, where: str, entry: Mapping[str, Any]) -> dict[Any, list[str]]:
        """A choice's dependent_parameters table, its keys (TOML's strings: "true", "2",
        "relu") as the parameter's values."""
        table = entry["dependent_parameters"]
        values = entry.get("values")
        kind = entry.get("parameter_type")
        example = 'dependent_parameters = { true = ["width_2"] }'
        if not isinstance(table, dict) or not table:
            self.fail(f"{where}: dependent_parameters must be a table of its values to "
                      f"lists of parameter names, e.g. {example}; got {table!r}")
        if not isinstance(values, list):
            self.fail(f"{where}: values must be a list, got {values!r}")
        converted: dict[Any, list[str]] = {}
        for key, names in table.items():
            try:
                value = _typed(key, kind)
            except (ValueError, KeyError):
                value = None
            if value is None or value not in values:
                self.fail(f"{where}: dependent_parameters key {key!r} is not one of its values "
                          f"({', '.join(plain(v) for v in values)})")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                self.fail(f"{where}: dependent_parameters.{key} must be a list of parameter "
                          f"names, e.g. {example}; got {names!r}")
            converted[value] = names
        return converted

    def structure(self, parameters: Sequence[Any]) -> None:
        """The dependents name parameters and form a tree (Ax 1.3.1 takes no other)."""
        names = [p.name for p in parameters]
        derived = [p.name for p in parameters if hasattr(p, "expression_str")]
        for parameter in parameters:
            for value, listed in dependents(parameter).items():
                for name in listed:
                    if name not in names:
                        self.fail(f"parameter {parameter.name!r}: its dependent {name!r} (under "
                                  f"{plain(value)}) is not a parameter; declare it in "
                                  f"[parameters] (the parameters are {', '.join(names)})")
                    if name in derived:
                        self.fail(f"parameter {parameter.name!r}: its dependent {name!r} is "
                                  "derived; a derived parameter is always active")
        if problem := tree_problem(parameters):
            self.fail(f"the dependent_parameters do not form a tree: {problem}; Ax 1.3.1 takes "
                      "a parameter under one value of one parent only: nest switches instead, "
                      'e.g. layer_2 = { ..., dependent_parameters = { true = ["width_2", '
                      '"layer_3"] } }, layer_3 = { ..., dependent_parameters = { true = '
                      '["width_3"] } } (docs/search_spaces.md)')
        if derived and any(dependents(p) for p in parameters):
            self.fail(f"derived parameter {derived[0]!r} in a space with dependent_parameters: "
                      "Ax 1.3.1 cannot generate trials for that (its Cast transform has no "
                      "placeholder value for a derived parameter); compute it in the script")

    def fix(self, parameters: Sequence[Any], fixed: Mapping[str, str]) -> list[Any]:
        """The parameters with --fix applied: each fixed one a one-value choice; under a
        fixed parent, the dependents of its other values dropped (no trial can have them).
        A fixed parameter that no trial can have then is refused."""
        from ax.api.configs import ChoiceParameterConfig

        by_name = {p.name: p for p in parameters}
        for name in fixed:
            if hasattr(by_name[name], "expression_str"):
                self.fail(f"{option('fix')} {name}={fixed[name]}: {name} is derived "
                          f"({by_name[name].expression_str}); fix what it is derived from",
                          prefix=False)
        pinned = {name: self.fixed_value(text, by_name[name]) for name, text in fixed.items()}
        dropped: dict[str, str] = {}  # name -> why no trial can have it
        for name, value in pinned.items():
            for other, names in dependents(by_name[name]).items():
                if other != value:
                    for below in names:
                        for lost in [below, *_descendants(below, by_name)]:
                            dropped.setdefault(lost, f"{option('fix')} {name}={fixed[name]}")
        for name, why in dropped.items():
            if name in pinned:
                self.fail(f"{option('fix')} {name}={fixed[name]}: {name} is active only when "
                          f"{condition(name, parameters)}, and {why} leaves it out", prefix=False)
        out = []
        for parameter in parameters:
            if parameter.name in dropped:
                continue
            if parameter.name in pinned:
                value = pinned[parameter.name]
                switched = dependents(parameter).get(value)
                parameter = ChoiceParameterConfig(
                    name=parameter.name, values=[value], parameter_type=parameter.parameter_type,
                    dependent_parameters={value: switched} if switched else None)
            out.append(parameter)
        return out

    def constraints(self, texts: Any, parameters: Sequence[Any], fixed: Mapping[str, str]) -> list[str]:
        """The top-level parameter_constraints: Ax's strings, each on range parameters
        every trial has (Sobol fails on a constraint naming a parameter a trial lacks, and
        does not keep one on a choice parameter)."""
        from ax.core.parameter_constraint import ParameterConstraint

        example = '["head <= width_1", "width_1 + width_2 <= 256"]'
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self.fail(f"parameter_constraints must be a list of strings, e.g. {example}; "
                      f"got {texts!r}")
        by_name = {p.name: p for p in parameters}
        roots = set(always_active(parameters))
        for text in texts:
            try:
                names = list(ParameterConstraint(inequality=text).constraint_dict)
            except Exception as e:
                self.fail(f"parameter constraint {text!r}: Ax cannot parse it ({one_line(e)}); "
                          f"write a linear inequality of parameters, e.g. {example}")
            for name in names:
                where = f"parameter constraint {text!r}"
                if name in fixed:
                    self.fail(f"{option('fix')} {name}={fixed[name]}: {name} is in the {where}; Ax "
                              "1.3.1 keeps constraints on searched range parameters only: "
                              "drop the constraint to fix it", prefix=False)
                parameter = by_name.get(name)
                if parameter is None:
                    self.fail(f"{where}: {name!r} is not a parameter (the parameters are "
                              f"{', '.join(by_name)})")
                if not hasattr(parameter, "bounds"):
                    self.fail(f"{where}: {name} is not a range parameter (with bounds); "
                              "Ax's Sobol does not keep a constraint on a choice or derived one")
                if name not in roots:
                    self.fail(f"{where}: {name} is not in every trial (active only when "
                              f"{condition(name, parameters)}); Ax 1.3.1's Sobol fails on a "
                              "constraint naming a parameter a trial lacks")
                if parameter.scaling == "log":
                    self.fail(f"{where}: {name} is log-scaled; Ax refuses constraints on "
                              "log-scale parameters (its models keep constraints linear)")
        return list(texts)

    def ax_space(self, parameters: Sequence[Any], constraints: Sequence[str]) -> None:
        """Ax builds the space, as the experiment will: what it refuses, refused now."""
        from nas.search_space import build_search_space

        try:
            build_search_space(parameters, constraints)
        except Exception as e:
            self.fail(f"Ax refuses the search space: {one_line(e)}")

    def fixed_value(self, text: str, config: Any) -> Any:
        """--fix's value text as a value the parameter `config` takes: of its type, within
        its bounds or one of its choices; else ConfigError naming what the space allows (a
        value outside it would start a search whose every trial may fail)."""
        from ax.api.configs import ChoiceParameterConfig

        is_choice = isinstance(config, ChoiceParameterConfig)
        if is_choice:
            allowed = f"one of {', '.join(plain(v) for v in config.values)}"
        else:
            kind = "integers" if config.parameter_type == "int" else "numbers"
            low, high = config.bounds
            allowed = f"{kind} in [{plain(low)}, {plain(high)}]"
        try:
            value = _typed(text, config.parameter_type)
        except (ValueError, KeyError):
            value = None
        if value is not None and is_choice:
            ok = value in config.values
        else:
            ok = value is not None and config.bounds[0] <= value <= config.bounds[1]
        if not ok:
            self.fail(f"{option('fix')} {config.name}={text}: {config.name} takes {allowed}", prefix=False)
        return value

    def optimization(self, table: Mapping[str, Any]) -> tuple[str, list[str], dict[str, bool | None]]:
        """(objective, constraints, {metric: lower_is_better or None}), parsed by Ax."""
        from ax.api.utils.instantiation.from_string import optimization_config_from_string
        from ax.core.optimization_config import MultiObjectiveOptimizationConfig

        objective = table.get("objective")
        if not isinstance(objective, str) or not objective.strip():
            self.fail('[optimization] needs objective, e.g. "accuracy, -params" (comma: '
                      'several objectives; -: minimize)')
        constraints = table.get("outcome_constraints", [])
        if not isinstance(constraints, list) or not all(isinstance(c, str) for c in constraints):
            self.fail(f"[optimization] outcome_constraints must be a list of strings, e.g. "
                      f'["accuracy >= 0.9"], got {constraints!r}')
        try:
            parsed = optimization_config_from_string(objective)
        except Exception as e:
            self.fail(f"[optimization] objective {objective!r}: Ax cannot parse it ({one_line(e)})")
        if not isinstance(parsed, MultiObjectiveOptimizationConfig):
            self.fail(f"[optimization] objective {objective!r} is a single objective; this tool "
                      'searches trade-offs: give two or more, e.g. "accuracy, -params"')
        for constraint in constraints:
            try:
                optimization_config_from_string(objective, [constraint])
            except Exception as e:
                self.fail(f"[optimization] outcome constraint {constraint!r}: Ax cannot parse "
                          f"it ({one_line(e)})")
        config = optimization_config_from_string(objective, constraints)
        for constraint in [*config.objective_thresholds, *config.outcome_constraints]:
            if constraint.relative:
                self.fail(f"[optimization] outcome constraint {str(constraint)!r} is relative to "
                          "a baseline, which this tool does not run; give an absolute bound")
        directions: dict[str, bool | None] = {}
        for name, weight in zip(config.objective.metric_names,
                                [w for _, w in config.objective.metric_weights]):
            directions[name] = weight < 0
        for constraint in config.outcome_constraints:
            for name in constraint.metric_names:
                directions.setdefault(name, None)
        return objective, constraints, directions

    def metrics(self, table: Mapping[str, Any],
                directions: Mapping[str, bool | None]) -> dict[str, MetricSpec]:
        """{name: MetricSpec}, objectives first; [metrics] may name only these."""
        for name, entry in table.items():
            if name not in directions:
                close = difflib.get_close_matches(name, list(directions), n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}?" if close else \
                    f"the metrics are {', '.join(directions)}"
                self.fail(f"[metrics] {name!r} is not in the objective or outcome_constraints; {hint}")
            if not isinstance(entry, dict):
                self.fail(f'[metrics] {name} must be a table, e.g. {{ tag = "val/acc" }}')
            self.keys(entry, METRIC_KEYS, f"[metrics] {name}")
            tag = entry.get("tag", name)
            if not isinstance(tag, str) or not tag:
                self.fail(f"[metrics] {name}: tag must be a non-empty string, got {tag!r}")
            best = entry.get("best")
            if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
                self.fail(f"[metrics] {name}: best must be a number, got {best!r}")
        return {name: MetricSpec(name=name, tag=table.get(name, {}).get("tag", name),
                                 lower_is_better=lower,
                                 best=None if table.get(name, {}).get("best") is None
                                 else float(table[name]["best"]))
                for name, lower in directions.items()}


def _typed(text: str, parameter_type: str | None) -> Any:
    """A --fix value text as the parameter type's value; ValueError/KeyError if it is not."""
    if parameter_type == "int":
        return int(text)
    if parameter_type == "float":
        value = float(text)
        if value != value:  # nan
            raise ValueError(text)
        return value
    if parameter_type == "bool":
        return {"true": True, "false": False}[text.lower()]
    return text


def _plain_data(raw: dict) -> dict:
    """A dict config as JSON-safe data (its keys and lists as the file would have them)."""
    return json.loads(json.dumps(raw, default=str))


def global_stopping_options(table: Any, where: str) -> dict[str, Any]:
    """The arguments of Ax's ImprovementGlobalStoppingStrategy (stop once the
    hypervolume stopped improving) from a table of Ax's names (GLOBAL_STOPPING_KEYS), its
    defaults filled in; ValueError naming `where` and the problem."""
    import difflib

    example = "{ min_trials = 30, window_size = 20, improvement_bar = 0.01 }"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table, e.g. {example}")
    for key in table:
        if key not in GLOBAL_STOPPING_KEYS:
            close = difflib.get_close_matches(key, GLOBAL_STOPPING_KEYS, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(GLOBAL_STOPPING_KEYS)}"
            raise ValueError(f"unknown key {key!r} in {where}; {hint}")
    if "min_trials" not in table:
        raise ValueError(f"{where} needs min_trials: the trials before Ax may stop the search")
    options = {**GLOBAL_STOPPING_DEFAULTS, **table}
    for key in ("min_trials", "window_size"):
        if type(options[key]) is not int or options[key] < 1:
            raise ValueError(f"{where} {key} must be a whole number >= 1, got {options[key]!r}")
    bar = options["improvement_bar"]
    if isinstance(bar, bool) or not isinstance(bar, int | float) or bar < 0:
        raise ValueError(f"{where} improvement_bar must be a number >= 0, got {bar!r}")
    if not isinstance(options["inactive_when_pending_trials"], bool):
        raise ValueError(f"{where} inactive_when_pending_trials must be true or false")
    return options


def _descendants(name: str, by_name: dict) -> list[str]:
    """Every parameter below `name` in the tree of dependents."""
    out = []
    for names in dependents(by_name[name]).values():
        for below in names:
            out += [below, *_descendants(below, by_name)]
    return out


def _fields(text: str) -> list[str]:
    """The placeholder names in `text` ({name} or {name:spec})."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError:
        return []


def as_dict(config: SearchConfig) -> dict[str, Any]:
    """The config as plain data (for run_summary.json)."""
    return {"path": config.source, "name": config.name, "script": str(config.script),
            "objective": config.objective, "outcome_constraints": list(config.outcome_constraints),
            "parameters": config.parameter_names, "fixed": dict(config.fixed)}
