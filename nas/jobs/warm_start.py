"""Warm start of local trial jobs: import the training script once, fork once per trial.

Before its first step a trial job of the tutorial spends seconds importing torch,
Lightning and what Lightning pulls in (torchmetrics -> torchvision -> torch._dynamo,
scipy.signal): 6.3 s from its process start to its `main` cold, 0.03 s warm (`python -m
bench.speed`, results/benchmark.json; docs/performance.md). For local schedulers the
driver starts one server that has imported the config's training script, and so all of
that. Each job is still the process TorchX starts, the launcher
nas/jobs/local_launch.py; it finds the server's socket in the address file the server
publishes in the trials' log dir, and sends the job's argv, cwd, environment and
stdout/stderr. The server forks a child that calls the script's `main` (with the argv if
it takes an argument, else with sys.argv set); if the launcher dies, the server kills
the child. The training script itself knows nothing of this, unless it defines
`warm_up(argv)`: the server then calls it (in its own process, with the job's cwd and one
torch thread) after forking each job, so that what it loads is inherited by the jobs
forked after it (mnist_train_nas.py loads its data file, which each job otherwise reads
and normalizes in its slot). A script without a
top-level `main` (`why_not_warm`), clusters and --no-warm-start start each job as a
process of its own; so does any job if the server is gone.

The server may start before the driver owns its log dir (`prestart`, run_nas.py: before
the config's check, whose Ax import takes seconds), so that its imports overlap the
driver's instead of the first trials waiting for them. Such a server publishes nothing
until a `WarmServer` adopts it, once the driver owns the log dir: a second driver of the
same search, refused at the lock, never touches the first one's address file.
"""

import ast
import atexit
import importlib.util
import inspect
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from nas.files import atomic_write_text
from nas.jobs.local_launch import MESSAGE_BYTES

PROJECT_DIR = Path(__file__).resolve().parents[2]  # the project root: `-m nas.jobs.warm_start` runs there
ADDRESS_FILE = "warm_start.address"  # in the trials' log dir: the socket path, while serving
POLL_SECONDS = 0.5  # how soon the server notices that the driver has gone
READY_SECONDS = 10  # how long the driver waits for a new server to listen
JOB_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # what cancels a job: a forked child takes their defaults
LATER = "-"  # as the server's address file: read it from stdin, when the driver adopts it


def address_file(log_dir: str | Path) -> Path:
    """Where a server for trials logging under `log_dir` publishes its socket."""
    return Path(log_dir) / ADDRESS_FILE


def why_not_warm(script: str | Path) -> str | None:
    """Why `script`'s jobs cannot fork from a server that imported it, or None: it needs a
    top-level `def main(...)` (its `if __name__ == "__main__":` block does not run there)."""
    try:
        tree = ast.parse(Path(script).read_text(), filename=str(script))
    except (OSError, SyntaxError, ValueError) as e:
        return f"{script} cannot be read as Python ({type(e).__name__})"
    if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
        return None
    return f"{Path(script).name} has no top-level main(argv) function"


# --- the driver's side ----------------------------------------------------------------

class WarmServer:
    """The server process for the trials logging under `log_dir`: the one `prestart`ed
    for `script`, if there is one, else a new one; stops by itself once the driver is
    gone and its last child has finished."""

    def __init__(self, log_dir: str | Path, script: str | Path) -> None:
        self.address_file = address_file(log_dir)
        self.address_file.parent.mkdir(parents=True, exist_ok=True)
        adopted = _prestarted.pop(str(Path(script).resolve()), None)
        if adopted is not None:  # one that ended (its imports failed, and it said so) publishes nothing
            _tell_address(adopted[0], self.address_file)
        self.process, self.dir = adopted or _spawn(script, str(self.address_file))
        self.socket = os.path.join(self.dir, "socket")
        # it listens before its imports: jobs launched from now on queue instead of starting cold
        end = time.time() + READY_SECONDS
        while not self._published() and self.process.poll() is None and time.time() < end:
            time.sleep(0.01)

    def _published(self) -> bool:
        try:
            return self.address_file.read_text() == self.socket
        except OSError:
            return False

    def stop(self) -> None:
        """Stop accepting; children still running finish (the driver cancels them first)."""
        _unpublish(self.address_file, self.socket)  # jobs launched from now on start cold
        _end(self.process, self.dir)


_prestarted: dict[str, tuple[subprocess.Popen[bytes], str]] = {}  # script -> (server, its dir)


