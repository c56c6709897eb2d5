"""The trial of bench.scale's synthetic search: sleep as long as training would, then log a
known multi-objective test function.

One run is one trial of bench/synthetic/search.toml. It takes the kinds of parameters the
tutorial searches, as flags: two log-scale ints (--width-1, --width-2 in [16, 128]), a
log-scale float (--lr in [1e-4, 1e-2]), a linear int (--epochs in [1, 4]), a linear float
(--dropout in [0, 0.5]) and an ordered int choice (--batch in 32/64/128/256). They are
mapped to the unit cube [0, 1]^6 as Ax normalizes them (`unit_point`: log-scale ones in
log space, the choice by its index), in that order, and evaluated with BoTorch's
`DTLZ2(dim=6, num_objectives=2)`: both objectives minimized, Pareto front the quarter
circle f1^2 + f2^2 = 1, reached where every coordinate but the first is 0.5. The first
(--width-1) only says where on the front a point lies.

The simulated training time is proportional to the mini-batch steps the configuration
would train, epochs x 60,000 / batch (an MNIST-sized epoch), scaled so that its mean over
the search space (uniform epochs and batch) is --seconds: from 0.11 x --seconds (1 epoch,
batch 256) to 3.4 x --seconds (4 epochs, batch 32); with --equal, --seconds for every
trial (slots that free in waves). --seconds 0: no sleep.

By hand:

    python bench/synthetic/trial.py --log-dir /tmp/scale/0 --seconds 2 --width-1 45 \\
        --width-2 45 --lr 1e-3 --epochs 2 --dropout 0.25 --batch 64

Writes to TensorBoard in --log-dir (torch.utils.tensorboard.SummaryWriter): after each
epoch e = 1..--epochs (after its share of the sleep) loss/f1 and loss/f2 at step e,
decreasing to the DTLZ2 values at the last epoch, which are the trial's values; flushed at
once, so that they are curves. At the end, trial_times.json in --log-dir: the Unix times at
which main began and ended (the job's own busy time, which the driver sees only when it
next polls). Prints one line with the values. Exit status 2: bad arguments (argparse's
usage and one line).

`main(argv)` takes the argument list, so that the search's warm-start server imports this
file once (torch and BoTorch with it) and forks each trial from there
(nas/jobs/warm_start.py); nothing here starts a thread or computes at import.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from botorch.test_functions.multi_objective import DTLZ2
from torch.utils.tensorboard import SummaryWriter

BATCHES = (32, 64, 128, 256)
LOG_RANGES = {"width_1": (16, 128), "width_2": (16, 128), "lr": (1e-4, 1e-2)}
EPOCHS = (1, 4)
DROPOUT = (0.0, 0.5)
EXAMPLES = 60000  # per epoch: steps = epochs * EXAMPLES / batch
# the mean of epochs * EXAMPLES / batch over the search space (uniform epochs and batch)
MEAN_STEPS = (sum(range(EPOCHS[0], EPOCHS[1] + 1)) / (EPOCHS[1] - EPOCHS[0] + 1)
              * sum(EXAMPLES / b for b in BATCHES) / len(BATCHES))
FIRST_LOSS = 1.5  # the curves start at this multiple of the final value
TAGS = ("loss/f1", "loss/f2")
TIMES_FILE = "trial_times.json"  # in --log-dir: {"started": ..., "ended": ...}, Unix times


def unit_point(width_1: int, width_2: int, lr: float, epochs: int, dropout: float,
               batch: int) -> list[float]:
    """The configuration in [0, 1]^6, as Ax's transforms normalize it (log-scale in log
    space, ints linearly over their bounds, the ordered choice by its index)."""
    def log_unit(value, bounds):
        low, high = bounds
        return math.log(value / low) / math.log(high / low)

    return [log_unit(width_1, LOG_RANGES["width_1"]), log_unit(width_2, LOG_RANGES["width_2"]),
            log_unit(lr, LOG_RANGES["lr"]), (epochs - EPOCHS[0]) / (EPOCHS[1] - EPOCHS[0]),
            (dropout - DROPOUT[0]) / (DROPOUT[1] - DROPOUT[0]),
            BATCHES.index(batch) / (len(BATCHES) - 1)]


def objectives(points: list[list[float]]) -> torch.Tensor:
    """DTLZ2 (both minimized) at unit-cube points, one row (f1, f2) per point."""
    x = torch.tensor(points, dtype=torch.double).clamp(0, 1)
    return DTLZ2(dim=6, num_objectives=2)(x)


def simulated_seconds(epochs: int, batch: int, seconds: float) -> float:
    """How long this configuration 'trains': its steps, scaled to a mean of `seconds`."""
    return seconds * epochs * EXAMPLES / batch / MEAN_STEPS


def attainable_front() -> torch.Tensor:
    """(f1, f2) of the best configurations this search space holds, one per --width-1
    (the position on the front): DTLZ2's optimum needs 0.5 in every other coordinate,
    which epochs and batch (4 levels each, 0, 1/3, 2/3, 1) cannot take, so the space's
    best front lies outside the true one; each other parameter at its value nearest 0.5."""
    some = dict(width_1=16, width_2=16, lr=1e-4, epochs=1, dropout=0.0, batch=32)

    def nearest_half(name, values):
        at = list(some).index(name)
        return min(values, key=lambda v: abs(unit_point(**{**some, name: v})[at] - 0.5))

    best = dict(width_2=nearest_half("width_2", range(16, 129)),
                lr=math.sqrt(LOG_RANGES["lr"][0] * LOG_RANGES["lr"][1]),
                epochs=nearest_half("epochs", range(EPOCHS[0], EPOCHS[1] + 1)),
                dropout=sum(DROPOUT) / 2, batch=nearest_half("batch", BATCHES))
    return objectives([unit_point(width_1=w, **best) for w in range(16, 129)])


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="trial.py", description=__doc__.splitlines()[0])
    p.add_argument("--log-dir", required=True, help="TensorBoard log dir of this trial")
    p.add_argument("--seconds", type=float, required=True,
                   help="mean simulated training time over the search space, s")
    p.add_argument("--equal", action="store_true",
                   help="every trial sleeps --seconds, whatever its epochs and batch")
    p.add_argument("--width-1", type=int, required=True)
    p.add_argument("--width-2", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--dropout", type=float, required=True)
    p.add_argument("--batch", type=int, required=True, choices=BATCHES)
    args = p.parse_args(argv)
    checks = [("--width-1", args.width_1, LOG_RANGES["width_1"]),
              ("--width-2", args.width_2, LOG_RANGES["width_2"]), ("--lr", args.lr, LOG_RANGES["lr"]),
              ("--epochs", args.epochs, EPOCHS), ("--dropout", args.dropout, DROPOUT)]
    for flag, value, (low, high) in checks:
        if not low <= value <= high:
            p.error(f"{flag} {value}: must be in [{low:g}, {high:g}]")
    if not (args.seconds >= 0 and math.isfinite(args.seconds)):
        p.error(f"--seconds {args.seconds}: must be a number >= 0")
    return args


def main(argv=None):
    start = time.time()
    args = parse_args(argv)
    torch.set_num_threads(1)
    point = unit_point(args.width_1, args.width_2, args.lr, args.epochs, args.dropout, args.batch)
    final = objectives([point])[0].tolist()
    total = args.seconds if args.equal else simulated_seconds(args.epochs, args.batch, args.seconds)
    per_epoch = total / args.epochs
    writer = SummaryWriter(args.log_dir)
    try:
        for epoch in range(1, args.epochs + 1):
            time.sleep(per_epoch)
            factor = 1 + (FIRST_LOSS - 1) * (args.epochs - epoch) / args.epochs
            for tag, value in zip(TAGS, final):
                writer.add_scalar(tag, value * factor, epoch)
            writer.flush()
    finally:
        writer.close()
    ended = time.time()
    (Path(args.log_dir) / TIMES_FILE).write_text(json.dumps({"started": start, "ended": ended}))
    print(f"f1={final[0]:.4f} f2={final[1]:.4f} time={ended - start:.2f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
