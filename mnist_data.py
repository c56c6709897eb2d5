"""MNIST for the training job (mnist_train_nas.py): ships beside it, needs only torch/torchvision.

    python mnist_data.py --data-dir DIR --cache FILE.npz   # the tutorial's [prepare] command

Two ways to the same numbers:
  - the tutorial's pipeline (`tutorial_loaders`): torchvision MNIST from --data_dir,
    ToTensor + Normalize per sample, DataLoader;
  - a file of the decoded uint8 images and their labels (`cached_loaders`, --data_cache; a
    NumPy .npz), normalized once and sliced in memory: what an epoch of this small model
    mostly waited for otherwise. `prepare` writes that file from the IDX files; the
    tutorial's search config (nas/tutorial.toml) runs it once per search as its [prepare]
    command, before the first trial, so four trials never decode or download at the same
    time. It needs only NumPy (torchvision only to download): as a command it takes half
    a second, where importing torch and torchvision alone took seven.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MEAN, STD = 0.1307, 0.3081  # the tutorial's Normalize((0.1307,), (0.3081,))
VAL_BATCH = 1024  # validation batches of the tensor path (no gradients: size only sets speed)


class DataError(Exception):
    """MNIST is not where we were told to look."""


def mnist_raw_dir(data_dir):
    return Path(data_dir) / "MNIST" / "raw"


def missing_files(data_dir):
    raw = mnist_raw_dir(data_dir)
    return [f for f in MNIST_FILES if not (raw / f).is_file()]


def read_idx(path):
    """An IDX file (MNIST's format: a magic number whose third byte 0x08 says unsigned
    bytes and whose fourth the number of dimensions, then each dimension's size as a
    big-endian int32, then the values) as a uint8 array."""
    data = Path(path).read_bytes()
    if data[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_mnist(data_dir):
    """The decoded images (uint8 [N, 28, 28]) and labels (int64, as torchvision has them):
    what a --data_cache file holds."""
    raw = mnist_raw_dir(data_dir)
    images = {split: read_idx(raw / f"{prefix}-images-idx3-ubyte")
              for split, prefix in (("train", "train"), ("test", "t10k"))}
    labels = {split: read_idx(raw / f"{prefix}-labels-idx1-ubyte").astype(np.int64)
              for split, prefix in (("train", "train"), ("test", "t10k"))}
    return {"train_x": images["train"], "train_y": labels["train"],
            "test_x": images["test"], "test_y": labels["test"]}


def load_cache(cache_path):
    """The --data_cache file's arrays as tensors ({train_x, train_y, test_x, test_y})."""
    import torch

    if not Path(cache_path).is_file():
        raise DataError(f"no tensor file {cache_path}; make it with `python mnist_data.py "
                        f"--data-dir DIR --cache {cache_path}` (the search's [prepare] does)")
    with np.load(cache_path) as arrays:
        return {k: torch.from_numpy(arrays[k]) for k in arrays.files}


_normalized = {}  # the file's identity -> its tensors, normalized (normalized_cache)


def normalized_cache(cache_path):
    """The --data_cache file's (train_x, train_y, test_x, test_y), images normalized, kept
    in this process for the file as it is now (path, size, mtime): a warm-start server
    that loaded it (mnist_train_nas.warm_up) hands it to every job it forks, which then
    neither reads nor normalizes it again. Nothing writes to these tensors (batches are
    copies or views)."""
    path = Path(cache_path)
    if not path.is_file():
        load_cache(path)  # its error
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _normalized:
        t = load_cache(path)
        _normalized.clear()  # one file at a time
        _normalized[key] = (normalize(t["train_x"]), t["train_y"], normalize(t["test_x"]),
                            t["test_y"])
    return _normalized[key]


def normalize(images_uint8):
    """uint8 [N, 28, 28] -> float [N, 1, 28, 28], the same numbers as ToTensor + Normalize."""
    return images_uint8.unsqueeze(1).float().div_(255).sub_(MEAN).div_(STD)  # in place: one copy


