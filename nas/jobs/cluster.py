"""The scheduler a search's jobs run on, and what jobs on other machines must share with
the driver, checked before anything is submitted.

A job writes its TensorBoard logs to LOG_DIR/trials/<index> and reads what the config's
[prepare] made in LOG_DIR/cache; the driver reads the logs back. So LOG_DIR must be the
same absolute path for the driver and every job: a shared filesystem (Slurm) or a volume
mounted at that path (containers). See docs/cluster.md.

The scheduler's run options (`scheduler_cfg`, as `torchx run --scheduler_args` takes them)
and the jobs' mounts are checked against TorchX's own parsers; a bad one is an
`OptionError` with one line.
"""

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from torchx.specs import BindMount, VolumeMount, parse_mounts

from nas.errors import NasError
from nas.messages import one_line, option

# jobs run on the driver's machine
SAME_MACHINE = ("local_cwd", "local", "local_docker")
# jobs run in an image: the driver's interpreter and files are not there
CONTAINER = ("local_docker", "kubernetes", "kubernetes_mcad", "aws_batch", "aws_sagemaker",
             "gcp_batch", "lsf")
# TorchX turns the AppDef's mounts into volumes on these
MOUNTING = ("local_docker", "kubernetes", "kubernetes_mcad", "aws_batch", "lsf")
# private to each machine
NODE_LOCAL = ("/tmp", "/var/tmp", "/dev/shm", "/run")
# torchx 0.7's pip extras that bring a scheduler's client package
TORCHX_EXTRAS = {"kubernetes": "kubernetes", "kubernetes_mcad": "kubernetes",
                 "aws_batch": "aws_batch", "gcp_batch": "gcp_batch", "ray": "ray"}


def install_hint(scheduler: str, error: BaseException | None) -> str:
    """What to install when `scheduler` fails for want of its client package."""
    if scheduler in TORCHX_EXTRAS:
        return f"pip install 'torchx[{TORCHX_EXTRAS[scheduler]}]'"
    if isinstance(error, ImportError) and error.name:
        return f"pip install {error.name.split('.')[0]}"
    return "see the TorchX docs of this scheduler"


def mount_tokens(mount_flags: Iterable[str]) -> list[str]:
    """`--mount type=volume,src=x,dst=/y` flags -> the token list TorchX's parse_mounts takes."""
    return [token for flag in mount_flags for token in flag.split(",") if token]


def _under(path: PurePosixPath, folder: str | PurePosixPath) -> bool:
    folder = PurePosixPath(folder)
    return path == folder or folder in path.parents


def shared_path_problems(scheduler: str, log_dir: str, mounts: Iterable[str], image: str | None) -> list[str]:
    """Why jobs on `scheduler` would not see the absolute `log_dir` as the driver does."""
    path = PurePosixPath(log_dir)
    problems = []
    if scheduler in CONTAINER and not image:
        problems.append(f"{scheduler} runs each trial in a container image: pass {option('image')}, "
                        "an image holding this project and its packages (see docs/cluster.md)")
    if scheduler in MOUNTING:
        covering = [m for m in parse_mounts(mount_tokens(mounts))
                    if isinstance(m, (BindMount, VolumeMount)) and _under(path, m.dst_path)]
        if not covering:
            problems.append(f"containers on {scheduler} see {option('log_dir')} {log_dir} only "
                            "through a mount at that same path: add "
                            f"{option('mount')} type=volume,src=CLAIM,dst=DIR "
                            "(or type=bind,src=DIR,dst=DIR) with DIR holding the log dir")
        for m in covering:
            if isinstance(m, BindMount) and m.src_path != m.dst_path:
                problems.append(f"{option('mount')} binds {m.src_path} at {m.dst_path}: jobs would write "
                                "where the driver does not read; use the same path for src and dst")
    elif scheduler not in SAME_MACHINE:
        for folder in NODE_LOCAL:
            if _under(path, folder):
                problems.append(f"{option('log_dir')} {log_dir} is under {folder}, private to each "
                                f"machine; jobs on {scheduler} need a path on a shared filesystem")
    return problems


