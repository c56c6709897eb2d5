import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The suite runs on three pytest-xdist workers on 2 cores (pyproject.toml: -n 3 --dist
# loadgroup): most tests wait a good part of their time on a job, a driver's poll or a
# trial's sleep, and a third worker fills those waits (docs/performance.md has the suite's
# times with 2 and 3). A file's tests stay on one worker, so that its module fixtures (a
# search, a server) are made once; the files that share the session's small search
# (small_run, live_search) stay together, and so the Slurm tests, which take the one Slurm
# node, never run beside each other.
# The groups that take longest start first (seconds on one worker), so that the
# last to finish is a short one.
SHARED_SEARCH_FILES = {"test_browser.py", "test_docs.py", "test_live_report.py",
                       "test_report_page.py", "test_slurm.py", "test_smoke.py"}
LONGEST_FIRST = ["small_run",  # ~600 s
                 "test_resilience.py", "test_search_control.py", "test_scale.py",  # 390, 240, 220
                 "test_lifecycle.py", "test_markup.py", "test_architecture_search.py",  # 140 each
                 "test_job.py", "test_api.py", "test_early_stopping_search.py"]  # 130, 130, 110


def worker_group(item):
    name = item.path.name
    return "small_run" if name in SHARED_SEARCH_FILES else name


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the test ids
def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(worker_group(item)))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(worker_group(item), len(rank)))  # stable: a file keeps its order


@pytest.fixture(scope="session")
def data_dir():
    """The MNIST root: $PATH_DATASETS, else ../shared/datasets beside the repo; absolute,
    as the tests run jobs and drivers in other folders."""
    path = Path(os.environ.get("PATH_DATASETS", ROOT.parent / "shared" / "datasets")).resolve()
    if not (path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists():
        pytest.fail(f"MNIST not found under {path}; set PATH_DATASETS to a folder holding MNIST/raw")
    return path


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory, data_dir):
    """The tutorial's MNIST tensor file, made once by its [prepare] code (mnist_data.py)."""
    import mnist_data

    cache = tmp_path_factory.mktemp("mnist") / "mnist_uint8.npz"
    mnist_data.prepare(data_dir, cache)
    return cache


def tutorial_config(**fixed):
    """The config the project ships (nas/tutorial.toml), parameters pinned as --fix does."""
    from nas.config import DEFAULT_CONFIG, load_config

    return load_config(DEFAULT_CONFIG, {k: str(v) for k, v in fixed.items()})


def save_snapshot(path, experiment, generation_strategy):
    """The whole state saved at `path` as a new snapshot (the driver's first save): a
    saved search for a test to resume or read."""
    from nas.state.storage import StateStore

    store = StateStore(path)
    store.write_snapshot(experiment, generation_strategy)
    return store


def link_cache(mnist_cache, log_dir):
    """The tensor file where the tutorial's [prepare] puts it in `log_dir`, as a hard link:
    a driver on that log dir then skips [prepare] (it creates that file)."""
    import os

    cache = Path(log_dir) / "cache" / mnist_cache.name
    cache.parent.mkdir(parents=True, exist_ok=True)
    os.link(mnist_cache, cache)
    return cache


def tutorial_runner(trials_dir, cache_dir="/nonexistent", scheduler="local_cwd", data_dir=".",
                    config=None, **resources):
    """The runner the driver makes for the tutorial's config (nas/runner.py, make_runner)."""
    from nas.runner import make_runner

    return make_runner(config or tutorial_config(), scheduler, trials_dir, data_dir, cache_dir,
                       resources)


