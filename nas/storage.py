"""Durable search state: the experiment and generation strategy in one JSON file.

Ax's JSON store needs no database server or extra package (Ax's SQL store pins an old
SQLAlchemy), and one file per search is easy to copy, inspect and back up. The file
is replaced atomically after every trial state change, so a crash at any moment
leaves the previous complete state behind.
"""

import json
from pathlib import Path

from ax.storage.json_store.decoder import object_from_json
from ax.storage.json_store.encoder import object_to_json
from ax.storage.json_store.registry import CORE_CLASS_DECODER_REGISTRY, CORE_CLASS_ENCODER_REGISTRY
from ax.storage.metric_registry import register_metrics
from ax.storage.runner_registry import register_runners

from nas.files import atomic_write_text
from nas.metrics import CurveMetric, NasMetric
from nas.runner import NasRunner

STATE_FILE = "search_state.json"

# our Metric and Runner subclasses, registered with Ax's storage so that they round-trip
_, _ENCODERS, _DECODERS = register_metrics({NasMetric: None, CurveMetric: None})
_, _ENCODERS, _DECODERS = register_runners(
    {NasRunner: None}, encoder_registry=_ENCODERS, decoder_registry=_DECODERS
)


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
