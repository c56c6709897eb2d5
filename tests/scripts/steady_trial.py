"""A trial that takes a known time whatever the machine: sleep --seconds, then log.

The job of tests that need a trial to last at least a given time (tests/test_resilience.py's
kill -9 test draws its kill moments within that time). One run logs, to TensorBoard in
--log-dir, `score` = 1 - (x - 0.3)^2 and `cost` = x + y at step 1, after the sleep. It has
a top-level `main(argv)`, so local jobs fork from the warm-start server as the tutorial's do.

    python tests/scripts/steady_trial.py --log-dir /tmp/steady/0 --seconds 2 --x 0.5 --y 0.1
"""

import argparse
import sys
import time

from torch.utils.tensorboard import SummaryWriter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--seconds", type=float, required=True, help="how long the trial lasts")
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--y", type=float, required=True)
    args = parser.parse_args(argv)
    time.sleep(args.seconds)
    with SummaryWriter(args.log_dir) as writer:
        writer.add_scalar("score", 1 - (args.x - 0.3) ** 2, 1)
        writer.add_scalar("cost", args.x + args.y, 1)
    print(f"score {1 - (args.x - 0.3) ** 2:.4f} cost {args.x + args.y:.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