@pytest.fixture
def main_in_process(capsys, monkeypatch):
    """run_nas.py's main in this process: the command's code without its ~6 s of imports,
    for input it refuses before anything starts; (exit status, stdout, stderr). Its argv
    is the command's, so that its lines name the program as the command's do.
    tests/test_config.py runs one such refusal as a command, to show it is the same."""
    import run_nas

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["run_nas.py", *map(str, args)])
        try:
            run_nas.main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def driver_command(*args):
    """run_nas.py with this interpreter, and an environment without its venv on PATH
    (an unactivated venv must work)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(sys.executable).parent != Path(p)
    )
    env["PYTHONUNBUFFERED"] = "1"
    return [sys.executable, str(ROOT / "run_nas.py"), *map(str, args)], env


def run_driver(*args, cwd=ROOT, timeout=600):
    """run_nas.py in a child process, to the end."""
    import subprocess

    cmd, env = driver_command(*args)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def start_driver(*args, out):
    """run_nas.py in the background, stdout and stderr to the file `out`."""
    import subprocess

    cmd, env = driver_command(*args)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(out, "w"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="session")
def small_run(live_search):
    """The real search, small: 2 trials of 1 epoch, the one live_search watched; (results
    dir, its driver's run: returncode, stdout). One search for the whole session: the
    smoke, report page, browser and live report tests share it."""
    from types import SimpleNamespace

    assert live_search.returncode == 0, live_search.console[-3000:]
    return live_search.results, SimpleNamespace(returncode=live_search.returncode,
                                                stdout=live_search.console)


def results_files(folder):
    """{file name: text} of a results folder, the time stamp the files were made at
    (provenance's "generated", also in the page) masked: what two writes of the same
    search must share."""
    import json
    import re

    folder = Path(folder)
    generated = json.loads((folder / "provenance.json").read_text())["generated"]
    # the whole stamp only: a trial that ended in the same second has its fraction after it
    stamps = re.compile("|".join(re.escape(s) + r"(?!\.?\d)"
                                 for s in (generated, generated.replace("T", " "))))
    texts = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != "plotly.min.js":
            texts[path.name] = stamps.sub("<generated>", path.read_text())
    return texts


def wait_for_page(results, text, driver, timeout=300):
    """index.html of `results` once it says `text` while the driver runs: its text."""
    import time

    page, end = Path(results) / "index.html", time.time() + timeout
    while time.time() < end:
        html = page.read_text() if page.exists() else ""
        if 'data-state="running"' in html and text in html:
            return html
        if driver.poll() is not None:
            pytest.fail(f"the driver ended (exit {driver.returncode}) before its page said "
                        f"{text!r}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for the page to say {text!r}")


def files_outside_trials(folder):
    """{relative name: bytes} of every file under `folder` but the trials' own dirs
    (which their jobs write): what a search's log dir holds of its own."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*")
            if p.is_file() and "trials" not in p.relative_to(folder).parts}


def report_command(results, *args):
    """`run_nas.py --report` on the search of conftest.live_search in `results`."""
    return ("--report", "--fix", "epochs=1", "--results-dir", results, *args)


@pytest.fixture(scope="session")
def live_search(tmp_path_factory, data_dir):
    """A real search of 2 trials of 1 epoch, both at once, watched while it runs:
    - `first`: a copy of its page (index.html, plotly.min.js) taken once the page counted
      one trial done, the driver still running (`running_after_copy`). Trial 0 ends first,
      trial 1 running on, on a machine of any speed: seed 0 gives trial 1 batch 32 against
      trial 0's 256, 8 times the steps. (One at a time, the page after trial 0 showed
      trial 1 running only if trial 0 ended within the driver's LivePage.MAX_AGE_SECONDS,
      60 s, of its start: 16 s here, 30 s on one core beside a busy loop.);
    - then the driver held (SIGSTOP) while `run_nas.py --report` ran beside it
      (`report_during`, its page copied to `during`), its log dir's files before and
      after (`log_before`, `log_after`), then let go on;
    - its end (`returncode`, `console`), the results as the driver left them copied to
      `final`, then `--report` on the finished search (`report_after`) while the test
      holds the search's lock, into the results dir itself."""
    import fcntl
    import shutil
    import signal
    from types import SimpleNamespace

    base = tmp_path_factory.mktemp("live")
    run = SimpleNamespace(results=base / "results", first=base / "first", during=base / "during",
                          final=base / "final", log=base / "driver.txt")
    logs = run.results / "logs"
    driver = start_driver("--trials", 2, "--max-pending", 2, "--fix", "epochs=1", "--seed", 0,
                          "--data-dir", data_dir, "--results-dir", run.results, out=run.log)
    run.pid = driver.pid
    try:
        wait_for_page(run.results, "1 of 2 trials done", driver)
        driver.send_signal(signal.SIGSTOP)  # anything the log dir gains now is the report's
        run.first.mkdir()
        for name in ("index.html", "plotly.min.js"):
            shutil.copy(run.results / name, run.first / name)
        run.running_after_copy = driver.poll() is None
        try:
            run.log_before = files_outside_trials(logs)
            run.report_during = run_driver(*report_command(run.results), timeout=300)
            run.log_after = files_outside_trials(logs)
            shutil.copytree(run.results, run.during, ignore=shutil.ignore_patterns("logs"))
        finally:
            driver.send_signal(signal.SIGCONT)
        run.returncode = driver.wait(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    run.console = run.log.read_text()
    shutil.copytree(run.results, run.final, ignore=shutil.ignore_patterns("logs"))
    with open(logs / "driver.lock", "a") as lock:  # held: a report must not need it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run.report_after = run_driver(*report_command(run.results), timeout=300)
    return run
