"""The loop never waits for the model (nas/candidates.py): a free slot takes a ready
candidate at once, trial ends are seen while a candidate is made, a driver killed while a
candidate is being made or waits for its slot loses nothing and runs nothing twice, and
the thread is gone once the search returns.

Real drivers and jobs of tests/scripts/steady_trial.py, whose own clocks (times.json in
each trial's folder) say when each job started and ended.
"""

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

import nas
from conftest import run_driver, start_driver
from nas.candidates import GENERATION_LOG, read_generation_log
from nas.orchestration import POLL_SECONDS

STEADY_TRIAL = Path(__file__).resolve().parent / "scripts" / "steady_trial.py"
THREAD = "nas-candidates"
# the launch of a local job (TorchX's submit, a fork from the warm-start server): what a
# ready candidate's launch may take after the poll that saw its slot free; generous, as a
# loaded machine slows it. No speed is asserted beyond that (bench.busy measures it).
LAUNCH_SLACK = 2.0


def steady_config(tmp_path, seconds, spread=0.0):
    """A search of STEADY_TRIAL: trials of `seconds` plus `spread` times x."""
    config = tmp_path / "steady.toml"
    config.write_text(f"""name = "steady"
[trial]
script = "{STEADY_TRIAL}"
args = ["--log-dir", "{{log_dir}}", "--seconds", "{seconds}", "--spread", "{spread}"]
[parameters]
x = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
y = {{ parameter_type = "float", bounds = [0.0, 1.0] }}
[optimization]
objective = "score, -cost"
""")
    return config


def job_times(trials_dir):
    """{trial index: (started, ended)} from the jobs' own clocks."""
    times = {}
    for path in trials_dir.glob("*/times.json"):
        if path.parent.name.isdigit():
            t = json.loads(path.read_text())
            times[int(path.parent.name)] = (t["started"], t["ended"])
    return times


def epoch(moment: datetime) -> float:
    return moment.timestamp()  # Ax's times are naive local times


SLOTS = 3
TRIALS = 15


@pytest.fixture(scope="module")
def quick_search(tmp_path_factory):
    """15 trials of 3 to 7 s on 3 slots, one driver: (experiment, job times, generations).
    BoTorch makes three candidates in well under 3 s here, so most are ready before a slot
    frees; trials of unequal length end while one is made."""
    from nas.state.storage import STATE_FILE, load_state

    tmp = tmp_path_factory.mktemp("quick")
    results = tmp / "r"
    done = run_driver("--config", steady_config(tmp, 3.0, spread=4.0), "--trials", TRIALS, "--max-pending", SLOTS,
                      "--seed", 3, "--results-dir", results)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    experiment, _ = load_state(results / "logs" / STATE_FILE)
    return experiment, job_times(results / "logs" / "trials"), read_generation_log(results / "logs")


def test_a_free_slot_takes_a_ready_candidate_within_a_poll(quick_search):
    """Trial k (k >= SLOTS, launched in index order) takes the slot that the
    (k - SLOTS)-th trial end frees. Where its candidate was ready before the driver saw
    that end, the driver launched it in the same poll round: its launch follows the end
    it saw by no more than a poll and the launch itself (the driver's clock). The same
    gap by the jobs' own clocks (the job's start after the freeing job's end, start-up
    and detection included) is printed: speed is bench.busy's to measure."""
    experiment, times, generations = quick_search
    trials = sorted(experiment.trials.values(), key=lambda t: t.index)
    assert sorted(times) == list(range(TRIALS))
    seen_ends = sorted((epoch(t.time_completed), t.index) for t in trials)
    ready_at = [at for g in generations for at in g.get("ready_at", ())]
    assert len(ready_at) == TRIALS  # one made candidate per trial, in trial order
    checked = []
    for k in range(SLOTS, TRIALS):
        seen, freeing = seen_ends[k - SLOTS]
        if ready_at[k] <= seen:
            launch_gap = epoch(trials[k].time_run_started) - seen
            job_gap = times[k][0] - times[freeing][1]
            checked.append((k, round(launch_gap, 2), round(job_gap, 2)))
            assert launch_gap <= POLL_SECONDS + LAUNCH_SLACK, (k, launch_gap, checked)
    print(f"(trial, its launch after the end seen, its job's start after that job's end; s) "
          f"with the candidate ready: {checked}")
    # how many were ready in time depends on the machine's load (2 of 9 in a loaded CI
    # run, 5 of 9 on a quiet machine); each one checked must have been launched at once
    assert checked, "no candidate was ready before its slot freed"