class OptionError(NasError):
    """A bad value of a search option (a run option of the scheduler, a mount, a folder,
    ...); the message says what to change."""


def load_scheduler(name: str) -> Any:
    """The TorchX scheduler object (no connection made), for its run options."""
    from torchx.schedulers import get_scheduler_factories

    factories = get_scheduler_factories()
    if name not in factories:
        raise OptionError(f"unknown TorchX scheduler {name!r}; "
                          f"use one of: {', '.join(sorted(factories))}")
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    # TorchX's local scheduler installs SIGINT and SIGTERM handlers when it is made; the
    # caller's stay (a notebook's, run_nas.py's)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        return factories[name](session_name="nas")
    except Exception as e:  # e.g. its client package is not installed
        raise OptionError(f"TorchX scheduler {name!r} cannot be loaded here "
                          f"({type(e).__name__}: {e}); {install_hint(name, e)}") from None
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def parse_scheduler_cfg(scheduler: str, text: str | Mapping[str, Any]) -> dict[str, Any]:
    """`k=v,k=v` (or a dict of such texts or values) -> run options of `scheduler`, typed;
    unknown keys and bad values rejected.

    The syntax is TorchX's own (torchx.util.types.to_dict: lists as a;b or a,b); the keys,
    types and required options come from the scheduler's `run_opts()`.
    """
    from torchx.specs.api import InvalidRunConfigException, get_type_name
    from torchx.util.types import to_dict

    opts = load_scheduler(scheduler).run_opts()
    type_of = {key: get_type_name(opt.opt_type).replace("typing.", "") for key, opt in opts}
    help_of = {key: one_line(opt.help, None) for key, opt in opts}
    valid = ", ".join(f"{key} ({type_of[key]}{', required' if opt.is_required else ''})"
                      for key, opt in opts) or "none"
    if isinstance(text, Mapping):
        raw = {key: value if isinstance(value, str) else str(value).lower()
               if isinstance(value, bool) else str(value) for key, value in text.items()}
    else:
        try:
            raw = to_dict(text)
        except ValueError:
            raise OptionError(f"{option('scheduler_cfg')} {text!r} is not k=v,k=v; "
                              f"run options of {scheduler}: {valid}") from None
    cfg = {}
    for key, value in raw.items():
        opt = opts.get(key)
        if opt is None:
            raise OptionError(f"unknown run option {key!r} for scheduler {scheduler}; "
                              f"valid: {valid}")
        try:
            cfg[key] = cast_option(opts, key, value)
        except (ValueError, IndexError):  # IndexError: a dict item without ':'
            raise OptionError(f"{option('scheduler_cfg')} {key}={value!r}: expected "
                              f"{type_of[key]} ({help_of[key]})") from None
    try:
        opts.resolve(cfg)  # required options present, types right
    except InvalidRunConfigException as e:
        raise OptionError(f"scheduler {scheduler} needs run option {e.cfg_key} "
                          f"({type_of[e.cfg_key]}: {help_of[e.cfg_key]}); "
                          f"pass {option('scheduler_cfg')} {e.cfg_key}=...") from None
    return cfg


def cast_option(opts: Any, key: str, value: str) -> Any:
    """One run option's text as its type, by TorchX's own `runopts.cfg_from_str`; but
    strict about bools: TorchX reads anything but "true" as False, so a typo such as
    privileged=yes would silently mean False."""
    if opts.get(key).opt_type is bool and value.lower() not in ("true", "false"):
        raise ValueError(value)
    return opts.cfg_from_str(f"{key}={value}")[key]


def check_mounts(mounts: list[str]) -> None:
    """Each mount as `torchx run --mounts` takes it, or OptionError."""
    for mount in mounts:
        try:
            parse_mounts(mount_tokens([mount]))
        except (KeyError, ValueError) as e:
            problem = e.args[0] if e.args else type(e).__name__
            if isinstance(e, KeyError) and problem in ("src", "dst"):
                problem = f"missing {problem}"
            raise OptionError(f"{option('mount')} {mount!r}: {problem}; expected type=volume,"
                              "src=CLAIM,dst=DIR or type=bind,src=DIR,dst=DIR[,readonly]") from None
