"""Warm start (nas/jobs/warm_start.py) and the local launcher (nas/jobs/local_launch.py): a job the
launcher hands to the server trains the same model as one it starts cold, both write the
launcher's pid (the process TorchX starts) to job.pid, and a warm job behaves like a cold
one to TorchX (exit status, signals, stderr), leaving no training process behind."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.metrics import read_final_scalars
from nas.jobs.warm_start import WarmServer, address_file, prestart, reseed

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "mnist_train_nas.py"  # the script the server imports
SMALL = ["--hidden_size_1", "16", "--hidden_size_2", "16", "--epochs", "1", "--batch_size", "256"]
LONG = ["--hidden_size_1", "64", "--hidden_size_2", "64", "--epochs", "4", "--batch_size", "32"]


@pytest.fixture(scope="module")
def cache(mnist_cache):
    return mnist_cache


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = WarmServer(tmp_path_factory.mktemp("trials"), JOB)
    yield s
    s.stop()


def start_job(log_dir, cache, args, server=None, script=ROOT / "mnist_train_nas.py", cwd=ROOT):
    """The job as TorchX starts it locally: through the launcher."""
    address = server.address_file if server else log_dir.parent / "no-server.address"
    return subprocess.Popen(
        [sys.executable, str(ROOT / "nas" / "jobs" / "local_launch.py"), "--pid-file", str(log_dir / "job.pid"),
         "--warm-start", str(address), "--", str(script), "--log_path", str(log_dir),
         "--data_cache", str(cache), *args],
        cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def children(pid):
    """Pids of a process's children (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def wait_for(condition, timeout=60):
    end = time.time() + timeout
    while not condition():
        if time.time() > end:
            return False
        time.sleep(0.05)
    return True


def test_a_warm_job_trains_the_same_model_as_a_cold_one(tmp_path, cache, server):
    runs = {}
    # the second warm job reads the data its server loaded after forking the first
    for name, warm in (("cold", None), ("warm", server), ("warm-again", server)):
        job = start_job(tmp_path / name, cache, SMALL + ["--seed", "0"], warm)
        if warm:  # trains in a child of the server, not in the launcher
            assert wait_for(lambda: len(children(server.process.pid)) == 1), "no forked child"
        else:  # the launcher became the job (exec): its command line is the job's
            assert wait_for(lambda: cmdline(job.pid).startswith(f"{sys.executable}\0{ROOT / 'mnist_train_nas.py'}\0"))
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err[-2000:]
        assert (tmp_path / name / "job.pid").read_text() == str(job.pid)  # re-attach needs it
        runs[name] = read_final_scalars(tmp_path / name)
    assert runs["warm"]["num_params"] == runs["cold"]["num_params"] == 784 * 16 + 16 * 16 + 160
    assert runs["warm"]["val_acc"] == runs["cold"]["val_acc"] == runs["warm-again"]["val_acc"]
    assert 0.5 < runs["warm"]["val_acc"] <= 1


def test_a_failing_training_fails_the_job_with_its_message(tmp_path, cache, server):
    job = start_job(tmp_path / "bad", cache, SMALL + ["--dropout", "zero"], server)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 2
    assert "argument --dropout: invalid float value: 'zero'" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_signalled_job_ends_of_that_signal_and_its_training_stops(tmp_path, cache, server, sig):
    """Signalled as soon as its child is forked, again and again: a signal that reached the
    child before it took the default actions was lost once in ~10 (the job trained on)."""
    for attempt in range(8):
        job = start_job(tmp_path / f"long{attempt}", cache, LONG, server)
        assert wait_for(lambda: len(children(server.process.pid)) == 1), "no forked child"
        child = children(server.process.pid)[0]
        assert (tmp_path / f"long{attempt}" / "job.pid").exists()  # written before the server is asked
        job.send_signal(sig)
        job.communicate(timeout=30)
        assert job.returncode == -sig, f"attempt {attempt}"
        assert wait_for(lambda: child not in children(server.process.pid), timeout=10)


def test_without_a_server_the_job_imports_and_trains_itself(tmp_path, cache):
    job = start_job(tmp_path / "run", cache, SMALL)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err[-2000:]
    assert "val_acc" in read_final_scalars(tmp_path / "run")


def test_a_server_publishes_its_socket_while_it_serves_and_leaves_nothing_behind(tmp_path):
    s = WarmServer(tmp_path, JOB)  # stopped at once: during its imports
    assert address_file(tmp_path).read_text() == s.socket
    s.stop()
    assert s.process.poll() is not None
    assert not address_file(tmp_path).exists() and not Path(s.dir).exists()


def test_a_killed_server_leaves_no_socket_behind(tmp_path):
    s = WarmServer(tmp_path, JOB)
    s.process.kill()
    s.process.wait()
    s.stop()
    assert not Path(s.dir).exists()


