"""Durable search state: the experiment and generation strategy in one JSON file.

Ax's JSON store needs no database server or extra package (Ax's SQL store pins an old
SQLAlchemy), and one file per search is easy to copy, inspect and back up. The file is
replaced atomically after every trial state change, so a crash at any moment leaves the
previous complete state behind; the state before that is kept beside it
(`search_state.json.prev`, a second inode, so that damage done to one file in place
cannot reach the other). A file that cannot be used raises `StateError`, whose message
names the file and the way out: it is never silently trusted or discarded.
"""

import json
import os
from pathlib import Path

from ax.storage.json_store.decoder import object_from_json
from ax.storage.json_store.encoder import object_to_json
from ax.storage.json_store.registry import CORE_CLASS_DECODER_REGISTRY, CORE_CLASS_ENCODER_REGISTRY
from ax.storage.metric_registry import register_metrics
from ax.storage.runner_registry import register_runners

from nas.errors import NasError
from nas.files import atomic_write_text
from nas.metrics import CurveMetric, NasMetric
from nas.runner import NasRunner

STATE_FILE = "search_state.json"
PREVIOUS_SUFFIX = ".prev"
# the layout of the file; a file with a higher number comes from a newer version
FORMAT = 1

# our Metric and Runner subclasses, registered with Ax's storage so that they round-trip
_, _ENCODERS, _DECODERS = register_metrics({NasMetric: None, CurveMetric: None})
_, _ENCODERS, _DECODERS = register_runners(
    {NasRunner: None}, encoder_registry=_ENCODERS, decoder_registry=_DECODERS
)


class StateError(NasError):
    """The saved state is damaged or from an incompatible version (one line)."""


def previous_copy(path):
    return Path(f"{path}{PREVIOUS_SUFFIX}")


def save_state(path, experiment, generation_strategy):
    """Replace `path` atomically; what it held becomes the previous copy. Raises OSError
    (full disk, unwritable folder) with both files as they were."""
    encode = dict(encoder_registry=_ENCODERS, class_encoder_registry=CORE_CLASS_ENCODER_REGISTRY)
    text = json.dumps({
        "format": FORMAT,
        "experiment": object_to_json(experiment, **encode),
        "generation_strategy": object_to_json(generation_strategy, **encode),
    })
    path = Path(path)
    if path.exists():
        keep_previous(path)
    atomic_write_text(path, text)


def keep_previous(path):
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


def load_state(path):
    """(experiment, generation_strategy) as last saved; StateError if unusable."""
    path = Path(path)
    state = read_json(path)
    if not isinstance(state, dict) or not {"experiment", "generation_strategy"} <= state.keys():
        raise StateError(damaged(path, "holds no saved search (not this program's file)"))
    if state.get("format", FORMAT) != FORMAT:
        raise StateError(damaged(path, f"has format {state.get('format')!r}, this version "
                                       f"reads {FORMAT} (written by another version)"))
    decode = dict(decoder_registry=_DECODERS, class_decoder_registry=CORE_CLASS_DECODER_REGISTRY)
    try:
        experiment = object_from_json(state["experiment"], **decode)
        generation_strategy = object_from_json(state["generation_strategy"], **decode)
    except Exception as e:  # Ax's decoder raises many kinds for a file it cannot read
        problem = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise StateError(damaged(path, f"cannot be read by this version of Ax ({problem})"))
    generation_strategy.experiment = experiment  # the public setter Orchestrator also uses
    return experiment, generation_strategy


def read_json(path):
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise StateError(damaged(path, "is not JSON (binary data)"))
    if not text.strip():
        raise StateError(damaged(path, "is empty"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        truncated = text.lstrip().startswith("{") and not text.rstrip().endswith("}")
        problem = "is truncated" if truncated else "is not JSON"
        raise StateError(damaged(path, f"{problem} ({e.msg} at character {e.pos})"))


def damaged(path, problem):
    """The one line for an unusable state file: what is wrong, and the ways out."""
    prev = previous_copy(path)
    way_out = "start anew with --fresh (it moves the logs and this file aside)"
    if prev.exists() and prev.stat().st_size and _parses(prev):
        way_out = (f"to resume from the last good copy, `cp {prev} {path}`; or {way_out}")
    return f"the saved search {path} {problem}; {way_out}"


def _parses(path):
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False