def prestart(script: str | Path) -> None:
    """Start a server for `script` now, publishing nothing: the first `WarmServer` for the
    same script adopts it. One not adopted is stopped as this process exits (and ends by
    itself after its imports if this process is killed)."""
    key = str(Path(script).resolve())
    if key in _prestarted or why_not_warm(script):
        return
    _prestarted[key] = _spawn(script, LATER)
    atexit.register(lambda: _discard(_prestarted.pop(key, None)))


def _spawn(script: str | Path, address: str) -> tuple[subprocess.Popen[bytes], str]:
    """A server process for `script` and its socket's dir. `address`: the file it
    publishes its socket in, or LATER: the path the driver writes to its stdin."""
    folder = tempfile.mkdtemp(prefix="nas-warm-")  # a short path: sockets allow 107 bytes
    process = subprocess.Popen(
        [sys.executable, "-m", "nas.jobs.warm_start", os.path.join(folder, "socket"),
         str(os.getpid()), address, str(Path(script).resolve())],
        cwd=PROJECT_DIR, stdout=subprocess.DEVNULL,
        stdin=subprocess.PIPE if address == LATER else subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C goes to the driver only
    )
    return process, folder


def _tell_address(process: subprocess.Popen[bytes], address: Path) -> None:
    """Give a prestarted server its address file."""
    assert process.stdin is not None  # _spawn's pipe
    try:
        process.stdin.write(f"{address}\n".encode())
        process.stdin.close()
    except OSError:  # a broken pipe: it ended
        pass


def _discard(server: tuple[subprocess.Popen[bytes], str] | None) -> None:
    if server is not None:
        _end(*server)


def _end(process: subprocess.Popen[bytes], folder: str) -> None:
    """Terminate a server (during its imports SIGTERM kills it at once) and remove its
    socket's dir once it ended, maybe killed during its imports; one still serving
    children after the wait exits after its last one and removes its socket itself."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return
    shutil.rmtree(folder, ignore_errors=True)


# --- the server -----------------------------------------------------------------------

def serve(path: str, driver: int, address: str | Path, script: str | Path) -> None:
    """Listen first, so that jobs started during the imports queue instead of cold-starting."""
    listener: socket.socket | None
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    published: list[str] = []  # the address file, once written
    if address == LATER:  # prestarted: told its address file while it imports
        threading.Thread(target=_publish_when_told, args=(path, published), daemon=True).start()
    else:
        atomic_write_text(address, path)
        published.append(str(address))
    env_before = dict(os.environ)
    try:
        job_module = import_script(script)  # the imports every job would do
    except BaseException as e:  # jobs waiting on the socket then start cold
        print(f"warm start: importing {script} failed ({type(e).__name__}: {e}); "
              "trials start cold", file=sys.stderr, flush=True)
        listener.close()
        for file in published:
            _unpublish(file, path)
        Path(path).unlink(missing_ok=True)
        return

    # what the imports put into the environment (e.g. Lightning's NVML flag) stays set
    import_env = {k: v for k, v in os.environ.items() if env_before.get(k) != v}
    stopping: list[int]
    stopping = []  # until here SIGTERM kills at once (WarmServer.stop removes the socket)
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    children: dict[int, tuple[socket.socket, int]]
    children = {}  # child pid -> (connection to its job, pidfd: readable once the child ended)
    warm_up: Callable[[list[str]], Any] | None = getattr(job_module, "warm_up", None)
    while True:
        if stopping or os.getppid() != driver:
            if listener is not None:
                listener.close()
                listener = None
                for file in published:
                    _unpublish(file, path)
                Path(path).unlink(missing_ok=True)
                Path(path).parent.rmdir()
            if not children:
                return
        waiting: list[socket.socket | int] = [listener] if listener else []
        for conn, pidfd in children.values():
            waiting += [conn, pidfd]
        ready, _, _ = select.select(waiting, [], [], POLL_SECONDS)
        if listener in ready:
            request = fork_child(listener, children, job_module, import_env)
            if request is not None and warm_up is not None:
                warm_up = run_warm_up(warm_up, request)
        for pid, (conn, pidfd) in list(children.items()):
            if conn in ready:  # the job closed its end: it died; so does its child
                _kill(pid)
            if pidfd in ready or conn in ready:
                _, status = os.waitpid(pid, 0)
                try:
                    conn.send(json.dumps({"status": status}).encode())
                except OSError:
                    pass  # the job is gone
                conn.close()
                os.close(pidfd)
                del children[pid]


def _publish_when_told(path: str, published: list[str]) -> None:
    """A prestarted server's: publish the socket `path` in the address file the driver
    writes to stdin as it adopts the server (nothing if the driver ends first)."""
    address = sys.stdin.readline().strip()
    if address:
        atomic_write_text(address, path)
        published.append(address)


def import_script(script: str | Path) -> ModuleType:
    """The training script as a module (not as __main__, so that its main block does not
    run), with its folder first on sys.path, as when it runs as a script."""
    folder = str(Path(script).parent)
    sys.path.insert(0, folder)
    name = f"nas_trial_script_{Path(script).stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None  # a file's spec, with its loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_warm_up(warm_up: Callable[[list[str]], Any],
                request: Mapping[str, Any]) -> Callable[[list[str]], Any] | None:
    """The script's `warm_up(argv)`, called here with a job's argv in its cwd; with one torch
    thread, so that no thread pool starts in the server (a fork copies one thread of it).
    Returns `warm_up`, or None once it failed: the jobs then load what they need
    themselves, as without it."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    cwd = os.getcwd()
    try:
        os.chdir(request["cwd"])
        if torch:
            torch.set_num_threads(1)
        warm_up(list(request["argv"]))
        return warm_up
    except BaseException as e:  # a bad argv's SystemExit too: its job reports it
        print(f"warm start: warm_up({' '.join(request['argv'])}) failed "
              f"({type(e).__name__}: {e}); each job loads its own", file=sys.stderr, flush=True)
        return None
    finally:
        os.chdir(cwd)
        if torch:
            torch.set_num_threads(threads)


