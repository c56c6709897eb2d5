"""The Python API (nas/api.py) end to end: a real search of the spirals example from a dict
config, run in this process as a notebook would; its result against the files run_nas.py
writes for the same search; `nas.load`; `check()`; a second `run()` resumes; an
interrupted `run()` leaves no job, a saved state and the signal handlers as they were;
and the library prints nothing."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tomllib

import pandas as pd
import pytest

import nas
from conftest import ROOT, run_driver
from nas.jobs.processes import job_pid

EXAMPLE = ROOT / "examples" / "spirals" / "search.toml"


def spirals_dict(**changes):
    """The example's config as a dict in the file's shape; paths absolute (a dict's
    relative paths start at the current directory)."""
    with open(EXAMPLE, "rb") as f:
        config = tomllib.load(f)
    config["trial"]["script"] = str(EXAMPLE.parent / config["trial"]["script"])
    for table, values in changes.items():
        config.setdefault(table, {}).update(values)
    return config


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    """2 trials of the spirals example through the API, in this process, logging left
    unconfigured: (search, result, what it printed, handlers before and after)."""
    import io
    from contextlib import redirect_stdout

    tmp = tmp_path_factory.mktemp("api")

    def mine(signum, frame):  # a notebook's own handlers, to be put back
        pass

    before = {sig: signal.signal(sig, mine) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        search = nas.Search.from_config(spirals_dict(), trials=2, max_pending=2, seed=0,
                                        log_dir=tmp / "logs", results_dir=tmp / "results")
        printed = io.StringIO()
        with redirect_stdout(printed):
            result = search.run()
        handlers = {sig: signal.getsignal(sig) for sig in before}
        threads = [t.name for t in threading.enumerate()]
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return search, result, printed.getvalue(), handlers, mine, tmp, threads


def test_the_result_is_the_files_the_command_writes(api_run, tmp_path):
    search, result, _, _, _, tmp, _ = api_run
    assert result.state == "finished" and result.stopped_because is None
    assert len(result.experiment.trials) == 2
    # run_nas.py --report on the same saved search, with the same config file
    proc = run_driver("--report", "--config", EXAMPLE, "--results-dir", tmp_path / "cli",
                      "--log-dir", tmp / "logs")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    csv = pd.read_csv(tmp_path / "cli" / "experiment.csv")
    pd.testing.assert_frame_equal(result.table.reset_index(drop=True), csv, check_dtype=False)
    summary = json.loads((tmp_path / "cli" / "run_summary.json").read_text())
    assert result.hypervolume == pytest.approx(summary["final_hypervolume"])
    assert sorted(result.pareto["trial_index"]) == sorted(summary["pareto_optimal_trials"])
    assert set(result.files) >= {"table (CSV)", "report page", "run summary"}
    assert result.files["report page"] == tmp / "results" / "index.html"
    written = result.write_report(tmp_path / "again")
    assert written["table (CSV)"].read_text() == (tmp / "results" / "experiment.csv").read_text()


def test_the_library_prints_nothing_puts_the_handlers_back_and_leaves_no_thread(api_run):
    _, _, printed, handlers, mine, _, threads = api_run
    assert printed == ""
    assert handlers == {signal.SIGINT: mine, signal.SIGTERM: mine}
    assert "nas-candidates" not in threads  # nas/candidates.py's, gone with the search


def test_load_reads_the_saved_search(api_run):
    _, result, _, _, _, tmp, _ = api_run
    loaded = nas.load(tmp / "logs")  # the config its run info records: here a dict
    assert loaded.state == "finished"
    pd.testing.assert_frame_equal(loaded.table, result.table)
    assert loaded.hypervolume == pytest.approx(result.hypervolume)
    from_file = nas.load(tmp / "logs", config=EXAMPLE)  # the same search from its file
    assert from_file.state == "finished"


def test_a_second_run_resumes(api_run):
    import logging

    search, result, _, _, _, tmp, _ = api_run
    more = nas.Search.from_config(spirals_dict(), trials=3, max_pending=2, seed=0,
                                  log_dir=tmp / "logs", results_dir=tmp / "results")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp / "logs" / "trials" / "0").iterdir()}
    said = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("nas")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        again = more.run()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert any(m.startswith("Resuming the search saved in") for m in said), said
    assert len(again.experiment.trials) == 3 and again.state == "finished"
    assert {p.name: p.stat().st_mtime_ns
            for p in (tmp / "logs" / "trials" / "0").iterdir()} == mtimes  # not run again


def test_check_finds_a_right_and_a_wrong_tag(tmp_path):
    search = nas.Search.from_config(spirals_dict(), log_dir=tmp_path / "logs")
    right = search.check()
    assert right.ok and {m.name for m in right.metrics} == {"accuracy", "weights"}
    assert all(m.problem is None and m.value is not None for m in right.metrics)
    wrong = nas.Search.from_config(
        spirals_dict(metrics={"accuracy": {"tag": "val/acc", "best": 1.0}}),
        log_dir=tmp_path / "logs").check()
    assert not wrong.ok
    (missing,) = [m for m in wrong.metrics if m.problem]
    assert missing.name == "accuracy" and "not in the trial's TensorBoard log" in missing.problem


def test_errors_are_nas_errors_naming_the_keyword(tmp_path):
    with pytest.raises(nas.ConfigError, match="fix epochs=0: epochs takes integers"):
        nas.Search.from_config(ROOT / "nas" / "tutorial.toml", fix={"epochs": 0})
    with pytest.raises(nas.NasError, match="strategy 'random'"):
        nas.Search.from_config(spirals_dict(), strategy="random")
    with pytest.raises(nas.NasError, match="early_stopping: 'x' is not KEY=VALUE"):
        nas.Search.from_config(spirals_dict(), early_stopping="x")
    try:
        nas.Search.from_config(ROOT / "nas" / "tutorial.toml", fix={"epochs": 0})
    except nas.NasError as e:
        assert "--" not in str(e)  # no command-line flag
        assert e.for_command_line().startswith("--fix epochs=0")


INTERRUPTED = textwrap.dedent("""
    import json, signal, sys, threading
    sys.path.insert(0, {root!r})
    import nas

    def mine(signum, frame):
        pass

    signal.signal(signal.SIGTERM, mine)
    search = nas.Search.from_config({config!r}, trials=2, max_pending=1, seed=0,
                                    log_dir={logs!r}, results_dir={results!r})
    try:
        search.run()
        print(json.dumps({{"interrupted": False}}))
    except KeyboardInterrupt as e:
        print(json.dumps({{
            "interrupted": True, "kind": type(e).__name__, "state": e.result.state,
            "why": e.result.stopped_because,
            "sigint_default": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
            "sigterm_mine": signal.getsignal(signal.SIGTERM) is mine,
            "threads_left": [t.name for t in threading.enumerate() if t.name == "nas-candidates"]}}))
