"""Durable search state: a snapshot of the search and a journal of its changes since.

Ax's JSON store needs no database server or extra package (Ax's SQL store pins a 2021
SQLAlchemy that only comes as a source package), and its files are easy to copy and
inspect. Rewriting the whole state after every trial state change cost O(n) each time
(0.39 s at 48 trials, ~10 KB a trial, the experiment stored twice; docs/performance.md),
so the state is:

- `search_state.json`, the snapshot: the experiment and the generation strategy as Ax's
  JSON store encodes them (the experiment once), with a random `token`. It is replaced
  atomically; the one before is kept beside it (`search_state.json.prev`, a hard link, so
  that damage done to one file in place cannot reach the other).
- `search_state.json.journal`: a header line naming the snapshot's token, then one JSON
  line per save holding what changed since the save before: each changed trial and its
  data, the new generator runs, and the experiment's and generation strategy's other
  fields when they changed, each as Ax encodes it. A save appends one line and fsyncs it:
  its cost does not grow with the number of trials.

Loading replays the journal onto the snapshot and decodes the result with Ax's decoder.
A crash while appending leaves a partial last line, which is ignored (that save did not
happen); a journal whose header names another snapshot (a crash between writing a new
snapshot and resetting the journal) is ignored too, since the snapshot holds it. A driver
writes a new snapshot when it starts on a non-empty journal and when its run ends, so a
finished search is one file. A file that cannot be used raises `StateError`, whose message
names the file and the way out: it is never silently trusted or discarded.

Ax's encoders map an object to a dict of its fields; that dict is split here into the
parts that change separately (the experiment's "trials" and "data_by_trial", the
generation strategy's "generator_runs"), and put back together before decoding.
"""

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ax.core import Data, Experiment
from ax.core.base_trial import BaseTrial
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.storage.json_store.decoder import generation_strategy_from_json, object_from_json
from ax.storage.json_store.encoder import object_to_json
from ax.storage.json_store.registry import CORE_CLASS_DECODER_REGISTRY, CORE_CLASS_ENCODER_REGISTRY
from ax.storage.metric_registry import register_metrics
from ax.storage.runner_registry import register_runners
from ax.storage.utils import data_to_data_by_trial

import nas.surrogate  # noqa: F401  (registers its model class, named in saved strategies)
from nas.ax_compat import data_rows, experiment_properties, generator_runs, trial_properties
from nas.errors import NasError
from nas.files import atomic_write_text
from nas.messages import error_line, option
from nas.metrics import CurveMetric, NasMetric
from nas.runner import NasRunner

STATE_FILE = "search_state.json"
PREVIOUS_SUFFIX = ".prev"
JOURNAL_SUFFIX = ".journal"
# the layout of the files; a file with a higher number comes from a newer version
FORMAT = 2

# our Metric and Runner subclasses, registered with Ax's storage so that they round-trip
_, _ENCODERS, _DECODERS = register_metrics({NasMetric: None, CurveMetric: None})
_, _ENCODERS, _DECODERS = register_runners(  # type: ignore[assignment]  # `_`: unused
    {NasRunner: None}, encoder_registry=_ENCODERS, decoder_registry=_DECODERS
)
_SPLIT = {Experiment: ("trials", "data_by_trial"),  # the fields saved part by part
          GenerationStrategy: ("generator_runs", "experiment")}


class StateError(NasError):
    """The saved state is damaged or from an incompatible version (one line)."""


def previous_copy(path: str | Path) -> Path:
    return Path(f"{path}{PREVIOUS_SUFFIX}")


def journal_of(path: str | Path) -> Path:
    return Path(f"{path}{JOURNAL_SUFFIX}")


def _encode(value: Any) -> Any:
    return object_to_json(value, encoder_registry=_ENCODERS,
                          class_encoder_registry=CORE_CLASS_ENCODER_REGISTRY)


def _fields(obj: Experiment | GenerationStrategy) -> dict[str, Any]:
    """Ax's JSON of `obj` without the fields saved part by part (_SPLIT)."""
    kind = next(k for k in _SPLIT if isinstance(obj, k))
    fields = _ENCODERS[type(obj)](obj)  # Ax's dict of the object's fields, not yet encoded
    return {k: (None if k in _SPLIT[kind] else _encode(v)) for k, v in fields.items()}