def fork_child(listener: socket.socket, children: dict[int, tuple[socket.socket, int]],
               job_module: ModuleType, import_env: Mapping[str, str]) -> Mapping[str, Any] | None:
    """Fork a child for the job waiting on `listener`; its request, or None if none was
    forked (a bad request, another script: it starts cold)."""
    conn, _ = listener.accept()
    try:
        message, fds, _, _ = socket.recv_fds(conn, MESSAGE_BYTES, 3)
        request = json.loads(message)
    except (OSError, ValueError):
        conn.close()
        return None
    assert job_module.__file__ is not None  # import_script's: a file's module
    if request["script"] != os.path.realpath(job_module.__file__):
        for fd in fds:  # another training script: it starts cold
            os.close(fd)
        conn.close()
        return None
    # SIGTERM/SIGINT wait (blocked) across the fork: one sent to the new child before it
    # restores the default actions would otherwise reach the server's handler, inherited,
    # and be lost, and a cancelled job would train to its end
    signal.pthread_sigmask(signal.SIG_BLOCK, JOB_SIGNALS)
    pid = os.fork()
    if pid == 0:
        for sig in JOB_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, JOB_SIGNALS)  # a pending one kills now
        listener.close()
        for other, pidfd in children.values():
            other.close()
            os.close(pidfd)
        conn.close()
        train_in_child(request, fds, job_module, import_env)  # never returns
    signal.pthread_sigmask(signal.SIG_UNBLOCK, JOB_SIGNALS)
    for fd in fds:
        os.close(fd)
    children[pid] = (conn, os.pidfd_open(pid))
    try:
        conn.send(json.dumps({"pid": pid}).encode())
    except OSError:
        _kill(pid)
    return request


def train_in_child(request: Mapping[str, Any], fds: Sequence[int], job_module: ModuleType,
                   import_env: Mapping[str, str]) -> NoReturn:
    """Become the job: its stdio, cwd, environment, argv; fresh random states; train."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**request["env"], **import_env})
        assert job_module.__file__ is not None  # import_script's: a file's module
        sys.argv = [job_module.__file__, *request["argv"]]
        reseed()
        if "OMP_NUM_THREADS" in os.environ and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        if takes_argv(job_module.main):
            job_module.main(request["argv"])
        else:
            job_module.main()  # it reads sys.argv
        code = 0
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def takes_argv(function: Callable[..., Any]) -> bool:
    """Whether `function` can be called with one positional argument."""
    try:
        inspect.signature(function).bind(None)
        return True
    except TypeError:
        return False


def reseed() -> None:
    """Fresh seeds, as a new process draws them; a forked one inherits the server's
    (numpy's and torch's, if the script imported them)."""
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()


def _unpublish(address: str | Path, path: str) -> None:
    """Remove the address file, unless a newer server has replaced it."""
    try:
        if Path(address).read_text() == path:
            Path(address).unlink()
    except OSError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])  # socket, driver pid, address, script
    # the socket is closed and removed: skip the interpreter's teardown of the modules the
    # script imported (seconds for torch's), which the driver's stop() would wait for
    sys.stdout.flush()
    os._exit(0)