""")


def test_interrupting_run_cancels_the_jobs_saves_and_puts_the_handlers_back(tmp_path):
    from nas.state.storage import STATE_FILE, load_state

    script = ROOT / "tests" / "scripts" / "steady_trial.py"
    config = {"trial": {"script": str(script), "args": ["--log-dir", "{log_dir}", "--seconds", "60"]},
              "parameters": {"x": {"parameter_type": "float", "bounds": [0.0, 1.0]}},
              "optimization": {"objective": "score, -cost"}}
    logs = tmp_path / "logs"
    code = INTERRUPTED.format(root=str(ROOT), config=config, logs=str(logs),
                              results=str(tmp_path / "results"))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.time() + 300
    while job_pid(logs / "trials" / "0") is None:
        assert proc.poll() is None and time.time() < end, proc.communicate()
        time.sleep(0.2)
    pid = job_pid(logs / "trials" / "0")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"interrupted": True, "kind": "SearchInterrupted", "state": "stopped",
                      "why": "interrupted (SIGINT)", "sigint_default": True,
                      "sigterm_mine": True, "threads_left": []}, err[-2000:]
    experiment, _ = load_state(logs / STATE_FILE)
    assert experiment.trials[0].status.name == "ABANDONED"
    deadline = time.time() + 30
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/stat").read().split()[2] == "Z", "the job runs on"