class TensorBatches:
    """Mini-batches sliced from tensors in memory, reshuffled every epoch.

    Does what DataLoader(TensorDataset, shuffle=...) does, without its per-sample
    indexing and collation, which dominate an epoch for a model this small.
    """

    def __init__(self, x, y, batch_size, shuffle):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        import torch

        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n)
            for i in range(0, n, self.batch_size):
                idx = order[i : i + self.batch_size]
                yield self.x[idx], self.y[idx]
        else:
            for i in range(0, n, self.batch_size):
                yield self.x[i : i + self.batch_size], self.y[i : i + self.batch_size]


class Grouped:
    """Lists of `k` consecutive batches of `batches` (the last list may be shorter)."""

    def __init__(self, batches, k):
        self.batches, self.k = batches, k

    def __len__(self):
        return -(-len(self.batches) // self.k)

    def __iter__(self):
        group = []
        for batch in self.batches:
            group.append(batch)
            if len(group) == self.k:
                yield group
                group = []
        if group:
            yield group


def cached_loaders(cache_path, batch_size):
    """Train/validation batches from a --data_cache file (`prepare`'s)."""
    train_x, train_y, test_x, test_y = normalized_cache(cache_path)
    train = TensorBatches(train_x, train_y, batch_size, shuffle=True)
    val = TensorBatches(test_x, test_y, VAL_BATCH, shuffle=False)
    return train, val


def tutorial_loaders(data_dir, batch_size):
    """The tutorial's pipeline: torchvision MNIST + ToTensor/Normalize per sample.

    The validation loader draws its workers' base seed from a generator of its own, so
    validating after every epoch leaves the training's random stream as it was."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import MNIST

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    train = MNIST(data_dir, train=True, transform=tf)
    val = MNIST(data_dir, train=False, transform=tf)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=batch_size, generator=torch.Generator()),
    )


def make_loaders(data_dir, data_cache, batch_size):
    """The job's loaders: the tensor file if given, else the tutorial's pipeline."""
    if data_cache:
        return cached_loaders(data_cache, batch_size)
    missing = missing_files(data_dir)
    if missing:
        raise DataError(
            f"MNIST not found in {mnist_raw_dir(data_dir)} (missing {', '.join(missing)}); "
            "set --data_dir or PATH_DATASETS to a folder holding MNIST/raw/"
        )
    return tutorial_loaders(data_dir, batch_size)


def prepare(data_dir, cache):
    """Make sure MNIST is in `data_dir` (download if needed), and that `cache` holds its
    decoded images; a valid cache from an earlier run is kept."""
    if missing_files(data_dir):
        try:
            from torchvision.datasets import MNIST

            for train in (True, False):
                MNIST(data_dir, train=train, download=True)
        except Exception as e:  # no network, unwritable dir, ...
            raise DataError(
                f"MNIST not found in {mnist_raw_dir(data_dir)} (expected "
                f"{', '.join(MNIST_FILES)}) and the download failed ({type(e).__name__}); "
                "point --data-dir or PATH_DATASETS at a folder holding MNIST/raw/"
            ) from None
    if not cache_is_valid(cache):
        atomic_save(read_mnist(data_dir), cache)


def cache_is_valid(cache):
    """A cache from an earlier run is reused only if it loads and has MNIST's shapes."""
    try:
        with np.load(cache) as t:
            return t["train_x"].shape == (60000, 28, 28) and t["test_x"].shape == (10000, 28, 28)
    except Exception:
        return False


def atomic_save(arrays, path):
    """np.savez to a temporary file, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())  # whole on disk before it gets its name: [prepare] then skips it
    os.chmod(tmp, 0o644)  # mkstemp's 0600: jobs running as another user read it too
    os.replace(tmp, path)


def main(argv=None):
    """Exit status 0: the cache is ready; 2: MNIST missing and not downloadable (one line)."""
    p = argparse.ArgumentParser(description="Fetch MNIST if needed and decode it into one "
                                "tensor file for --data_cache of mnist_train_nas.py.")
    p.add_argument("--data-dir", required=True, help="dataset root holding MNIST/raw/")
    p.add_argument("--cache", required=True, help="the tensor file to write")
    args = p.parse_args(argv)
    try:
        prepare(args.data_dir, args.cache)
    except DataError as e:
        print(f"mnist_data.py: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
