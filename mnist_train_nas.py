"""The training job of one NAS trial: a Lightning MLP on MNIST.

Run by TorchX once per trial (see nas/component.py), or by hand:

    python mnist_train_nas.py --log_path /tmp/logs/0 --hidden_size_1 64 \
        --hidden_size_2 32 --learning_rate 1e-3 --epochs 1 --dropout 0.2 --batch_size 64

After training it writes `train_time`, `val_acc` and `num_params` to TensorBoard
under --log_path, where the driver's metrics (nas/metrics.py) read them, and the
wall-clock times of its phases to --log_path/timings.json (read by bench/speed.py).
"""

import argparse
import json
import os
import sys
import time

# CPU-only job (the Trainer below uses accelerator="cpu"). Hiding CUDA also stops a
# per-step cost: Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1, and then every Adam step
# of a CUDA build asks NVML (a dlopen of libnvidia-ml) whether a GPU is there.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
T_START = time.time()

if __name__ == "__main__":
    # Locally the driver runs a server that has imported what follows: train in a fork
    # of it (nas/warm_start.py). Returns only if there is none.
    from nas.warm_start import run_in_server

    run_in_server(sys.argv[1:], T_START)

import torch
import torch.nn.functional as F
from torch import nn

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from nas.data import Grouped, make_loaders

T_IMPORTED = time.time()

PATH_DATASETS = os.environ.get("PATH_DATASETS", ".")
SAMPLES_PER_STEP = 1024  # mini-batches are grouped into Lightning steps of about this many samples


class MnistModel(pl.LightningModule):
    """Flatten -> [Linear -> ReLU -> Dropout] x 2 -> Linear(10), as in the tutorial.

    Each Lightning training step gets a group of consecutive mini-batches (`Grouped`) and
    takes one Adam step per mini-batch, in order: the same updates as one mini-batch per
    Lightning step, without paying Lightning's per-step hooks (~1 ms) for every one of them.
    """

    def __init__(self, hidden_size_1, hidden_size_2, learning_rate, dropout):
        super().__init__()
        self.automatic_optimization = False
        self.learning_rate = learning_rate
        self.model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, hidden_size_1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size_1, hidden_size_2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size_2, 10),
        )
        self.val_correct = 0
        self.val_seen = 0
        self.nonfinite_losses = 0

    def forward(self, x):
        return F.log_softmax(self.model(x), dim=1)

    def training_step(self, batches, batch_idx):
        optimizer = self.optimizers()
        for x, y in batches:
            loss = F.nll_loss(self(x), y)
            self.nonfinite_losses += int(not torch.isfinite(loss))
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()

    def on_validation_epoch_start(self):
        self.val_correct, self.val_seen = 0, 0

    def validation_step(self, batch, batch_idx):
        x, y = batch
        preds = self(x).argmax(dim=1)
        self.val_correct += int((preds == y).sum())
        self.val_seen += len(y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)

    @property
    def val_acc(self):
        return self.val_correct / self.val_seen


class StepClock(pl.Callback):
    """Wall-clock time of the first and the last training step (for bench/speed.py)."""

    first_step = last_step = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_step is None:
            self.first_step = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.last_step = time.time()


def make_trainer(epochs, logger=False, callbacks=()):
    """CPU, no progress bar, summary or checkpoints; validation once, after the last epoch."""
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        check_val_every_n_epoch=epochs,
        callbacks=list(callbacks),
    )


def group_size(batch_size):
    """Mini-batches per Lightning step."""
    return max(1, SAMPLES_PER_STEP // batch_size)


def count_params(model):
    """Weights of the Linear layers, biases not counted: the tutorial's count."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log_path", type=str, required=True)
    parser.add_argument("--hidden_size_1", type=int, default=32)
    parser.add_argument("--hidden_size_2", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--data_dir", type=str, default=PATH_DATASETS,
                        help="dataset root holding MNIST/raw (default: $PATH_DATASETS)")
    parser.add_argument("--data_cache", type=str, default=None,
                        help="tensor file written by the driver; skips decoding the IDX files")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def run_training_job(argv=None, job_pid=None):
    """`job_pid`: the process TorchX started, if not this one (warm start)."""
    args = parse_args(argv)
    # the driver re-attaches to this job by pid if it restarts while we train
    os.makedirs(args.log_path, exist_ok=True)
    with open(os.path.join(args.log_path, "job.pid"), "w") as f:
        f.write(str(job_pid or os.getpid()))
    if args.seed is not None:
        pl.seed_everything(args.seed, verbose=False)
    train_loader, val_loader = make_loaders(
        args.data_dir, args.data_cache, args.batch_size
    )
    train_loader = Grouped(train_loader, group_size(args.batch_size))
    model = MnistModel(args.hidden_size_1, args.hidden_size_2, args.learning_rate, args.dropout)
    logger = TensorBoardLogger(args.log_path, name="", version="")
    clock = StepClock()
    trainer = make_trainer(args.epochs, logger, callbacks=[clock])
    start = time.time()
    trainer.fit(model, train_loader, val_loader)
    train_time = time.time() - start

    if model.nonfinite_losses:
        sys.exit(f"training diverged: {model.nonfinite_losses} steps had a NaN/inf loss "
                 f"(learning_rate={args.learning_rate}); no metrics logged")
    val_acc = model.val_acc
    metrics = {"train_time": train_time, "val_acc": val_acc, "num_params": count_params(model)}
    logger.log_metrics(metrics)
    logger.finalize("success")
    timings = {"start": T_START, "imported": T_IMPORTED, "first_step": clock.first_step,
               "last_step": clock.last_step, "metrics_written": time.time()}
    with open(os.path.join(args.log_path, "timings.json"), "w") as f:
        json.dump(timings, f)
    print(f"train_time={train_time:.1f}s val_acc={val_acc:.4f} num_params={metrics['num_params']}", flush=True)


if __name__ == "__main__":
    run_training_job()
    # Everything is written and closed. Skip the interpreter's teardown of the modules
    # torch and Lightning import: it takes seconds, and the driver waits for the exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
