"""The saved state (nas/state/storage.py): a snapshot and a journal of changes, which
loads to what Ax's own JSON store makes of the search; a save's size does not grow with
the number of trials; a save cut short by a crash is ignored, damage is reported."""

import json

import numpy as np
import pytest
from ax.storage.json_store.encoder import object_to_json

from bench.generation import complete
from conftest import save_snapshot, tutorial_config
from nas.orchestration import make_experiment
from nas.generation import make_generation_strategy
from nas.state.storage import StateError, StateStore, journal_of, load_state


def ax_json(experiment, strategy):
    """The search as Ax's JSON store encodes it, without the values that Ax itself
    changes on every encoding or that this project does not save."""
    from nas.state.storage import _DECODERS, _ENCODERS  # noqa: F401  (our classes registered)
    from ax.storage.json_store.registry import CORE_CLASS_ENCODER_REGISTRY

    encode = dict(encoder_registry=_ENCODERS, class_encoder_registry=CORE_CLASS_ENCODER_REGISTRY)
    state = {"experiment": object_to_json(experiment, **encode),
             "generation_strategy": object_to_json(strategy, **encode)}
    state["generation_strategy"].pop("experiment")
    state["generation_strategy"].pop("had_initialized_model")  # a model in memory or not
    return json.loads(json.dumps(state, sort_keys=True))


def search():
    """A new search of the tutorial's config: (experiment, generation strategy)."""
    experiment = make_experiment(tutorial_config())
    strategy = make_generation_strategy(experiment, 48, 4, seed=0, strategy="sobol")
    return experiment, strategy


def run_trials(experiment, strategy, store, n, rng):
    """`n` more Sobol trials, each run and completed with made-up data, saved after each
    change; the bytes each trial added to the journal."""
    sizes = []
    for _ in range(n):
        [[run]] = strategy.gen(experiment=experiment, n=1)
        trial = experiment.new_trial(generator_run=run)
        trial.mark_running(no_runner_required=True)
        before = store.journal.stat().st_size
        store.save(experiment, strategy)
        complete(experiment, trial, rng)
        store.save(experiment, strategy)
        sizes.append(store.journal.stat().st_size - before)
    return sizes


def test_the_saved_state_loads_to_what_axs_json_store_makes_of_the_search(tmp_path):
    experiment, strategy = search()
    store = StateStore(tmp_path / "state.json")
    store.save(experiment, strategy)  # the first save: a snapshot
    run_trials(experiment, strategy, store, 6, np.random.default_rng(0))
    assert store.journal_lines == 12  # two saves per trial, one line each
    loaded, loaded_strategy = load_state(tmp_path / "state.json")
    assert ax_json(loaded, loaded_strategy) == ax_json(experiment, strategy)
    assert [t.status.name for t in loaded.trials.values()] == ["COMPLETED"] * 6
    # a new snapshot holds the same, with an empty journal
    store.write_snapshot()
    assert journal_of(tmp_path / "state.json").read_text().count("\n") == 1
    again, again_strategy = load_state(tmp_path / "state.json")
    assert ax_json(again, again_strategy) == ax_json(experiment, strategy)


def test_a_save_does_not_grow_with_the_number_of_trials(tmp_path):
    """The journal line of one trial's launch and completion is as long at 40 trials as
    at 5: only what changed is written (the whole state grew eightfold meanwhile)."""
    experiment, strategy = search()
    store = save_snapshot(tmp_path / "state.json", experiment, strategy)
    sizes = run_trials(experiment, strategy, store, 40, np.random.default_rng(1))
    assert max(sizes[30:]) < 1.1 * max(sizes[:10])
    whole = len(json.dumps(ax_json(experiment, strategy)))
    assert whole > 8 * max(sizes)


def test_a_save_cut_short_is_ignored_and_damage_is_reported(tmp_path):
    path = tmp_path / "state.json"
    experiment, strategy = search()
    store = save_snapshot(path, experiment, strategy)
    run_trials(experiment, strategy, store, 2, np.random.default_rng(2))
    journal = journal_of(path)
    lines = journal.read_text().split("\n")
    journal.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][: len(lines[-2]) // 2])  # a crash
    loaded, _ = load_state(path)
    assert [t.status.name for t in loaded.trials.values()] == ["COMPLETED", "RUNNING"]
    journal.write_text("\n".join(lines[:2] + ["{not json"] + lines[3:]))  # damage inside
    with pytest.raises(StateError, match=r"journal .* is damaged at line 3; .*`mv "):
        load_state(path)
    journal.write_text(json.dumps({"format": 2, "snapshot": "another"}) + "\n" + "\n".join(lines[1:]))
    loaded, _ = load_state(path)  # the journal of another snapshot: the snapshot alone
    assert len(loaded.trials) == 0