def test_the_server_ends_when_its_driver_has_gone(tmp_path):
    driver = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from nas.jobs.warm_start import WarmServer; s = WarmServer(sys.argv[2], sys.argv[3]); "
         "print(s.process.pid, s.socket)", str(ROOT), str(tmp_path), str(JOB)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    pid, socket = driver.stdout.split()

    def ended():
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except FileNotFoundError:
            return True
    assert wait_for(ended, timeout=60)
    assert not Path(socket).exists() and not Path(socket).parent.exists()
    assert not address_file(tmp_path).exists()


def test_a_prestarted_server_is_adopted_and_serves_the_jobs(tmp_path, cache):
    """prestart (run_nas.py's, before the config's check): the server for the same script
    that the driver asks for once it owns its log dir is that process, published then."""
    before = set(children(os.getpid()))  # the module's server among them
    prestart(JOB)
    [prestarted] = set(children(os.getpid())) - before
    # right after exec, /proc/<pid>/cmdline can still be empty
    assert wait_for(lambda: "nas.jobs.warm_start" in cmdline(prestarted), timeout=10)
    s = WarmServer(tmp_path / "trials", JOB)
    try:
        assert s.process.pid == prestarted
        assert address_file(tmp_path / "trials").read_text() == s.socket
        job = start_job(tmp_path / "trials" / "0", cache, SMALL, s)
        assert wait_for(lambda: len(children(s.process.pid)) == 1), "no forked child"
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err[-2000:]
    finally:
        s.stop()
    assert not address_file(tmp_path / "trials").exists() and not Path(s.dir).exists()


def test_a_prestarted_server_not_adopted_ends_with_its_driver(tmp_path):
    """A driver refused before it owns its log dir (a bad config, a second driver) leaves
    no server behind, and the one it prestarted published nothing."""
    driver = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from nas.jobs import warm_start; warm_start.prestart(sys.argv[2]); "
         "[(p, d)] = warm_start._prestarted.values(); print(p.pid, d)", str(ROOT), str(JOB)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    pid, folder = driver.stdout.split()
    assert not Path(f"/proc/{pid}").exists() or "nas.jobs.warm_start" not in cmdline(pid)
    assert not Path(folder).exists()


def test_forked_processes_draw_fresh_random_states():
    import random

    import torch

    draws = []
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            reseed()
            os.write(write, f"{torch.rand(1).item()} {random.random()}".encode())
            os._exit(0)
        os.close(write)
        draws.append(os.read(read, 100).decode())
        os.waitpid(pid, 0)
    assert draws[0] != draws[1]


def test_another_training_script_starts_cold_and_runs_its_own_code(tmp_path, cache, server):
    """A user's modified copy of the job must not be replaced by the server's module."""
    script = tmp_path / "my_train.py"
    code = (ROOT / "mnist_train_nas.py").read_text()
    script.write_text(code.replace('print(f"train_time=', 'print("MY COPY " + f"train_time='))
    shutil.copy(ROOT / "mnist_data.py", tmp_path)
    job = start_job(tmp_path / "run", cache, SMALL, server, script=script, cwd=tmp_path)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err[-2000:]
    assert "MY COPY train_time=" in out


WARM_UP_SCRIPT = """
import sys
LOADED = []

def warm_up(argv):
    if argv[0] == "bad":
        raise ValueError("cannot read it")
    LOADED.append(argv[0])

def main(argv):
    print("loaded before me:", LOADED, flush=True)
"""


def test_the_server_calls_warm_up_after_a_fork_and_later_jobs_inherit_it(tmp_path, capfd):
    """A script's warm_up(argv) runs in the server after each fork: the first job starts
    without it, the next inherits what it loaded; one that fails is reported once and
    left out, and the jobs run as without it."""
    script = tmp_path / "job.py"
    script.write_text(WARM_UP_SCRIPT)
    server = WarmServer(tmp_path / "trials", script)
    try:
        def run(arg):
            job = subprocess.Popen(
                [sys.executable, str(ROOT / "nas" / "jobs" / "local_launch.py"), "--pid-file",
                 str(tmp_path / f"{arg}.pid"), "--warm-start", str(server.address_file), "--",
                 str(script), arg], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            out, err = job.communicate(timeout=60)
            assert job.returncode == 0, err
            return out.strip()

        assert run("a") == "loaded before me: []"
        assert run("b") == "loaded before me: ['a']"
        assert run("bad") == "loaded before me: ['a', 'b']"
        assert run("c") == "loaded before me: ['a', 'b']"  # warm_up left out after it failed
    finally:
        server.stop()
    err = capfd.readouterr().err  # the server's stderr is its driver's
    assert err.count("warm start: warm_up(bad) failed (ValueError: cannot read it)") == 1
