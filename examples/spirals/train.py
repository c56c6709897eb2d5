"""Train a small MLP on the two-spirals problem with plain PyTorch; log to TensorBoard.

The job of the worked example examples/spirals/search.toml (README, "Search your own
model"): one run is one trial of the search, but it needs nothing of the search, only
torch and TensorBoard. Its data are made here, so nothing is downloaded. By hand:

    python examples/spirals/train.py --log-dir /tmp/spirals/0 --width 16 --depth 2 \\
        --lr 0.01 --weight-decay 1e-4 --activation tanh

then `tensorboard --logdir /tmp/spirals` shows its curves.

Data: two interleaved spirals in the plane (class 0 and class 1, 1.5 turns each, radius
up to 1, Gaussian noise of sd 0.05 on both coordinates), 2,000 training and 1,000
validation points, half of each class. They are the same in every run (drawn from the
fixed seed DATA_SEED), so trials differ only by their flags.

Model: [Linear(width) -> activation] x depth -> Linear(2); Adam with L2 weight decay
(--weight-decay), cross-entropy, mini-batches of 100, --epochs passes over the training
points. --seed (default 0) seeds the weights and the batch order: a run is reproducible.

Flags: --log-dir DIR (required), --width N (hidden units per layer, default 16),
--depth N (hidden layers, default 2), --lr X (default 0.01), --weight-decay X (default
0), --activation relu|tanh (default tanh), --epochs N (default 20), --seed N (default 0).
Threads: torch uses $OMP_NUM_THREADS threads when it is set (the search sets 1), else 1:
the net is so small that more threads only wait for each other (2 threads trained 10-20x
slower than 1 on a 2-core machine).

Writes to TensorBoard in --log-dir (torch.utils.tensorboard.SummaryWriter):
  after every epoch   eval/accuracy (fraction of the 1,000 validation points classified
                      right) and train/loss (mean cross-entropy of the epoch's
                      mini-batches), step = epoch number 1..--epochs, flushed at once;
  after training      model/weights (trainable parameters, biases included) and
                      model/latency_us (median microseconds of one forward pass of a batch
                      of 256 points, over 20 timed passes after 5 warm-up ones), step 0.
The last eval/accuracy is the trial's accuracy. Prints one line with the results.

Exit status: 0 trained and logged; 1 training diverged (a NaN/inf loss: training stops,
the epoch is not logged, one line on stderr); 2 bad arguments (argparse's usage and one
error line on stderr).

`main(argv)` takes the argument list, so that the search's warm-start server can import
this file and call it in a forked process (nas/jobs/warm_start.py).
"""

import argparse
import math
import os
import statistics
import sys
import time

import torch
# torch.optim imports torch._dynamo when the first optimizer is made (~2 s of CPU); import
# it here instead, so that a warm-start server that imported this file pays that once
import torch._dynamo  # noqa: F401
from torch import nn
from torch.utils.tensorboard import SummaryWriter

DATA_SEED = 1234
TRAIN_POINTS = 2000
VAL_POINTS = 1000
TURNS = 1.5
NOISE = 0.05
BATCH_SIZE = 100
LATENCY_BATCH = 256
LATENCY_WARMUP = 5
LATENCY_REPEATS = 20
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def two_spirals(points, generator):
    """`points` points (x of shape (points, 2), labels y of shape (points,)), half of each
    spiral, in random order: a point at angle t on spiral k lies at radius t/t_max,
    turned by k*pi; t is drawn so that points are about evenly spread along the arc."""
    labels = torch.arange(points) % 2
    t_max = 2 * math.pi * TURNS
    t = torch.sqrt(torch.rand(points, generator=generator)) * t_max
    radius = t / t_max
    angle = t + math.pi * labels
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    x = x + NOISE * torch.randn(points, 2, generator=generator)
    order = torch.randperm(points, generator=generator)
    return x[order], labels[order]


def make_data():
    """(train_x, train_y, val_x, val_y): the same points in every run."""
    generator = torch.Generator().manual_seed(DATA_SEED)
    train_x, train_y = two_spirals(TRAIN_POINTS, generator)
    val_x, val_y = two_spirals(VAL_POINTS, generator)
    return train_x, train_y, val_x, val_y


def make_model(width, depth, activation):
    layers, features = [], 2
    for _ in range(depth):
        layers += [nn.Linear(features, width), ACTIVATIONS[activation]()]
        features = width
    layers.append(nn.Linear(features, 2))
    return nn.Sequential(*layers)


def count_weights(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return (model(x).argmax(dim=1) == y).float().mean().item()


@torch.no_grad()
def latency_us(model):
    """Median microseconds of a forward pass of LATENCY_BATCH points."""
    model.eval()
    batch = torch.randn(LATENCY_BATCH, 2, generator=torch.Generator().manual_seed(0))
    for _ in range(LATENCY_WARMUP):
        model(batch)
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter_ns()
        model(batch)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def threads():
    """$OMP_NUM_THREADS if it is a positive number, else 1: the ops of so small a net are
    too short to share out, and more threads only wait for each other."""
    text = os.environ.get("OMP_NUM_THREADS", "")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="train.py", description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--log-dir", required=True, help="TensorBoard log dir of this run")
    parser.add_argument("--width", type=int, default=16, help="hidden units per layer")
    parser.add_argument("--depth", type=int, default=2, help="hidden layers")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="Adam's L2 penalty")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batch order")
    args = parser.parse_args(argv)
    for flag, value, low in (("--width", args.width, 1), ("--depth", args.depth, 1),
                             ("--epochs", args.epochs, 1)):
        if value < low:
            parser.error(f"{flag} {value}: must be at least {low}")
    if not args.lr > 0 or not math.isfinite(args.lr):
        parser.error(f"--lr {args.lr}: must be a positive number")
    if not args.weight_decay >= 0 or not math.isfinite(args.weight_decay):
        parser.error(f"--weight-decay {args.weight_decay}: must be a number >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(threads())
    start = time.time()
    train_x, train_y, val_x, val_y = make_data()
    torch.manual_seed(args.seed)
    shuffle = torch.Generator().manual_seed(args.seed)
    model = make_model(args.width, args.depth, args.activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()

    writer = SummaryWriter(args.log_dir)
    try:
        for epoch in range(1, args.epochs + 1):
            model.train()
            total = 0.0
            order = torch.randperm(TRAIN_POINTS, generator=shuffle)
            for begin in range(0, TRAIN_POINTS, BATCH_SIZE):
                batch = order[begin:begin + BATCH_SIZE]
                loss = loss_fn(model(train_x[batch]), train_y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            loss = total / TRAIN_POINTS
            if not math.isfinite(loss):
                print(f"train.py: training diverged in epoch {epoch} (loss {loss}, "
                      f"--lr {args.lr}); stopped", file=sys.stderr)
                sys.exit(1)
            acc = accuracy(model, val_x, val_y)
            writer.add_scalar("eval/accuracy", acc, epoch)
            writer.add_scalar("train/loss", loss, epoch)
            writer.flush()  # curves readable while the run goes on (early stopping)
        weights = count_weights(model)
        latency = latency_us(model)
        writer.add_scalar("model/weights", weights, 0)
        writer.add_scalar("model/latency_us", latency, 0)
    finally:
        writer.close()
    print(f"accuracy={acc:.4f} loss={loss:.4f} weights={weights} latency_us={latency:.1f} "
          f"time={time.time() - start:.2f}s", flush=True)


if __name__ == "__main__":
    main()
