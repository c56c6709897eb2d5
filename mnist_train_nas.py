"""Train one MLP on MNIST with PyTorch Lightning and log its metrics to TensorBoard.

The training app of the tutorial "Multi-Objective NAS with Ax": one run of it is one
trial of the search (TorchX starts it; see nas/component.py), but it needs nothing of
the search. It imports only torch, torchvision, Lightning and TensorBoard, and
mnist_data.py, which ships beside it. By hand:

    python mnist_train_nas.py --log_path /tmp/logs/0 --hidden_size_1 64 \\
        --hidden_size_2 32 --learning_rate 1e-3 --epochs 2 --dropout 0.2 --batch_size 64

Model: Flatten -> [Linear -> ReLU -> Dropout] x 2 -> Linear(10), Adam, NLL loss; with
--hidden_sizes N [N ...] one [Linear -> ReLU -> Dropout] per width given instead (the
variable-depth search of examples/mnist_layers).

Data: MNIST/raw/ under --data_dir (default $PATH_DATASETS, else the working dir) through
the tutorial's torchvision pipeline, or --data_cache: a file of the decoded images and
labels (an .npz that `python mnist_data.py --data-dir DIR --cache FILE` writes), the same
numbers without decoding and per-sample transforms (the search's [prepare] writes it once).

Writes to TensorBoard in --log_path:
  after every epoch   val_acc (accuracy on the 10,000 test images) and train_loss (mean
                      loss of the epoch's mini-batches), step = epoch number 1..--epochs,
                      flushed at once: learning curves readable while the job runs;
  after training      num_params (weights of the Linear layers, biases not counted, as
                      in the tutorial) and train_time (seconds in Trainer.fit).
The last val_acc is the trial's result. Prints one line with all three at the end.

Options: --seed N (reproducible run); --gpus N (0, the default: CPU, CUDA hidden; N > 0:
Lightning's "gpu" accelerator on N devices); --timings FILE (JSON of wall-clock times:
main() entered, first and last training step, metrics written; for the benchmark).

Warm start: a local search forks each job from one process that imported this script
(nas/jobs/warm_start.py); that process calls `warm_up` with a job's arguments, so that
the jobs forked after it inherit the --data_cache file loaded and normalized.

Exit status: 0 trained and logged; 1 training diverged (a NaN/inf loss: training stops
after that epoch, whose val_acc is not logged; one line on stderr); 2 bad arguments,
MNIST missing, or --gpus N with no GPU.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

import pytorch_lightning as pl
from lightning_fabric.utilities.exceptions import MisconfigurationException
from pytorch_lightning.loggers import TensorBoardLogger

from mnist_data import DataError, Grouped, make_loaders, normalized_cache

PATH_DATASETS = os.environ.get("PATH_DATASETS", ".")
SAMPLES_PER_STEP = 1024  # mini-batches are grouped into Lightning steps of about this many samples


class MnistModel(pl.LightningModule):
    """Flatten -> [Linear -> ReLU -> Dropout] per hidden size -> Linear(10): two hidden
    layers in the tutorial, 1 to 3 in examples/mnist_layers (--hidden_sizes).

    Each Lightning training step gets a group of consecutive mini-batches (`Grouped`) and
    takes one Adam step per mini-batch, in order: the same updates as one mini-batch per
    Lightning step, without paying Lightning's per-step hooks (~1 ms) for every one of them.
    """

    def __init__(self, hidden_sizes, learning_rate, dropout):
        super().__init__()
        self.automatic_optimization = False
        self.learning_rate = learning_rate
        layers, width = [nn.Flatten()], 28 * 28
        for size in hidden_sizes:  # in this order, the tutorial's weights for the same seed
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.model = nn.Sequential(*layers, nn.Linear(width, 10))
        self.val_correct = self.val_seen = 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.nonfinite_losses = 0

    def forward(self, x):
        return F.log_softmax(self.model(x), dim=1)

    def on_train_epoch_start(self):
        self.loss_sum, self.loss_count = 0.0, 0

    def training_step(self, batches, batch_idx):
        optimizer = self.optimizers()
        for x, y in batches:
            loss = F.nll_loss(self(x), y)
            self.nonfinite_losses += int(not torch.isfinite(loss))
            self.loss_sum += loss.detach()
            self.loss_count += 1
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

    @property
    def train_loss(self):
        """Mean loss of this epoch's mini-batches."""
        return float(self.loss_sum) / max(1, self.loss_count)


class LearningCurves(pl.Callback):
    """After each epoch's validation: val_acc and train_loss at step = epoch, flushed, so a
    reader (TensorBoard, the search's early stopping) sees them while the job runs. An
    epoch with a NaN/inf loss logs nothing and ends the training."""

    def __init__(self, logger):
        self.logger = logger

    def on_validation_epoch_end(self, trainer, module):
        if module.nonfinite_losses:
            trainer.should_stop = True
            return
        step = trainer.current_epoch + 1
        self.logger.log_metrics({"val_acc": module.val_acc, "train_loss": module.train_loss}, step=step)
        self.logger.experiment.flush()


