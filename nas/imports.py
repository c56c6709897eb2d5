"""Starting a search from an earlier one's trials (not the job launcher's warm start).

After a first search people change a bound or add a parameter and search again; paying
for the first trials twice is waste. `import_from` names the log dirs of earlier searches:
their COMPLETED trials become completed trials of the new search, through Ax's own path
for results obtained elsewhere (a trial attached with its arm, its data, marked
completed: what `Client.attach_trial` and `complete_trial` do), so that the generation
strategy starts from them; Ax's `num_completed_initialization_trials` shortens the Sobol
phase by their number.

An earlier trial is imported when its parameters lie in the new search's space and it
has a value of every metric the new search reads (by name); otherwise it is skipped, and
counted with why. A parameter the new search adds and the earlier trials lack gets the
value `import_fix` gives it (as `--fix` would); without one, such trials are skipped.
Imported trials count toward the trial budget; their run metadata records their origin
(`imported_from`: the earlier log dir and trial index), which the table and the page show.
Imports happen when a search starts; a resumed search keeps the trials it imported.
"""

from collections import Counter
from pathlib import Path
from typing import Any, cast

from nas.errors import NasError
from nas.messages import one_line, option

ORIGIN_KEY = "imported_from"  # in an imported trial's run metadata: "<log dir> trial <index>"


class ImportFailed(NasError):
    """An earlier search cannot be imported from (no saved state, a damaged one)."""


def import_trials(experiment: Any, log_dir: str | Path,
                  fixed: dict[str, Any] | None = None) -> tuple[int, Counter]:
    """Add the COMPLETED trials of the search saved in `log_dir` to `experiment` as
    completed trials; (how many were imported, Counter of why the others were skipped)."""
    import pandas as pd
    from ax.core import Arm, Trial
    from ax.core.data import Data

    from nas.state.storage import STATE_FILE, StateError, load_state
    from nas.trial_data import completed_results

    log_dir = Path(log_dir).resolve()
    state = log_dir / STATE_FILE
    if not state.exists():
        raise ImportFailed(f"{option('import_from')} {log_dir}: no saved search there (no "
                           f"{STATE_FILE}); give the log dir of an earlier search")
    try:
        earlier, _ = load_state(state)
    except StateError as e:
        raise ImportFailed(f"{option('import_from')} {log_dir}: {e.raw}") from None
    space = experiment.search_space
    metrics = list(experiment.metrics)
    results = completed_results(earlier).df
    done = [cast(Trial, t) for t in earlier.trials.values() if t.status.name == "COMPLETED"]
    imported, skipped = 0, Counter[str]()
    for old in done:
        assert old.arm is not None  # a Trial: one arm
        parameters = dict(old.arm.parameters)
        for name, value in (fixed or {}).items():  # a parameter the earlier search lacked
            if name not in parameters and name in space.parameters:
                parameters[name] = _typed(value, space.parameters[name])
        why = _outside(space, parameters)
        rows = results[results["trial_index"] == old.index]
        values = {m: rows[rows["metric_name"] == m]["mean"] for m in metrics}
        lacking = [m for m, v in values.items() if v.empty]
        if why is None and lacking:
            why = f"no value of {', '.join(lacking)}"
        if why:
            skipped[why] += 1
            continue
        trial = experiment.new_trial().add_arm(Arm(parameters=parameters))
        trial.update_run_metadata({ORIGIN_KEY: f"{log_dir} trial {old.index}"})
        trial.mark_running(no_runner_required=True)
        experiment.attach_data(Data(df=pd.DataFrame([
            {"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": m,
             "metric_signature": experiment.metrics[m].signature,
             "mean": float(v.iloc[-1]), "sem": float("nan")} for m, v in values.items()])))
        trial.mark_completed()
        imported += 1
    return imported, skipped


def _typed(value: Any, parameter: Any) -> Any:
    """An import_fix value (a --import-fix text, or a value) as `parameter` takes it."""
    if not isinstance(value, str):
        return value
    kind = parameter.parameter_type.name.lower()
    if kind == "bool":
        return {"true": True, "false": False}.get(value.lower(), value)
    try:
        return {"int": int, "float": float}.get(kind, str)(value)
    except ValueError:
        return value  # check_membership says why it does not fit


def _outside(space: Any, parameters: dict[str, Any]) -> str | None:
    """Why `parameters` are not a point of `space`, or None."""
    unknown = sorted(set(parameters) - set(space.parameters))
    if unknown:
        return f"a parameter this search lacks ({', '.join(unknown)})"
    if not space.is_hierarchical:
        missing = sorted(set(space.parameters) - set(parameters)
                         - {n for n, p in space.parameters.items() if type(p).__name__ == "DerivedParameter"})
        if missing:
            return f"no value of the parameter {', '.join(missing)} (give it with import_fix)"
    try:
        space.check_membership(parameters, raise_error=True)
    except Exception as e:
        return f"outside this search's space ({one_line(e, 120)})"
    return None


def imported_origins(experiment: Any) -> dict[int, str]:
    """{trial index: where it was imported from} of the imported trials."""
    return {t.index: t.run_metadata[ORIGIN_KEY] for t in experiment.trials.values()
            if ORIGIN_KEY in t.run_metadata}


def describe(log_dir: str | Path, imported: int, skipped: Counter, total: int) -> str:
    """One line for the log: what was imported, what skipped and why."""
    text = (f"imported {imported} completed trials from {log_dir} (they count toward the "
            f"{total}-trial budget)")
    if skipped:
        text += "; skipped " + "; ".join(f"{n} with {why}" for why, n in skipped.most_common())
    return text
