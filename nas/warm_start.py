"""Warm start of local trial jobs: import torch and Lightning once, fork once per trial.

Before its first step a trial job spends ~4 s of CPU importing torch, Lightning and what
Lightning pulls in (torchmetrics -> torchvision -> torch._dynamo, scipy.signal): on 2
cores that was 40% of the search's job CPU. For local schedulers the driver starts one
server that has done these imports. Each job is still the process TorchX starts
(`python mnist_train_nas.py ...`); it sends its argv, cwd, environment and stdout/stderr
to the server, which forks a child that trains with them. The job waits and exits with
the child's status, forwards SIGTERM/SIGINT to it, and if the job dies the server kills
the child: TorchX, cancellation, re-attach by pid and the failure reasons see what they
see without warm start. With no server (clusters, --no-warm-start) the job imports and
trains itself.
"""

import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ENV_SOCKET = "NAS_WARM_START_SOCKET"  # set in a job's environment by the runner
POLL_SECONDS = 0.5  # how soon the server notices that the driver has gone
MESSAGE_BYTES = 1 << 20


# --- the job's side -------------------------------------------------------------------

def run_in_server(argv, started):
    """Train in a child of the warm server; exit with its status. Returns only if no
    server is reachable, and then the caller trains in this process."""
    path = os.environ.get(ENV_SOCKET)
    if not path:
        return
    request = {"script": os.path.realpath(sys.argv[0]), "argv": list(argv),
               "cwd": os.getcwd(), "env": dict(os.environ),
               "job_pid": os.getpid(), "started": started}
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(path)
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        child = json.loads(conn.recv(MESSAGE_BYTES))["pid"]
    except (OSError, ValueError, KeyError):
        return  # server gone or not answering: cold start
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: os.kill(child, signum))
    reply = conn.recv(MESSAGE_BYTES)
    if not reply:
        sys.stderr.write("warm-start server ended before the training did\n")
        os._exit(1)
    code = os.waitstatus_to_exitcode(json.loads(reply)["status"])
    if code < 0:  # die of the same signal, so TorchX reports it as such
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


# --- the driver's side ----------------------------------------------------------------

class WarmServer:
    """The server process, started by the driver; stops by itself once the driver is gone
    and its last child has finished."""

    def __init__(self, project_dir):
        self.dir = tempfile.mkdtemp(prefix="nas-warm-")  # a short path: sockets allow 107 bytes
        self.socket = os.path.join(self.dir, "socket")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nas.warm_start", self.socket, str(os.getpid())],
            cwd=project_dir, stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to the driver only
        )

    def attach(self, app):
        """Make the TorchX app's job train in a fork of this server."""
        app.roles[0].env[ENV_SOCKET] = self.socket
        return app

    def stop(self):
        """Stop accepting; children still running finish (the driver cancels them first)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # it exits after its last child


# --- the server -----------------------------------------------------------------------

def serve(path, driver):
    """Listen first, so that jobs started during the imports queue instead of cold-starting."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    env_before = dict(os.environ)
    import mnist_train_nas  # the imports every job would do

    # what the imports put into the environment (e.g. Lightning's NVML flag) stays set
    import_env = {k: v for k, v in os.environ.items() if env_before.get(k) != v}
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    children = {}  # child pid -> (connection to its job, pidfd: readable once the child ended)
    while True:
        if stopping or os.getppid() != driver:
            if listener is not None:
                listener.close()
                listener = None
                Path(path).unlink(missing_ok=True)
                Path(path).parent.rmdir()
            if not children:
                return
        waiting = [listener] if listener else []
        for pid, (conn, pidfd) in children.items():
            waiting += [conn, pidfd]
        ready, _, _ = select.select(waiting, [], [], POLL_SECONDS)
        if listener in ready:
            fork_child(listener, children, mnist_train_nas, import_env)
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


def fork_child(listener, children, job_module, import_env):
    conn, _ = listener.accept()
    try:
        message, fds, _, _ = socket.recv_fds(conn, MESSAGE_BYTES, 3)
        request = json.loads(message)
    except (OSError, ValueError):
        conn.close()
        return
    if request["script"] != os.path.realpath(job_module.__file__):
        for fd in fds:  # another training script: it starts cold
            os.close(fd)
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        listener.close()
        for other, pidfd in children.values():
            other.close()
            os.close(pidfd)
        conn.close()
        train_in_child(request, fds, job_module, import_env)  # never returns
    for fd in fds:
        os.close(fd)
    children[pid] = (conn, os.pidfd_open(pid))
    try:
        conn.send(json.dumps({"pid": pid}).encode())
    except OSError:
        _kill(pid)


def train_in_child(request, fds, job_module, import_env):
    """Become the job: its stdio, cwd, environment, argv; fresh random states; train."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**request["env"], **import_env})
        sys.argv = [job_module.__file__, *request["argv"]]
        import torch

        reseed()
        if "OMP_NUM_THREADS" in os.environ:
            torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        job_module.T_START, job_module.T_IMPORTED = request["started"], time.time()
        job_module.run_training_job(request["argv"], job_pid=request["job_pid"])
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


def reseed():
    """Fresh seeds, as a new process draws them; a forked one inherits the server's."""
    import numpy
    import torch

    random.seed()
    numpy.random.seed()
    torch.seed()


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))  # run from the project dir, where mnist_train_nas is
