"""MNIST for the search: fetched once by the driver, read by every trial.

The driver calls `prepare_mnist` before any trial starts, so four trials never race
on a download; it also writes the decoded images to one tensor file that trials load
in milliseconds instead of decoding the IDX files and converting PIL images per
sample every epoch (the tutorial's pipeline, kept in `tutorial_loaders`).
Imports only torch/torchvision: the training job imports this module too.
"""

import os
import tempfile
from pathlib import Path

import torch

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MEAN, STD = 0.1307, 0.3081  # the tutorial's Normalize((0.1307,), (0.3081,))
CACHE_NAME = "mnist_uint8.pt"


class DataError(Exception):
    """MNIST is neither on disk nor downloadable."""


def mnist_raw_dir(data_dir):
    return Path(data_dir) / "MNIST" / "raw"


def missing_files(data_dir):
    raw = mnist_raw_dir(data_dir)
    return [f for f in MNIST_FILES if not (raw / f).is_file()]


def cache_path(cache_dir):
    """Where `prepare_mnist` puts the tensor file that every trial reads."""
    return Path(cache_dir) / CACHE_NAME


def prepare_mnist(data_dir, cache_dir):
    """Make sure MNIST is in `data_dir` (download if needed); return the tensor cache path."""
    from torchvision.datasets import MNIST

    if missing_files(data_dir):
        try:
            for train in (True, False):
                MNIST(data_dir, train=train, download=True)
        except Exception as e:  # no network, unwritable dir, ...
            raise DataError(
                f"MNIST not found in {mnist_raw_dir(data_dir)} (expected "
                f"{', '.join(MNIST_FILES)}) and the download failed ({type(e).__name__}); "
                "point --data-dir or PATH_DATASETS at a folder holding MNIST/raw/"
            ) from None
    cache = cache_path(cache_dir)
    if not _cache_is_valid(cache):
        train, test = MNIST(data_dir, train=True), MNIST(data_dir, train=False)
        tensors = {
            "train_x": train.data, "train_y": train.targets,
            "test_x": test.data, "test_y": test.targets,
        }
        atomic_torch_save(tensors, cache)
    return cache


def _cache_is_valid(cache):
    """A cache from an earlier run is reused only if it loads and has MNIST's shapes."""
    try:
        t = torch.load(cache)
        return t["train_x"].shape == (60000, 28, 28) and t["test_x"].shape == (10000, 28, 28)
    except Exception:
        return False


def atomic_torch_save(obj, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    torch.save(obj, tmp)
    os.replace(tmp, path)


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
    """Train/validation batches from the driver's tensor file."""
    t = torch.load(cache_path)
    train = TensorBatches(normalize(t["train_x"]), t["train_y"], batch_size, shuffle=True)
    val = TensorBatches(normalize(t["test_x"]), t["test_y"], 1024, shuffle=False)
    return train, val


def tutorial_loaders(data_dir, batch_size):
    """The tutorial's pipeline: torchvision MNIST + ToTensor/Normalize per sample."""
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import MNIST

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    train = MNIST(data_dir, train=True, transform=tf)
    val = MNIST(data_dir, train=False, transform=tf)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=batch_size),
    )


def make_loaders(data_dir, data_cache, batch_size):
    """The job's loaders: the driver's tensor cache if given, else the tutorial's pipeline."""
    if data_cache:
        return cached_loaders(data_cache, batch_size)
    missing = missing_files(data_dir)
    if missing:
        raise DataError(
            f"MNIST not found in {mnist_raw_dir(data_dir)} (missing {', '.join(missing)}); "
            "set --data_dir or PATH_DATASETS"
        )
    return tutorial_loaders(data_dir, batch_size)
