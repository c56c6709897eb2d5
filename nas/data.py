"""MNIST for the search, driver side: fetched once, decoded once into a tensor file.

The driver calls `prepare_mnist` before any trial starts, so four trials never race
on a download, and writes the decoded images to one tensor file that every trial
loads in milliseconds (--data_cache). What the job itself reads lives beside it, in
mnist_data.py, which ships with the job; this module only prepares for it.
"""

import os
import tempfile
from pathlib import Path

import torch

from mnist_data import MNIST_FILES, DataError, missing_files, mnist_raw_dir, read_mnist

CACHE_NAME = "mnist_uint8.pt"

__all__ = ["DataError", "cache_path", "missing_files", "prepare_mnist"]


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
        atomic_torch_save(read_mnist(data_dir), cache)
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
