"""A Lightning script written as Lightning's docs write one: `TensorBoardLogger(save_dir=...)`
with its default name and version, so its event files land in
`<log dir>/lightning_logs/version_0/`, one level below the folder the search gives it.

The job of tests that search such a script (tests/test_own_scripts.py). It classifies two
Gaussian blobs in the plane (made here, so nothing is downloaded) with a small MLP of
`--width` hidden units, `--epochs` passes; logs `val/accuracy` after each epoch (with
`self.log`) and `model/params` after training.

    python tests/scripts/lightning_defaults.py --log-dir /tmp/ld/0 --width 8 --lr 0.05
"""

import argparse
import sys

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    points = torch.randn(n, 2, generator=g) + 1.5 * labels[:, None].float()
    return TensorDataset(points, labels)


class Classifier(pl.LightningModule):
    def __init__(self, width, lr):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 2))

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val/accuracy", (self.net(x).argmax(1) == y).float().mean(), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = Classifier(args.width, args.lr)
    logger = TensorBoardLogger(save_dir=args.log_dir)  # -> lightning_logs/version_N/
    trainer = pl.Trainer(max_epochs=args.epochs, logger=logger, accelerator="cpu",
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(model, DataLoader(blobs(512, 0), batch_size=64, shuffle=True),
                DataLoader(blobs(256, 1), batch_size=256))
    params = sum(p.numel() for p in model.parameters())
    logger.experiment.add_scalar("model/params", params, 0)
    logger.finalize("success")
    print(f"params {params}")


if __name__ == "__main__":
    main(sys.argv[1:])