def _trial_key(trial: BaseTrial) -> tuple[Any, ...]:
    """Changes whenever the trial's JSON would (its arms are fixed once it exists)."""
    return (trial.status.name, trial.time_run_started, trial.time_completed, trial.time_staged,
            trial.status_reason, str(trial.run_metadata), str(trial.stop_metadata),
            str(trial_properties(trial)), trial.ttl_seconds)


def _experiment_key(experiment: Experiment) -> tuple[Any, ...]:
    """Changes whenever the experiment's fields other than its trials and data would."""
    return (experiment.name, experiment.description, str(experiment_properties(experiment)),
            id(experiment.search_space), id(experiment.optimization_config),
            tuple(experiment.metrics), id(experiment.runner), experiment.is_test)


def _data_by_trial(experiment: Experiment) -> dict[int, tuple[int, list[Any]]]:
    """{trial index: (hash of its data rows, its rows)}. From the rows, not Data.full_df:
    a DataFrame of all the data costs milliseconds, and this runs at every save."""
    rows: dict[int, list[Any]] = {}
    for row in data_rows(experiment.data):
        rows.setdefault(row.trial_index, []).append(row)
    return {i: (hash(tuple((r.metric_name, r.arm_name, r.step, r.mean, r.se) for r in trial_rows)),
                trial_rows)
            for i, trial_rows in rows.items()}