def test_trial_ends_are_seen_while_a_candidate_is_made(quick_search):
    """A job that ended while the thread was generating was seen ended (its trial
    completed) before that generation finished: polling did not wait for it."""
    experiment, times, generations = quick_search
    seen = []
    for trial in experiment.trials.values():
        end = times[trial.index][1]
        noticed = epoch(trial.time_completed)
        for g in generations:
            if g["started"] <= end and noticed < g.get("ended", 0):
                seen.append((trial.index, round(noticed - end, 2), round(g["ended"] - noticed, 2)))
    print(f"(trial, seen after its end, before the generation's end; s): {seen}")
    assert seen, "no trial end fell inside a generation and was seen before it finished"


def test_kill_9_while_a_candidate_is_made_and_while_one_waits_then_every_trial_once(tmp_path):
    """The driver is SIGKILLed once while the thread makes a candidate (a generation
    log line with no end) and once while a candidate waits for its slot (a CANDIDATE
    trial in the saved state); the search resumed to its end ran each trial once, and
    the candidate saved as such ran, as one of the trials asked for."""
    from nas.state.storage import STATE_FILE, load_state

    # trials of 6-10 s: a candidate asked for a slot about to free is most often ready
    # before it frees (one takes 0.5-8 s here), so one waits now and then
    trials, slots = 12, 2
    results = tmp_path / "r"
    logs = results / "logs"
    args = ["--config", steady_config(tmp_path, 6.0, spread=4.0), "--trials", trials, "--max-pending", slots,
            "--seed", 5, "--results-dir", results]

    def killed_when(condition, name, attempts=4):
        for attempt in range(attempts):
            driver = start_driver(*args, out=tmp_path / f"{name}{attempt}.txt")
            end = time.time() + 300
            while driver.poll() is None and time.time() < end and not condition():
                time.sleep(0.02)
            assert driver.poll() is None, (tmp_path / f"{name}{attempt}.txt").read_text()[-3000:]
            driver.kill()
            driver.wait()
            if condition():
                return
        pytest.fail(f"no kill landed {name}")

    def generating():
        generations = read_generation_log(logs)
        return bool(generations) and "ended" not in generations[-1] and generations[-1]["completed"] > 0

    def waiting_candidate():
        journal = logs / f"{STATE_FILE}.journal"
        return journal.exists() and '"CANDIDATE"' in journal.read_text().splitlines()[-1]

    killed_when(generating, "generating")
    killed_when(waiting_candidate, "candidate")
    experiment, _ = load_state(logs / STATE_FILE)
    saved = [t.index for t in experiment.trials.values() if t.status.name == "CANDIDATE"]
    assert saved, "the kill was meant to leave a candidate saved as such"

    final = run_driver(*args)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    experiment, _ = load_state(logs / STATE_FILE)
    status = {t.index: t.status.name for t in experiment.trials.values()}
    assert list(status.values()).count("COMPLETED") == trials, status
    assert set(status.values()) <= {"COMPLETED", "ABANDONED"}, status
    for index in saved:
        assert status[index] == "COMPLETED"
    for index, name in status.items():
        trial_dir = logs / "trials" / str(index)
        events = list(trial_dir.glob("events.out.tfevents.*"))
        if name == "COMPLETED":
            assert len(events) == 1, f"trial {index} trained {len(events)} times"
    generations = read_generation_log(logs)
    assert any("ended" not in g for g in generations[:-1]), "no generation was cut by a kill"
    assert (logs / GENERATION_LOG).exists()


