"""Durable search state: the experiment and generation strategy in one JSON file.

Ax's JSON store needs no database server or extra package (Ax's SQL store pins an old
SQLAlchemy), and one file per search is easy to copy, inspect and back up. The file
is replaced atomically after every trial state change, so a crash at any moment
leaves the previous complete state behind.
"""

import json
import os
import tempfile
from pathlib import Path

from ax.storage.json_store.decoder import object_from_json
from ax.storage.json_store.encoder import object_to_json
from ax.storage.json_store.registry import CORE_CLASS_DECODER_REGISTRY, CORE_CLASS_ENCODER_REGISTRY
from ax.storage.metric_registry import register_metrics
from ax.storage.runner_registry import register_runners

from nas.metrics import NasMetric
from nas.runner import NasRunner

STATE_FILE = "search_state.json"

# our Metric and Runner subclasses, registered with Ax's storage so that they round-trip
_, _ENCODERS, _DECODERS = register_metrics({NasMetric: None})
_, _ENCODERS, _DECODERS = register_runners(
    {NasRunner: None}, encoder_registry=_ENCODERS, decoder_registry=_DECODERS
)


def atomic_write_text(path, text):
    """Write to a temporary file in the same folder, then rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_state(path, experiment, generation_strategy):
    encode = dict(encoder_registry=_ENCODERS, class_encoder_registry=CORE_CLASS_ENCODER_REGISTRY)
    state = {
        "experiment": object_to_json(experiment, **encode),
        "generation_strategy": object_to_json(generation_strategy, **encode),
    }
    atomic_write_text(path, json.dumps(state))


def load_state(path):
    """(experiment, generation_strategy) as last saved."""
    state = json.loads(Path(path).read_text())
    decode = dict(decoder_registry=_DECODERS, class_decoder_registry=CORE_CLASS_DECODER_REGISTRY)
    experiment = object_from_json(state["experiment"], **decode)
    generation_strategy = object_from_json(state["generation_strategy"], **decode)
    generation_strategy._experiment = experiment
    return experiment, generation_strategy