class StateStore:
    """The saved state of one search: load it, save its changes, write a new snapshot.
    Keeps each part as last encoded, so that a new snapshot encodes nothing again."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.journal = journal_of(self.path)
        self._parts: dict[str, Any] | None = None  # what the files hold: see _empty_parts
        # what the saved parts were made from, to find what changed
        self._keys: dict[str, Any] = {"trials": {}, "data": {}, "experiment": None}
        self._journal_lines = 0

    @staticmethod
    def _empty_parts() -> dict[str, Any]:
        return {"experiment": None, "generation_strategy": None, "trials": {}, "data": {},
                "generator_runs": []}

    # --- saving ------------------------------------------------------------------------

    def save(self, experiment: Experiment, generation_strategy: GenerationStrategy | None) -> None:
        """Save what changed since the last save (a journal line), or a snapshot if there
        is none yet. Raises OSError (full disk, unwritable folder) with the files as they
        were. `generation_strategy` None: the strategy is busy making a candidate
        (nas/candidates.py); its saved parts stay as they are until a later save."""
        if self._parts is None:
            assert generation_strategy is not None  # the first save has it
            return self.write_snapshot(experiment, generation_strategy)
        change = self._changes(experiment, generation_strategy)
        if change:
            self._append(change)
            self._apply(change)
            self._remember(change)

    def write_snapshot(self, experiment: Experiment | None = None,
                       generation_strategy: GenerationStrategy | None = None) -> None:
        """Replace the snapshot with the whole state (the saved parts, brought up to date
        with `experiment` if given) and start an empty journal."""
        if experiment is not None:
            if self._parts is None:
                self._parts = self._empty_parts()
            assert generation_strategy is not None  # given with the experiment
            change = self._changes(experiment, generation_strategy)
            self._apply(change)
            self._remember(change)
        token = uuid.uuid4().hex
        text = json.dumps({"format": FORMAT, "token": token, **self._assembled()})
        if self.path.exists():
            keep_previous(self.path)
        atomic_write_text(self.path, text)
        atomic_write_text(self.journal, _header(token))
        self._journal_lines = 0

    def _changes(self, experiment: Experiment,
                 generation_strategy: GenerationStrategy | None) -> dict[str, Any]:
        """{part: what changed}; trials and data as {index: (key, Ax's JSON)}."""
        assert self._parts is not None  # loaded, or a new snapshot's
        change: dict[str, Any] = {}
        trials = {i: (key, _encode(t)) for i, t in experiment.trials.items()
                  if self._keys["trials"].get(i) != (key := _trial_key(t))}
        if trials:
            change["trials"] = trials
        data = {i: (key, _encode(data_to_data_by_trial(Data(data_rows=rows)))[i])
                for i, (key, rows) in _data_by_trial(experiment).items()
                if self._keys["data"].get(i) != key}
        if data:
            change["data"] = data
        if self._keys["experiment"] != (key := _experiment_key(experiment)):
            change["experiment"] = (key, _fields(experiment))
        if generation_strategy is None:
            return change
        runs = generator_runs(generation_strategy)
        known = len(self._parts["generator_runs"])
        if len(runs) > known:
            change["generator_runs"] = {known + k: _encode(r) for k, r in enumerate(runs[known:])}
        fields = _fields(generation_strategy)
        if fields != self._parts["generation_strategy"]:
            change["generation_strategy"] = fields
        return change

    def _apply(self, change: Mapping[str, Any]) -> None:
        """Put `change` (of _changes, or a journal line's) into the saved parts."""
        parts = self._parts
        assert parts is not None  # loaded, or a new snapshot's
        if "experiment" in change:
            parts["experiment"] = change["experiment"][1]
        if "generation_strategy" in change:
            parts["generation_strategy"] = change["generation_strategy"]
        for name in ("trials", "data"):
            for i, (_, value) in change.get(name, {}).items():
                parts[name][int(i)] = value
        for k, run in sorted(change.get("generator_runs", {}).items(), key=lambda kv: int(kv[0])):
            parts["generator_runs"][int(k):int(k) + 1] = [run]

    def _remember(self, change: Mapping[str, Any]) -> None:
        for name in ("trials", "data"):
            for i, (key, _) in change.get(name, {}).items():
                self._keys[name][int(i)] = key
        if "experiment" in change:
            self._keys["experiment"] = change["experiment"][0]

    def _append(self, change: Mapping[str, Any]) -> None:
        line = json.dumps({k: ({i: d for i, (_, d) in v.items()} if k in ("trials", "data")
                               else v[1] if k == "experiment" else v)
                           for k, v in change.items()}) + "\n"
        with open(self.journal, "a") as f:
            start = f.tell()
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                f.truncate(start)  # no partial line before a later one
                raise
        self._journal_lines += 1

    def _assembled(self) -> dict[str, Any]:
        """The experiment's and generation strategy's JSON, as Ax's encoder writes them
        (the experiment once: the strategy's copy is put back when loading)."""
        parts = self._parts
        assert parts is not None  # loaded, or a new snapshot's
        experiment = {**parts["experiment"],
                      "trials": {str(i): t for i, t in sorted(parts["trials"].items())},
                      "data_by_trial": {str(i): d for i, d in sorted(parts["data"].items())}}
        strategy = {**parts["generation_strategy"], "generator_runs": parts["generator_runs"]}
        return {"experiment": experiment, "generation_strategy": strategy}

    # --- loading -----------------------------------------------------------------------

    def load(self) -> tuple[Experiment, GenerationStrategy]:
        """(experiment, generation_strategy) as last saved; StateError if unusable."""
        state = read_json(self.path)
        if not isinstance(state, dict) or not {"experiment", "generation_strategy"} <= state.keys():
            raise StateError(damaged(self.path, "holds no saved search (not this program's file)"))
        if state.get("format") != FORMAT:
            raise StateError(damaged(self.path, f"has format {state.get('format')!r}, this "
                                                f"version reads {FORMAT} (written by another "
                                                "version)"))
        experiment_json, strategy_json = state["experiment"], state["generation_strategy"]
        try:
            parts = self._empty_parts()
            parts["experiment"] = {k: (None if k in _SPLIT[Experiment] else v)
                                   for k, v in experiment_json.items()}
            parts["generation_strategy"] = {k: (None if k in _SPLIT[GenerationStrategy] else v)
                                            for k, v in strategy_json.items()}
            parts["trials"] = {int(i): t for i, t in experiment_json["trials"].items()}
            parts["data"] = {int(i): d for i, d in experiment_json["data_by_trial"].items()}
            parts["generator_runs"] = list(strategy_json["generator_runs"])
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise StateError(damaged(self.path, f"is not a saved search of this version "
                                                f"({type(e).__name__}: {e})")) from None
        self._parts = parts
        for line in self._journal_changes(state.get("token")):
            change = {k: ({i: (None, v) for i, v in line[k].items()} if k in ("trials", "data")
                          else (None, line[k]) if k == "experiment" else line[k])
                      for k in line}
            self._apply(change)
        experiment, strategy = self._decode()
        # what the decoded objects are made from is what the files hold
        self._keys = {"trials": {i: _trial_key(t) for i, t in experiment.trials.items()},
                      "data": {i: key for i, (key, _) in _data_by_trial(experiment).items()},
                      "experiment": _experiment_key(experiment)}
        return experiment, strategy

    def _journal_changes(self, token: str | None) -> list[dict[str, Any]]:
        """The journal's changes, in order; none if it belongs to another snapshot."""
        try:
            lines = self.journal.read_text().split("\n")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            raise StateError(damaged_journal(self.journal, f"cannot be read ({e})")) from None
        try:
            header = json.loads(lines[0])
        except (ValueError, IndexError):
            header = None
        if not isinstance(header, dict) or header.get("snapshot") != token:
            return []  # a header cut short, or the journal of an older snapshot
        changes = []
        complete = lines[1:-1]  # the text after the last newline: a save cut short, if any
        for number, line in enumerate(complete, start=2):
            try:
                change = json.loads(line)
            except ValueError:
                raise StateError(damaged_journal(self.journal, f"is damaged at line {number}")) from None
            changes.append(change)
        self._journal_lines = len(changes)
        return changes

    def _decode(self) -> tuple[Experiment, GenerationStrategy]:
        decode = dict(decoder_registry=_DECODERS, class_decoder_registry=CORE_CLASS_DECODER_REGISTRY)
        # a copy: Ax's decoder takes the dicts it decodes apart
        assembled = json.loads(json.dumps(self._assembled()))
        try:
            experiment = object_from_json(assembled["experiment"], **decode)
            generation_strategy = generation_strategy_from_json(
                assembled["generation_strategy"], experiment=experiment, **decode)
        except Exception as e:  # Ax's decoder raises many kinds for a file it cannot read
            problem = error_line(e, 200)
            raise StateError(damaged(
                self.path, f"cannot be read by this version of Ax ({problem})")) from None
        generation_strategy.experiment = experiment  # the public setter Orchestrator also uses
        return experiment, generation_strategy

    @property
    def journal_lines(self) -> int:
        """Saves in the journal since the snapshot."""
        return self._journal_lines


def _header(token: str) -> str:
    return json.dumps({"format": FORMAT, "snapshot": token}) + "\n"


def load_state(path: str | Path) -> tuple[Experiment, GenerationStrategy]:
    """(experiment, generation_strategy) as last saved (snapshot and journal); StateError
    if unusable."""
    return StateStore(path).load()


def keep_previous(path: Path) -> None:
    """A hard link, renamed over the previous copy: no data copied, and at every instant
    both names hold a complete file."""
    link = path.with_name(f".{path.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:  # a filesystem without hard links: copy
        atomic_write_text(previous_copy(path), path.read_text())
        return
    os.replace(link, previous_copy(path))


def read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise StateError(damaged(path, "is not JSON (binary data)")) from None
    if not text.strip():
        raise StateError(damaged(path, "is empty"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        # cut short: the text ends inside a string, or where more was expected
        truncated = text.lstrip().startswith("{") and (
            e.msg.startswith("Unterminated string") or e.pos >= len(text.rstrip()) - 1)
        problem = "is truncated" if truncated else "is not JSON"
        raise StateError(damaged(path, f"{problem} ({e.msg} at character {e.pos})")) from None


def damaged(path: Path, problem: str) -> str:
    """The one line for an unusable state file: what is wrong, and the ways out."""
    prev = previous_copy(path)
    way_out = f"start anew with {option('fresh')} (it moves the logs and this file aside)"
    if prev.exists() and prev.stat().st_size and _parses(prev):
        way_out = (f"to resume from the last good copy, `cp {prev} {path}`; or {way_out}")
    return f"the saved search {path} {problem}; {way_out}"


def damaged_journal(journal: Path, problem: str) -> str:
    return (f"the saved search's journal {journal} {problem}; to resume from the snapshot the "
            f"driver last started from (losing the changes since), `mv {journal} "
            f"{journal}.damaged`; or start anew with {option('fresh')}")


def _parses(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False