def test_the_thread_is_gone_after_a_crash(tmp_path):
    """A `progress` callback that raises ends the search with its error; the thread
    that made the candidates is gone with it (a normal end and Ctrl-C: tests/test_api.py)."""
    def progress(experiment):
        if any(t.status.name == "COMPLETED" for t in experiment.trials.values()):
            raise RuntimeError("a bug in the caller's callback")

    search = nas.Search.from_config(steady_config(tmp_path, 0.5), trials=4, max_pending=2, seed=0,
                                    log_dir=tmp_path / "logs", results_dir=tmp_path / "results")
    with pytest.raises(RuntimeError, match="callback"):
        search.run(progress=progress)
    assert THREAD not in [t.name for t in threading.enumerate()]


def test_how_many_candidates_to_ask_for_a_wave_and_a_lone_trial():
    """slots_to_fill on made-up trials (4 slots; trials that ended took 60 s): a wave
    of trials ending together is asked for as soon as making that many would take
    (SOON_MARGIN x) as long as their time left; a lone trial, one candidate ahead; a
    ready candidate covers a free slot first."""
    from datetime import timedelta
    from types import SimpleNamespace

    from ax.core.base_trial import TrialStatus

    from nas.orchestration import SOON_MARGIN, slots_to_fill

    now = datetime(2026, 1, 1, 12)

    def experiment(*ages_running):
        done = [SimpleNamespace(status=TrialStatus.COMPLETED, time_run_started=now - timedelta(seconds=s + 60),
                                time_completed=now - timedelta(seconds=s)) for s in (300, 200, 100)]
        running = [SimpleNamespace(status=TrialStatus.RUNNING, time_run_started=now - timedelta(seconds=a),
                                   time_completed=None) for a in ages_running]
        return SimpleNamespace(trials=dict(enumerate(done + running)))

    per = 5.0  # seconds per candidate
    # four trials of age 40: 20 s left each; 4 candidates take 20 s, x1.5 = 30 >= 20: all 4
    assert slots_to_fill(experiment(40, 40, 40, 40), 4, per, now=now) == 4
    # age 25: 35 s left > 30: none yet (one alone would be asked 7.5 s before its end)
    assert slots_to_fill(experiment(25, 25, 25, 25), 4, per, now=now) == 0
    # staggered: 2, 20, 40 and 55 s left; k-th counts if left <= 7.5 k: the first only
    assert slots_to_fill(experiment(58, 40, 20, 5), 4, per, now=now) == 1
    # a free slot and one ready candidate: nothing to ask for the free slot; the trial
    # with 2 s left needs one more
    assert slots_to_fill(experiment(58, 20, 5), 4, per, ready=1, now=now) == 1
    assert slots_to_fill(experiment(20, 5), 4, per, ready=1, now=now) == 1  # 2 free, 1 ready
    # before any candidate was made only the free slots count
    assert slots_to_fill(experiment(58), 4, None, now=now) == 3
    assert SOON_MARGIN == 1.5


def test_a_trial_older_than_the_short_ones_that_ended_is_not_about_to_end():
    """With trials of unequal length the first to end are the short ones: a running trial
    already older than them is not counted as about to end; its time left comes from the
    ended trials that ran longer, and one older than all of them counts as about to end
    once RECENT_TRIALS ended."""
    from datetime import timedelta
    from types import SimpleNamespace

    from ax.core.base_trial import TrialStatus

    from nas.orchestration import RECENT_TRIALS, slots_to_fill

    now = datetime(2026, 1, 1, 12)

    def experiment(durations, *ages_running):
        start = now - timedelta(seconds=1000)  # the ended trials ran side by side
        done = [SimpleNamespace(status=TrialStatus.COMPLETED, time_run_started=start,
                                time_completed=start + timedelta(seconds=d)) for d in durations]
        running = [SimpleNamespace(status=TrialStatus.RUNNING, time_run_started=now - timedelta(seconds=a),
                                   time_completed=None) for a in ages_running]
        return SimpleNamespace(trials=dict(enumerate(done + running)))

    per = 5.0
    # one 13 s trial ended; four of age 20 ran longer: their end is not known yet
    assert slots_to_fill(experiment([13], 20, 20, 20, 20), 4, per, now=now) == 0
    # ... while one of age 10 has 3 s left
    assert slots_to_fill(experiment([13], 10, 20, 20, 20), 4, per, now=now) == 1
    # 13 s and 100 s trials ended: one of age 20 has 80 s left, not 0
    assert slots_to_fill(experiment([13, 13, 13, 13, 100], 20, 20, 20, 20), 4, per, now=now) == 0
    # ... and at age 95, 5 s left: all four (4 x 5 s x 1.5 = 30 >= 5)
    assert slots_to_fill(experiment([13, 13, 13, 13, 100], 95, 95, 95, 95), 4, per, now=now) == 4
    # older than every one of RECENT_TRIALS ended trials: about to end
    assert slots_to_fill(experiment([13] * RECENT_TRIALS, 20, 20), 4, per, now=now) == 4


