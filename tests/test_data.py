"""The fast data path (mnist_data.py, with the tensor file its `prepare`, the tutorial's
[prepare] command, writes) gives the job the same numbers as the tutorial's pipeline."""

import pytest
import torch
from torchvision import transforms
from torchvision.datasets import MNIST

from mnist_data import MEAN, STD, Grouped, TensorBatches, cached_loaders, normalize


@pytest.fixture(scope="module")
def cache(mnist_cache):
    from mnist_data import load_cache

    return load_cache(mnist_cache)


@pytest.fixture(scope="module")
def tutorial(data_dir):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    return {"train": MNIST(data_dir, train=True, transform=tf),
            "test": MNIST(data_dir, train=False, transform=tf)}


@pytest.mark.parametrize("split, size", [("train", 60000), ("test", 10000)])
def test_cache_holds_every_image_and_label_of_torchvision_mnist(cache, tutorial, split, size):
    ds = tutorial[split]
    assert cache[f"{split}_x"].shape == (size, 28, 28) and cache[f"{split}_x"].dtype == torch.uint8
    assert torch.equal(cache[f"{split}_x"], ds.data)
    assert torch.equal(cache[f"{split}_y"], ds.targets)


@pytest.mark.parametrize("split", ["train", "test"])
def test_normalize_matches_totensor_and_normalize(cache, tutorial, split):
    ds = tutorial[split]
    idx = torch.cat([torch.arange(100), torch.randint(0, len(ds), (400,), generator=torch.Generator().manual_seed(0))])
    ours = normalize(cache[f"{split}_x"][idx])
    theirs = torch.stack([ds[int(i)][0] for i in idx])
    labels = torch.tensor([ds[int(i)][1] for i in idx])
    assert ours.shape == theirs.shape == (len(idx), 1, 28, 28) and ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert torch.equal(cache[f"{split}_y"][idx], labels)


def test_cached_loaders_cover_every_sample_once_per_epoch(mnist_cache):
    train, val = cached_loaders(mnist_cache, batch_size=256)
    xs, ys = zip(*train)
    assert len(xs) == len(train) == 235 and {len(x) for x in xs[:-1]} == {256} and len(xs[-1]) == 96
    x, y = torch.cat(xs), torch.cat(ys)
    assert len(x) == 60000
    # a permutation of the training set: the label counts and the pixel sum are those of MNIST
    assert torch.equal(torch.bincount(y), torch.bincount(train.y))
    assert torch.isclose(x.double().sum(), train.x.double().sum())
    vx, vy = zip(*val)
    assert torch.equal(torch.cat(vy), val.y) and torch.equal(torch.cat(vx), val.x)  # in order


def test_training_batches_are_reshuffled_every_epoch():
    batches = TensorBatches(torch.arange(10.0), torch.arange(10), batch_size=4, shuffle=True)
    torch.manual_seed(0)
    first, second = (torch.cat([y for _, y in batches]) for _ in range(2))
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second)


def test_grouped_yields_the_same_batches_in_order():
    batches = TensorBatches(torch.arange(10.0), torch.arange(10), batch_size=3, shuffle=False)
    groups = list(Grouped(batches, 2))
    assert len(groups) == len(Grouped(batches, 2)) == 2
    assert [len(g) for g in groups] == [2, 2]
    flat = [y.tolist() for g in groups for _, y in g]
    assert flat == [y.tolist() for _, y in batches]


def test_grouping_mini_batches_does_not_change_training():
    """k mini-batches per Lightning step give the same weights as one per step."""
    import pytorch_lightning as pl

    from mnist_train_nas import MnistModel

    x = torch.randn(320, 1, 28, 28)
    y = torch.randint(0, 10, (320,))

    def train(k):
        pl.seed_everything(0, verbose=False)
        model = MnistModel([32, 16], 1e-3, 0.2)
        trainer = pl.Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, enable_checkpointing=False)
        trainer.fit(model, Grouped(TensorBatches(x, y, 32, shuffle=True), k))
        return model.state_dict()

    one, four = train(1), train(4)
    for name in one:
        torch.testing.assert_close(one[name], four[name], rtol=0, atol=0)