class StepClock(pl.Callback):
    """Wall-clock time of the first and the last training step (for --timings)."""

    first_step = last_step = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_step is None:
            self.first_step = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.last_step = time.time()


def accelerator(gpus):
    """The Trainer's device arguments for --gpus: 0 is the CPU, N > 0 that many GPUs."""
    if gpus == 0:
        return {"accelerator": "cpu", "devices": 1}
    return {"accelerator": "gpu", "devices": gpus}


def make_trainer(epochs, gpus=0, logger=False, callbacks=()):
    """No progress bar, summary or checkpoints; validation after every epoch."""
    return pl.Trainer(
        **accelerator(gpus),
        max_epochs=epochs,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        check_val_every_n_epoch=1,
        callbacks=list(callbacks),
    )


def group_size(batch_size):
    """Mini-batches per Lightning step."""
    return max(1, SAMPLES_PER_STEP // batch_size)


def count_params(model):
    """Weights of the Linear layers, biases not counted: the tutorial's count."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def positive_int(text):
    """An argparse type: a whole number >= 1 (0 epochs would never validate)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log_path", type=str, required=True)
    parser.add_argument("--hidden_size_1", type=positive_int, default=32)
    parser.add_argument("--hidden_size_2", type=positive_int, default=32)
    parser.add_argument("--hidden_sizes", type=positive_int, nargs="+", default=None,
                        metavar="N", help="the hidden layers' widths, one per layer "
                        "(instead of --hidden_size_1/--hidden_size_2)")
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--epochs", type=positive_int, default=1)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--batch_size", type=positive_int, default=32)
    parser.add_argument("--data_dir", type=str, default=PATH_DATASETS,
                        help="dataset root holding MNIST/raw (default: $PATH_DATASETS)")
    parser.add_argument("--data_cache", type=str, default=None,
                        help="tensor file of the decoded images; skips decoding the IDX files")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--gpus", type=int, default=0, help="GPUs to train on (0: the CPU)")
    parser.add_argument("--timings", type=str, default=None,
                        help="write the wall-clock times of the job's phases to this JSON file")
    args = parser.parse_args(argv)
    if args.gpus < 0:
        parser.error(f"--gpus {args.gpus}: give 0 (CPU) or a number of GPUs")
    return args


def fail(message, code):
    print(f"mnist_train_nas.py: {message}", file=sys.stderr)
    sys.exit(code)


def warm_up(argv):
    """Load what a job with these arguments would load first, in this process (a warm-start
    server's), so that the jobs it forks later start without it: the --data_cache
    file's tensors (mnist_data.normalized_cache keeps them)."""
    args = parse_args(argv)
    if args.data_cache:
        normalized_cache(args.data_cache)


def main(argv=None):
    times = {"main": time.time()}
    args = parse_args(argv)
    if args.gpus == 0:
        # Hide CUDA before anything asks for it: Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1,
        # and then every Adam step of a CUDA build asks NVML (a dlopen of libnvidia-ml)
        # whether a GPU is there, unless no device is visible.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if args.seed is not None:
        pl.seed_everything(args.seed, verbose=False)
    try:
        train_loader, val_loader = make_loaders(args.data_dir, args.data_cache, args.batch_size)
    except DataError as e:
        fail(str(e), 2)
    train_loader = Grouped(train_loader, group_size(args.batch_size))
    hidden = args.hidden_sizes or [args.hidden_size_1, args.hidden_size_2]
    model = MnistModel(hidden, args.learning_rate, args.dropout)
    logger = TensorBoardLogger(args.log_path, name="", version="")
    clock = StepClock()
    try:
        trainer = make_trainer(args.epochs, args.gpus, logger, [LearningCurves(logger), clock])
    except MisconfigurationException as e:
        fail(f"--gpus {args.gpus}: {e}; use --gpus 0 to train on the CPU", 2)
    start = time.time()
    trainer.fit(model, train_loader, val_loader)
    train_time = time.time() - start
    if model.nonfinite_losses:
        fail(f"training diverged: {model.nonfinite_losses} steps had a NaN/inf loss "
             f"(learning_rate={args.learning_rate}); stopped after epoch "
             f"{trainer.current_epoch}", 1)

    num_params = count_params(model)
    logger.log_metrics({"num_params": num_params, "train_time": train_time})
    logger.finalize("success")
    if args.timings:
        times.update(first_step=clock.first_step, last_step=clock.last_step,
                     metrics_written=time.time())
        with open(args.timings, "w") as f:
            json.dump(times, f)
    print(f"train_time={train_time:.1f}s val_acc={model.val_acc:.4f} num_params={num_params}",
          flush=True)


if __name__ == "__main__":
    main()
    # Everything is written and closed. Skip the interpreter's teardown of the modules
    # torch and Lightning imported: it takes seconds, and whoever waits for this job
    # (TorchX, the search's driver) waits for the exit. Errors above exit normally.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