def test_trials_of_spread_length_are_asked_for_by_their_expected_ends():
    """Four running trials, each with a one-in-five chance of ending while a candidate is
    made: one of them is expected to (0.8, rounded): one candidate is asked for ahead,
    although each alone is more likely than not to run longer (the median time left, 5 s,
    is longer than a candidate takes)."""
    from datetime import timedelta
    from types import SimpleNamespace

    from ax.core.base_trial import TrialStatus

    from nas.orchestration import slots_to_fill

    now = datetime(2026, 1, 1, 12)
    start = now - timedelta(seconds=1000)
    done = [SimpleNamespace(status=TrialStatus.COMPLETED, time_run_started=start,
                            time_completed=start + timedelta(seconds=d)) for d in (3, 5, 7, 9, 11)]

    def experiment(*ages_running):
        running = [SimpleNamespace(status=TrialStatus.RUNNING, time_run_started=now - timedelta(seconds=a),
                                   time_completed=None) for a in ages_running]
        return SimpleNamespace(trials=dict(enumerate(done + running)))

    # age 2, 1 s per candidate: within 1.5 s, 1 of 5 ended longer trials ended (0.2 each,
    # 0.8 for four); within 3 s (two candidates), 2 of 5 (1.6 >= 1.5); within 4.5 s, 2.4 < 2.5
    assert slots_to_fill(experiment(2, 2, 2, 2), 4, 1.0, now=now) == 2
    # one ready already covers the first end; a second within the 1.5 s the next takes to
    # make is not expected (0.8 < 1.5)
    assert slots_to_fill(experiment(2, 2, 2, 2), 4, 1.0, ready=1, now=now) == 0
    # two running trials: 0.4 then 0.8 expected within 1.5 / 3 s: neither rounds up to 1 or 2
    assert slots_to_fill(experiment(2, 2), 2, 1.0, now=now) == 0
    # slow candidates (5 s each): 4 x 4/5 expected within 7.5 s, all four within 15 s
    assert slots_to_fill(experiment(2, 2, 2, 2), 4, 5.0, now=now) == 4


def test_candidates_made_and_not_taken_keep_the_maker_busy(tmp_path):
    """A generation can end between the loop's take() and its next request; the loop
    counts candidates once they are trials, so until it took them the maker must say
    busy, or they are asked for again (a search of 2 trials ran 3)."""
    from bench.generation import new_experiment
    from nas.candidates import CandidateMaker
    from nas.generation import make_generation_strategy

    experiment = new_experiment(str(tmp_path))
    maker = CandidateMaker(make_generation_strategy(experiment, total_trials=2, max_pending=2, seed=0),
                           log_path=tmp_path / GENERATION_LOG)
    try:
        maker.request(experiment, 2, completed=0)
        end = time.time() + 60
        while not [g for g in read_generation_log(tmp_path) if "ended" in g] and time.time() < end:
            time.sleep(0.01)
        [generation] = read_generation_log(tmp_path)  # its end line is written after it ended
        assert generation["made"] == 2
        assert maker.busy  # made, not taken
        assert len(maker.take()) == 2
        assert not maker.busy
    finally:
        maker.close()
