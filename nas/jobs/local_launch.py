"""How a local trial job starts: record its pid, then train warm or cold.

TorchX's local scheduler runs, for each trial,

    python nas/jobs/local_launch.py --pid-file LOG/job.pid [--warm-start ADDRESS] -- mnist_train_nas.py ARGS

This launcher is the process TorchX started and watches. It writes its pid to LOG/job.pid
(a restarted driver re-attaches to a running job by it, nas/runner.py), then
  - with a warm-start server (nas/jobs/warm_start.py: the file ADDRESS names its socket), hands
    it the job's argv, working dir, environment and stdin/stdout/stderr; the server forks a
    child that has torch and Lightning imported already and calls the job's `main`. The
    launcher waits, forwards SIGTERM/SIGINT to that child and exits as it did;
  - otherwise (no server, --no-warm-start, server gone, a different script) replaces itself
    with the plain job (`os.execv`: same pid, so job.pid stays right).
Either way TorchX, cancellation and failure reasons see one process that behaves as the
job would. The training script knows nothing of this; only the standard library is
imported here, so the launcher costs one interpreter start (~20 ms).
"""

import argparse
import json
import os
import signal
import socket
import sys

LOCAL_SCHEDULERS = ("local_cwd", "local")  # TorchX's schedulers whose jobs start through this
PID_FILE = "job.pid"  # in the trial's log dir
MESSAGE_BYTES = 1 << 20


def write_pid(path: str) -> None:
    """This process's pid, replaced atomically: a reader never sees half of it."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, path)


def run_in_server(address_file: str, script: str, argv: list[str]) -> None:
    """Train in a child of the warm-start server; exit with its status. Returns only if no
    server takes the job, and then the caller starts it cold."""
    try:
        with open(address_file) as f:
            path = f.read().strip()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(path)
        request = {"script": os.path.realpath(script), "argv": list(argv),
                   "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        child = json.loads(conn.recv(MESSAGE_BYTES))["pid"]
    except (OSError, ValueError, KeyError):
        return  # no server, gone, or not ours to run: cold start
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pid-file", required=True)
    p.add_argument("--warm-start", help="file holding the warm-start server's socket path")
    p.add_argument("script")
    p.add_argument("args", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    write_pid(args.pid_file)
    if args.warm_start:
        run_in_server(args.warm_start, args.script, args.args)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, args.script, *args.args])


if __name__ == "__main__":
    main()
