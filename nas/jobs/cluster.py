"""What trial jobs on other machines must share with the driver, checked before submitting.

A job writes TensorBoard logs to LOG_DIR/trials/<index> and reads MNIST from the driver's
tensor file LOG_DIR/data/; the driver reads the logs back. So LOG_DIR must be the same
absolute path for the driver and every job: a shared filesystem (Slurm) or a volume
mounted at that path (containers). See docs/cluster.md.
"""

from pathlib import PurePosixPath

from torchx.specs import BindMount, VolumeMount, parse_mounts

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


def install_hint(scheduler, error):
    """What to install when `scheduler` fails for want of its client package."""
    if scheduler in TORCHX_EXTRAS:
        return f"pip install 'torchx[{TORCHX_EXTRAS[scheduler]}]'"
    if isinstance(error, ImportError) and error.name:
        return f"pip install {error.name.split('.')[0]}"
    return "see the TorchX docs of this scheduler"


def mount_tokens(mount_flags):
    """`--mount type=volume,src=x,dst=/y` flags -> the token list TorchX's parse_mounts takes."""
    return [token for flag in mount_flags for token in flag.split(",") if token]


def _under(path, folder):
    folder = PurePosixPath(folder)
    return path == folder or folder in path.parents


def shared_path_problems(scheduler, log_dir, mounts, image):
    """Why jobs on `scheduler` would not see the absolute `log_dir` as the driver does."""
    path = PurePosixPath(log_dir)
    problems = []
    if scheduler in CONTAINER and not image:
        problems.append(f"{scheduler} runs each trial in a container image: pass --image, "
                        "an image holding this project and its packages (see docs/cluster.md)")
    if scheduler in MOUNTING:
        covering = [m for m in parse_mounts(mount_tokens(mounts))
                    if isinstance(m, (BindMount, VolumeMount)) and _under(path, m.dst_path)]
        if not covering:
            problems.append(f"containers on {scheduler} see --log-dir {log_dir} only through a "
                            "mount at that same path: add --mount type=volume,src=CLAIM,dst=DIR "
                            "(or type=bind,src=DIR,dst=DIR) with DIR holding the log dir")
        for m in covering:
            if isinstance(m, BindMount) and m.src_path != m.dst_path:
                problems.append(f"--mount binds {m.src_path} at {m.dst_path}: jobs would write "
                                "where the driver does not read; use the same path for src and dst")
    elif scheduler not in SAME_MACHINE:
        for folder in NODE_LOCAL:
            if _under(path, folder):
                problems.append(f"--log-dir {log_dir} is under {folder}, private to each "
                                f"machine; jobs on {scheduler} need a path on a shared filesystem")
    return problems
